"""The headers of a resource response, and what a request's headers ask of it.

Defined once for the Flask views and the fast path, which must give the same
answer to the same request.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Mapping

from werkzeug.http import http_date, parse_accept_header, parse_date

from .resources import Resource

XML_FEED_TYPES = ("application/rss+xml", "application/atom+xml")
BROWSER_VIEW_TYPE = "text/xml; charset=utf-8"
ARCHIVE_MAX_AGE = 24 * 3600
# On every answer for a feed URL or the OPML list, errors included: a script
# on another site must be able to read a 503's status and Retry-After too.
CORS_HEADERS = (("Access-Control-Allow-Origin", "*"),
                ("Access-Control-Expose-Headers", "ETag, Last-Modified, Retry-After"))


def feed_headers(res: Resource, gz: bool, view: bool, max_age: int) -> tuple[str, list[tuple[str, str]]]:
    """(ETag, headers) of a 200 response for ``res``: one definition for both serving paths."""
    etag = res.gzip_etag if gz else res.etag
    vary = "Accept-Encoding"
    if res.content_type.split(";")[0] in XML_FEED_TYPES:
        vary += ", Accept"
        if view:
            etag += "-view"  # another representation (content type): another tag
    # No Content-Length: the gzip form may not exist yet; the body, once
    # taken, gives it (and a 304 has none).
    headers = [("Content-Type", BROWSER_VIEW_TYPE if view else res.content_type)]
    if gz:
        headers.append(("Content-Encoding", "gzip"))
    headers += [("Vary", vary), ("ETag", f'"{etag}"')]
    if res.last_modified is not None:
        # Never later than the response (RFC 9110 8.8.2.1). Refreshes date what
        # they render so, and pages show updates dated ahead as of their entry's
        # date (catalog.as_of); this is the one place the rule holds for all.
        headers.append(("Last-Modified", http_date(min(res.last_modified, datetime.now(timezone.utc)))))
    if res.kind == "archive":
        # A full archive page rarely changes (RFC 5005), but it can: an old entry
        # edited, or one added back-dated, which moves every later page. So
        # caches keep it a day and then ask again (a 304), not a year blind.
        headers.append(("Cache-Control", f"public, max-age={ARCHIVE_MAX_AGE}"))
    else:
        age = max_age if res.kind in ("feed", "opml") else min(max_age, 300)
        headers.append(("Cache-Control", f"public, max-age={age}"))
    if res.kind in ("feed", "opml", "archive"):
        headers += CORS_HEADERS
    headers.append(("X-Content-Type-Options", "nosniff"))
    return etag, headers


def link_headers(res: Resource, path: str, config: Any) -> list[tuple[str, str]]:
    """WebSub discovery (W3C WebSub 4) for a current feed: each hub, then the feed's own URL."""
    if res.kind != "feed" or not config.websub_hubs:
        return []
    return [*(("Link", f'<{hub}>; rel="hub"') for hub in config.websub_hubs),
            ("Link", f'<{config.site.base_url}{path}>; rel="self"')]


# Accept-Encoding values that clients send over and over, decided without parsing.
_COMMON_ENCODINGS = {"": False, "identity": False, "gzip": True, "gzip, deflate": True, "deflate, gzip": True,
                     "gzip, deflate, br": True, "gzip, deflate, br, zstd": True}


def wants_gzip(accept_encoding: str) -> bool:
    """Whether to send the gzip form, given the request's Accept-Encoding ("" when absent)."""
    common = _COMMON_ENCODINGS.get(accept_encoding)
    return _negotiate_gzip(accept_encoding) if common is None else common


@lru_cache(maxsize=256)   # pollers send a handful of distinct values, over and over
def _negotiate_gzip(accept_encoding: str) -> bool:
    """gzip when its quality is above 0 and at least identity's (RFC 9110 12.5.3).

    "*" stands only for the codings the field does not name, so "gzip;q=0, *"
    refuses gzip and "identity;q=0, *" asks for it. When the field names
    neither identity nor "*", identity is acceptable but any coding with a
    quality above 0 comes first. x-gzip is gzip (8.4.1.3).
    """
    named: dict[str, float] = {}
    for coding, q in parse_accept_header(accept_encoding):
        coding = "gzip" if coding.lower() == "x-gzip" else coding.lower()
        named[coding] = max(q, named.get(coding, 0.0))
    star = named.get("*")
    gzip_q = named.get("gzip", star or 0.0)
    identity_q = named.get("identity", star or 0.0)
    return gzip_q > 0 and gzip_q >= identity_q


def precondition(environ: Mapping[str, Any], etag: str, last_modified: str | None) -> int:
    """200, 304 or 412 for a GET or HEAD of a representation that exists (RFC 9110 13.2.2).

    ``etag`` is its tag without quotes, ``last_modified`` its Last-Modified
    header. In 13.2.2's order: If-Match, or else If-Unmodified-Since; then
    If-None-Match, or else If-Modified-Since.
    """
    if_match = environ.get("HTTP_IF_MATCH")
    if if_match is not None:
        if not etag_matches(if_match, etag, weak=False):
            return 412
    else:
        since = _one_http_date(environ.get("HTTP_IF_UNMODIFIED_SINCE"))
        if since is not None and last_modified is not None and parse_date(last_modified) > since:
            return 412
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None:
        return 304 if etag_matches(if_none_match, etag, weak=True) else 200
    since = _one_http_date(environ.get("HTTP_IF_MODIFIED_SINCE"))
    if since is not None and last_modified is not None and parse_date(last_modified) <= since:
        return 304
    return 200


# One member of an entity-tag list (RFC 9110 8.8.3): a tag (weak marker,
# quoted opaque-tag), or anything else up to the next comma, which is no tag
# and matches nothing: werkzeug's parse_etags takes an unquoted word for one.
# A quoted tag may hold a comma.
_LIST_MEMBER = re.compile(r'[ \t]*(?:(W/)?"([\x21\x23-\x7e\x80-\xff]*)"[ \t]*(?:,|\Z)|[^,]*,?)')


def etag_matches(field: str, etag: str, weak: bool) -> bool:
    """Whether an If-Match (strong comparison) or If-None-Match (weak) field value matches ``etag``.

    "*" matches any current representation, and this one exists.
    """
    if field.strip(" \t") == "*":
        return True
    for m in _LIST_MEMBER.finditer(field):
        if m.group(2) == etag and (weak or m.group(1) is None):
            return True
    return False


_DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_MONTH = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_TIME = r"\d\d:\d\d:\d\d"
# HTTP-date (RFC 9110 5.6.7): IMF-fixdate, and the obsolete RFC 850 and asctime
# forms that recipients must also accept. email.utils, under werkzeug's
# parse_date, also reads the first date of a list, which is no HTTP-date.
_HTTP_DATE = re.compile(
    rf"{_DAY}, \d\d {_MONTH} \d{{4}} {_TIME} GMT"
    rf"|(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), \d\d-{_MONTH}-\d\d {_TIME} GMT"
    rf"|{_DAY} {_MONTH} (?:\d\d| \d) {_TIME} \d{{4}}", re.ASCII)


def _one_http_date(value: str | None) -> datetime | None:
    """The date of an If-Modified-Since or If-Unmodified-Since field, or None
    when it must be ignored: absent, or not exactly one valid HTTP-date (13.1.3, 13.1.4)."""
    if value is None:
        return None
    value = value.strip(" \t")
    return parse_date(value) if _HTTP_DATE.fullmatch(value) else None
