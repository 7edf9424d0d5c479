"""Markdown bodies -> safe HTML with absolute URLs; the default summary."""
from __future__ import annotations

import re

import pytest

from feedsvc.markdown import first_paragraph_text, render_body, render_entry, shorten

ARTICLE = "https://news.example.org/articles/ai-body/"


def render(md: str) -> str:
    return render_body(md, ARTICLE)


# -- CommonMark ------------------------------------------------------------------

def test_headings_are_rendered():
    assert render("# One\n\n## Two\n\nSetext\n======\n") == "<h1>One</h1>\n<h2>Two</h2>\n<h1>Setext</h1>\n"


def test_lists_are_rendered():
    assert render("- one\n- two\n") == "<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n"
    assert render("1. one\n2. two\n") == "<ol>\n<li>one</li>\n<li>two</li>\n</ol>\n"


def test_blockquote_is_rendered():
    assert render("> quoted *words*\n") == "<blockquote>\n<p>quoted <em>words</em></p>\n</blockquote>\n"


def test_inline_markup_is_rendered():
    assert render("*em* **strong** `code` ~~gone~~\n") == \
        "<p><em>em</em> <strong>strong</strong> <code>code</code> <del>gone</del></p>\n"


def test_paragraphs_and_hard_breaks_follow_commonmark():
    assert render("one\ntwo\n\nthree  \nfour\n") == "<p>one\ntwo</p>\n<p>three<br>\nfour</p>\n"


def test_fenced_code_keeps_its_language_class_and_escapes_html():
    html = render("```python\nif a < b:\n    print('<b>')\n```\n")
    assert html == ('<pre><code class="language-python">if a &lt; b:\n    print(\'&lt;b&gt;\')\n'
                    "</code></pre>\n")


def test_gfm_table_is_rendered():
    html = render("| a | b |\n|---|:-:|\n| 1 | 2 |\n")
    assert "<table>" in html and '<th align="center">b</th>' in html and "<td>1</td>" in html


def test_safe_raw_html_is_kept():
    assert render("<em>raw</em> and <sup>1</sup>\n") == "<p><em>raw</em> and <sup>1</sup></p>\n"


def test_text_that_looks_like_markup_in_code_spans_is_escaped():
    assert "<code>&lt;script&gt;</code>" in render("Use `<script>` carefully.\n")


# -- what a reader must never run ------------------------------------------------

def test_script_is_removed_with_its_content():
    html = render("Before\n\n<script>alert('x')</script>\n\nAfter\n")
    assert "script" not in html and "alert" not in html
    assert "<p>Before</p>" in html and "<p>After</p>" in html


@pytest.mark.parametrize("md", ['<iframe src="https://evil.example.com/"></iframe>\n',
                                "<style>body { display: none }</style>\n",
                                '<object data="x.swf"></object>\n', '<embed src="x.swf">\n',
                                '<form action="/x"><input name="q"></form>\n'])
def test_embedding_and_styling_elements_are_removed(md):
    html = render(md)
    for word in ("iframe", "style", "object", "embed", "form", "input", "evil", "display"):
        assert word not in html


def test_event_handlers_are_removed():
    html = render('<a href="x" onclick="steal()">c</a> <img src="a.png" onerror="steal()">'
                  '<p onmouseover="steal()">p</p>\n')
    assert "steal" not in html and not re.search(r"\bon\w+=", html)
    assert '<a href="https://news.example.org/articles/ai-body/x">c</a>' in html


@pytest.mark.parametrize("href", ["javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)",
                                  "java&#x09;script:alert(1)", "vbscript:msgbox(1)",
                                  "data:text/html,<script>alert(1)</script>"])
def test_script_links_in_raw_html_are_dropped(href):
    html = render(f'<a href="{href}">x</a>\n')
    assert html == "<p><a>x</a></p>\n"
    # nh3 checks href and src, not cite: the same rule holds there
    assert render(f'<q cite="{href}">x</q>\n') == "<p><q>x</q></p>\n"


