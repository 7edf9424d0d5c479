"""Markdown body -> safe HTML with absolute URLs.

CommonMark (plus GFM tables, strikethrough and autolinks) through cmark-gfm, a C
renderer that is about twenty times faster than the pure-Python ones and passes
the CommonMark spec. Raw HTML is kept by cmark and then sanitised by nh3, which
drops scripts, iframes, styles and event handlers; one pass over its output then
makes relative links and image sources absolute, because many feed readers and
RSS-to-email services ignore xml:base.
"""
from __future__ import annotations

import contextlib
import copy
import ctypes
import html
import re
from typing import Iterator
from urllib.parse import urljoin

import nh3
import regex as _regex
from cmarkgfm import _cmark
from cmarkgfm import cmark as _cm
from cmarkgfm.cmark import Options

from .text import clean_text, lone_percent

# No CMARK_OPT_VALIDATE_UTF8: cmark is only given what str.encode made, which
# is valid UTF-8 (the option re-checked every body, 4% of cmark's time).
_OPTIONS = Options.CMARK_OPT_UNSAFE
_EXTENSIONS = ["table", "strikethrough", "autolink"]
_SAFE_SCHEMES = {"http", "https", "mailto", "tel", "ftp", "data"}

# nh3's defaults, with what articles need and no reader runs: ids (footnotes
# and in-page links point at them), audio, video and responsive images.
_TAGS = nh3.ALLOWED_TAGS | {"audio", "video", "source", "track", "picture"}
_ATTRIBUTES = copy.deepcopy(nh3.ALLOWED_ATTRIBUTES)
# "*" replaces nh3's generic attributes (lang, title): they are listed again.
_ATTRIBUTES["*"] = {"id", "lang", "title", "dir"}
_ATTRIBUTES.setdefault("a", set()).update({"title"})
_ATTRIBUTES.setdefault("img", set()).update({"title", "srcset", "sizes"})
_ATTRIBUTES.setdefault("code", set()).add("class")
_ATTRIBUTES.update({
    "audio": {"src", "controls", "loop", "muted", "preload"},
    "video": {"src", "poster", "controls", "loop", "muted", "preload", "width", "height", "playsinline"},
    "source": {"src", "srcset", "sizes", "type", "media", "width", "height"},
    "track": {"src", "kind", "srclang", "label", "default"},
})
_CLEAN_CONTENT = {"script", "style", "iframe", "object", "embed", "noscript", "template", "title"}

# nh3 writes every attribute as name="value", so one pass over its output finds
# them all; a Python hook inside nh3 costs a call per attribute, three times slower.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


# cmark writes U+FFFE and U+FFFF, named by a reference, as bytes that are not
# UTF-8 (its Python binding then raises): such references go before parsing.
# A reference to any other character XML cannot carry (&#1;) is decoded by
# cmark in text and kept as written in code, so the output is cleaned instead.
NONCHARACTER_REF = re.compile(r"&#(?:[xX]0*[fF]{3}[eEfF]|0*6553[45]);")


def _without_noncharacter_refs(text: str) -> str:
    return NONCHARACTER_REF.sub("", text) if "&#" in text else text


# cmarkgfm's own wrappers never free the document tree nor the rendered
# string: about 50 KB lost per body, gigabytes over a large site. This one
# calls the same C functions and frees both (cmark's default allocator is
# the C library's; the binding exports cmark_node_free without declaring it).
_lib, _ffi = _cmark.lib, _cmark.ffi
_node_free = ctypes.CDLL(_cmark.__file__).cmark_node_free
_node_free.argtypes, _node_free.restype = [ctypes.c_void_p], None
_c_free = ctypes.CDLL(None).free
_c_free.argtypes, _c_free.restype = [ctypes.c_void_p], None
_cm.core_extensions_ensure_registered()
_EXTENSION_PTRS = [_cm.find_syntax_extension(name) for name in _EXTENSIONS]


