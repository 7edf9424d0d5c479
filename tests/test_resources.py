"""Rendered bodies: held in the cache folder, read through a cache of bounded size."""
from __future__ import annotations

import dataclasses
import gzip

import feedparser

from feedsvc.app import get_app_service
from feedsvc.resources import LRU, Blobs, make_resource


def test_lru_drops_the_least_recently_used_value_past_its_budget():
    lru: LRU[str, bytes] = LRU(10, len)
    lru.put("a", b"1234")
    lru.put("b", b"1234")
    assert lru.get("a") == b"1234"      # "a" is now the most recent
    lru.put("c", b"1234")               # 12 > 10: "b" goes
    assert lru.get("b") is None
    assert lru.get("a") == b"1234" and lru.get("c") == b"1234"
    assert lru.weight == 8


def test_lru_returns_but_never_keeps_a_value_larger_than_its_budget():
    lru: LRU[str, bytes] = LRU(3, len)
    assert lru.put("big", b"12345") == b"12345"
    assert lru.get("big") is None and lru.weight == 0


def test_lru_keeps_the_first_value_put_under_a_key():
    lru: LRU[str, str] = LRU(10)
    assert lru.put("k", "first") == "first"
    assert lru.put("k", "second") == "first"


def test_blob_bodies_are_read_back_whole_however_small_the_memory_budget(tmp_path):
    blobs = Blobs(tmp_path, memory_bytes=16)
    body = "<feed>caf\u00e9 \u201cquoted\u201d</feed>".encode() * 100
    r = make_resource(body, "application/atom+xml", "feed", None, blobs=blobs)
    assert r.data is None and r.gzip_data is None          # nothing held by the resource itself
    assert r.body == body and gzip.decompress(r.gzip_body) == body
    assert r.size == len(body)
    assert len(blobs.cache) == 0                            # larger than the budget: read each time


def test_the_gzip_form_is_made_on_first_request_and_then_shared_through_the_cache_folder(tmp_path):
    body = "<rss>“quoted”</rss>".encode() * 200
    r = make_resource(body, "application/rss+xml", "feed", None, blobs=Blobs(tmp_path, 1 << 20))
    assert not r.blobs.has(r.gzip_etag)                     # the build compressed nothing
    first = r.gzip_body
    assert gzip.decompress(first) == body and r.blobs.has(r.gzip_etag)
    other = dataclasses.replace(r, blobs=Blobs(tmp_path, 1 << 20))   # another worker process
    assert other.gzip_body == first


def test_with_a_cache_folder_the_service_holds_no_rendered_feed_in_memory(write_entry, make_app):
    for i in range(3):
        write_entry(f"e{i}.md", {"title": f"Entry {i}", "date": f"2025-07-0{i + 1}T09:30:00Z",
                                 "categories": ["Science"]})
    app = make_app()
    client = app.test_client()
    snap = get_app_service(app).store.current
    feeds = [p for p, r in snap.resources.items() if r.kind == "feed"]
    assert feeds and all(snap.resources[p].data is None for p in feeds)
    r = client.get("/categories/science/feed.atom")
    parsed = feedparser.parse(r.data)
    assert [e.title for e in parsed.entries] == ["Entry 2", "Entry 1", "Entry 0"]
    assert int(r.headers["Content-Length"]) == len(r.data)
    gz = client.get("/categories/science/feed.atom", headers={"Accept-Encoding": "gzip"})
    assert gz.headers["Content-Encoding"] == "gzip"
    assert int(gz.headers["Content-Length"]) == len(gz.data) and gzip.decompress(gz.data) == r.data


def test_a_gzip_form_that_cannot_be_stored_is_still_served(tmp_path, monkeypatch, caplog):
    body = b"<feed>" + b"x" * 5000 + b"</feed>"
    r = make_resource(body, "application/atom+xml", "feed", None, blobs=Blobs(tmp_path, 1 << 20))
    real = Blobs.put

    def full_disk(self, tag, data):
        if tag.endswith("-gz"):
            raise OSError(28, "No space left on device")
        real(self, tag, data)

    monkeypatch.setattr(Blobs, "put", full_disk)
    assert gzip.decompress(r.gzip_body) == body
    assert not r.blobs.has(r.gzip_etag) and "No space left" in caplog.text


def test_a_not_modified_answer_compresses_nothing_on_either_serving_path(write_entry, make_app):
    write_entry("e.md", {"title": "Entry", "date": "2025-07-01T09:30:00Z"}, "Body. " * 500)
    app = make_app()
    client = app.test_client()
    res = get_app_service(app).store.current.get("/feed.rss")
    gz = {"Accept-Encoding": "gzip"}
    lean = client.get("/feed.rss", headers={**gz, "If-None-Match": f'"{res.gzip_etag}"'})
    flask = client.get("/feed.rss", headers={**gz, "If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"})
    assert lean.status_code == flask.status_code == 304 and lean.data == flask.data == b""
    assert not res.blobs.has(res.gzip_etag)                  # no reader has needed the gzip form yet
    assert gzip.decompress(client.get("/feed.rss", headers=gz).data) == res.body
    assert res.blobs.has(res.gzip_etag)
