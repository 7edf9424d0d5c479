"""entries/**/*.md on disk -> validated ``Entry`` objects and a list of problems.

One bad file never costs another: each file is parsed on its own, problems are
collected with the path, the field and the reason, and the file is skipped (or,
for repairable faults such as control characters, published with a warning).
"""
from __future__ import annotations

import bisect
import dataclasses
import errno
import mimetypes
import os
import re
import reprlib
import stat
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from . import frontmatter
from .config import SiteConfig
from .dates import ambiguity, parse_when_noted
from .errors import ConfigError, EntryError, StaleEntry
from .heap import collections_paused
from .model import Author, Entry, Problem
from .resources import digest as file_digest
from .slugs import MAX_SLUG, cut_slug, is_slug, slugify
from .text import clean_text, clean_utf8, lone_percent, unclean

KNOWN_KEYS = frontmatter.KEYS
_FENCE = re.compile(r"^(?:---|\.\.\.)[ \t]*$", re.M)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
# ASCII characters a URI may carry as they are (RFC 3986 reserved, unreserved, '%').
_URI_SAFE = "!#$%&'()*+,/:;=?@[]~"
_URI_CHAR = re.compile(r"[0-9A-Za-z\-._~!#$%&'()*+,/:;=?@\[\]]")


@dataclass(frozen=True)
class Parsed:
    """What one file gave: an entry (maybe with warnings) or the error that stopped it."""

    entry: Entry | None
    problems: tuple[Problem, ...] = ()


def parse_entry(raw: bytes, path: str, site: SiteConfig, file: str = "") -> Parsed:
    """Parse one file's bytes. Never raises for bad input: errors come back as problems.

    With ``file`` (where ``raw`` was read from), the entry does not hold its
    body but reads it from there when it is needed.
    """
    warnings: list[Problem] = []
    try:
        entry = _parse(raw, path, site, warnings, file)
    except EntryError as e:
        return Parsed(None, (*warnings, Problem(path, e.field, e.message, e.line)))
    except (ValueError, TypeError, OverflowError, RecursionError) as e:
        # A library refusing some input we did not foresee: still this file's
        # problem only, never the end of the whole load.
        return Parsed(None, (*warnings, Problem(path, "file", f"cannot be read: {type(e).__name__}: {e}")))
    return Parsed(entry, tuple(warnings))


def _text(raw: bytes, path: str) -> tuple[str, int, int | None]:
    """(clean text, control characters removed, line of the first)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise EntryError(path, "file", f"not UTF-8: byte 0x{raw[e.start]:02x} at offset {e.start} cannot be decoded",
                         line=line) from None
    text = text.removeprefix("\ufeff")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Control characters go before YAML sees the text: PyYAML refuses them, and
    # one pasted into a title should cost a warning, not the whole entry.
    if clean_utf8(raw):
        return text, 0, None
    removed, first_bad = unclean(text)
    if removed:
        text = clean_text(text)
    return text, removed, first_bad


# An article is a few kilobytes; this is far beyond any, and keeps a file that
# is not one (a log, a disk image renamed .md) from taking every worker's memory.
MAX_ENTRY_BYTES = 16 * 2**20


def checked_stat(st: os.stat_result) -> os.stat_result | OSError:
    """``st``, or the error that keeps the file from being read as an entry."""
    if not stat.S_ISREG(st.st_mode):
        # Opening a FIFO waits for a writer, and a device can give bytes without end.
        return OSError(errno.EINVAL, "not a regular file (a FIFO, a device or a socket), so it is not read")
    if st.st_size > MAX_ENTRY_BYTES:
        return OSError(errno.EFBIG, f"{st.st_size:,} bytes: an entry file may have "
                                    f"{MAX_ENTRY_BYTES // 2**20} MiB at most")
    return st


def read_entry_bytes(full: str) -> bytes:
    """An entry file's bytes, if it is a regular file of an entry's size (OSError
    if not). Opened without waiting, so a FIFO swapped in after the walk cannot
    hang the refresh either."""
    return read_entry_file(full)[0]


def read_entry_file(full: str) -> tuple[bytes, "Stamp"]:
    """``read_entry_bytes``, and the file's stamp as it was opened: the stamp of
    these bytes or of older ones, never of newer ones (a write after the stat
    shows as a change to the next walk)."""
    fd = os.open(full, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        checked = checked_stat(os.fstat(fd))
        if isinstance(checked, OSError):
            raise checked
        # os.read of the size it has: a file object would first allocate the
        # whole limit (3.5 times slower per file at 100k files).
        parts: list[bytes] = []
        total = 0
        while chunk := os.read(fd, max(checked.st_size + 1 - total, 1 << 16)):
            parts.append(chunk)
            total += len(chunk)
            if total > MAX_ENTRY_BYTES:   # it grew after the stat
                raise OSError(errno.EFBIG, f"more than {MAX_ENTRY_BYTES // 2**20} MiB: too large for an entry file")
    finally:
        os.close(fd)
    return (parts[0] if len(parts) == 1 else b"".join(parts)), \
        (checked.st_mtime_ns, checked.st_size, checked.st_ino)


def check_current(entry: Entry) -> None:
    """Raise StaleEntry unless the entry's file still holds the bytes it was parsed from."""
    if not entry.file:
        return   # its body is held
    try:
        same = file_digest(read_entry_bytes(entry.file)) == entry.digest
    except OSError:
        same = False
    if not same:
        raise StaleEntry(entry.path)