def _address(pointer: object) -> int:
    return int(_ffi.cast("uintptr_t", pointer))


@contextlib.contextmanager
def _parsed(text: str, options: int) -> Iterator[tuple[int, int]]:
    """(the document's root node, the parser's extensions) of ``text``, freed on leaving."""
    data = _without_noncharacter_refs(text).encode("utf-8")
    parser = _lib.cmark_parser_new(options)
    try:
        for ext in _EXTENSION_PTRS:
            _lib.cmark_parser_attach_syntax_extension(parser, ext)
        _lib.cmark_parser_feed(parser, data, len(data))
        root = _address(_lib.cmark_parser_finish(parser))
        try:
            yield root, _address(_lib.cmark_parser_get_syntax_extensions(parser))
        finally:
            _node_free(root)
    finally:
        _lib.cmark_parser_free(parser)


def html_as_written(text: str) -> str:
    """The body's HTML as published, but with its URLs as written: what ``feedsvc
    check`` tells relative links and dropped characters from."""
    raw_html = _RAW_HTML.search(text) is not None
    options = _OPTIONS if raw_html else _SAFE_OPTIONS
    with _parsed(text, options) as (root, extensions):
        html = _node_html(root, options, extensions)
    return _cleaned(html) if raw_html else html


def sanitize(fragment: str, base: str) -> str:
    """Strip what a feed reader must never run, and make URLs absolute against ``base``."""
    cleaned = _cleaned(fragment)
    # html5ever leaves '"' unescaped in text: an attribute-like run in prose or
    # code ('<code>src="a.png"</code>') must stay as written, so only tags are
    # looked into (its text escapes '<', and it quotes every attribute value).
    if '="' not in cleaned:
        return cleaned
    return _TAG.sub(lambda t: _absolutize(t.group(0), base), cleaned)


def _cleaned(fragment: str) -> str:
    return nh3.clean(
        fragment,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        clean_content_tags=_CLEAN_CONTENT,
        link_rel=None,
        url_schemes=_SAFE_SCHEMES,
        strip_comments=True,
    )


_TAG = re.compile(r'<[A-Za-z][^\s/>]*(?:\s+[^\s"\'>/=]+(?:="[^"]*")?)*\s*/?>')


def _absolutize(cleaned: str, base: str) -> str:
    """Make href/src/cite/poster and srcset's URLs absolute; keep only language-* classes.

    One pass over the ``="...`` of values that may need it (a literal the
    regex engine finds quickly), looking back for the attribute's name: a pattern that starts with the name
    is tried at every character, three times slower on a long body.
    """
    if '="' not in cleaned:
        return cleaned

    def attr(m: re.Match[str]) -> str:
        s, i = m.string, m.start()
        for name in _URL_NAMES:
            if _named(s, i, name):
                return _url(name, m.group(1), base, s, i)
        if _named(s, i, "srcset"):
            return _srcset(m.group(1), base, _tag_at(s, i))
        if _named(s, i, "class"):
            kept = [c for c in m.group(1).split() if c.startswith("language-")]
            return f'="{" ".join(kept)}"' if kept else _DROP
        return m.group(0)

    out = _ATTR_VALUE.sub(attr, cleaned)
    # An attribute blanked above is cut out with the space and name before it.
    return _BLANKED.sub("", out) if _DROP in out else out