def test_a_data_url_is_an_image_source_only_on_an_image():
    html = render('<video src="data:image/png;base64,AAAA">v</video> <img src="data:image/png;base64,AA" alt="d">\n')
    assert html == '<p><video>v</video> <img src="data:image/png;base64,AA" alt="d"></p>\n'


def test_language_direction_and_title_attributes_are_kept():
    html = render('<abbr title="HyperText">HTML</abbr> <span lang="ar" dir="rtl">مرحبا</span>\n')
    assert html == '<p><abbr title="HyperText">HTML</abbr> <span lang="ar" dir="rtl">مرحبا</span></p>\n'


def test_attribute_like_text_in_raw_html_bodies_is_left_as_written():
    html = render('Write <code>&lt;img class="hero" src="a.png"&gt;</code> or <b>src="b.png"</b>.\n')
    assert 'class="hero" src="a.png"' in html and '<b>src="b.png"</b>' in html


@pytest.mark.parametrize("href", ["javascript:alert(1)", "JaVaScRiPt:alert(1)", "vbscript:msgbox(1)",
                                  "data:text/html,alert(1)"])
def test_script_links_in_markdown_are_dropped(href):
    assert render(f"[y]({href})\n") == "<p><a>y</a></p>\n"


def test_encoded_tab_in_a_markdown_link_cannot_form_a_scheme():
    # cmark percent-encodes the tab, so this is a harmless relative path, made absolute like any other.
    html = render("[y](java&#x09;script:alert(1))\n")
    assert 'href="https://news.example.org/articles/ai-body/java%09script:alert(1)"' in html


def test_comments_are_removed():
    assert render("a <!-- secret --> b\n") == "<p>a  b</p>\n"


def test_class_other_than_language_is_dropped():
    html = render('<code class="language-rust highlight">x</code> <p class="evil">y</p> '
                  '<code class="https://evil.example/">z</code>\n')
    assert '<code class="language-rust">x</code>' in html
    assert "evil" not in html and "highlight" not in html
    assert "<code>z</code>" in html   # a class that looks like a URL is still a class


def test_style_attribute_is_dropped():
    assert "color" not in render('<a href="/x" style="color:red">x</a>\n')


def test_characters_outside_xml_are_removed_from_raw_html():
    # Plain Markdown text arrives clean (the loader removes control characters
    # from the whole file); raw HTML still gets a second look after sanitising.
    assert render("<b>a\x01b\x0bc\x85d</b>\n") == "<p><b>abcd</b></p>\n"


# -- absolute URLs ---------------------------------------------------------------

@pytest.mark.parametrize(
    ("md", "expected"),
    [
        ("[rel](other/)", '<a href="https://news.example.org/articles/ai-body/other/">'),
        ("[up](../x/)", '<a href="https://news.example.org/articles/x/">'),
        ("[root](/about)", '<a href="https://news.example.org/about">'),
        ("[frag](#notes)", '<a href="https://news.example.org/articles/ai-body/#notes">'),
        ("[proto](//cdn.example.com/a)", '<a href="https://cdn.example.com/a">'),
        ("[abs](https://elsewhere.example.com/p?q=1)", '<a href="https://elsewhere.example.com/p?q=1">'),
        ("[mail](mailto:desk@example.org)", '<a href="mailto:desk@example.org">'),
        ("![pic](chart.png)", '<img src="https://news.example.org/articles/ai-body/chart.png" alt="pic">'),
        ("![pic](/img/chart.png)", '<img src="https://news.example.org/img/chart.png" alt="pic">'),
        ('<img src="data:image/png;base64,AAAA" alt="dot">', '<img src="data:image/png;base64,AAAA" alt="dot">'),
    ],
)
def test_links_and_image_sources_are_absolute_against_the_article(md, expected):
    assert expected in render(md + "\n")


def test_raw_html_links_are_made_absolute_too():
    html = render('<a href="notes.html">n</a> <img src="p.jpg"> <blockquote cite="src/">q</blockquote>\n')
    assert 'href="https://news.example.org/articles/ai-body/notes.html"' in html
    assert 'src="https://news.example.org/articles/ai-body/p.jpg"' in html
    assert 'cite="https://news.example.org/articles/ai-body/src/"' in html