def read_body(file: str, path: str, digest: str = "") -> tuple[str, bool]:
    """The Markdown body of an entry file, read again: what ``parse_entry`` found,
    without the YAML; and whether the file still has the bytes ``digest`` names."""
    try:
        raw = read_entry_bytes(file)
        text, _, _ = _text(raw, path)
    except (OSError, EntryError):
        return "", False
    same = bool(digest) and file_digest(raw) == digest
    end = _body_start(text)
    return (text[end:].lstrip("\n") if end is not None else ""), same


def _body_start(text: str) -> int | None:
    """Offset just past the closing fence of the front matter, or None."""
    first_nl = text.find("\n")
    if first_nl == -1:
        return None
    end = _FENCE.search(text, first_nl + 1)
    return end.end() if end is not None else None


def _parse(raw: bytes, path: str, site: SiteConfig, warnings: list[Problem], file: str = "") -> Entry:
    text, removed, first_bad = _text(raw, path)
    meta, body, body_line = _split(text, path)
    if removed and first_bad is not None:
        where = "body" if first_bad >= body_line else "front matter"
        warnings.append(Problem(path, where, f"removed {removed} control character(s) that XML cannot carry",
                                line=first_bad, severity="warning"))

    unknown = sorted(set(meta) - KNOWN_KEYS, key=str)
    # Jekyll's way to hold an article back: publishing it would be the one
    # mistake a warning cannot take back, so it is taken as meant.
    held_back = meta.get("published") is False and meta.get("draft") is None
    if held_back:
        unknown.remove("published")
        warnings.append(Problem(path, "published", "false is read as draft: true (the key this site uses)",
                                severity="warning"))
    if unknown:
        warnings.append(Problem(path, "front matter", f"unknown key(s) ignored: {', '.join(map(str, unknown))}",
                                severity="warning"))

    title = _line(_scalar(meta, "title", path, required=True))
    if not title or _INVISIBLE.fullmatch(title):
        raise EntryError(path, "title", "must not be empty" + _shows_nothing(title))

    if meta.get("date") is None:
        raise EntryError(path, "date", "required (for example 2025-07-26T09:30:00+08:00)")
    tz = site.tz
    try:
        published, day, note = parse_when_noted(_when(meta["date"]), tz)
    except ValueError as e:
        raise EntryError(path, "date", str(e)) from None
    if note:
        warnings.append(Problem(path, "date", note, severity="warning"))
    for key in ("date", "updated"):
        note = ambiguity(meta.get(key))
        if note:
            warnings.append(Problem(path, key, note, severity="warning"))
    updated = published
    if meta.get("updated") is not None:
        try:
            updated, _, note = parse_when_noted(_when(meta["updated"]), tz)
        except ValueError as e:
            raise EntryError(path, "updated", str(e)) from None
        if note:
            warnings.append(Problem(path, "updated", note, severity="warning"))
        if updated < published:
            warnings.append(Problem(path, "updated", "is before date; using date", severity="warning"))
            updated = published

    categories = _names(meta, "categories", path)
    # Tags travel as item categories too; a tag that repeats a category would
    # appear twice in every format (and JSON Feed wants its tags unique).
    # "AI" and "Ai" are one name to a reader: compared without case.
    folded = {c.casefold() for c in categories}
    tags = tuple(t for t in _names(meta, "tags", path) if t.casefold() not in folded)
    author = _author(meta.get("author"), path, warnings) or site.author

    slug_value = _scalar(meta, "slug", path)
    stem = path.rsplit("/", 1)[-1].removesuffix(".md")
    slug = slug_value if slug_value is not None else stem
    if not is_slug(slug):
        slug = slugify(slug)
        if not slug:
            raise EntryError(path, "slug", "gives an empty slug; set one with letters or digits")
        if slug_value is not None:
            warnings.append(Problem(path, "slug", f"{_short(slug_value)} is not a slug (lower-case ASCII words "
                                                  f"joined by '-'): published as {slug!r}", severity="warning"))
    if len(slug) > MAX_SLUG:
        # A slug is a folder name in an export, where a name holds 255 bytes.
        if slug_value is not None:
            raise EntryError(path, "slug", f"{len(slug)} characters; a slug may have {MAX_SLUG} at most")
        slug = cut_slug(slug)

    base = site.base_url
    link_value = (_scalar(meta, "link", path) or "").strip()   # only spaces: as if not given
    link = _absolute(link_value, base + "/", path, "link") if link_value else f"{base}/articles/{slug}/"

    id_value = _scalar(meta, "id", path)
    entry_id = _entry_id(id_value, path) if id_value and id_value.strip() else \
        f"tag:{site.domain},{day.isoformat()}:/articles/{slug}/"

    image_value = (_scalar(meta, "image", path) or "").strip()
    image = _absolute(image_value, link, path, "image") if image_value else None

    draft = meta.get("draft")
    if draft is None:
        draft = held_back
    if not isinstance(draft, bool):
        hint = "; write it without quotes" if isinstance(draft, str) and draft.strip().lower() in (
            "true", "false", "yes", "no", "on", "off") else ""
        raise EntryError(path, "draft", f"expected true or false, got {type(draft).__name__} {_short(draft)}{hint}")

    summary_value = _scalar(meta, "summary", path)
    summary = " ".join(clean_text(summary_value).split()) if summary_value else ""
    if _INVISIBLE.fullmatch(summary):
        summary = ""   # shows as nothing: derived from the body, as when none is given

    return Entry(
        path=path, slug=slug, id=entry_id, title=title, date=published, updated=updated, link=link,
        author=author, categories=categories, tags=tags, given_summary=summary, image=image, draft=draft,
        body="" if file else body, digest=file_digest(raw), file=file,
    )


