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

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from werkzeug.http import remove_entity_headers

from . import metrics
from .errors import StaleEntry
from .headers import etag_matches, feed_headers, link_headers, wants_gzip
from .resources import Resource
from .service import Service

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

FAST_KINDS = {"feed", "opml"}
# Conditions only the full path implements; their presence sends a request there.
_DELEGATE = ("HTTP_RANGE", "HTTP_IF_MATCH", "HTTP_IF_UNMODIFIED_SINCE", "HTTP_IF_RANGE")


@dataclass(frozen=True)
class _Answer:
    """What every answer for one resource (in one encoding) shares, worked out once."""

    etag: str
    quoted: str                               # as the ETag header has it: what pollers send back
    headers: list[tuple[str, str]]            # of a 200, but its Content-Length
    not_modified: list[tuple[str, str]]       # of a 304: the same without the entity headers


class FastFeeds:
    def __init__(self, app: WSGIApp, service: Service) -> None:
        self.app = app
        self.service = service
        self._answers: dict[tuple[int, bool], _Answer] = {}
        # Counter children by metric and label values: a handful (routes x
        # statuses), and looking one up by its labels costs a lock per request.
        self._children: dict[tuple[Any, tuple[str, ...]], Any] = {}
        # The last Host found valid: clients send the same one all day.
        self._good_host: str | None = None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        host = environ.get("HTTP_HOST")
        if not host or host != self._good_host:   # no Host is judged by each request's protocol
            if not _host_ok(host, environ.get("SERVER_PROTOCOL", "")):
                start_response("400 BAD REQUEST", [("Content-Type", "text/plain; charset=utf-8"),
                                                   ("Content-Length", str(len(_BAD_HOST)))])
                return [_BAD_HOST]
            if host:
                self._good_host = host
        method = environ.get("REQUEST_METHOD")
        if method not in ("GET", "HEAD") or environ.get("QUERY_STRING") or any(k in environ for k in _DELEGATE):
            return self.app(environ, start_response)
        path = environ.get("PATH_INFO", "")
        store = self.service.store
        store.poll()
        snap = store.current
        try:
            res = snap.get(path)
        except StaleEntry:   # an article or archive page: the app answers it
            return self.app(environ, start_response)
        # Media types are case-insensitive: "TEXT/HTML" is a browser too.
        if res is None or res.kind not in FAST_KINDS or "text/html" in environ.get("HTTP_ACCEPT", "").lower():
            return self.app(environ, start_response)
        inm = environ.get("HTTP_IF_NONE_MATCH")
        if inm is None and "HTTP_IF_MODIFIED_SINCE" in environ:
            return self.app(environ, start_response)
        gz = wants_gzip(environ.get("HTTP_ACCEPT_ENCODING", ""))
        answer = self._prepared(res, gz, path, snap.config)
        route = _route(path)
        # The tag sent back as it was given is most conditional polls: a string
        # comparison, before parsing the header for lists, weak tags and "*".
        if inm is not None and (inm == answer.quoted or etag_matches(inm, answer.etag, weak=True)):
            start_response("304 NOT MODIFIED", list(answer.not_modified))
            self._child(metrics.REQUESTS, route, "304").inc()
            return []
        try:
            body = res.gzip_body if gz else res.body
        except FileNotFoundError:   # the cache folder lost it: the app answers 503 and asks for a refresh
            return self.app(environ, start_response)
        start_response("200 OK", [*answer.headers, ("Content-Length", str(len(body)))])
        self._child(metrics.REQUESTS, route, "200").inc()
        if method == "HEAD":
            return []
        self._child(metrics.BYTES, route).inc(len(body))
        return [body]

    def _child(self, metric: Any, *labels: str) -> Any:
        child = self._children.get((metric, labels))
        if child is None:
            child = self._children[(metric, labels)] = metric.labels(*labels)
        return child

    def _prepared(self, res: Resource, gz: bool, path: str, config: Any) -> _Answer:
        key = (id(res), gz)
        hit = self._answers.get(key)
        if hit is not None and hit.etag in (res.etag, res.gzip_etag):
            return hit
        etag, headers = feed_headers(res, gz, False, config.refresh_interval)
        headers = [*headers, *link_headers(res, path, config)]
        not_modified = list(headers)
        remove_entity_headers(not_modified)
        answer = _Answer(etag, f'"{etag}"', headers, not_modified)
        if len(self._answers) > 10000:  # resources of old snapshots
            self._answers.clear()
        self._answers[key] = answer
        return answer


# RFC 9112 3.2: a server MUST answer 400 to an HTTP/1.1 request without Host or with
# an invalid one. gunicorn does; granian, the default server, does not, so it is
# checked here, in front of every request. A host as RFC 3986 writes it, with a port.
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+;=%-]*)(?::[0-9]*)?")
_BAD_HOST = b"Bad Request: an HTTP/1.1 request needs one valid Host header (RFC 9112 3.2).\n"


def _host_ok(host: str | None, protocol: str) -> bool:
    # granian passes a missing Host as "": an empty one is no authority either
    # (a client sends one only for a URI without any, never for an http URL).
    if not host:
        return protocol != "HTTP/1.1"   # HTTP/1.0 may leave it out; HTTP/2 and 3 carry :authority
    return _HOST.fullmatch(host) is not None


def _route(path: str) -> str:
    if path == "/opml.xml":
        return "/opml.xml"
    return "/categories/<slug>/feed.<fmt>" if path.startswith("/categories/") else "/feed.<fmt>"