def test_ids_are_kept_so_that_footnote_and_in_page_links_reach_them():
    from lxml import html as lh
    doc = lh.fromstring("<div>" + render('Claim.<sup id="fnref1"><a href="#fn1">1</a></sup>\n\n'
                                         '<ol><li id="fn1">Note. <a href="#fnref1">back</a></li></ol>\n') + "</div>")
    for a in doc.iter("a"):
        target = a.get("href").removeprefix(ARTICLE)
        assert target.startswith("#") and doc.get_element_by_id(target[1:]) is not None


def test_audio_video_and_responsive_images_are_kept_with_absolute_urls():
    from lxml import html as lh
    doc = lh.fromstring("<div>" + render(
        '<audio src="pod.mp3" controls></audio>\n\n'
        '<video src="clip.mp4" poster="poster.jpg" controls autoplay>Fallback text</video>\n\n'
        '<picture><source srcset="wide.webp 2x, https://cdn.example.org/w.webp 3x" media="(min-width: 800px)">'
        '<img src="narrow.jpg" alt="pic"></picture>\n') + "</div>")
    (audio,), (video,), (source,) = doc.iter("audio"), doc.iter("video"), doc.iter("source")
    assert audio.get("src") == ARTICLE + "pod.mp3" and audio.get("controls") is not None
    assert (video.get("src"), video.get("poster")) == (ARTICLE + "clip.mp4", ARTICLE + "poster.jpg")
    assert video.get("autoplay") is None and video.text_content() == "Fallback text"
    assert source.get("srcset") == f"{ARTICLE}wide.webp 2x, https://cdn.example.org/w.webp 3x"
    assert source.get("media") == "(min-width: 800px)"
    assert [i.get("src") for i in doc.iter("img")] == [ARTICLE + "narrow.jpg"]


@pytest.mark.parametrize(("srcset", "kept"), [
    ("https://c.example/a.png 1x, b.png 2x", f"https://c.example/a.png 1x, {ARTICLE}b.png 2x"),
    ("a.png, b.png 480w", f"{ARTICLE}a.png, {ARTICLE}b.png 480w"),
    ("javascript:alert(1) 1x, b.png 2x", f"{ARTICLE}b.png 2x"),          # no script URL, even in a srcset
    ("data:image/png;base64,AA 1x, data:text/html,x 2x", "data:image/png;base64,AA 1x"),
    ("c.png 100w, d.png (weird, but) 200w", f"{ARTICLE}c.png 100w, {ARTICLE}d.png (weird, but) 200w"),
    ("x.png ((x) ,javascript:alert(1) 2x", f"{ARTICLE}x.png ((x)"),      # one ')' ends them: no nesting
    ("http://cdn.example/a%zz.png 1x", "http://cdn.example/a%25zz.png 1x"),
    # a URL made absolute must not end in a comma, or its descriptors read as a URL
    ("a,? javascript:alert(1)", f"{ARTICLE}a%2C javascript:alert(1)"),
    ("b,,# 2x", f"{ARTICLE}b%2C%2C 2x"),
])
def test_every_url_of_a_srcset_is_made_absolute_and_checked(srcset, kept):
    from lxml import html as lh
    (img,) = lh.fromstring("<div>" + render(f'<img src="a.png" srcset="{srcset}" alt="x">\n') + "</div>").iter("img")
    assert img.get("srcset") == kept


def _attributes(md: str) -> list[tuple[str, dict[str, str]]]:
    from lxml import html as lh
    root = lh.fromstring("<div>" + render(md) + "</div>")
    return [(el.tag, dict(el.attrib)) for el in root.iter() if el.tag != "div" and el.attrib]