def _split(text: str, path: str) -> tuple[dict[Any, Any], str, int]:
    if not text.startswith("---"):
        raise EntryError(path, "front matter", "the file must start with a '---' line, then YAML, then '---'", line=1)
    first_nl = text.find("\n")
    if first_nl == -1 or text[:first_nl].strip() != "---":
        raise EntryError(path, "front matter", "the first line must be exactly '---'", line=1)
    end = _FENCE.search(text, first_nl + 1)
    if end is None:
        raise EntryError(path, "front matter", "no closing '---' line after the front matter", line=1)
    yaml_text = text[first_nl + 1:end.start()]
    body = text[end.end():].lstrip("\n")
    body_line = text[: end.end()].count("\n") + 2
    try:
        meta = frontmatter.load(yaml_text)
    except frontmatter.Error as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 2 if mark is not None else None
        reason = getattr(e, "problem", None) or str(e)
        raise EntryError(path, "front matter", f"invalid YAML: {reason} (a value that holds ': ' or ' #', or "
                                               f"starts with one of [ {{ # & * ! | > ' \" % @ `, must be in "
                                               f"quotes; indent with spaces, not tabs)", line=line) from None
    except Exception as e:
        # PyYAML's constructors raise what they meet for a value their tag cannot
        # take (KeyError for "!!bool maybe", AttributeError for "!!timestamp soon").
        raise EntryError(path, "front matter", f"invalid YAML: a value its tag cannot take "
                                               f"({type(e).__name__}: {_short(str(e))})") from None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise EntryError(path, "front matter", f"must be a mapping of keys to values, got {type(meta).__name__}",
                         line=2)
    return meta, body, body_line


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 100
_REPR.maxlist = _REPR.maxdict = _REPR.maxtuple = 4
_REPR.maxlevel = 2


def _short(v: Any) -> str:
    """``repr(v)``, cut short: a value in an error message can be a YAML alias
    bomb whose full form is gigabytes (it is shared, not copied, until printed)."""
    return _REPR.repr(v)


def _when(v: Any) -> Any:
    """A date as YAML gave it; a number is refused rather than guessed at
    (``2025`` would otherwise be read as some day in 2025)."""
    if isinstance(v, frontmatter.Numeral):
        raise ValueError(f"expected a date, got the number {v}; write it as, for example, 2025-07-26")
    if isinstance(v, frontmatter.Stamp):   # the instant, as a plain datetime
        return datetime(v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, v.tzinfo)
    return v


def _scalar(meta: Mapping[Any, Any], key: str, path: str, *, required: bool = False) -> str | None:
    v = meta.get(key)
    if v is None:
        if required:
            if key in meta:   # "title:" with nothing after it, or only a "# ..." YAML takes for a comment
                raise EntryError(path, key, f"empty; write it after '{key}: ', in quotes if it starts with # "
                                            f"or holds ': ' ({key}: \"#1 story\")")
            raise EntryError(path, key, "required")
        return None
    if isinstance(v, bool):
        # YAML reads a bare yes/no/on/off/true/false as a truth value.
        raise EntryError(path, key, f"expected text, got the truth value {_short(v)}; put the text in quotes "
                         f"({key}: \"...\") to keep it as written")
    if isinstance(v, (dict, list)):
        raise EntryError(path, key, f"expected text, got {type(v).__name__} {_short(v)}")
    if isinstance(v, (int, float, date, frontmatter.Numeral)):
        v = str(v)   # a Numeral as written; a plain str for what is kept and stored
    if not isinstance(v, str):
        raise EntryError(path, key, f"expected text, got {type(v).__name__}")
    return clean_text(v)


def _line(s: str | None) -> str:
    return " ".join((s or "").split())


# Characters that take no room and show no mark (zero-width spaces and joiners,
# direction marks, fillers, the soft hyphen, language tags), and the spaces
# between them: a title of only these passes "not empty" and shows as blank.
_INVISIBLE = re.compile("[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
                        "\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0"
                        "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff ]+")


def _shows_nothing(s: str) -> str:
    """What to add to "must not be empty" for a text of ``_INVISIBLE`` characters only."""
    if not s:
        return ""
    seen = list(dict.fromkeys(c for c in s if c != " "))
    names = ", ".join(f"U+{ord(c):04X} {unicodedata.name(c, '')}".rstrip() for c in seen[:3])
    more = f" and {len(seen) - 3} more" if len(seen) > 3 else ""
    return f": it has only characters that show as nothing ({names}{more})"


MAX_NAMES = 100   # categories, and tags, per entry


