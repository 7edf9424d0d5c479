"""Conformance checker for feedsvc's public feeds, as outsiders check them.

Discovers every feed (from ``/opml.xml`` plus the site feeds and, for each
category found there, ``/categories/<slug>/feed.{rss,atom,json}``) and checks:

- Atom 1.0: the RFC 4287 RELAX NG schema (vendored in ``schemas/``; when its only
  complaint is the schema's own entry-ordering rule, a warning) and the RFC rules
  the schema does not enforce (authors, alternate links, ids, dates, content, ...);
- RSS 2.0: structure, required elements, self link, dates, guids, enclosures,
  categories, syndication hints, and safe HTML with absolute URLs in content;
- JSON Feed 1.1: the JSON Schema (``$ref``s resolved locally, never over the
  network), version, ids, dates, content, ``feed_url``;
- the three formats of one feed against each other: same items, ids, order,
  titles, links, dates, categories and content;
- feedparser, a real reader's parser: no bozo, the right version, id/title/link
  on every entry (JSON Feed only when the installed feedparser can read it:
  6.0.x cannot, so that part is skipped there);
- HTTP (not for a static export): Content-Type with charset=utf-8, ETag, and the
  caching/CORS headers of the contract;
- the pages around the feeds: autodiscovery links on ``/`` and on each category
  page, the permalink of every item under the site's base URL.

Use it as a library, ``check_site(fetch)``, or from the command line::

    python -m conformance.check http://127.0.0.1:8000
    python -m conformance.check --export out/ [--public-url https://news.example.org]

It prints one line per finding and exits 1 if any is an error.
"""
from __future__ import annotations

import argparse
import datetime as dt
import email.utils
import gzip
import html as html_lib
import io
import json
import re
import sys
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence
from urllib.parse import urlsplit

import feedparser
import jsonschema
from lxml import etree
from lxml import html as lxml_html
from referencing import Registry
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT4

__all__ = ["Finding", "Fetch", "check_site", "http_fetcher", "export_fetcher", "main"]

SCHEMAS = Path(__file__).resolve().parent / "schemas"

FORMATS = ("rss", "atom", "json")
MEDIA_TYPES = {"rss": "application/rss+xml", "atom": "application/atom+xml", "json": "application/feed+json"}
FEEDPARSER_VERSIONS = {"rss": "rss20", "atom": "atom10", "json": "json11"}
JSONFEED_VERSION = "https://jsonfeed.org/version/1.1"

ATOM_NS = "http://www.w3.org/2005/Atom"
XML_NS = "http://www.w3.org/XML/1998/namespace"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
DC_NS = "http://purl.org/dc/elements/1.1/"
SY_NS = "http://purl.org/rss/1.0/modules/syndication/"
OPML_TYPES = ("text/x-opml", "application/xml", "text/xml")

RSS_CHANNEL_ELEMENTS = {
    "title", "link", "description", "language", "copyright", "managingEditor", "webMaster", "pubDate",
    "lastBuildDate", "category", "generator", "docs", "cloud", "ttl", "image", "rating", "textInput",
    "skipHours", "skipDays", "item",
}
RSS_CHANNEL_SINGLE = RSS_CHANNEL_ELEMENTS - {"category", "item"}
RSS_ITEM_ELEMENTS = {"title", "link", "description", "author", "category", "comments", "enclosure", "guid",
                     "pubDate", "source"}
RSS_ITEM_SINGLE = RSS_ITEM_ELEMENTS - {"category"}
KNOWN_NS_ELEMENTS = {
    CONTENT_NS: {"encoded"},
    SY_NS: {"updatePeriod", "updateFrequency", "updateBase"},
    DC_NS: {"title", "creator", "subject", "description", "publisher", "contributor", "date", "type", "format",
            "identifier", "source", "language", "relation", "coverage", "rights"},
    ATOM_NS: {"link", "author", "category", "contributor", "id", "title", "updated", "published", "summary",
              "content", "rights", "generator", "icon", "logo", "subtitle"},
}
SY_PERIODS = {"hourly", "daily", "weekly", "monthly", "yearly"}

# Elements and attributes a feed reader must never receive in content.
DANGEROUS_TAGS = {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "meta", "link",
                  "noscript", "template"}
URL_ATTRS = {"href", "src", "poster", "cite", "action", "formaction", "background", "longdesc", "data",
             "{http://www.w3.org/1999/xlink}href", "xlink:href"}
BAD_SCHEMES = {"javascript", "vbscript", "livescript", "about", "file", "blob", "filesystem"}
HIERARCHICAL = {"http", "https", "ftp", "ftps", "ws", "wss"}

RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
RFC822 = re.compile(
    r"^(?:(?P<dow>Mon|Tue|Wed|Thu|Fri|Sat|Sun),\s*)?(?P<day>\d{1,2})\s+"
    r"(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+(?P<year>\d{2,})\s+"
    r"(?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?\s+(?P<zone>[+-]\d{4}|UT|GMT|[ECMP][SD]T|Z|[A-IK-Y])$")
URI_CHARS = re.compile(r"[0-9A-Za-z;/?:@&=+$.\-_!~*'()%,#\[\]]")
TAG_URI = re.compile(r"^tag:([a-z0-9\-._]+?@)?[a-z0-9.\-]+?,\d{4}(-\d{2}(-\d{2})?)?:"
                     r"[0-9a-zA-Z;/?:@&=+$.\-_!~*'()%,]*(#[0-9a-zA-Z;/?:@&=+$.\-_!~*'()%,]*)?$")
UUID_URN = re.compile(r"^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
URN = re.compile(r"^urn:[a-z0-9][a-z0-9-]{1,31}:(?:[a-z0-9()+,.:=@;$_!*'\-]|%[0-9a-f]{2})+$", re.I)
LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
MIME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:\s*;.*)?$")
LOOKS_LIKE_HTML = re.compile(r"<\s*/?\s*[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>|&(?:[A-Za-z][A-Za-z0-9]*|#\d+|#x[0-9A-Fa-f]+);")
FEED_PATH = re.compile(r"^(?P<prefix>(?:/categories/(?P<slug>[^/]+))?)/feed\.(?P<fmt>rss|atom|json)$")
ARTICLE_PAGE = re.compile(r"^/articles/[^/]+/$")
CATEGORY_PAGE = re.compile(r"^/categories/(?P<slug>[^/]+)/$")


@dataclass(frozen=True)
class Finding:
    severity: str  # "error" or "warning"
    url: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.url}: {self.message}"


Fetch = Callable[[str], tuple[int, Mapping[str, str], bytes]]


# -- normalised views of one feed, for the cross-format comparison ----------------

@dataclass
class Item:
    id: str | None = None
    title: str | None = None
    link: str | None = None
    published: dt.datetime | None = None
    updated: dt.datetime | None = None
    categories: tuple[str, ...] = ()
    summary: str | None = None
    content: str | None = None
    description_html: str | None = None   # RSS only: <description> as served


@dataclass
class FeedView:
    fmt: str
    url: str
    title: str | None = None
    home: str | None = None
    updated: dt.datetime | None = None
    items: list[Item] = field(default_factory=list)


class Report:
    def __init__(self) -> None:
        self.findings: list[Finding] = []

    def error(self, url: str, message: str) -> None:
        self.findings.append(Finding("error", url, message))

    def warning(self, url: str, message: str) -> None:
        self.findings.append(Finding("warning", url, message))


# -- small parsers -------------------------------------------------------------------

def _xml(body: bytes) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    return etree.fromstring(body, parser)


def parse_rfc3339(value: str | None) -> dt.datetime | None:
    """The instant, or None if ``value`` is not an RFC 3339 date-time (upper-case T and Z, as Atom requires)."""
    if value is None:
        return None
    m = RFC3339.match(value.strip())
    if not m or value != value.strip():
        return None
    try:
        d = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return d if d.tzinfo is not None else None