@pytest.mark.parametrize(("md", "want"), [
    ("![x src=](/a.png) and [b](/c)\n",
     [("img", {"src": "https://news.example.org/a.png", "alt": "x src="}),
      ("a", {"href": "https://news.example.org/c"})]),
    ('[a](/u "x href=") [b](/c)\n',
     [("a", {"href": "https://news.example.org/u", "title": "x href="}),
      ("a", {"href": "https://news.example.org/c"})]),
    ('<a title="a class=" href="/x" class="foo">y</a>\n',
     [("a", {"title": "a class=", "href": "https://news.example.org/x"})]),
    ('<blockquote title="q src=" cite="javascript:alert(1)">q</blockquote>\n',
     [("blockquote", {"title": "q src="})]),
    ('<img alt="a srcset=" src="javascript:x" srcset="data:text/html,x 1x">\n',
     [("img", {"alt": "a srcset="})]),
    # a URL ending in '=' hid the srcset after it from the check
    ('<img src="https://cdn.example/i.png?a=" srcset="javascript:alert(1) 1x">\n',
     [("img", {"src": "https://cdn.example/i.png?a="})]),
    ('[q](https://x.example/?q= "t") ![i](https://x.example/i.png?w= "u")\n',
     [("a", {"href": "https://x.example/?q=", "title": "t"}),
      ("img", {"src": "https://x.example/i.png?w=", "alt": "i", "title": "u"})]),
])
def test_a_value_ending_like_the_start_of_another_attribute_hides_none(md, want):
    # The URL pass looks for '="': the closing quote of a value ending in
    # "src=" (or just "=") must not be taken for the start of a src.
    assert _attributes(md) == want


def test_a_percent_sign_that_starts_no_escape_is_encoded_in_body_links():
    html = render("![p](100%.png) [x](50%25-off) [y](https://shop.example/50%-off) <a href=\"https://x.example/a%zz\">z</a>\n")
    assert f'src="{ARTICLE}100%25.png"' in html and f'href="{ARTICLE}50%25-off"' in html
    assert 'href="https://shop.example/50%25-off"' in html and 'href="https://x.example/a%25zz"' in html


def test_no_relative_url_survives():
    html = render("[a](x) ![b](y.png) [c](/z) [d](#e)\n")
    for url in re.findall(r'(?:href|src)="([^"]*)"', html):
        assert url.startswith("https://news.example.org/")


# -- default summary -------------------------------------------------------------

def test_first_paragraph_skips_headings_lists_code_quotes_and_images():
    body = ("# Heading\n\n- a list\n\n> a quote\n\n```\ncode\n```\n\n    indented code\n\n![img](x.png)\n\n"
            "<div>raw html</div>\n\n---\n\nThe *real* paragraph.\n\nAnother.\n")
    assert first_paragraph_text(body) == "The real paragraph."


@pytest.mark.parametrize(("body", "first"), [
    ("<strong>Breaking:</strong> the real first paragraph.\n\nSecond paragraph.\n",
     "Breaking: the real first paragraph."),                                 # inline HTML opens a paragraph
    ("![photo](p.jpg) Caption text, then the story.\n\nSecond.\n", "Caption text, then the story."),
    ("A Heading\n=========\n\nThe paragraph.\n", "The paragraph."),          # a setext heading is none
    ("Sub heading\n---\n\nThe paragraph.\n", "The paragraph."),
    ("```\ncode\n\nstill code\n```\n\nThe paragraph.\n", "The paragraph."),  # a blank line inside a fence
    ("The paragraph.\n- then a list\n", "The paragraph."),                  # only the paragraph, not what follows
    ("Read <script>alert(1)</script>this <style>p{}</style>now.\n", "Read this now."),   # no script's text
    ("# Install\n```sh\npip install x\n\npip install y\n```\n\nThe paragraph.\n", "The paragraph."),
    ("<!-- draft note\n\nnot for readers -->\n\nThe paragraph.\n", "The paragraph."),
    ("<script>\nvar a = 1;\n\nvar b = 2;\n</script>\n\nThe paragraph.\n", "The paragraph."),
    ("``` not a fence ` here\n\nThe paragraph.\n", "``` not a fence ` here"),      # no fence: prose
    ("Before the comment.\n<!-- a note -->\nAfter it.\n", "Before the comment."),  # an HTML block ends it
    ("[Lead story][lead] with ![chart][img] and [more][].\n\n[lead]: https://example.com/lead\n"
     "[img]: chart.png\n[more]: /more\n", "Lead story with and more."),     # references resolve, as in the body
    ("> [ref]: /x\n\nSee [ref].\n", "See ref."),                            # a definition in a quote counts too
    ("[not a ref] stays as written.\n", "[not a ref] stays as written."),
])
def test_the_first_paragraph_is_the_one_commonmark_reads(body, first):
    assert first_paragraph_text(body) == first