def _truth_value(path: str, key: str, value: bool) -> EntryError:
    """YAML reads a bare yes/no/on/off/true/false as a truth value, where a name was meant."""
    return EntryError(path, key, f"a bare {str(value).lower()} (or yes, no, on, off) is a truth value, not a "
                                 f"name: put it in quotes ({key}: \"...\")")


def _names(meta: Mapping[Any, Any], key: str, path: str) -> tuple[str, ...]:
    v = meta.get(key)
    if v is None:
        return ()
    if isinstance(v, (str, date, frontmatter.Numeral)) and not isinstance(v, bool):
        v = [v]   # one name (text, or what YAML took for a number or a date)
    if isinstance(v, bool):
        raise _truth_value(path, key, v)
    if not isinstance(v, list):
        raise EntryError(path, key, f"expected a list of names, got {type(v).__name__} {_short(v)}")
    out: dict[str, None] = {}
    for item in v:
        if isinstance(item, bool):
            raise _truth_value(path, key, item)
        if isinstance(item, (dict, list, tuple)) or item is None:
            raise EntryError(path, key, f"expected a list of names, found {_short(item)} in it")
        # One spelling per name: "é" typed as one character or as "e" and a
        # combining accent is the same category, not a slug collision.
        name = unicodedata.normalize("NFC", _line(clean_text(str(item))))
        if name and not _INVISIBLE.fullmatch(name):   # a blank name is no name, as an empty one
            out[name] = None
            if len(out) > MAX_NAMES:
                # Each category is three feeds, and each of them lists every name
                # of the entry: one file with thousands took minutes and gigabytes.
                raise EntryError(path, key, f"more than {MAX_NAMES} names; an entry may have {MAX_NAMES} at most")
    return tuple(out)


def _author(v: Any, path: str, warnings: list[Problem]) -> Author | None:
    if v is None:
        return None
    if isinstance(v, bool) or isinstance(v, dict) and isinstance(v.get("name"), bool):
        raise _truth_value(path, "author", True)
    if isinstance(v, (date, frontmatter.Numeral)):
        v = str(v)   # as written
    if isinstance(v, dict) and isinstance(v.get("name"), (date, frontmatter.Numeral)):
        v = {**v, "name": str(v["name"])}
    if isinstance(v, str):
        name = _line(clean_text(v))
        if not name or _INVISIBLE.fullmatch(name):
            raise EntryError(path, "author", "must not be empty" + _shows_nothing(name))
        return Author(name)
    if isinstance(v, dict):
        name = _line(clean_text(v["name"])) if isinstance(v.get("name"), str) else ""
        if not name or _INVISIBLE.fullmatch(name):
            raise EntryError(path, "author", "an author mapping needs a name" + _shows_nothing(name))
        unknown = set(v) - {"name", "email", "uri", "url"}
        if unknown:   # as for the front matter's own keys: a typo costs a warning, not the article
            warnings.append(Problem(path, "author", f"unknown field(s) ignored: {', '.join(sorted(map(str, unknown)))}",
                                    severity="warning"))
        email = v.get("email")
        uri = v.get("uri", v.get("url"))
        if email is not None and (not isinstance(email, str) or "@" not in email):
            raise EntryError(path, "author.email", f"not an e-mail address: {_short(email)}")
        if uri is not None:
            if not isinstance(uri, str) or not _is_http_url(uri.strip()):
                raise EntryError(path, "author.uri", f"expected an absolute http(s) URL, got {_short(uri)}")
            uri = _ascii_url(uri.strip(), path, "author.uri")
        return Author(name, email.strip() if email else None, uri)
    raise EntryError(path, "author", f"expected a name or {{name, email, uri}}, got {type(v).__name__}")


def _absolute(value: str, base: str, path: str, key: str) -> str:
    value = value.strip()
    # A space in a path is common ("lead photo.jpg") and becomes %20 below;
    # other white space in a URL is a mistake.
    if any(c.isspace() and c != " " for c in value):
        raise EntryError(path, key, f"a URL cannot contain tabs or line breaks: {_short(value)}")
    try:
        url = urljoin(base, value)
    except ValueError:  # "http://[oops": urllib refuses it outright
        url = ""
    if not _is_http_url(url) or " " in urlsplit(url).netloc:
        raise EntryError(path, key, f"expected an http(s) URL or a path, got {_short(value)}")
    return _ascii_url(url, path, key)


def _ascii_url(url: str, path: str, key: str) -> str:
    """Percent-encode what a URI cannot carry (non-ASCII letters, '<', '|' ...) and IDNA-encode the host.

    RSS <link> and <enclosure> must be URIs, not IRIs, and every format should
    show one spelling. Idempotent: a '%' that starts an escape is kept, so an
    encoded URL stays as it is; any other is written %25 (RFC 3986 2.4).
    """
    parts = urlsplit(lone_percent(url))
    netloc = parts.netloc
    if not netloc.isascii():
        userinfo, at, hostport = netloc.rpartition("@")
        host, colon, port = hostport.partition(":")
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise EntryError(path, key, f"the host name in {_short(url)} cannot be written in ASCII") from None
        netloc = f"{quote(userinfo, safe=_URI_SAFE)}{at}{host}{colon}{port}"
    return urlunsplit((parts.scheme, netloc, quote(parts.path, safe=_URI_SAFE), quote(parts.query, safe=_URI_SAFE),
                       quote(parts.fragment, safe=_URI_SAFE)))


