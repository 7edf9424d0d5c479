"""Flask blueprint: every public GET route, served from the current snapshot.

Views only look resources up and set headers; all rendering happened during the
refresh. Domain errors become HTTP responses in the error handlers below, and
nothing a client sends can produce a traceback in the response.
"""
from __future__ import annotations

import logging
import os
from typing import NoReturn

from flask import Blueprint, Response, current_app, request
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import HTTPException, NotFound, PreconditionFailed, ServiceUnavailable, Unauthorized
from werkzeug.http import http_date, quote_header_value

from .errors import StaleEntry
from .headers import CORS_HEADERS, XML_FEED_TYPES, feed_headers, link_headers, precondition, wants_gzip
from .resources import Resource
from .service import Service

log = logging.getLogger("feedsvc.web")
bp = Blueprint("feedsvc", __name__)

FEED_FORMATS = ("rss", "atom", "json")


def get_service() -> Service:
    return current_app.extensions["feedsvc"]


# Seconds a client is asked to wait while nothing is published yet.
NOT_READY_RETRY = 30
# A page whose entry changed since the snapshot: the refresh it asks for takes seconds.
STALE_RETRY = 5


def _published():  # type: ignore[no-untyped-def]
    """The snapshot served; 503 while none has been published. A feed reader
    told 404 may drop the subscription; 503 with Retry-After makes it come back."""
    snap = get_service().store.current
    if not snap.published:
        raise ServiceUnavailable("nothing is published yet: the first refresh is still running, or it failed "
                                 "(see /status).", retry_after=NOT_READY_RETRY)
    return snap


def _respond(path: str, missing: str) -> Response:
    snap = _published()
    # One URL per resource: the int converter also takes "01" and other
    # scripts' digits for archive page 1, which caches would keep apart.
    try:
        res = snap.get(path) if request.path == path else None
    except StaleEntry as e:
        entries = snap.config.entries_path
        if not (os.path.isdir(entries) and os.access(entries, os.R_OK | os.X_OK)):
            # Moved or unreadable: no refresh can publish anything until it is back
            # (the scheduled ones notice), and the feeds as published stay served.
            raise ServiceUnavailable("the entries folder pages are rendered from cannot be read now; the feeds "
                                     "stay served (see /status).", retry_after=NOT_READY_RETRY) from None
        # Neither the page as published (its file changed) nor a mix of the two.
        get_service().entry_changed(e.path)
        raise ServiceUnavailable("an entry this page shows changed since the feeds were published; a refresh is "
                                 "publishing it.", retry_after=STALE_RETRY) from None
    if res is None:
        if request.path == path and snap.listed(path):
            _lost()
        raise NotFound(missing)
    resp = send_resource(res, snap.config.refresh_interval)
    # WebSub discovery (W3C WebSub 4): the hubs and this topic's canonical URL
    for name, value in link_headers(res, path, snap.config):
        resp.headers.add(name, value)
    return resp




def wants_page(res: Resource) -> bool:
    """A browser navigating to an RSS or Atom URL, rather than a feed reader polling it.

    Browsers download ``application/rss+xml`` instead of showing it. When the
    client ranks ``text/html`` above the feed's own type (only browsers do),
    the same bytes go out as ``text/xml``, which browsers display with the
    feed's CSS stylesheet. Feed readers never rank text/html first.
    """
    own = res.content_type.split(";")[0]
    if own not in XML_FEED_TYPES:
        return False
    accept = request.accept_mimetypes
    html = accept.quality("text/html")
    # Media types are case-insensitive (RFC 9110 8.3.1); quality() knows it.
    return html > 0 and "text/html" in {v.lower() for v, _ in accept} and html > accept.quality(own)


def send_resource(res: Resource, max_age: int) -> Response:
    gz = wants_gzip(request.environ.get("HTTP_ACCEPT_ENCODING", ""))
    view = wants_page(res)
    etag, headers = feed_headers(res, gz, view, max_age)
    # Conditions first: a 304 needs no body, and the gzip form may not exist yet.
    # Not werkzeug's make_conditional: it answers "If-Match: *" with 412, and a
    # true If-Match there overrules If-None-Match (RFC 9110 13.2.2 has neither).
    status = precondition(request.environ, etag, dict(headers).get("Last-Modified"))
    if status == 412:
        raise PreconditionFailed("The current ETag or Last-Modified does not meet If-Match or If-Unmodified-Since.")
    resp = Response(b"", status=status, headers=headers)
    resp.headers["Date"] = http_date()   # as make_conditional set it
    if status == 200:
        try:
            resp.set_data(res.gzip_body if gz else res.body)
        except FileNotFoundError:
            _lost()
    return resp


def _lost() -> NoReturn:
    """The snapshot served lists this response, but its bytes are gone from the cache folder."""
    get_service().body_lost(request.path)
    raise ServiceUnavailable("this response's bytes are gone from the cache folder; a refresh is writing them "
                             "again.", retry_after=NOT_READY_RETRY)