_URL_NAMES = ("href", "src", "cite", "poster")
# Every attribute value but those no rule below changes, which are skipped at
# C speed: an absolute http(s) URL with no '%' (most of a body's links), or
# with only well-formed escapes and nothing to unescape, strip or escape
# again (cmark writes non-ASCII as escapes), and a class that is one
# language-* name (a fenced code block's). A srcset is always looked at.
# Every other value is matched, and so stepped over: a value left in place
# that ends in '=' would make its closing quote look like the start of
# another value ('title="a src="' hides a src; 'href="https://x/?q="' hid
# the cite after it from the scheme check). So no skipped value ends in '='
# (none holds a '"', the only other way to make one).
_ATTR_VALUE = re.compile(
    r'="(?:(?<=\sclass=")(?!language-(?:[^"\s]*[^"\s=])?")|(?<=\ssrcset=")'
    r'|(?<!\sclass=")(?!https?://(?:[^"%]*[^"%=])?")'
    r'(?!https?://(?:(?:[^"%&\'<>\s]|%[0-9A-Fa-f]{2})*(?:[^"%&\'<>\s=]|%[0-9A-Fa-f]{2}))?"))([^"]*)"')
_DROP = "=\x00"
_BLANKED = re.compile(r"\s[a-z]+=\x00")


def _named(s: str, i: int, name: str) -> bool:
    """Is the ``="`` at ``i`` the value of attribute ``name`` (preceded by white space)?"""
    start = i - len(name)
    return start > 0 and s.startswith(name, start, i) and s[start - 1].isspace()


def _tag_at(s: str, i: int) -> str:
    """The name of the tag whose attribute value starts at ``i``."""
    start = s.rfind("<", 0, i) + 1
    end = start
    while end < i and s[end].isalnum():
        end += 1
    return s[start:end].lower()


# A URL parser drops ASCII tabs and line breaks anywhere ("java\tscript:" is javascript:).
TAB_NL = re.compile("[\t\n\r]")


def _url(name: str, raw: str, base: str, s: str, i: int) -> str:
    value = TAB_NL.sub("", html.unescape(raw)).strip()
    if not value:  # a URL the sanitiser blanked: no link rather than a link to the page itself
        return _DROP
    scheme = _SCHEME.match(value)
    if scheme is None:
        return f'="{html.escape(urljoin(base, lone_percent(value)))}"'
    kind = scheme.group(1).lower()
    # nh3 checks the schemes of href and src, not of cite; data: only as an image's source
    if kind not in _SAFE_SCHEMES or kind == "data" and not (
            name == "src" and _tag_at(s, i) == "img" and value[5:].lower().startswith("image/")):
        return _DROP
    return f'="{html.escape(lone_percent(value))}"' if "%" in value else f'="{raw}"'


def _srcset(raw: str, base: str, tag: str) -> str:
    """A srcset with each image candidate's URL made absolute, parsed as HTML does
    (a URL, then descriptors up to a comma outside parentheses); nh3 does not look
    inside one, so a candidate with a URL no image may have is dropped here."""
    images = tag in ("img", "source")
    value, out, i = html.unescape(raw), [], 0
    while i < len(value):
        while i < len(value) and (value[i].isspace() or value[i] == ","):
            i += 1
        start = i
        while i < len(value) and not value[i].isspace():
            i += 1
        url, descriptors = TAB_NL.sub("", value[start:i]), ""
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            # descriptors: up to a comma outside parentheses; a ')' ends them, as in
            # HTML's parser (no nesting: "((x) ," ends the candidate at that comma)
            start, in_parens = i, False
            while i < len(value) and (value[i] != "," or in_parens):
                if value[i] == "(":
                    in_parens = True
                elif value[i] == ")":
                    in_parens = False
                i += 1
            descriptors = " ".join(value[start:i].split())
        scheme = _SCHEME.match(url)
        kind = scheme.group(1).lower() if scheme is not None else ""
        if not url or kind and kind not in ("http", "https") and not (
                kind == "data" and images and url[5:].lower().startswith("image/")):
            continue
        joined = urljoin(base, lone_percent(url)) if not kind else lone_percent(url)
        if joined.endswith(","):
            # urljoin drops an empty query or fragment ("a,?"): a URL left
            # ending in a comma ends its candidate there, and a browser would
            # read its descriptors ("a,? javascript:x") as the next URL.
            stripped = joined.rstrip(",")
            joined = stripped + "%2C" * (len(joined) - len(stripped))
        out.append(f"{joined} {descriptors}".rstrip())
    return f'="{html.escape(", ".join(out))}"' if out else _DROP