def _entry_id(value: str, path: str) -> str:
    """An id as written, if every format can carry it: Atom needs an absolute IRI, so no spaces and a scheme.

    An id is never changed in a way that depends on anything but its text (a
    reader would see the entry twice): it is refused, or mapped to its URI form.
    """
    v = value.strip()
    hint = "write a URI such as 'tag:example.org,2025-07-26:my-post' or 'urn:uuid:...', or leave id out"
    if any(c.isspace() for c in v):
        raise EntryError(path, "id", f"{_short(v)} contains white space; {hint}")
    if not _SCHEME.match(v):
        raise EntryError(path, "id", f"{_short(v)} is not an absolute URI (no scheme); {hint}")
    bad = sorted({c for c in v if c.isascii() and not _URI_CHAR.match(c)})
    if bad:
        raise EntryError(path, "id", f"{_short(v)} contains {' '.join(bad)}, which a URI cannot carry; {hint}")
    # An IRI's non-ASCII letters become their URI form (RFC 3987 3.1), which tag:
    # URIs (RFC 4151) and RSS guids require; the mapping is fixed, so the id is stable.
    return v if v.isascii() else quote(v, safe=_URI_SAFE)


def _is_http_url(url: str) -> bool:
    """An absolute http(s) URL that urllib can take apart (bracketed host, port in range)."""
    try:
        parts = urlsplit(url)
        parts.port  # raises ValueError for a port out of range
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def image_type(url: str) -> str:
    return mimetypes.guess_type(urlsplit(url).path)[0] or "image/jpeg"


# -- the folder ----------------------------------------------------------------

Stamp = tuple[int, int, int]  # (mtime_ns, size, inode): cheap "has this file changed?"
# A file the walk found: (relative path, full path, its stat or why it cannot be
# read). None: not looked at, as in the first walk of a load, where each file's
# read gives its stamp (a stat per file cost that walk most of its time).
Scanned = tuple[str, str, "os.stat_result | OSError | None"]


@dataclass
class EntryCache:
    """Parsed files by path and stamp, so a refresh re-reads only what changed."""

    site: SiteConfig
    parsed: dict[str, tuple[Stamp, Parsed]] = field(default_factory=dict)
    last: "LoadResult | None" = None    # what the last load gave, reused while no file changes
    scan: list[Scanned] | None = None   # the last walk, kept up to date
    # Who holds each slug and id in ``last`` (path), and whether a file lost
    # one to another: what patching a change into ``last`` must respect.
    slugs: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    collided: bool = False
    # Files the last full load could not read: no change is needed for them to
    # be looked at again (a file made readable may show no change to a watch).
    unread: frozenset[str] = frozenset()
    # The names the last load showed for files whose own names are not UTF-8:
    # another file may have the same one, which only a walk tells apart.
    bad_names: frozenset[str] = frozenset()
    # Links the last load listed as leading outside the folder. Never read, so
    # not looked at again unless named as changed: a site with articles linked
    # in from elsewhere keeps its cheap refreshes.
    outside: frozenset[str] = frozenset()


@dataclass(frozen=True)
class LoadResult:
    entries: tuple[Entry, ...]          # usable entries (drafts and scheduled included), path order
    problems: tuple[Problem, ...]       # errors and warnings, path order
    files: int                          # .md files seen
    reparsed: int = 0                   # files actually parsed this time (the rest came from the cache)
    removed: int = 0                    # files the cache held that are gone (or can no longer be read)
    # Set when the last load was patched rather than redone (see ``_patch``): an
    # (old entry, new entry) pair for each entry that came (old None), went
    # (new None) or changed, and every file parsed or gone.
    replaced: tuple[tuple[Entry | None, Entry | None], ...] | None = None
    paths: frozenset[str] = frozenset()

    @property
    def unchanged(self) -> bool:
        """Every file as the cache last saw it: the same entries as last time."""
        return self.reparsed == 0 and self.removed == 0

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")


Progress = tuple[int, Callable[[int], object]]


def scan_entry_files(root: Path, progress: Progress | None = None, stat: bool = True) -> list[Scanned]:
    """(relative posix path, absolute path, stat or the error that keeps it from
    being read) of every entry file, in path order, from one walk.

    Hidden files and folders (editor swap files, .git) are not entries; links
    to folders are not followed. A link to a file outside the folder is listed
    with an error, and never read.

    os.scandir gives the names and file types in one system call per folder;
    pathlib objects per file cost more than the stat itself on a large tree.
    ``progress``: (n, f) calls f(files found so far) after every n files.
    ``stat``: False leaves each file's stat None (a name that is not UTF-8
    still has its error), for a caller that reads every file anyway.
    """
    found: list[Scanned] = []
    try:
        st = os.stat(root)
        seen = {(st.st_dev, st.st_ino)}
    except OSError:
        seen = set()
    _walk(str(root), "", os.path.realpath(root), found, progress, seen, stat)
    found.sort(key=lambda t: t[0])
    return found