@bp.after_app_request
def cors(resp: Response) -> Response:
    if not _is_public_data(request.path):
        return resp
    # Errors too: a script on another site that is told 503 (or 404) must see
    # it, and its Retry-After, rather than a network error.
    for name, value in CORS_HEADERS:
        resp.headers.setdefault(name, value)
    # A script that polls conditionally sets If-None-Match, which makes the
    # browser ask first with OPTIONS; Flask answers OPTIONS itself, we add CORS.
    if request.method == "OPTIONS" and resp.status_code == 200:
        resp.headers["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
        resp.headers["Access-Control-Allow-Headers"] = "If-None-Match, If-Modified-Since"
        resp.headers["Access-Control-Max-Age"] = "86400"
    return resp


def _is_public_data(path: str) -> bool:
    """A feed's URL (current or archive, known or not) or the OPML list's; /feed.css is a stylesheet."""
    return path == "/opml.xml" or (path.rsplit("/", 1)[-1].startswith("feed.") and path != "/feed.css")


@bp.get("/")
def index() -> Response:
    return _respond("/", "The index page is not ready yet.")


@bp.get("/feed.<fmt>")
def site_feed(fmt: str) -> Response:
    return _respond(f"/feed.{fmt}", _unknown_format(fmt))


@bp.get("/categories/<slug>/feed.<fmt>")
def category_feed(slug: str, fmt: str) -> Response:
    if slug not in _published().category_slugs:
        raise NotFound(_unknown_category(slug))
    return _respond(f"/categories/{slug}/feed.{fmt}", _unknown_format(fmt))


@bp.get("/archive/<int:number>/feed.<fmt>")
def site_archive(number: int, fmt: str) -> Response:
    return _respond(f"/archive/{number}/feed.{fmt}", _unknown_archive(number))


@bp.get("/categories/<slug>/archive/<int:number>/feed.<fmt>")
def category_archive(slug: str, number: int, fmt: str) -> Response:
    if slug not in _published().category_slugs:
        raise NotFound(_unknown_category(slug))
    return _respond(f"/categories/{slug}/archive/{number}/feed.{fmt}", _unknown_archive(number))


def _unknown_archive(number: int) -> str:
    asked = request.path.rsplit("/", 2)[-2]   # as written: the converter also reads "01" as 1
    how = "" if asked == str(number) else " Page numbers are written in ASCII digits, without leading zeros."
    return (f"No archive page {asked}.{how} Archive pages are numbered from 1 (the oldest entries); "
            "the current feed links to the newest with rel=\"prev-archive\".")


@bp.get("/categories/<slug>/")
def category(slug: str) -> Response:
    return _respond(f"/categories/{slug}/", _unknown_category(slug))


@bp.get("/articles/<slug>/")
def article(slug: str) -> Response:
    return _respond(f"/articles/{slug}/", f"No article {slug!r}. The latest articles are listed on the home page.")


@bp.get("/opml.xml")
def opml() -> Response:
    return _respond("/opml.xml", "The OPML list is not ready yet.")


@bp.get("/style.css")
@bp.get("/feed.css")
def stylesheet() -> Response:
    return _respond(request.path, "No such stylesheet.")


@bp.get("/favicon.ico")
def favicon() -> Response:
    # Browsers ask for it on every feed they show; "no icon" beats a logged 404.
    resp = Response(status=204)
    resp.cache_control.public = True
    resp.cache_control.max_age = 86400
    return resp


@bp.get("/healthz")
def healthz() -> Response:
    resp = Response("ok\n", content_type="text/plain; charset=utf-8")
    resp.cache_control.no_store = True
    return resp


def _unknown_category(slug: str) -> str:
    cats = get_service().store.current.categories
    known = ", ".join(c.slug for c in cats[:10]) + (", ..." if len(cats) > 10 else "")
    return f"No category {slug!r}. " + (f"Known categories: {known}. " if cats else "") + \
        "Every feed is listed at /opml.xml."


def _unknown_format(fmt: str) -> str:
    formats = get_service().config.formats
    return f"No feed format {fmt!r}; this site serves: {', '.join('feed.' + f for f in formats)}."


@bp.app_errorhandler(HTTPException)
def http_error(e: HTTPException) -> Response:
    body = f"{e.code} {e.name}: {e.description}\n" if e.description else f"{e.code} {e.name}\n"
    if e.code == 404 and e.description and e.description.startswith("The requested URL was not found"):
        body = "404 Not Found: no such page. Start at / or see /opml.xml for every feed.\n"
    resp = Response(body, status=e.code, content_type="text/plain; charset=utf-8")
    for k, v in e.get_headers():
        if k.lower() in ("allow", "retry-after"):
            resp.headers[k] = v
    if isinstance(e, Unauthorized):
        for challenge in e.www_authenticate or ():
            resp.headers.add("WWW-Authenticate", _challenge(challenge))
    return resp


def _challenge(auth: WWWAuthenticate) -> str:
    """A challenge with every parameter quoted: RFC 9110 11.5 has the realm sent
    only as a quoted-string, and RFC 6750 3 writes Bearer's so. Werkzeug quotes
    only values that are not tokens."""
    if auth.token is not None:
        return f"{auth.type.title()} {auth.token}"
    params = ", ".join(f"{k}={quote_header_value(v or '', allow_token=False)}" for k, v in auth.parameters.items())
    return f"{auth.type.title()} {params}".rstrip()


@bp.app_errorhandler(Exception)
def internal_error(e: Exception) -> Response:
    log.exception("unhandled error on %s %r", request.method, request.path)   # repr: a path may hold a newline
    return Response("500 Internal Server Error: the error was logged.\n", status=500,
                    content_type="text/plain; charset=utf-8")