# Anything CommonMark could take for raw HTML: a tag, a comment, a declaration.
# Autolinks (<https://...>) and a lone "<" in prose do not match.
_RAW_HTML = re.compile(r"<(?:[A-Za-z][A-Za-z0-9-]*(?:\s|/?>)|/[A-Za-z]|!|\?)")
_SAFE_OPTIONS = Options.CMARK_OPT_DEFAULT


def render_body(text: str, base: str) -> str:
    """Markdown -> safe HTML. ``text`` is clean of control characters (``Entry.body`` is)."""
    return _render(text, base, False)[0]


def render_entry(text: str, base: str) -> tuple[str, str]:
    """(safe HTML of the body, its default summary): one parse gives both."""
    return _render(text, base, True)


def _render(text: str, base: str, lead: bool) -> tuple[str, str]:
    raw_html = _RAW_HTML.search(text) is not None
    # No raw HTML: cmark's safe mode already escapes all text and blanks
    # javascript:/vbscript:/file: and non-image data: URLs, so its output needs
    # only the URL pass, not a full sanitiser run (the larger part of the cost).
    options = _OPTIONS if raw_html else _SAFE_OPTIONS
    # The body was cleaned at load: only a character reference can bring back
    # what XML cannot carry, and most bodies have none.
    refs = "&#" in text
    with _parsed(text, options) as (root, extensions):
        html = _node_html(root, options, extensions)
        summary = _lead(root, options, extensions, raw_html) if lead else ""
    if refs and summary:
        summary = " ".join(clean_text(summary).split())
    summary = shorten(summary)
    if raw_html:
        return clean_text(sanitize(html, base)), summary
    # HTML5 void elements, as nh3 writes them ("/>" cannot occur in escaped text).
    out = _absolutize(html.replace(" />", ">"), base)
    return (clean_text(out) if refs else out), summary


# What the summary's text is taken from is found in cmark's document tree (the
# same parse as the body's HTML): its top-level blocks, by type. Reference
# links resolve against the whole body, and code, HTML blocks and lists are
# told apart as CommonMark reads them, which no scan of the text gets right.
_so = ctypes.CDLL(_cmark.__file__)
_first_child, _next = _so.cmark_node_first_child, _so.cmark_node_next
for _f in (_first_child, _next):
    _f.argtypes, _f.restype = [ctypes.c_void_p], ctypes.c_void_p
_type_of = _so.cmark_node_get_type_string
_type_of.argtypes, _type_of.restype = [ctypes.c_void_p], ctypes.c_char_p
_unlink = _so.cmark_node_unlink
_unlink.argtypes, _unlink.restype = [ctypes.c_void_p], None
_render_node = _so.cmark_render_html
_render_node.argtypes, _render_node.restype = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p], ctypes.c_void_p
# Never a summary's text: code is not prose, and an HTML block is markup.
_NOT_TEXT = {b"code_block", b"html_block"}
# Kept while raw HTML is cleaned from a block, so that ``plain_text`` can put
# spaces where blocks meet.
_TEXT_TAGS = {"p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "br", "hr", "div", "tr", "td", "th", "blockquote",
              "pre", "ul", "ol", "table"}


def _node_html(node: int, options: int, extensions: int) -> str:
    raw = _render_node(node, options, extensions)
    try:
        return ctypes.string_at(raw).decode("utf-8")
    finally:
        _c_free(raw)


def _block_text(node: int, options: int, extensions: int, raw_html: bool) -> str:
    fragment = _node_html(node, options, extensions)
    if raw_html:
        # What a sanitiser drops with its content (a script, a style) is no
        # summary's text either.
        fragment = nh3.clean(fragment, tags=_TEXT_TAGS, clean_content_tags=_CLEAN_CONTENT, strip_comments=True)
    return plain_text(fragment)