def _walk(folder: str, prefix: str, real_root: str, found: list[Scanned],
          progress: Progress | None, seen: set[tuple[int, int]], with_stat: bool) -> None:
    # A module function rather than a closure: a nested function that calls
    # itself is a reference cycle, and everything it holds (here every file's
    # stat, 100k of them on a large site) waited for the cyclic collector.
    try:
        it = os.scandir(folder)
    except OSError:
        return
    with it:
        for d in it:
            name = d.name
            if name.startswith("."):
                continue
            try:
                is_dir = d.is_dir()
            except OSError:   # a link in a loop: an entry's name is listed, unreadable, as rescan lists it
                if not name.endswith(".md"):
                    continue
                is_dir = False
            if is_dir:
                # A link to a folder is not followed: inside the entries folder it is
                # another name for a folder walked anyway (every file in it would be
                # published twice, and a link to a parent made the walk endless);
                # outside it, it is not the site's.
                if d.is_symlink():
                    continue
                try:
                    st = d.stat(follow_symlinks=False)
                except OSError:
                    continue
                if (st.st_dev, st.st_ino) in seen:   # a bind mount of a folder above it
                    continue
                seen.add((st.st_dev, st.st_ino))
                _walk(d.path, f"{prefix}{name}/", real_root, found, progress, seen, with_stat)
            elif name.endswith(".md"):
                rel = prefix + name
                st: os.stat_result | OSError | None = None
                if d.is_symlink() and not _inside(d.path, real_root):
                    st = OSError(errno.EXDEV, OUTSIDE)
                # Without ``with_stat``, only what the folder listing itself calls a
                # regular file goes unstatted: a FIFO or a device must not be opened
                # (a writer waiting on a FIFO would be woken, then fail).
                elif with_stat or d.is_symlink() or not d.is_file(follow_symlinks=False):
                    try:
                        st = checked_stat(d.stat())
                    except OSError as e:
                        st = e
                if not _utf8(rel):
                    rel, st = _shown(rel), OSError(errno.EILSEQ, NOT_UTF8_NAME)
                found.append((rel, d.path, st))
                if progress is not None and len(found) % progress[0] == 0:
                    progress[1](len(found))


NOT_UTF8_NAME = "its name is not UTF-8, which no URL or id can carry: rename it"
# Never read, but listed: an article linked in from elsewhere that silently
# went missing from the feeds would leave its author guessing.
OUTSIDE = "it is a link to a file outside the entries folder, and only files inside are published"