def parse_rfc822(value: str | None) -> tuple[dt.datetime | None, str | None]:
    """(instant, problem). A 4-digit year and a correct day of the week are required."""
    if value is None:
        return None, "missing"
    v = " ".join(value.split())
    m = RFC822.match(v)
    if not m:
        return None, f"{value!r} is not an RFC 822 date (e.g. 'Sat, 26 Jul 2025 01:30:00 +0000')"
    if len(m["year"]) != 4:
        return None, f"{value!r} needs a 4-digit year"
    try:
        d = email.utils.parsedate_to_datetime(v)
    except (TypeError, ValueError) as e:
        return None, f"{value!r} is not a valid date ({e})"
    if d.tzinfo is None:
        return None, f"{value!r} has no usable time zone"
    if m["dow"] and m["dow"] != d.strftime("%a"):
        return None, f"{value!r}: the day of the week is wrong (that date is a {d.strftime('%A')})"
    if not (m["zone"].startswith(("+", "-")) or m["zone"] in ("GMT", "UT", "Z")):
        return d, f"{value!r}: use a numeric zone or GMT rather than {m['zone']!r}"
    return d, None


# The W3C validator's test of an RSS enclosure's url: http(s), then a host that
# is an IPv4 address or has a dot ("localhost" and IPv6 literals fail), a port, a path.
HTTP_URL_ATTRIBUTE = re.compile(r"(?:http|https)://(?:[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.|(?:[A-Z0-9\-]+\.)+)"
                                r"[A-Z0-9][-A-Z0-9]*(?::\d+)?(?:/|$)", re.I)


def is_absolute_url(u: str | None, schemes: Iterable[str] | None = None) -> bool:
    if not u or u != u.strip() or any(c.isspace() for c in u):
        return False
    parts = urlsplit(u)
    if not parts.scheme or not SCHEME.match(u):
        return False
    if schemes is not None and parts.scheme.lower() not in schemes:
        return False
    if parts.scheme.lower() in HIERARCHICAL:
        return bool(parts.netloc)
    return True


def uri_problem(u: str | None, *, iri: bool = False, schemes: Iterable[str] | None = None) -> str | None:
    """Why ``u`` is not an absolute URI (or IRI, with ``iri``) as the W3C validator reads one; None if it is."""
    if u is None or not u.strip():
        return "is empty"
    if u != u.strip() or any(c.isspace() for c in u):
        return "contains white space"
    if not SCHEME.match(u):
        return "is not absolute (no scheme)"
    scheme = u.split(":", 1)[0].lower()
    if schemes is not None and scheme not in set(schemes):
        return f"is not a {'/'.join(sorted(schemes))} URL"
    for c in u:
        if ord(c) < 128 and not URI_CHARS.match(c):
            return f"contains {c!r}, which a URI cannot carry unescaped (W3C: InvalidUriChar)"
    if not iri and any(ord(c) >= 128 for c in u):
        return "contains non-ASCII characters; they must be percent-encoded (W3C: UriNotIri)"
    if scheme == "tag" and not TAG_URI.match(u):
        return "is not a valid tag: URI (RFC 4151 tag:authority,YYYY-MM-DD:specific; W3C: InvalidTAG)"
    if scheme == "urn":
        if u.lower().startswith("urn:uuid:"):
            if not UUID_URN.match(u):
                return "is not a valid urn:uuid: URN"
        elif not URN.match(u):
            return "is not a valid URN"
    if scheme in HIERARCHICAL and not urlsplit(u).netloc:
        return "has no host"
    return None


def _text(el: etree._Element | None) -> str | None:
    return None if el is None else "".join(el.itertext())


def _local(el: etree._Element) -> tuple[str | None, str]:
    q = etree.QName(el)
    return q.namespace, q.localname


# -- HTML in content ------------------------------------------------------------------

def check_html(report: Report, url: str, where: str, fragment: str, *, relative_is_error: bool = True) -> None:
    """Safe HTML with absolute URLs: unsafe markup is an error, a relative URL too unless ``relative_is_error``
    is false (then a warning, as the W3C validator's ContainsRelRef)."""
    say = report.error
    if not fragment.strip():
        return
    try:
        root = lxml_html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError) as e:
        say(url, f"{where}: cannot be parsed as HTML ({e})")
        return
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue  # comments, processing instructions
        tag = el.tag.lower()
        if tag in DANGEROUS_TAGS:
            say(url, f"{where}: contains a <{tag}> element")
        elif tag == "style":
            report.warning(url, f"{where}: contains a <style> element")
        for name, value in el.attrib.items():
            lname = name.lower()
            if lname.startswith("on"):
                say(url, f"{where}: <{tag}> has an event handler attribute {name}={value[:40]!r}")
            elif lname == "style" and re.search(r"expression\s*\(|url\s*\(|javascript:", value, re.I):
                say(url, f"{where}: <{tag}> has a dangerous style attribute {value[:60]!r}")
            elif lname in URL_ATTRS:
                _check_content_url(report, url, where, tag, name, value, relative_is_error)
            elif lname == "srcset":
                for u in srcset_urls(value):
                    _check_content_url(report, url, where, tag, name, u, relative_is_error)


def html_text(fragment: str) -> str:
    """What a reader shows of an HTML fragment: its text, white space collapsed."""
    if not fragment.strip():
        return ""
    try:
        root = lxml_html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return fragment
    for bad in root.xpath("//script|//style"):
        bad.drop_tree()
    return " ".join(root.text_content().split())


def srcset_urls(value: str) -> list[str]:
    """The image candidates' URLs of a srcset, as the HTML standard's parser finds
    them: a URL (trailing commas end it), then descriptors up to a comma that is
    not inside parentheses."""
    urls, i, n = [], 0, len(value)
    while i < n:
        while i < n and (value[i] in " \t\n\r\f" or value[i] == ","):
            i += 1
        start = i
        while i < n and value[i] not in " \t\n\r\f":
            i += 1
        u = value[start:i]
        if u.endswith(","):
            u = u.rstrip(",")
        else:
            in_parens = False
            while i < n and (value[i] != "," or in_parens):
                in_parens = value[i] == "(" or (in_parens and value[i] != ")")
                i += 1
        if u:
            urls.append(u)
    return urls


def _check_content_url(report: Report, url: str, where: str, tag: str, attr: str, value: str,
                       relative_is_error: bool) -> None:
    v = value.strip()
    scheme = v.split(":", 1)[0].lower() if SCHEME.match(v) else ""
    # data: only for an image: an <img>, or a <source> of a <picture> by its srcset
    image = tag == "img" or (tag == "source" and attr.lower() == "srcset")
    if scheme in BAD_SCHEMES or (scheme == "data" and not (image and v.lower().startswith("data:image/"))):
        report.error(url, f"{where}: <{tag} {attr}> has an unsafe URL {v[:60]!r}")
    elif not is_absolute_url(v):
        (report.error if relative_is_error else report.warning)(
            url, f"{where}: <{tag} {attr}={v[:80]!r}> is not an absolute URL (readers ignore xml:base)")


# -- the checker ----------------------------------------------------------------------