def _lead(root: int, options: int, extensions: int, raw_html: bool, fallback: bool = True) -> str:
    """The plain text a default summary is cut from: the first top-level paragraph
    with any text (one opening with an image or inline HTML is one; headings,
    lists, quotes, tables, code and HTML blocks are not); failing that (with
    ``fallback``), the text of the headings, lists, quotes and tables; failing
    that, nothing."""
    rest: list[int] = []
    node = _first_child(root)
    while node:
        kind = _type_of(node)
        if kind == b"paragraph":
            first = _block_text(node, options, extensions, raw_html)
            if first:
                return first
        elif fallback and kind not in _NOT_TEXT:
            rest.append(node)
        node = _next(node)
    for n in rest:   # the body's HTML is rendered by now: its tree may be cut
        _drop_verbatim(n)
    return " ".join(filter(None, (_block_text(n, options, extensions, raw_html) for n in rest)))


def _drop_verbatim(node: int) -> None:
    """Cut the code and HTML blocks out of ``node``'s subtree (a list, a quote).
    A loop, not recursion: quotes can nest thousands deep."""
    stack = [node]
    while stack:
        child = _first_child(stack.pop())
        while child:
            following = _next(child)
            if _type_of(child) in _NOT_TEXT:
                _unlink(child)
                _node_free(child)
            else:
                stack.append(child)
            child = following


def first_paragraph_text(text: str) -> str:
    """The plain text of the body's first paragraph as CommonMark reads it ("" if none)."""
    raw_html = _RAW_HTML.search(text) is not None
    options = _OPTIONS if raw_html else _SAFE_OPTIONS
    with _parsed(text, options) as (root, extensions):
        return _lead(root, options, extensions, raw_html, fallback=False)


_BLOCK_TAG = re.compile(r"</?(?:p|li|h[1-6]|br|hr|div|tr|td|th|blockquote|pre|ul|ol|table)\b[^>]*>", re.I)
_ANY_TAG = re.compile(r"<[^>]+>")


def plain_text(fragment: str) -> str:
    """Text of an HTML fragment: blocks become spaces, inline tags vanish."""
    return " ".join(html.unescape(_ANY_TAG.sub("", _BLOCK_TAG.sub(" ", fragment))).split())


SUMMARY_LIMIT = 280  # characters of a derived summary: about two lines in a reader's list view


def shorten(text: str, limit: int = SUMMARY_LIMIT) -> str:
    """Cut at a word boundary and mark the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: _cluster_start(text, limit - 1)]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-\u2014\u2013") + "\u2026"


# Extended grapheme clusters (UAX #29) as the regex module matches them: what a
# reader sees as one character, an accented letter, a Thai syllable with its
# vowel sign, an Indic conjunct, a Hangul syllable in jamo, a family emoji or a
# flag. Hand-written rules missed several of these.
_GRAPHEME = _regex.compile(r"\X")


def _cluster_start(text: str, i: int) -> int:
    """The nearest index at or before ``i`` that does not cut a character a
    reader sees as one in two."""
    if not 0 < i < len(text):
        return max(0, min(i, len(text)))
    # Between two ASCII characters (but CR LF) there is always a boundary: the
    # common case needs no matching, and a matching starts at the last such place
    # (matching all 280 characters took 46 us a summary).
    p = i
    while p > 0 and not _ascii_boundary(text, p):
        p -= 1
    if p == i:
        return i
    end = p
    # Clusters are found up to a few characters past i: a boundary at or before
    # i depends only on the characters around it.
    for m in _GRAPHEME.finditer(text, p, i + 8):
        if m.end() > i:
            break
        end = m.end()
    return end


def _ascii_boundary(text: str, p: int) -> bool:
    a, b = text[p - 1], text[p]
    return a.isascii() and b.isascii() and not (a == "\r" and b == "\n")