def _utf8(name: str) -> bool:
    """False for a name with bytes that are not UTF-8 (os.scandir keeps them as
    lone surrogates, which no JSON, SQLite text or XML can carry)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _bad_name(st: object) -> bool:
    return isinstance(st, OSError) and st.strerror == NOT_UTF8_NAME


def _shown(name: str) -> str:
    """A name that is not UTF-8 as a person can read it: each bad byte as U+FFFD."""
    return os.fsencode(name).decode("utf-8", "replace")


def _inside(path: str, real_root: str) -> bool:
    target = os.path.realpath(path)
    return target == real_root or target.startswith(real_root + os.sep)


def rescan(root: Path, previous: list[Scanned], changed: set[str]) -> list[Scanned]:
    """``previous`` (a walk of ``root``, in path order) with the files at the ``changed``
    relative paths looked at again; each is found by bisection, so the cost is that of
    the changes, not of the folder."""
    if not changed:
        return previous
    real_root = os.path.realpath(root)
    out = list(previous)
    for rel in sorted(changed):
        parts = rel.split("/")
        if not rel.endswith(".md") or any(p.startswith(".") or p in ("", "..") for p in parts):
            continue
        full = os.path.join(str(root), *parts)
        try:
            st: os.stat_result | OSError | None = os.stat(full)
        except FileNotFoundError as e:
            st = e if os.path.islink(full) else None   # a link to nothing: a walk lists it, unreadable
        except OSError as e:
            st = e
        if isinstance(st, os.stat_result) and stat.S_ISDIR(st.st_mode):
            st = None
        elif isinstance(st, os.stat_result):
            st = checked_stat(st)
        if st is not None and os.path.islink(full) and not _inside(full, real_root):
            st = OSError(errno.EXDEV, OUTSIDE)
        if not _utf8(rel):   # as the walk lists it
            rel = _shown(rel)
            if st is not None:
                st = OSError(errno.EILSEQ, NOT_UTF8_NAME)
        if st is not None and len(parts) > 1 and \
                os.path.realpath(os.path.dirname(full)) != os.path.join(real_root, *parts[:-1]):
            st = None   # under a link to a folder, which a walk does not follow either
        i = bisect.bisect_left(out, rel, key=lambda t: t[0])
        present = i < len(out) and out[i][0] == rel
        if st is None:
            if present:
                del out[i]
        elif present:
            out[i] = (rel, full, st)
        else:
            out.insert(i, (rel, full, st))
    return out


def load_entries(root: Path, site: SiteConfig, cache: EntryCache | None = None,
                 changed: set[str] | None = None) -> LoadResult:
    """Read every entry file below ``root``; see the module docstring for the rules.

    With ``changed`` (relative paths, from a ``FolderWatch``), only those files
    are looked at again and the rest of the last walk is trusted.
    """
    with collections_paused():
        return _load_entries(root, site, cache, changed)


def _load_entries(root: Path, site: SiteConfig, cache: EntryCache | None, changed: set[str] | None) -> LoadResult:
    if cache is None:
        cache = EntryCache(site)
    elif cache.site != site:
        # Parsed entries depend on the site (zone, base URL); reset the caller's
        # cache in place so the next call hits again instead of missing forever.
        cache.site = site
        cache.parsed.clear()
        cache.last = None
        cache.scan = None
        cache.unread = frozenset()
        cache.bad_names = frozenset()
        cache.outside = frozenset()
    problems: list[Problem] = []
    entries: list[Entry] = []
    reparsed = 0
    if not root.is_dir():
        # Most likely moved, renamed or not mounted (yet), not emptied: publishing
        # empty feeds would drop every article from readers. A failed refresh
        # keeps the last feeds served, and the cache stays for when it is back.
        why = "is not a folder" if root.exists() else "does not exist"
        raise ConfigError("entries.path", f"the entries folder {root} {why} (moved, renamed or not mounted?); "
                                          "an empty folder publishes empty feeds")
    by_slug: dict[str, str] = {}
    by_id: dict[str, str] = {}
    usable: list[tuple[str, Entry]] = []
    collided = False
    if changed is not None and (not all(map(_utf8, changed)) or not cache.bad_names.isdisjoint(changed)):
        changed = None   # a name that is not UTF-8 is looked up by the name it is shown as: ambiguous
    if changed is not None and cache.scan is not None:
        # Only the named files can differ from what the cache holds, and those
        # it holds nothing for, which are read again.
        changed = changed | cache.unread
        scanned = rescan(root, cache.scan, changed)
        candidates = []
        for rel in sorted(changed):
            i = bisect.bisect_left(scanned, rel, key=lambda t: t[0])
            if i < len(scanned) and scanned[i][0] == rel:
                candidates.append(scanned[i])
    else:
        # A first walk: if the folder is large, the helpers that will parse it
        # start while the walk goes on (within a refresh; see helper.kept_warm).
        # Every file is parsed then, and its read gives its stamp: the walk
        # stats none.
        from . import parsejob
        first = not cache.parsed
        ahead = (parsejob.PARALLEL_FROM, parsejob.prestart) if first else None
        scanned = candidates = scan_entry_files(root, ahead, stat=not first)
    cache.scan = scanned
    # Files that are new or changed since the cache saw them: parsed in one
    # batch, so that a large first load can use every core.
    todo: list[tuple[str, str]] = []
    unreadable = False
    for rel, full, st in candidates:
        if isinstance(st, OSError):
            # A link still leading outside, as the last load listed it, is no change.
            if st.strerror != OUTSIDE or rel not in cache.outside:
                unreadable = True
            continue
        hit = cache.parsed.get(rel)
        if hit is None or st is None or hit[0] != (st.st_mtime_ns, st.st_size, st.st_ino):
            todo.append((rel, full))
    if not todo and not unreadable and cache.last is not None \
            and cache.last.files == len(scanned) == len(cache.parsed) + len(cache.outside):
        # Every file seen is known and unchanged, and there are as many as last
        # time: the same files (one gone and another new would be in ``todo``).
        return dataclasses.replace(cache.last, reparsed=0, removed=0)
    fresh: dict[str, Parsed | OSError] = {}
    stamps: dict[str, Stamp] = {}   # of the bytes each file's entry was parsed from
    if todo:
        from .parsejob import parse_files
        for (rel, _), got in zip(todo, parse_files(todo, site)):
            if isinstance(got, OSError):
                fresh[rel] = got
            else:
                fresh[rel], stamps[rel] = got
    if changed is not None and not unreadable and cache.last is not None \
            and cache.last.files == len(cache.parsed) + len(cache.outside):
        present = {rel for rel, _, _ in candidates}
        gone = sorted(rel for rel in changed if rel in cache.parsed and rel not in present)
        came = sum(1 for rel in fresh if rel not in cache.parsed)
        # Never from or to an empty folder: the "no entry files" warning comes or goes.
        if (fresh or gone) and cache.last.files and scanned and len(scanned) == cache.last.files + came - len(gone):
            patched = _patch(cache, fresh, stamps, {rel: st for rel, _, st in candidates if rel in fresh}, gone)
            if patched is not None:
                return patched
    parsed_cache = cache.parsed
    drafts: list[tuple[str, Entry]] = []
    unread: list[str] = []      # to be read again by the next load, whatever it is told
    bad_names: list[str] = []   # never read: their shown names may be other files'
    outside: list[str] = []     # links leading outside the folder: never read
    dropped = 0                 # files the cache held that could not be read: their entries are gone
    for rel, full, st in scanned:
        try:
            if isinstance(st, OSError):
                raise st
            got = fresh.get(rel)
            if got is None:
                parsed = parsed_cache[rel][1]
            elif isinstance(got, OSError):
                raise got
            else:
                parsed = got
                parsed_cache[rel] = (stamps[rel], parsed)
                reparsed += 1
        except OSError as e:
            problems.append(Problem(rel, "file", f"cannot read: {e.strerror or e}"))
            # A name that is not UTF-8 is never read, and is shown as a name
            # another file may have: the cache holds nothing of its own.
            if e.strerror == NOT_UTF8_NAME:
                bad_names.append(rel)
            else:
                (outside if e.strerror == OUTSIDE else unread).append(rel)
                if parsed_cache.pop(rel, None) is not None:
                    dropped += 1
            continue
        if parsed.problems:
            problems.extend(parsed.problems)
        entry = parsed.entry
        if entry is not None:
            (drafts if entry.draft else usable).append((rel, entry))
    files = len(scanned)
    # A slug or id claimed twice goes to the first file in path order, drafts
    # last: a draft copy of an article must not take its place in the feeds.
    lost_claims: set[str] = set()
    for group in (usable, drafts):
        for rel, entry in group:
            slug, id_ = entry.slug, entry.id
            if slug in by_slug:
                clash: Problem | None = Problem(rel, "slug", f"slug {_short(slug)} is already taken by "
                                                             f"{by_slug[slug]}")
            elif id_ in by_id:
                clash = Problem(rel, "id", f"id {_short(id_)} is already taken by {by_id[id_]}")
            else:
                by_slug[slug] = by_id[id_] = rel
                continue
            problems.append(clash)
            lost_claims.add(rel)
            collided = True
    if drafts:
        usable = sorted(usable + drafts, key=lambda u: u[0])   # back to path order
    if collided:
        entries.extend(entry for rel, entry in usable if rel not in lost_claims)
    else:
        entries.extend(entry for _, entry in usable)
    problems.sort(key=lambda p: p.path)   # path order, as the files were read
    # When every file was read, each is in the cache under its own path (only
    # unreadable names can share one): any more there are files gone since.
    lost = set(parsed_cache).difference(rel for rel, _, st in scanned if not _bad_name(st)) \
        if unread or bad_names or len(parsed_cache) + len(outside) != files else set()
    for path in lost:
        del parsed_cache[path]
    if files == 0:
        problems.append(Problem(str(root), "entries.path", "no entry files (*.md) found; feeds are empty",
                                severity="warning"))
    cache.last = LoadResult(tuple(entries), tuple(problems), files, reparsed, len(lost) + dropped)
    cache.slugs, cache.ids, cache.collided = by_slug, by_id, collided
    cache.unread = frozenset(unread)
    cache.outside = frozenset(outside)
    cache.bad_names = frozenset(bad_names)
    return cache.last


def _patch(cache: EntryCache, fresh: Mapping[str, "Parsed | OSError"], stamps: Mapping[str, Stamp],
           stats: Mapping[str, Any], gone: list[str]) -> LoadResult | None:
    """The last load with the ``fresh`` files (edited or new) and the ``gone`` ones
    patched in, when that gives what a full load would; None otherwise.

    A full load decides a slug or id claimed twice by path order, so a patch
    is refused when any file lost one (its fate may change) or when a changed
    file's entry would claim one another file holds. Its cost is that of the
    changed files, not of the folder: publishing an article on a large site
    is as cheap as editing one.
    """
    last = cache.last
    assert last is not None   # set by the full load the cache was filled by
    if cache.collided:
        return None           # a collision to settle
    batch = set(fresh) | set(gone)
    pairs: list[tuple[Entry | None, Entry | None]] = []
    claimed_slugs: dict[str, str] = {}
    claimed_ids: dict[str, str] = {}
    for rel in sorted(batch):
        got = fresh.get(rel)
        if isinstance(got, OSError) or (got is not None and not isinstance(stats.get(rel), os.stat_result)):
            return None       # a full load reports the file it cannot read
        held = cache.parsed.get(rel)
        old = held[1].entry if held is not None else None
        new = got.entry if got is not None else None
        if new is not None:
            for key, taken, claimed in ((new.slug, cache.slugs, claimed_slugs), (new.id, cache.ids, claimed_ids)):
                owner = taken.get(key)
                if key in claimed or (owner is not None and owner not in batch):
                    return None   # claimed by another file: a full load says which one wins, and says so
                claimed[key] = rel
        if old is not None or new is not None:
            pairs.append((old, new))

    entries = list(last.entries)   # in path order
    for old, new in pairs:
        rel = (new or old).path    # type: ignore[union-attr]
        i = bisect.bisect_left(entries, rel, key=lambda e: e.path)
        here = i < len(entries) and entries[i].path == rel
        if new is None:
            assert here   # with no collision, every entry the cache holds was published by the loader
            del entries[i]
        elif here:
            entries[i] = new
        else:
            entries.insert(i, new)
    for old, _ in pairs:
        if old is not None:
            del cache.slugs[old.slug], cache.ids[old.id]
    for rel, got in fresh.items():
        assert isinstance(got, Parsed)
        cache.parsed[rel] = (stamps[rel], got)
        if got.entry is not None:
            cache.slugs[got.entry.slug] = cache.ids[got.entry.id] = rel
    for rel in gone:
        del cache.parsed[rel]
    kept = [p for p in last.problems if p.path not in batch]
    added = [p for got in fresh.values() if isinstance(got, Parsed) for p in got.problems]
    problems = sorted((*kept, *added), key=lambda p: p.path)   # stable: a file's own order stays
    cache.last = LoadResult(tuple(entries), tuple(problems), len(cache.parsed) + len(cache.outside), 0, 0)
    return dataclasses.replace(cache.last, reparsed=len(fresh), removed=len(gone), replaced=tuple(pairs),
                               paths=frozenset(batch))