class SiteChecker:
    def __init__(self, fetch: Fetch, base_url: str | None, http: bool, formats: Sequence[str]) -> None:
        self.fetch_fn = fetch
        self.base = base_url.rstrip("/") if base_url else None
        self.http = http
        self.formats = tuple(formats)
        self.report = Report()
        self._cache: dict[str, tuple[int, dict[str, str], bytes]] = {}

    # plumbing
    def abs(self, path: str) -> str:
        return f"{self.base}{path}" if self.base is not None else path

    def fetch(self, path: str) -> tuple[int, dict[str, str], bytes]:
        if path not in self._cache:
            try:
                status, headers, body = self.fetch_fn(path)
            except Exception as e:  # a fetch failure is a finding, not a crash
                self.report.error(self.abs(path), f"cannot fetch: {type(e).__name__}: {e}")
                status, headers, body = 0, {}, b""
            self._cache[path] = (status, {k.lower(): v for k, v in dict(headers).items()}, bytes(body))
        return self._cache[path]

    def path_of(self, url: str) -> str | None:
        if self.base is None:
            return None
        if url == self.base:
            return "/"
        if url.startswith(self.base + "/"):
            return url[len(self.base):]
        return None

    # the whole site
    def run(self) -> list[Finding]:
        groups = self.discover()
        if self.base is None:
            return self.report.findings
        views: dict[str, dict[str, FeedView]] = {}
        for prefix in groups:
            views[prefix] = {}
            for fmt in self.formats:
                v = self.check_feed(prefix, fmt)
                if v is not None:
                    views[prefix][fmt] = v
            self.compare(prefix, views[prefix])
        self.check_pages(groups, views)
        return self.report.findings

    def discover(self) -> list[str]:
        """Feed groups by path prefix: "" for the site, "/categories/<slug>" for each category."""
        r = self.report
        status, headers, body = self.fetch("/opml.xml")
        opml_url = self.abs("/opml.xml")
        outlines: list[etree._Element] = []
        if status != 200:
            r.error(opml_url, f"HTTP {status}: the OPML list of feeds is missing")
        else:
            if self.http:
                ctype = headers.get("content-type", "").split(";")[0].strip().lower()
                if ctype not in OPML_TYPES:
                    r.warning(opml_url, f"Content-Type {headers.get('content-type')!r}; expected text/x-opml")
            try:
                root = _xml(body)
            except etree.XMLSyntaxError as e:
                r.error(opml_url, f"not well-formed XML: {e}")
                root = None
            if root is not None:
                if root.tag != "opml" or root.get("version") not in ("2.0",):
                    r.error(opml_url, f"root is <{root.tag} version={root.get('version')!r}>, expected "
                                      f"<opml version=\"2.0\">")
                if root.find("head") is None or root.find("body") is None:
                    r.error(opml_url, "an OPML document needs <head> and <body>")
                if root.find("head/title") is None:
                    r.warning(opml_url, "OPML <head> has no <title>")
                dm = root.findtext("head/dateModified")
                if dm is not None and parse_rfc822(dm)[0] is None:
                    r.error(opml_url, f"dateModified: {parse_rfc822(dm)[1]}")
                for o in root.iter("outline"):
                    if o.get("text") is None:
                        r.error(opml_url, f"an <outline> has no text attribute (required by OPML 2.0): "
                                          f"{dict(o.attrib)}")
                    if o.get("xmlUrl") is not None:
                        outlines.append(o)
                        if o.get("type") != "rss":
                            r.warning(opml_url, f"outline for {o.get('xmlUrl')} has type={o.get('type')!r}; "
                                                f"readers expect type=\"rss\"")
        if self.base is None:
            for o in outlines:
                m = re.match(r"^(?P<base>.+?)/feed\.(?:rss|atom|json)$", o.get("xmlUrl", ""))
                if m and "/categories/" not in m["base"]:
                    self.base = m["base"]
                    break
            if self.base is None:
                r.error(opml_url, "cannot tell the site's base URL: no outline for the site-wide feed "
                                  "(give base_url / --public-url)")
                return []
        groups = [""]
        seen: set[str] = set()
        for o in outlines:
            x = o.get("xmlUrl", "")
            if not is_absolute_url(x, {"http", "https"}):
                r.error(opml_url, f"xmlUrl {x!r} is not an absolute http(s) URL")
                continue
            path = self.path_of(x)
            m = FEED_PATH.match(path) if path else None
            if m is None:
                r.error(opml_url, f"xmlUrl {x!r} is not a feed URL of this site ({self.base}/feed.* or "
                                  f"{self.base}/categories/<slug>/feed.*); if the site's base_url is another "
                                  f"address, give it as --public-url")
                continue
            if x in seen:
                r.warning(opml_url, f"xmlUrl {x!r} is listed twice")
            seen.add(x)
            h = o.get("htmlUrl")
            if h is not None and h != self.abs(m["prefix"] + "/"):
                r.warning(opml_url, f"outline for {x} has htmlUrl {h!r}; expected {self.abs(m['prefix'] + '/')!r}")
            if m["prefix"] not in groups:
                groups.append(m["prefix"])
        if outlines and not any(self.path_of(o.get("xmlUrl", "")) in {f"/feed.{f}" for f in FORMATS}
                                for o in outlines):
            r.error(opml_url, "the OPML list has no outline for the site-wide feed")
        return groups

    # one feed
    def check_feed(self, prefix: str, fmt: str) -> FeedView | None:
        path = f"{prefix}/feed.{fmt}"
        url = self.abs(path)
        status, headers, body = self.fetch(path)
        if status != 200:
            self.report.error(url, f"HTTP {status}: the feed is missing")
            return None
        if self.http:
            self.check_headers(url, fmt, headers)
        if fmt == "rss":
            view = self.check_rss(url, prefix, body)
        elif fmt == "atom":
            view = self.check_atom(url, prefix, body)
        else:
            view = self.check_json(url, prefix, body)
        self.check_with_feedparser(url, fmt, headers, body, view)
        return view

    def check_headers(self, url: str, fmt: str, headers: Mapping[str, str]) -> None:
        r = self.report
        ctype = headers.get("content-type", "")
        parts = [p.strip() for p in ctype.split(";")]
        params = {k.strip().lower(): v.strip().strip('"').lower()
                  for k, _, v in (p.partition("=") for p in parts[1:] if "=" in p)}
        if parts[0].lower() != MEDIA_TYPES[fmt] or params.get("charset") != "utf-8":
            r.error(url, f"Content-Type is {ctype!r}; expected '{MEDIA_TYPES[fmt]}; charset=utf-8'")
        if not headers.get("etag"):
            r.error(url, "no ETag header")
        if not headers.get("last-modified"):
            r.warning(url, "no Last-Modified header")
        else:
            try:
                email.utils.parsedate_to_datetime(headers["last-modified"])
            except (TypeError, ValueError):
                r.error(url, f"Last-Modified {headers['last-modified']!r} is not an HTTP date")
        if headers.get("access-control-allow-origin") != "*":
            r.warning(url, "no 'Access-Control-Allow-Origin: *' header")
        if not headers.get("cache-control"):
            r.warning(url, "no Cache-Control header")

    # RSS 2.0 --------------------------------------------------------------------------
    def check_rss(self, url: str, prefix: str, body: bytes) -> FeedView | None:
        r = self.report
        try:
            root = _xml(body)
        except etree.XMLSyntaxError as e:
            r.error(url, f"RSS: not well-formed XML: {e}")
            return None
        self._check_xml_prolog(url, root)
        if root.tag != "rss":
            r.error(url, f"RSS: the root element is <{root.tag}>, expected <rss>")
            return None
        if root.get("version") != "2.0":
            r.error(url, f"RSS: <rss version={root.get('version')!r}>, expected \"2.0\"")
        channels = root.findall("channel")
        if len(channels) != 1:
            r.error(url, f"RSS: {len(channels)} <channel> elements, expected exactly one")
            if not channels:
                return None
        ch = channels[0]
        view = FeedView("rss", url)
        counts: dict[str, int] = {}
        for child in ch:
            if not isinstance(child.tag, str):
                continue
            ns, name = _local(child)
            if ns is None:
                counts[name] = counts.get(name, 0) + 1
                if name not in RSS_CHANNEL_ELEMENTS:
                    r.error(url, f"RSS: <channel> has an element RSS 2.0 does not define: <{name}>")
            elif ns in KNOWN_NS_ELEMENTS and name not in KNOWN_NS_ELEMENTS[ns]:
                r.error(url, f"RSS: <channel> has <{{{ns}}}{name}>, which its namespace does not define")
        for name, n in counts.items():
            if n > 1 and name in RSS_CHANNEL_SINGLE:
                r.error(url, f"RSS: <channel> has {n} <{name}> elements; at most one is allowed")
        for req in ("title", "link", "description"):
            if ch.find(req) is None:
                r.error(url, f"RSS: <channel> has no <{req}> (required)")
        view.title = ch.findtext("title")
        if view.title is not None and not view.title.strip():
            r.error(url, "RSS: channel <title> is empty")
        if (ch.findtext("description") or "").strip() == "" and ch.find("description") is not None:
            r.warning(url, "RSS: channel <description> is empty")
        link = ch.findtext("link")
        view.home = link
        own = {self.abs(f"{prefix}/feed.{f}") for f in FORMATS}
        if link is not None:
            problem = uri_problem(link, schemes={"http", "https"})
            if problem:
                r.error(url, f"RSS: channel <link> {link!r} {problem}")
            elif link in own or link == url:
                r.error(url, f"RSS: channel <link> {link!r} is the feed itself; it must be the HTML page")
            elif link != self.abs(prefix + "/"):
                r.error(url, f"RSS: channel <link> is {link!r}; the page this feed belongs to is "
                             f"{self.abs(prefix + '/')!r}")
        selfs = [a for a in ch.findall(f"{{{ATOM_NS}}}link") if a.get("rel") == "self"]
        if not selfs:
            r.error(url, "RSS: no <atom:link rel=\"self\"> in the channel")
        for a in selfs:
            if uri_problem(a.get("href")):
                r.error(url, f"RSS: <atom:link rel=\"self\" href={a.get('href')!r}> {uri_problem(a.get('href'))}")
            if a.get("href") != url:
                r.error(url, f"RSS: <atom:link rel=\"self\" href={a.get('href')!r}> is not the feed's URL {url!r}")
            if a.get("type") not in (None, MEDIA_TYPES["rss"]):
                r.warning(url, f"RSS: <atom:link rel=\"self\"> has type={a.get('type')!r}")
        if len(selfs) > 1:
            r.error(url, "RSS: more than one <atom:link rel=\"self\">")
        lang = ch.findtext("language")
        if lang is None:
            r.warning(url, "RSS: channel has no <language>")
        elif not LANGUAGE.match(lang):
            r.error(url, f"RSS: <language> {lang!r} is not a language tag")
        ttl = ch.findtext("ttl")
        if ttl is not None and not (ttl.strip().isdigit() and int(ttl) > 0):
            r.error(url, f"RSS: <ttl> {ttl!r} is not a positive integer")
        docs = ch.findtext("docs")
        if docs is not None and uri_problem(docs):
            r.error(url, f"RSS: <docs> {docs!r} {uri_problem(docs)}")
        period = ch.findtext(f"{{{SY_NS}}}updatePeriod")
        freq = ch.findtext(f"{{{SY_NS}}}updateFrequency")
        if period is not None and period.strip() not in SY_PERIODS:
            r.error(url, f"RSS: <sy:updatePeriod> {period!r} is not one of {sorted(SY_PERIODS)}")
        if freq is not None and not (freq.strip().isdigit() and int(freq) > 0):
            r.error(url, f"RSS: <sy:updateFrequency> {freq!r} is not a positive integer")
        base = ch.findtext(f"{{{SY_NS}}}updateBase")
        if base is not None and parse_rfc3339(base.strip()) is None:
            r.error(url, f"RSS: <sy:updateBase> {base!r} is not a W3C date-time")

        last_build = None
        for el_name in ("lastBuildDate", "pubDate"):
            v = ch.findtext(el_name)
            if v is not None:
                d, problem = parse_rfc822(v)
                if d is None:
                    r.error(url, f"RSS: channel <{el_name}>: {problem}")
                else:
                    if problem:
                        r.warning(url, f"RSS: channel <{el_name}>: {problem}")
                    self._plausible(url, f"RSS: channel <{el_name}>", d)
                if el_name == "lastBuildDate":
                    last_build = d
        view.updated = last_build

        guids: dict[str, int] = {}
        for i, it in enumerate(ch.findall("item"), 1):
            view.items.append(self._rss_item(url, i, it, guids, last_build))
        return view

    def _rss_item(self, url: str, i: int, it: etree._Element, guids: dict[str, int],
                  last_build: dt.datetime | None) -> Item:
        r = self.report
        where = f"RSS item {i}"
        counts: dict[str, int] = {}
        for child in it:
            if not isinstance(child.tag, str):
                continue
            ns, name = _local(child)
            key = name if ns is None else f"{{{ns}}}{name}"
            counts[key] = counts.get(key, 0) + 1
            if ns is None and name not in RSS_ITEM_ELEMENTS:
                r.error(url, f"{where}: <item> has an element RSS 2.0 does not define: <{name}>")
            elif ns in KNOWN_NS_ELEMENTS and name not in KNOWN_NS_ELEMENTS[ns]:
                r.error(url, f"{where}: <item> has <{{{ns}}}{name}>, which its namespace does not define")
        for key, n in counts.items():
            if n > 1 and (key in RSS_ITEM_SINGLE or key == f"{{{CONTENT_NS}}}encoded"):
                if key == "enclosure":
                    r.warning(url, f"{where}: {n} <enclosure> elements; many readers use only the first")
                else:
                    r.error(url, f"{where}: {n} <{key}> elements; at most one is allowed")
        item = Item()
        title_el, desc_el = it.find("title"), it.find("description")
        if title_el is None and desc_el is None:
            r.error(url, f"{where}: has neither <title> nor <description>")
        item.title = _text(title_el)
        if item.title is not None:
            if not item.title.strip():
                r.error(url, f"{where}: <title> is empty")
            elif LOOKS_LIKE_HTML.search(item.title):
                r.warning(url, f"{where}: <title> {item.title[:80]!r} looks like HTML; RSS readers will treat "
                               f"it as markup (W3C: ContainsHTML)")
        desc = _text(desc_el)
        if desc:
            # Readers show an RSS description as HTML, whatever the publisher meant.
            check_html(r, url, f"{where} <description> (read as HTML)", desc, relative_is_error=False)
            item.summary = html_text(desc)
            item.description_html = desc
        guid_el = it.find("guid")
        if guid_el is None:
            r.error(url, f"{where}: no <guid>")
        else:
            g = (guid_el.text or "")
            item.id = g
            if not g.strip() or g != g.strip():
                r.error(url, f"{where}: <guid> {g!r} is empty or has surrounding whitespace")
            perma = guid_el.get("isPermaLink", "true")
            if perma not in ("true", "false"):
                r.error(url, f"{where}: <guid isPermaLink={perma!r}>; must be 'true' or 'false'")
            elif perma == "true" and uri_problem(g, schemes={"http", "https"}):
                r.error(url, f"{where}: <guid> {g!r} {uri_problem(g, schemes={'http', 'https'})}, so it needs "
                             f"isPermaLink=\"false\"")
            if g in guids:
                r.error(url, f"{where}: duplicate <guid> {g!r} (also item {guids[g]})")
            guids.setdefault(g, i)
        item.link = it.findtext("link")
        if item.link is not None and uri_problem(item.link, schemes={"http", "https"}):
            r.error(url, f"{where}: <link> {item.link!r} {uri_problem(item.link, schemes={'http', 'https'})}")
        comments = it.findtext("comments")
        if comments is not None and uri_problem(comments):
            r.error(url, f"{where}: <comments> {comments!r} {uri_problem(comments)}")
        pub = it.findtext("pubDate")
        if pub is not None:
            d, problem = parse_rfc822(pub)
            if d is None:
                r.error(url, f"{where}: <pubDate>: {problem}")
            else:
                if problem:
                    r.warning(url, f"{where}: <pubDate>: {problem}")
                self._plausible(url, f"{where} <pubDate>", d)
                item.published = d
                if last_build is not None and d > last_build:
                    r.error(url, f"{where}: <pubDate> {pub!r} is later than the channel's <lastBuildDate>")
        else:
            r.warning(url, f"{where}: no <pubDate>")
        for enc in it.findall("enclosure"):
            eu, length, etype = enc.get("url"), enc.get("length"), enc.get("type")
            if uri_problem(eu, schemes={"http", "https"}):
                r.error(url, f"{where}: <enclosure url={eu!r}> {uri_problem(eu, schemes={'http', 'https'})}")
            elif not HTTP_URL_ATTRIBUTE.match(eu or ""):
                r.error(url, f"{where}: <enclosure url={eu!r}>: its host is neither a name with a dot nor an "
                             f"IPv4 address (W3C: InvalidURLAttribute, 'url must be a full URL')")
            if length is None or not length.strip().isdigit():
                r.error(url, f"{where}: <enclosure length={length!r}> must be a non-negative integer")
            if etype is None or not MIME.match(etype):
                r.error(url, f"{where}: <enclosure type={etype!r}> is not a MIME type")
        cats = []
        for c in it.findall("category"):
            t = c.text or ""
            if not t.strip():
                r.error(url, f"{where}: empty <category>")
            cats.append(t)
            dom = c.get("domain")
            if dom is not None and not dom.strip():
                r.warning(url, f"{where}: <category domain=\"\">")
        item.categories = tuple(cats)
        author = it.findtext("author")
        if author is not None:
            if not re.match(r"^[^@\s<>]+@[^@\s<>]+(\s+\(.+\))?$", author.strip()):
                r.error(url, f"{where}: <author> {author!r} must be an e-mail address (use dc:creator for names)")
            if it.find(f"{{{DC_NS}}}creator") is not None:
                r.warning(url, f"{where}: both <author> and <dc:creator> (W3C: DuplicateItemSemantics)")
        for cr in it.findall(f"{{{DC_NS}}}creator"):
            if not (cr.text or "").strip():
                r.error(url, f"{where}: empty <dc:creator>")
        enc_el = it.find(f"{{{CONTENT_NS}}}encoded")
        if enc_el is not None:
            item.content = _text(enc_el) or ""
            check_html(r, url, f"{where} <content:encoded>", item.content)
        return item

    # Atom 1.0 -------------------------------------------------------------------------
    def check_atom(self, url: str, prefix: str, body: bytes) -> FeedView | None:
        r = self.report
        try:
            root = _xml(body)
        except etree.XMLSyntaxError as e:
            r.error(url, f"Atom: not well-formed XML: {e}")
            return None
        self._check_xml_prolog(url, root)
        if root.tag != f"{{{ATOM_NS}}}feed":
            r.error(url, f"Atom: the root element is <{root.tag}>, expected <feed xmlns=\"{ATOM_NS}\">")
            return None
        self._atom_schema(url, root)
        A = f"{{{ATOM_NS}}}"
        view = FeedView("atom", url)
        lang = root.get(f"{{{XML_NS}}}lang")
        if lang is None:
            r.warning(url, "Atom: <feed> has no xml:lang")
        elif lang and not LANGUAGE.match(lang):
            r.error(url, f"Atom: xml:lang={lang!r} is not a language tag")
        for el in root.iter():
            if isinstance(el.tag, str):
                v = el.get(f"{{{XML_NS}}}lang")
                if v and not LANGUAGE.match(v):
                    r.error(url, f"Atom: xml:lang={v!r} on <{etree.QName(el).localname}> is not a language tag")
        for name in ("id", "title", "updated"):
            n = len(root.findall(A + name))
            if n != 1:
                r.error(url, f"Atom: <feed> has {n} <{name}> elements; exactly one is required")
        fid = root.findtext(A + "id")
        if fid is not None and uri_problem(fid, iri=True):
            r.error(url, f"Atom: feed <id> {fid!r} {uri_problem(fid, iri=True)}")
        view.title = self._atom_text(url, "feed <title>", root.find(A + "title"))
        fupd = root.findtext(A + "updated")
        view.updated = self._atom_date(url, "feed <updated>", fupd)
        feed_has_author = self._atom_persons(url, "feed", root.findall(A + "author"))
        self._atom_persons(url, "feed", root.findall(A + "contributor"))
        links = self._atom_links(url, "feed", root.findall(A + "link"))
        selfs = [lk for lk in links if lk.get("rel") == "self"]
        if not selfs:
            r.error(url, "Atom: no <link rel=\"self\">")
        for lk in selfs:
            if lk.get("href") != url:
                r.error(url, f"Atom: <link rel=\"self\" href={lk.get('href')!r}> is not the feed's URL {url!r}")
        alts = [lk for lk in links if lk.get("rel", "alternate") == "alternate"]
        view.home = alts[0].get("href") if alts else None
        if not alts:
            r.warning(url, "Atom: no <link rel=\"alternate\"> to the HTML page")
        elif view.home != self.abs(prefix + "/"):
            r.error(url, f"Atom: alternate link {view.home!r}; the page this feed belongs to is "
                         f"{self.abs(prefix + '/')!r}")
        for name in ("icon", "logo"):
            v = root.findtext(A + name)
            if v is not None and not is_absolute_url(v.strip()):
                r.error(url, f"Atom: <{name}> {v!r} is not an absolute URL")
        gen = root.find(A + "generator")
        if gen is not None and gen.get("uri") is not None and not is_absolute_url(gen.get("uri")):
            r.error(url, f"Atom: <generator uri={gen.get('uri')!r}> is not an absolute URL")
        for c in root.findall(A + "category"):
            self._atom_category(url, "feed", c)

        ids: dict[str, int] = {}
        for i, e in enumerate(root.findall(A + "entry"), 1):
            view.items.append(self._atom_entry(url, i, e, ids, feed_has_author, view.updated))
        return view

    def _atom_schema(self, url: str, root: etree._Element) -> None:
        rng = atom_schema()
        if rng.validate(root):
            return
        errors = [f"line {e.line}: {e.message}" for e in rng.error_log]
        # The RFC's informative schema wants every entry after all feed metadata; the
        # prose does not. Move the entries to the end of a copy: if that is valid, the
        # ordering rule was the only complaint.
        copy = etree.fromstring(etree.tostring(root))
        entries = copy.findall(f"{{{ATOM_NS}}}entry")
        for e in entries:
            copy.remove(e)
            copy.append(e)
        if entries and rng.validate(copy):
            self.report.warning(url, "Atom: RELAX NG: an <entry> comes before some feed metadata (only the RFC "
                                     "schema's ordering rule; readers do not care): " + "; ".join(errors))
            return
        again = [f"line {e.line}: {e.message}" for e in rng.error_log] if entries else errors
        self.report.error(url, "Atom: RELAX NG (RFC 4287): " + "; ".join(again))

    def _atom_text(self, url: str, where: str, el: etree._Element | None) -> str | None:
        """The plain text of an Atom text construct."""
        if el is None:
            return None
        t = el.get("type", "text")
        if t not in ("text", "html", "xhtml"):
            self.report.error(url, f"Atom: {where} has type={t!r}; must be text, html or xhtml")
        raw = _text(el) or ""
        if t == "html":
            raw = html_lib.unescape(re.sub(r"<[^>]*>", "", raw))
        elif t == "text" and not raw.strip():
            self.report.error(url, f"Atom: {where} is empty")
        return raw

    def _atom_date(self, url: str, where: str, value: str | None) -> dt.datetime | None:
        if value is None:
            return None
        d = parse_rfc3339(value)
        if d is None:
            self.report.error(url, f"Atom: {where} {value!r} is not an RFC 3339 date-time")
        else:
            self._plausible(url, f"Atom: {where}", d)
        return d

    def _atom_persons(self, url: str, where: str, persons: list[etree._Element]) -> bool:
        A = f"{{{ATOM_NS}}}"
        for p in persons:
            tag = etree.QName(p).localname
            names = p.findall(A + "name")
            if len(names) != 1 or not (names[0].text or "").strip():
                self.report.error(url, f"Atom: {where} <{tag}> needs exactly one non-empty <name>")
            em = p.findtext(A + "email")
            if em is not None and not re.match(r"^[^@\s]+@[^@\s]+$", em.strip()):
                self.report.error(url, f"Atom: {where} <{tag}><email> {em!r} is not an e-mail address")
            uri = p.findtext(A + "uri")
            if uri is not None and uri_problem(uri.strip(), iri=True):
                self.report.error(url, f"Atom: {where} <{tag}><uri> {uri!r} {uri_problem(uri.strip(), iri=True)}")
        return bool(persons)

    def _atom_links(self, url: str, where: str, links: list[etree._Element]) -> list[etree._Element]:
        seen: set[tuple[str, str]] = set()
        for lk in links:
            href = lk.get("href")
            if href is None:
                self.report.error(url, f"Atom: {where} <link> without href")
                continue
            if uri_problem(href, iri=True):
                self.report.error(url, f"Atom: {where} <link href={href!r}> {uri_problem(href, iri=True)} "
                                       f"(feedsvc links must be absolute: readers ignore xml:base)")
            rel = lk.get("rel", "alternate")
            if rel == "alternate":
                key = (lk.get("type", ""), lk.get("hreflang", ""))
                if key in seen:
                    self.report.error(url, f"Atom: {where} has more than one alternate link with type={key[0]!r} "
                                           f"hreflang={key[1]!r} (RFC 4287 4.1.1)")
                seen.add(key)
            length = lk.get("length")
            if length is not None and not length.strip().isdigit():
                self.report.error(url, f"Atom: {where} <link length={length!r}> is not a non-negative integer")
            t = lk.get("type")
            if t is not None and not MIME.match(t):
                self.report.error(url, f"Atom: {where} <link type={t!r}> is not a MIME type")
        return links

    def _atom_category(self, url: str, where: str, c: etree._Element) -> str:
        term = c.get("term")
        if term is None or not term.strip():
            self.report.error(url, f"Atom: {where} <category> without a term")
        scheme = c.get("scheme")
        if scheme is not None and uri_problem(scheme, iri=True):
            self.report.error(url, f"Atom: {where} <category scheme={scheme!r}> {uri_problem(scheme, iri=True)}")
        label = c.get("label")
        if label is not None and not label.strip():
            self.report.error(url, f"Atom: {where} <category> has an empty label")
        return label if label is not None else (term or "")

    def _atom_entry(self, url: str, i: int, e: etree._Element, ids: dict[str, int], feed_has_author: bool,
                    feed_updated: dt.datetime | None) -> Item:
        r = self.report
        A = f"{{{ATOM_NS}}}"
        where = f"entry {i}"
        item = Item()
        for name in ("id", "title", "updated"):
            n = len(e.findall(A + name))
            if n != 1:
                r.error(url, f"Atom: {where} has {n} <{name}> elements; exactly one is required")
        for name in ("published", "summary", "content", "rights", "source"):
            if len(e.findall(A + name)) > 1:
                r.error(url, f"Atom: {where} has more than one <{name}>")
        item.id = e.findtext(A + "id")
        if item.id is not None:
            if uri_problem(item.id, iri=True):
                r.error(url, f"Atom: {where} <id> {item.id!r} {uri_problem(item.id, iri=True)} (RFC 4287 4.2.6)")
            elif not item.id.isascii():
                r.warning(url, f"Atom: {where} <id> {item.id!r} is an IRI with non-ASCII letters: valid for RFC "
                               f"4287, refused by the W3C validator")
            if item.id in ids:
                r.error(url, f"Atom: {where} has the same <id> {item.id!r} as entry {ids[item.id]}")
            ids.setdefault(item.id, i)
        item.title = self._atom_text(url, f"{where} <title>", e.find(A + "title"))
        item.updated = self._atom_date(url, f"{where} <updated>", e.findtext(A + "updated"))
        item.published = self._atom_date(url, f"{where} <published>", e.findtext(A + "published"))
        if item.published and item.updated and item.published > item.updated:
            r.warning(url, f"Atom: {where} is published after it was updated")
        if feed_updated and item.updated and item.updated > feed_updated:
            r.warning(url, f"Atom: {where} <updated> is later than the feed's <updated>")
        has_author = self._atom_persons(url, where, e.findall(A + "author"))
        src = e.find(A + "source")
        if src is not None and src.findall(A + "author"):
            has_author = True
        if not feed_has_author and not has_author:
            r.error(url, f"Atom: {where} has no <author> and the feed has none (RFC 4287 4.1.1)")
        self._atom_persons(url, where, e.findall(A + "contributor"))
        links = self._atom_links(url, where, e.findall(A + "link"))
        alts = [lk for lk in links if lk.get("rel", "alternate") == "alternate"]
        item.link = alts[0].get("href") if alts else None
        content = e.find(A + "content")
        summary = e.find(A + "summary")
        if content is None and not alts:
            r.error(url, f"Atom: {where} has neither <content> nor an alternate link (RFC 4287 4.1.2)")
        if content is not None:
            ctype = content.get("type", "text")
            if content.get("src") is not None:
                if summary is None:
                    r.error(url, f"Atom: {where} has out-of-line <content src> but no <summary>")
                if not is_absolute_url(content.get("src")):
                    r.error(url, f"Atom: {where} <content src={content.get('src')!r}> is not an absolute URL")
            elif ctype != "html":
                r.error(url, f"Atom: {where} <content type={ctype!r}>; feedsvc content must be type=\"html\"")
            else:
                item.content = _text(content) or ""
                check_html(r, url, f"Atom {where} <content>", item.content)
        if summary is not None:
            item.summary = _text(summary)
            if summary.get("type", "text") == "html":
                check_html(r, url, f"Atom {where} <summary>", item.summary or "")
                item.summary = html_text(item.summary or "")
        item.categories = tuple(self._atom_category(url, where, c) for c in e.findall(A + "category"))
        return item

    # JSON Feed 1.1 --------------------------------------------------------------------
    def check_json(self, url: str, prefix: str, body: bytes) -> FeedView | None:
        r = self.report
        if body.startswith(b"\xef\xbb\xbf"):
            r.error(url, "JSON Feed: starts with a byte order mark")
            body = body[3:]
        try:
            doc = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            r.error(url, f"JSON Feed: not UTF-8 JSON: {e}")
            return None
        if not isinstance(doc, dict):
            r.error(url, "JSON Feed: the top level is not an object")
            return None
        for err in sorted(jsonfeed_validator().iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path]):
            where = "/".join(str(p) for p in err.absolute_path) or "(top)"
            r.error(url, f"JSON Feed schema: at {where}: {err.message[:300]}")
        view = FeedView("json", url)
        if doc.get("version") != JSONFEED_VERSION:
            r.error(url, f"JSON Feed: version {doc.get('version')!r}, expected {JSONFEED_VERSION!r}")
        view.title = doc.get("title") if isinstance(doc.get("title"), str) else None
        if not (view.title or "").strip():
            r.error(url, "JSON Feed: empty or missing title")
        fu = doc.get("feed_url")
        if fu != url:
            r.error(url, f"JSON Feed: feed_url {fu!r} is not the feed's URL {url!r}")
        home = doc.get("home_page_url")
        view.home = home if isinstance(home, str) else None
        if home is None:
            r.warning(url, "JSON Feed: no home_page_url")
        elif not is_absolute_url(home, {"http", "https"}):
            r.error(url, f"JSON Feed: home_page_url {home!r} is not an absolute http(s) URL")
        elif home != self.abs(prefix + "/"):
            r.error(url, f"JSON Feed: home_page_url {home!r}; the page this feed belongs to is "
                         f"{self.abs(prefix + '/')!r}")
        lang = doc.get("language")
        if isinstance(lang, str) and not LANGUAGE.match(lang):
            r.error(url, f"JSON Feed: language {lang!r} is not a language tag")
        for key in ("icon", "favicon", "next_url"):
            if isinstance(doc.get(key), str) and not is_absolute_url(doc[key]):
                r.error(url, f"JSON Feed: {key} {doc[key]!r} is not an absolute URL")
        self._json_authors(url, "feed", doc)
        items = doc.get("items") if isinstance(doc.get("items"), list) else []
        ids: dict[str, int] = {}
        for i, it in enumerate(items, 1):
            if isinstance(it, dict):
                view.items.append(self._json_item(url, i, it, ids))
            else:
                view.items.append(Item())
        return view

    def _json_authors(self, url: str, where: str, obj: Mapping[str, Any]) -> None:
        if "author" in obj and "authors" not in obj:
            self.report.warning(url, f"JSON Feed: {where} uses the 1.0 'author'; 1.1 readers want 'authors'")
        for a in obj.get("authors") or []:
            if not isinstance(a, dict) or not any(isinstance(a.get(k), str) and a[k].strip()
                                                  for k in ("name", "url", "avatar")):
                self.report.error(url, f"JSON Feed: {where} has an author without name, url or avatar: {a!r}")
                continue
            for k in ("url", "avatar"):
                if isinstance(a.get(k), str) and not is_absolute_url(a[k]):
                    self.report.error(url, f"JSON Feed: {where} author {k} {a[k]!r} is not an absolute URL")

    def _json_item(self, url: str, i: int, it: Mapping[str, Any], ids: dict[str, int]) -> Item:
        r = self.report
        where = f"item {i}"
        item = Item()
        iid = it.get("id")
        if not isinstance(iid, str):
            r.error(url, f"JSON Feed: {where} id {iid!r} is not a string")
        elif not iid.strip():
            r.error(url, f"JSON Feed: {where} has an empty id")
        else:
            item.id = iid
            if iid in ids:
                r.error(url, f"JSON Feed: {where} has the same id {iid!r} as item {ids[iid]}")
            ids.setdefault(iid, i)
        item.title = it.get("title") if isinstance(it.get("title"), str) else None
        for key in ("url", "external_url", "image", "banner_image"):
            v = it.get(key)
            if v is not None and not is_absolute_url(v if isinstance(v, str) else None):
                r.error(url, f"JSON Feed: {where} {key} {v!r} is not an absolute URL")
        item.link = it.get("url") if isinstance(it.get("url"), str) else None
        for key in ("date_published", "date_modified"):
            v = it.get(key)
            if v is None:
                if key == "date_published":
                    r.warning(url, f"JSON Feed: {where} has no date_published")
                continue
            d = parse_rfc3339(v) if isinstance(v, str) else None
            if d is None:
                r.error(url, f"JSON Feed: {where} {key} {v!r} is not an RFC 3339 date-time")
            else:
                self._plausible(url, f"JSON Feed: {where} {key}", d)
                setattr(item, "published" if key == "date_published" else "updated", d)
        if item.published and item.updated and item.published > item.updated:
            r.warning(url, f"JSON Feed: {where} date_modified is before date_published")
        ch, ct = it.get("content_html"), it.get("content_text")
        if not (isinstance(ch, str) or isinstance(ct, str)):
            r.error(url, f"JSON Feed: {where} has neither content_html nor content_text")
        if isinstance(ch, str):
            item.content = ch
            check_html(r, url, f"JSON Feed {where} content_html", ch)
        if isinstance(ct, str) and not ct.strip():
            r.warning(url, f"JSON Feed: {where} content_text is empty")
        item.summary = it.get("summary") if isinstance(it.get("summary"), str) else None
        tags = it.get("tags") or []
        for t in tags:
            if not isinstance(t, str) or not t.strip():
                r.error(url, f"JSON Feed: {where} has an empty or non-string tag {t!r}")
        if len(set(tags)) != len(tags):
            r.warning(url, f"JSON Feed: {where} repeats a tag: {tags!r}")
        item.categories = tuple(t for t in tags if isinstance(t, str))
        self._json_authors(url, where, it)
        for att in it.get("attachments") or []:
            if isinstance(att, dict) and not is_absolute_url(att.get("url")):
                r.error(url, f"JSON Feed: {where} attachment url {att.get('url')!r} is not an absolute URL")
        return item

    # shared ---------------------------------------------------------------------------
    def _check_xml_prolog(self, url: str, root: etree._Element) -> None:
        doc = root.getroottree().docinfo
        if doc.encoding and doc.encoding.lower() not in ("utf-8", "utf8"):
            self.report.error(url, f"XML encoding is {doc.encoding!r}; the feed is served as utf-8")
        if doc.doctype:
            self.report.warning(url, f"XML has a DOCTYPE {doc.doctype!r}")

    def _plausible(self, url: str, where: str, d: dt.datetime) -> None:
        if d.year < 1990:
            self.report.warning(url, f"{where} {d.isoformat()} is implausibly old (W3C: ImplausibleDate)")
        elif d > dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1):
            self.report.warning(url, f"{where} {d.isoformat()} is in the future (W3C: ImplausibleDate)")

    def check_with_feedparser(self, url: str, fmt: str, headers: Mapping[str, str], body: bytes,
                              view: FeedView | None) -> None:
        """What a real reader's parser makes of the bytes."""
        if fmt == "json" and not _feedparser_reads_json():
            return  # feedparser < 7 has no JSON Feed support: nothing to compare against
        resp = dict(headers) if self.http else {}
        if fmt == "json" and not resp:
            resp = {"content-type": MEDIA_TYPES["json"]}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # feedparser's own deprecation notices
            d = feedparser.parse(io.BytesIO(body), response_headers=resp, sanitize_html=True,
                                 resolve_relative_uris=False)
            self._feedparser_findings(url, fmt, d, view)

    def _feedparser_findings(self, url: str, fmt: str, d: Any, view: FeedView | None) -> None:
        r = self.report
        if d.get("bozo"):
            r.error(url, f"feedparser: bozo: {type(d.get('bozo_exception')).__name__}: {d.get('bozo_exception')}")
        if d.get("version") != FEEDPARSER_VERSIONS[fmt]:
            r.error(url, f"feedparser: version {d.get('version')!r}, expected {FEEDPARSER_VERSIONS[fmt]!r}")
        entries = d.get("entries") or []
        for i, e in enumerate(entries, 1):
            missing = [k for k in ("id", "title", "link") if not e.get(k)]
            if missing:
                r.error(url, f"feedparser: entry {i} has no {', '.join(missing)}")
            if not e.get("published_parsed") and not e.get("updated_parsed"):
                r.error(url, f"feedparser: entry {i} has no date it can read")
        if view is not None:
            ours = [it.id for it in view.items]
            theirs = [e.get("id") for e in entries]
            if ours != theirs:
                r.error(url, f"feedparser sees other ids than the document holds: {theirs[:3]!r}... vs "
                             f"{ours[:3]!r}...")
            for i, (it, e) in enumerate(zip(view.items, entries), 1):
                if it.title is not None and e.get("title") != it.title:
                    r.warning(url, f"feedparser: entry {i} title reads as {e.get('title')!r}, not "
                                   f"{it.title!r} (the reader treats it as "
                                   f"{e.get('title_detail', {}).get('type')})")
                if it.published is not None and e.get("published_parsed"):
                    theirs_d = dt.datetime(*e["published_parsed"][:6], tzinfo=dt.timezone.utc)
                    if theirs_d != it.published.astimezone(dt.timezone.utc).replace(microsecond=0):
                        r.error(url, f"feedparser: entry {i} published reads as {theirs_d.isoformat()}, not "
                                     f"{it.published.isoformat()}")

    # the formats against each other ---------------------------------------------------
    def compare(self, prefix: str, views: Mapping[str, FeedView]) -> None:
        r = self.report
        if len(views) < 2:
            return
        fmts = [f for f in FORMATS if f in views]
        ref_fmt = fmts[0]
        ref = views[ref_fmt]
        where = self.abs(prefix + "/feed.*")

        for fmt in fmts[1:]:
            other = views[fmt]
            pair = f"{ref_fmt} vs {fmt}"
            if ref.title != other.title:
                r.error(where, f"{pair}: feed titles differ: {ref.title!r} / {other.title!r}")
            if ref.home != other.home:
                r.error(where, f"{pair}: home pages differ: {ref.home!r} / {other.home!r}")
            if ref.updated and other.updated and ref.updated != other.updated:
                r.warning(where, f"{pair}: feed dates differ: {ref.updated.isoformat()} / "
                                 f"{other.updated.isoformat()}")
            a_ids = [it.id for it in ref.items]
            b_ids = [it.id for it in other.items]
            if a_ids != b_ids:
                if set(a_ids) == set(b_ids):
                    r.error(where, f"{pair}: same items in a different order")
                else:
                    r.error(where, f"{pair}: different items: only in {ref_fmt}: "
                                   f"{sorted(set(a_ids) - set(b_ids), key=str)[:5]!r}, only in {fmt}: "
                                   f"{sorted(set(b_ids) - set(a_ids), key=str)[:5]!r}")
            by_id = {it.id: it for it in other.items}
            for a in ref.items:
                b = by_id.get(a.id)
                if b is None:
                    continue
                tag = f"{pair}: item {a.id!r}"
                if a.title != b.title:
                    r.error(where, f"{tag}: titles differ: {a.title!r} / {b.title!r}")
                if a.link != b.link:
                    r.error(where, f"{tag}: links differ: {a.link!r} / {b.link!r}")
                if a.published and b.published and \
                        a.published.replace(microsecond=0) != b.published.replace(microsecond=0):
                    r.error(where, f"{tag}: published dates differ: {a.published.isoformat()} / "
                                   f"{b.published.isoformat()}")
                elif (a.published is None) != (b.published is None):
                    r.error(where, f"{tag}: published date only in one format")
                # A name used both as a category and as a tag is one name to a reader (and
                # JSON Feed tags must be unique): compare the distinct names, in order.
                a_cats, b_cats = _distinct(a.categories), _distinct(b.categories)
                if a_cats != b_cats:
                    if sorted(a_cats) == sorted(b_cats):
                        r.warning(where, f"{tag}: categories in another order: {a_cats!r} / {b_cats!r}")
                    else:
                        r.error(where, f"{tag}: categories differ: {a_cats!r} / {b_cats!r}")
                # An empty body may be an empty element or no element at all.
                a_content, b_content = a.content or None, b.content or None
                in_description = a_content is None and b_content is not None and a.description_html == b_content
                if a_content is not None and b_content is not None and a_content != b_content:
                    r.error(where, f"{tag}: content differs")
                elif in_description:
                    r.warning(where, f"{tag}: the RSS item has its full content in <description> and no "
                                     f"<content:encoded> (the design: description is the summary)")
                elif (a_content is None) != (b_content is None):
                    r.error(where, f"{tag}: full content in one format only")
                if not in_description and \
                        " ".join((a.summary or "").split()) != " ".join((b.summary or "").split()):
                    r.warning(where, f"{tag}: summaries differ: {a.summary!r:.80} / {b.summary!r:.80}")
        # RSS has no modification date: Atom's updated against JSON Feed's date_modified.
        if "atom" in views and "json" in views:
            modified = {it.id: it.updated for it in views["json"].items}
            for a in views["atom"].items:
                b_updated = modified.get(a.id)
                if a.updated and b_updated and a.updated != b_updated:
                    r.error(where, f"atom vs json: item {a.id!r}: updated dates differ: {a.updated.isoformat()} / "
                                   f"{b_updated.isoformat()}")

    # pages around the feeds ----------------------------------------------------------
    def check_pages(self, groups: Sequence[str], views: Mapping[str, Mapping[str, FeedView]]) -> None:
        r = self.report
        for prefix in groups:
            path = prefix + "/"
            url = self.abs(path)
            status, headers, body = self.fetch(path)
            if status != 200:
                r.error(url, f"HTTP {status}: the HTML page of this feed is missing")
                continue
            try:
                doc = lxml_html.document_fromstring(body)
            except (etree.ParserError, ValueError) as e:
                r.error(url, f"cannot parse the page: {e}")
                continue
            found = {(ln.get("type"), ln.get("href")) for ln in doc.iter("link")
                     if "alternate" in (ln.get("rel") or "").lower().split()}
            for fmt in self.formats:
                want = (MEDIA_TYPES[fmt], self.abs(f"{prefix}/feed.{fmt}"))
                if want not in found:
                    r.error(url, f"no autodiscovery <link rel=\"alternate\" type=\"{want[0]}\" href=\"{want[1]}\">")
            if prefix == "":
                listed = set()
                for a in doc.iter("a"):
                    p = self.path_of(a.get("href") or "") or (a.get("href") if (a.get("href") or "").startswith(
                        "/") else None)
                    m = CATEGORY_PAGE.match(p or "")
                    if m:
                        listed.add(f"/categories/{m['slug']}")
                for missing in sorted(listed - set(groups)):
                    r.error(self.abs("/opml.xml"), f"the index links to {missing}/ but the OPML list has no feed "
                                                   f"for it")
        # every item's permalink on this site answers
        links: set[str] = set()
        for per_fmt in views.values():
            for v in per_fmt.values():
                links.update(it.link for it in v.items if it.link)
        for link in sorted(links):
            p = self.path_of(link)
            if p is None:
                continue
            status, _, _ = self.fetch(p)
            if status != 200:
                # /articles/<slug>/ is the contract's permalink; another path on the
                # site may be served by something else in production.
                say = r.error if ARTICLE_PAGE.match(p) else r.warning
                say(link, f"HTTP {status}: an item's link does not lead to a page")


