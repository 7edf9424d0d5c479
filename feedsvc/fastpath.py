"""A lean WSGI path for the requests that are most of the traffic: polls of a feed.

Feed readers poll the same few URLs all day. For a plain GET or HEAD of a
rendered feed or the OPML list, this answers straight from the snapshot with
headers computed once per resource, skipping Flask's routing, request and
response objects (about a third of the time per request). Anything less
common (a browser asking for the styled view, If-Modified-Since without an
ETag, ranges, other methods, pages, archive pages) goes to the Flask app, and
the answers of both paths are the same byte for byte (tests compare them).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from werkzeug.http import parse_accept_header, parse_etags, remove_entity_headers

from . import metrics
from .headers import feed_headers, link_headers
from .resources import Resource
from .service import Service

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

FAST_KINDS = {"feed", "opml"}
# Conditions only the full path implements; their presence sends a request there.
_DELEGATE = ("HTTP_RANGE", "HTTP_IF_MATCH", "HTTP_IF_UNMODIFIED_SINCE", "HTTP_IF_RANGE")


class FastFeeds:
    def __init__(self, app: WSGIApp, service: Service) -> None:
        self.app = app
        self.service = service
        self._headers: dict[tuple[int, bool], tuple[str, list[tuple[str, str]]]] = {}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if method not in ("GET", "HEAD") or environ.get("QUERY_STRING") or any(k in environ for k in _DELEGATE):
            return self.app(environ, start_response)
        path = environ.get("PATH_INFO", "")
        store = self.service.store
        store.poll()
        snap = store.current
        res = snap.get(path)
        if res is None or res.kind not in FAST_KINDS or "text/html" in environ.get("HTTP_ACCEPT", ""):
            return self.app(environ, start_response)
        inm = environ.get("HTTP_IF_NONE_MATCH")
        if inm is None and "HTTP_IF_MODIFIED_SINCE" in environ:
            return self.app(environ, start_response)
        gz = _accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING", ""))
        etag, headers = self._prepared(res, gz, path, snap.config)
        route = _route(path)
        if inm is not None and parse_etags(inm).contains_weak(etag):
            out = list(headers)
            remove_entity_headers(out)
            start_response("304 NOT MODIFIED", out)
            metrics.REQUESTS.labels(route, "304").inc()
            return []
        body = res.gzip_body if gz else res.body
        start_response("200 OK", [*headers, ("Content-Length", str(len(body)))])
        metrics.REQUESTS.labels(route, "200").inc()
        if method == "HEAD":
            return []
        metrics.BYTES.labels(route).inc(len(body))
        return [body]

    def _prepared(self, res: Resource, gz: bool, path: str, config: Any) -> tuple[str, list[tuple[str, str]]]:
        key = (id(res), gz)
        hit = self._headers.get(key)
        if hit is not None and hit[0] in (res.etag, res.gzip_etag):
            return hit[0], hit[1]
        etag, headers = feed_headers(res, gz, False, config.refresh_interval)
        headers = [*headers, *link_headers(res, path, config)]
        if len(self._headers) > 10000:  # resources of old snapshots
            self._headers.clear()
        self._headers[key] = (etag, headers)
        return etag, headers


def _accepts_gzip(value: str) -> bool:
    if "gzip" not in value:
        return False
    accept = parse_accept_header(value)
    return accept["gzip"] > 0 or accept["x-gzip"] > 0


def _route(path: str) -> str:
    if path == "/opml.xml":
        return "/opml.xml"
    return "/categories/<slug>/feed.<fmt>" if path.startswith("/categories/") else "/feed.<fmt>"

