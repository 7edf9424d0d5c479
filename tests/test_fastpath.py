"""The lean path for feed polls answers exactly as the Flask views would."""
from __future__ import annotations

import itertools

import pytest
from werkzeug.test import Client

from feedsvc.fastpath import FastFeeds


@pytest.fixture
def site(write_entry):
    write_entry("a.md", {"title": "Alpha", "date": "2025-07-01T00:00:00Z", "categories": ["Science"]})


def answer(wsgi, path, headers, method):
    r = Client(wsgi).open(path, method=method, headers=headers)
    hs = sorted((k, v) for k, v in r.headers.items() if k != "Date")
    return r.status_code, hs, r.get_data()


@pytest.mark.parametrize("hubs", [[], ["https://hub.example/"]])
def test_fast_and_full_paths_give_the_same_answers(site, make_app, hubs):
    app = make_app(websub={"hubs": hubs})
    fast = app.wsgi_app
    assert isinstance(fast, FastFeeds)
    full = fast.app
    client = Client(fast)
    etags = {p: client.get(p).headers["ETag"] for p in ("/feed.rss", "/opml.xml")}
    gz_etag = client.get("/feed.rss", headers={"Accept-Encoding": "gzip"}).headers["ETag"]
    variants = [
        {}, {"Accept-Encoding": "gzip"}, {"Accept-Encoding": "gzip;q=0"}, {"Accept-Encoding": "br, x-gzip"},
        {"If-None-Match": etags["/feed.rss"]}, {"If-None-Match": f'"x", {gz_etag}', "Accept-Encoding": "gzip"},
        {"If-None-Match": "*"}, {"If-None-Match": '"stale"'}, {"If-None-Match": f"W/{etags['/feed.rss']}"},
        {"Accept": "application/rss+xml"}, {"If-Modified-Since": "Tue, 01 Jul 2025 00:00:00 GMT"},
        {"Accept-Encoding": "GZIP"}, {"Accept-Encoding": "br, X-Gzip;q=0.5"},   # codings are case-insensitive
        # "*" stands for the codings not named: one rule on both paths
        {"Accept-Encoding": "*"}, {"Accept-Encoding": "gzip;q=0, *"}, {"Accept-Encoding": "identity;q=0, *"},
        {"Accept-Encoding": "gzip;q=0.5, identity"}, {"Accept": "TEXT/HTML"},
        {"If-None-Match": etags["/feed.rss"].strip('"')}, {"If-None-Match": f'"a,b", {etags["/feed.rss"]}'},
        {"If-Match": "*"}, {"If-Match": etags["/feed.rss"], "If-None-Match": etags["/feed.rss"]},
        {"If-Unmodified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"},
    ]
    paths = ["/feed.rss", "/feed.atom", "/categories/science/feed.json", "/opml.xml"]
    for path, headers, method in itertools.product(paths, variants, ["GET", "HEAD"]):
        assert answer(fast, path, headers, method) == answer(full, path, headers, method), (path, headers, method)
    assert client.get("/feed.rss", headers={"Accept-Encoding": "GZIP"}).headers["Content-Encoding"] == "gzip"


def test_other_requests_go_to_the_full_app(site, make_app):
    app = make_app()
    client = Client(app.wsgi_app)
    browser = client.get("/feed.rss", headers={"Accept": "text/html,*/*;q=0.8"})
    assert browser.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert client.post("/feed.rss").status_code == 405
    assert client.get("/").status_code == 200
    assert client.get("/categories/nope/feed.rss").status_code == 404


@pytest.mark.parametrize(("host", "protocol", "status"), [
    (None, "HTTP/1.1", 400), ("a b", "HTTP/1.1", 400), ("one.example, two.example", "HTTP/1.1", 400),
    ("évil.example", "HTTP/1.1", 400),
    ("", "HTTP/1.1", 400),                       # how granian passes a missing Host
    (None, "HTTP/1.0", 200), ("", "HTTP/1.0", 200), ("news.example.org", "HTTP/1.1", 200),
    ("127.0.0.1:8000", "HTTP/1.1", 200), ("[::1]:8000", "HTTP/1.1", 200),
])
@pytest.mark.parametrize("path", ["/feed.rss", "/", "/nowhere"])
def test_an_http11_request_without_one_valid_host_is_a_bad_request(site, make_app, host, protocol, status, path):
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder(path=path).get_environ()
    environ["SERVER_PROTOCOL"] = protocol
    if host is None:
        del environ["HTTP_HOST"]
    else:
        environ["HTTP_HOST"] = host
    got: list[str] = []
    body = b"".join(make_app().wsgi_app(environ, lambda s, h, exc=None: got.append(s)))
    code = int(got[0].split()[0])
    assert code == 400 if status == 400 else code != 400, (code, body)
    if status == 400:
        assert b"Host" in body


def test_a_request_without_host_is_judged_by_its_own_protocol_every_time(site, make_app):
    from werkzeug.test import EnvironBuilder

    wsgi = make_app().wsgi_app

    def status(protocol: str, host: str | None = None) -> int:
        environ = EnvironBuilder(path="/feed.rss").get_environ()
        environ["SERVER_PROTOCOL"] = protocol
        del environ["HTTP_HOST"]
        if host is not None:
            environ["HTTP_HOST"] = host
        got: list[str] = []
        b"".join(wsgi(environ, lambda s, h, exc=None: got.append(s)))
        return int(got[0].split()[0])

    assert [status(p) for p in ("HTTP/1.1", "HTTP/1.0", "HTTP/1.1")] == [400, 200, 400]
    assert [status(p, "") for p in ("HTTP/1.1", "HTTP/1.0", "HTTP/1.1")] == [400, 200, 400]