def _distinct(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


@lru_cache(maxsize=1)
def atom_schema() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(SCHEMAS / "atom.rng")))


def _no_network(uri: str) -> Any:
    raise NoSuchResource(ref=uri)


@lru_cache(maxsize=1)
def jsonfeed_validator() -> jsonschema.protocols.Validator:
    """JSON Feed 1.1 schema; ``feed-1#...`` references resolve to the vendored file."""
    feed = json.loads((SCHEMAS / "jsonfeed" / "feed.json").read_text(encoding="utf-8"))
    feed1 = json.loads((SCHEMAS / "jsonfeed" / "feed-1.json").read_text(encoding="utf-8"))
    registry = Registry(retrieve=_no_network).with_resources([
        (feed["id"], DRAFT4.create_resource(feed)),
        (feed1["id"], DRAFT4.create_resource(feed1)),
    ])
    cls = jsonschema.validators.validator_for(feed, default=jsonschema.Draft4Validator)
    cls.check_schema(feed)
    return cls(feed, registry=registry)


def _feedparser_reads_json() -> bool:
    try:
        import feedparser.parsers.json  # noqa: F401  (feedparser >= 7)
    except ImportError:
        return False
    return True


def check_site(fetch: Fetch, *, base_url: str | None = None, http: bool = True,
               formats: Sequence[str] = FORMATS) -> list[Finding]:
    """Check every feed of the site that ``fetch`` reaches.

    ``fetch(path) -> (status, headers, body)`` gets one path of the public contract
    ("/opml.xml", "/feed.rss", ...). ``base_url`` is the site's public URL, which
    feeds must use for their own address and links; by default it is read from the
    OPML list. ``http=False`` skips the HTTP header checks (a static export).
    """
    return SiteChecker(fetch, base_url, http, formats).run()