def test_first_paragraph_is_plain_text_on_one_line():
    body = "A [link](x) with **bold**, `code` &amp; <em>html</em>\nover two lines.\n"
    assert first_paragraph_text(body) == "A link with bold, code & html over two lines."


@pytest.mark.parametrize(("body", "summary"), [
    ("## Only a heading\n\n- and a list\n- of items\n", "Only a heading and a list of items"),
    ("```python\nimport os\nos.remove('x')\n```\n", ""),                 # code is not prose
    ("<div>an HTML block</div>\n", ""),
    ("<script>alert(1)</script>\n", ""),
    ("# Head\n\n```\ncode\n```\n\n<div>raw</div>\n\n> A quote.\n", "Head A quote."),
    ("- item\n\n      code inside a list\n", "item"),                     # nor inside lists and quotes
    ("> ```\n> secret code\n> ```\n", ""),
    ("> <div>an HTML block in a quote</div>\n\n- a\n- b\n  ```\n  x\n  ```\n", "a b"),
    ("", ""),
])
def test_a_body_without_a_paragraph_summarises_its_headings_lists_and_quotes_only(body, summary):
    from feedsvc.markdown import render_entry
    assert render_entry(body, ARTICLE)[1] == summary


def test_a_summary_is_derived_from_quotes_nested_deeper_than_pythons_recursion_limit():
    from feedsvc.markdown import render_entry
    body = "> " * 1500 + "```\n" + "> " * 1500 + "code\n\n" + "> " * 1500 + "# Deep heading\n"
    html, summary = render_entry(body, ARTICLE)
    assert html.count("<blockquote>") >= 1500 and summary.endswith("Deep heading")


def test_the_html_and_the_summary_come_from_one_parse_and_agree_with_the_body_alone():
    from feedsvc.markdown import render_entry
    body = "Intro with [a link][x] and <b>raw</b> html.\n\n## Next\n\n[x]: rel/path\n"
    html, summary = render_entry(body, ARTICLE)
    assert html == render_body(body, ARTICLE)
    assert summary == "Intro with a link and raw html."


def test_first_paragraph_of_a_body_without_prose_is_empty():
    assert first_paragraph_text("# Only\n\n- items\n") == ""
    assert first_paragraph_text("") == ""


@pytest.mark.parametrize("unit", ["ทำ", "ກົ", "क्ष", "\u1112\u1161\u11ab", "ｶﾞ", "\u0600١", "e\u0301", "👩\u200d👩\u200d👧",
                                  "🇫🇷", "👍🏽"])
def test_a_summary_is_never_cut_inside_what_a_reader_sees_as_one_character(unit):
    import regex
    for lead in range(4):     # every place the cut can fall within a unit
        text = "x" * lead + unit * 200
        out = shorten(text)
        assert out.endswith("\u2026") and len(out) <= 281
        kept = out[:-1].removeprefix("x" * lead)
        assert kept and all(c == unit for c in regex.findall(r"\X", kept)), (unit, lead, kept[-4:])


def test_short_text_is_not_shortened():
    assert shorten("A short summary.") == "A short summary."
    assert shorten("x" * 280) == "x" * 280


def test_long_text_is_cut_at_a_word_with_an_ellipsis():
    text = " ".join(f"word{i}" for i in range(100))
    out = shorten(text, 80)
    assert len(out) <= 80
    assert out.endswith("\u2026")
    assert text.startswith(out[:-1])
    assert text[len(out) - 1] == " ", "the cut falls between words"


def test_cut_does_not_leave_punctuation_before_the_ellipsis():
    out = shorten("alpha beta, gamma delta epsilon", 14)
    assert out == "alpha beta\u2026"


