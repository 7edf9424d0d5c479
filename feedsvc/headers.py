"""The headers of a resource response, defined once for the Flask views and the fast path."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from werkzeug.http import http_date

from .resources import Resource

XML_FEED_TYPES = ("application/rss+xml", "application/atom+xml")
BROWSER_VIEW_TYPE = "text/xml; charset=utf-8"
ARCHIVE_MAX_AGE = 24 * 3600


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
        headers += [("Access-Control-Allow-Origin", "*"),
                    ("Access-Control-Expose-Headers", "ETag, Last-Modified")]
    headers.append(("X-Content-Type-Options", "nosniff"))
    return etag, headers


def link_headers(res: Resource, path: str, config: Any) -> list[tuple[str, str]]:
    """WebSub discovery (W3C WebSub 4) for a current feed: each hub, then the feed's own URL."""
    if res.kind != "feed" or not config.websub_hubs:
        return []
    return [*(("Link", f'<{hub}>; rel="hub"') for hub in config.websub_hubs),
            ("Link", f'<{config.site.base_url}{path}>; rel="self"')]