# -- fetchers and the command line --------------------------------------------------------

ACCEPT = "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, */*;q=0.8"


def http_fetcher(base_url: str, timeout: float = 30.0) -> Fetch:
    """GET ``base_url + path`` like a feed reader (gzip accepted, redirects followed)."""
    root = base_url.rstrip("/")

    def fetch(path: str) -> tuple[int, Mapping[str, str], bytes]:
        req = urllib.request.Request(root + path, headers={
            "Accept": ACCEPT, "Accept-Encoding": "gzip", "User-Agent": "feedsvc-conformance/1"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, headers, body = resp.status, dict(resp.headers.items()), resp.read()
        except urllib.error.HTTPError as e:
            status, headers, body = e.code, dict(e.headers.items()), e.read()
        if any(k.lower() == "content-encoding" and v.lower() in ("gzip", "x-gzip") for k, v in headers.items()):
            body = gzip.decompress(body)
        return status, headers, body

    return fetch


def export_fetcher(root: Path) -> Fetch:
    """Read a static export: "/x/" is ``root/x/index.html``, "/feed.rss" is ``root/feed.rss``."""
    base = root.resolve()

    def fetch(path: str) -> tuple[int, Mapping[str, str], bytes]:
        rel = path.lstrip("/")
        if rel == "" or rel.endswith("/"):
            rel += "index.html"
        target = (base / rel).resolve()
        if not target.is_relative_to(base) or not target.is_file():
            return 404, {}, b""
        return 200, {}, target.read_bytes()

    return fetch


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m conformance.check",
                                 description="Check feedsvc's feeds as feed validators and readers do.")
    ap.add_argument("base_url", nargs="?", help="a running server, e.g. http://127.0.0.1:8000")
    ap.add_argument("--export", metavar="DIR", help="check a static export instead of a server")
    ap.add_argument("--public-url", metavar="URL",
                    help="the site's configured base_url, when it differs from where it is fetched "
                         "(default: BASE_URL; for --export, read from the OPML list)")
    ap.add_argument("--formats", default=",".join(FORMATS), help="formats the site serves (default: rss,atom,json)")
    ap.add_argument("--errors-only", action="store_true", help="print errors only")
    args = ap.parse_args(argv)
    if bool(args.base_url) == bool(args.export):
        ap.error("give either BASE_URL or --export DIR")
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    if not formats or any(f not in FORMATS for f in formats):
        ap.error(f"--formats: choose from {', '.join(FORMATS)}")
    if args.export:
        root = Path(args.export)
        if not root.is_dir():
            ap.error(f"--export: {root} is not a folder")
        findings = check_site(export_fetcher(root), base_url=args.public_url, http=False, formats=formats)
    else:
        if not is_absolute_url(args.base_url, {"http", "https"}):
            ap.error(f"BASE_URL must be an http(s) URL, got {args.base_url!r}")
        findings = check_site(http_fetcher(args.base_url), base_url=args.public_url or args.base_url, http=True,
                              formats=formats)
    errors = [f for f in findings if f.severity == "error"]
    for f in findings:
        if f.severity == "error" or not args.errors_only:
            print(f)
    print(f"{len(errors)} error(s), {len(findings) - len(errors)} warning(s)", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