def test_one_very_long_word_is_cut_inside_it():
    out = shorten("x" * 500, 100)
    assert out == "x" * 99 + "\u2026"


def test_character_references_xml_cannot_carry_are_dropped_as_such_characters_are():
    html = render("a &#1;b &#xFFFE;c &#x85;d &#65535;e &#128512;\n")
    assert html == "<p>a b c d e \U0001F600</p>\n"
    with_raw_html = render("<b>&#x0B;</b> &#xFFFF;\n")
    assert "\x0b" not in with_raw_html and "\uffff" not in with_raw_html


def test_a_reference_commonmark_reads_as_a_replacement_character_stays_one():
    # CommonMark: "&#0;" and references past U+10FFFF are U+FFFD.
    assert render("a &#0; b &#x110000; c\n") == "<p>a \ufffd b \ufffd c</p>\n"


def test_a_character_reference_in_code_stays_as_written():
    assert render("`&#1;` and\n\n    &#x1;\n") == \
        "<p><code>&amp;#1;</code> and</p>\n<pre><code>&amp;#x1;\n</code></pre>\n"


def test_a_summary_drops_characters_xml_cannot_carry_from_references():
    _, summary = render_entry("Before&#1; &#x7; after.\n", "https://news.example.org/articles/x/")
    assert summary == "Before after."


def test_a_body_the_renderer_cannot_take_is_published_as_text(monkeypatch):
    import datetime as dt

    import feedsvc.markdown
    from feedsvc.model import Author, Entry

    def boom(text, base):
        raise RuntimeError("renderer bug")

    monkeypatch.setattr(feedsvc.markdown, "render_body", boom)
    monkeypatch.setattr(feedsvc.markdown, "render_entry", boom)
    now = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    e = Entry(path="x.md", slug="x", id="tag:x,2025:x", title="X", date=now, updated=now,
              link="https://x.example/x/", author=Author("A"), body="a <b> & c")
    assert e.content_html == "<pre>a &lt;b&gt; &amp; c</pre>"


def test_rendering_frees_what_the_c_renderer_allocates():
    # cmarkgfm's own wrappers leak the document tree and the output (~50 KB per
    # body here): 3,000 renders would grow the process by well over 100 MB.
    from feedsvc.markdown import render_body

    body = ("## Section\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n" + "A \u201cquoted\u201d ~~line~~ with https://example.org. " * 60
            + "\n\n1. one\n2. two\n") * 4

    def rss_mb() -> float:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * 4096 / 2**20

    for _ in range(200):
        render_body(body, "https://news.example.org/a/")
    before = rss_mb()
    for _ in range(3000):
        render_body(body, "https://news.example.org/a/")
    assert rss_mb() - before < 30


def test_the_summary_is_the_first_prose_block_after_headings_lists_and_quotes():
    body = "# Title\n\n- a list\n- of two\n\n> A quote.\n\n   \nThe *first* prose.\nStill it.\n\nSecond prose.\n"
    assert first_paragraph_text(body) == "The first prose. Still it."


@pytest.mark.parametrize("unit", [
    "\U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466",   # a family: four people joined by ZWJ
    "\U0001F1EB\U0001F1F7",                                       # a flag: two regional indicators
    "e\u0301",                                                    # e and a combining acute accent
    "\U0001F44D\U0001F3FD",                                       # thumbs up, medium skin tone
    "\u2764\ufe0f",                                               # heart with its emoji presentation
    "\u0915\u0941",                                               # Devanagari ka with the vowel sign u
    "\u0e2a\u0e31",                                               # Thai so suea with mai han-akat
    "1\ufe0f\u20e3",                                              # keycap one
])
def test_a_cut_never_splits_what_a_reader_sees_as_one_character(unit):
    for limit in range(20, 40):
        for lead in ("", "x"):
            out = shorten(lead + unit * 100, limit)
            kept = out.removesuffix("\u2026").removeprefix(lead)
            assert out.endswith("\u2026") and len(out) <= limit
            assert kept and len(kept) % len(unit) == 0 and kept == unit * (len(kept) // len(unit)), (limit, lead)
