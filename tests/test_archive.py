"""RFC 5005 paging and archiving, walked the way a reader walks it."""
from __future__ import annotations

import datetime as dt
import json

import feedparser
import pytest
from lxml import etree

from feedsvc.app import get_app_service
from feedsvc.persist import SnapshotStore

from .conftest import BASE_URL

FH = "http://purl.org/syndication/history/1.0"
ATOM = "http://www.w3.org/2005/Atom"
N = 20


def add(write_entry, i: int, cats=("Science",), body="Body.\n"):
    day = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(hours=7 * i)
    write_entry(f"e{i:04d}.md", {"title": f"Entry {i}", "date": day.isoformat(), "categories": list(cats)}, body)


@pytest.fixture
def big(write_entry, make_app):
    for i in range(500):
        add(write_entry, i, cats=("Science",) if i % 5 else ("Science", "Rare"))
    return make_app(feeds={"max_entries": N})


def walk(client, url):
    """Follow prev-archive from ``url``; returns [(path, parsed)] newest document first."""
    out = []
    while url:
        path = url.removeprefix(BASE_URL)
        r = client.get(path)
        assert r.status_code == 200, path
        d = feedparser.parse(r.data)
        assert d.bozo == 0, path
        out.append((path, d, r))
        url = next((l.href for l in d.feed.get("links", []) if l.rel == "prev-archive"), None)
    return out


def test_walking_back_from_the_current_feed_reaches_every_entry_once(big):
    client = big.test_client()
    docs = walk(client, f"{BASE_URL}/feed.atom")
    current, archives = docs[0], docs[1:]
    assert len(archives) == 500 // N
    ids_by_page = [[e.id for e in d.entries] for _, d, _ in archives]
    archived = [i for page in ids_by_page for i in page]
    assert len(archived) == len(set(archived)) == 500       # no entry in two archive pages
    everything = set(archived) | {e.id for e in current[1].entries}
    assert len(everything) == 500                             # current + archives hold every entry
    # pages in order: each archive page is older than the one after it
    dates = [[e.published_parsed for e in d.entries] for _, d, _ in archives]
    for newer, older in zip(dates, dates[1:]):
        assert min(newer) > max(older)
    # the oldest page holds the first entry
    assert archives[-1][1].entries[-1].title == "Entry 0"
    assert archives[-1][0] == "/archive/1/feed.atom"


def test_archive_documents_carry_the_rfc_5005_links_and_marker(big):
    client = big.test_client()
    root = etree.fromstring(client.get("/archive/2/feed.atom").data)
    links = {l.get("rel"): l.get("href") for l in root.findall(f"{{{ATOM}}}link")}
    assert links["current"] == f"{BASE_URL}/feed.atom"
    assert links["prev-archive"] == f"{BASE_URL}/archive/1/feed.atom"
    assert links["next-archive"] == f"{BASE_URL}/archive/3/feed.atom"
    assert links["self"] == f"{BASE_URL}/archive/2/feed.atom"
    assert root.find(f"{{{FH}}}archive") is not None
    newest = etree.fromstring(client.get("/archive/25/feed.atom").data)
    assert "next-archive" not in {l.get("rel") for l in newest.findall(f"{{{ATOM}}}link")}
    assert client.get("/archive/26/feed.atom").status_code == 404
    assert client.get("/archive/0/feed.atom").status_code == 404


def test_rss_carries_the_same_links_as_atom_link_and_json_pages_with_next_url(big):
    client = big.test_client()
    ch = etree.fromstring(client.get("/archive/2/feed.rss").data).find("channel")
    links = {l.get("rel"): l.get("href") for l in ch.findall(f"{{{ATOM}}}link")}
    assert links["prev-archive"] == f"{BASE_URL}/archive/1/feed.rss" and ch.find(f"{{{FH}}}archive") is not None
    seen, url = [], f"{BASE_URL}/feed.json"
    while url:
        doc = json.loads(client.get(url.removeprefix(BASE_URL)).data)
        seen += [i["id"] for i in doc["items"]]
        url = doc.get("next_url")
    assert len(set(seen)) == 500


def test_full_archive_pages_are_cached_a_day_and_revalidated_not_marked_immutable(big):
    r = big.test_client().get("/categories/science/archive/3/feed.atom")
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "public, max-age=86400"
    assert r.headers["ETag"]


def test_an_archive_page_has_one_url(big):
    client = big.test_client()
    assert client.get("/archive/1/feed.atom").status_code == 200
    assert client.get("/archive/%31/feed.atom").status_code == 200          # the same URL, percent-encoded
    for path in ("/archive/01/feed.atom", "/archive/\uff11/feed.atom", "/categories/science/archive/03/feed.rss"):
        r = client.get(path)
        assert r.status_code == 404 and "numbered from 1" in r.get_data(as_text=True), path


def test_adding_an_entry_changes_no_full_archive_page(big, write_entry):
    client = big.test_client()
    paths = [f"/archive/{i}/feed.{f}" for i in range(1, 26) for f in ("rss", "atom", "json")]
    before = {p: client.get(p).data for p in paths}
    add(write_entry, 999)
    get_app_service(big).refresh()
    assert {p: client.get(p).data for p in paths} == before
    assert client.get("/archive/26/feed.atom").status_code == 404   # 501 entries: page 26 not full yet


def test_editing_an_old_entry_changes_only_its_own_archive_page(big, write_entry):
    client = big.test_client()
    paths = [f"/archive/{i}/feed.atom" for i in range(1, 26)]
    before = {p: client.get(p).headers["ETag"] for p in paths}
    add(write_entry, 5, body="Corrected body.\n")   # entry 5 is on page 1 (entries 0-19)
    get_app_service(big).refresh()
    after = {p: client.get(p).headers["ETag"] for p in paths}
    assert [p for p in paths if before[p] != after[p]] == ["/archive/1/feed.atom"]


def test_a_category_feed_that_holds_everything_says_so(big):
    client = big.test_client()
    root = etree.fromstring(client.get("/categories/rare/feed.atom").data)
    assert root.find(f"{{{FH}}}complete") is None     # 100 entries > 20: archived, not complete
    ch = etree.fromstring(client.get("/categories/rare/feed.rss").data).find("channel")
    assert ch.find(f"{{{ATOM}}}link[@rel='prev-archive']") is not None


def test_small_feed_is_complete_and_has_no_archive(write_entry, make_app):
    add(write_entry, 1)
    add(write_entry, 2)
    client = make_app(feeds={"max_entries": N}).test_client()
    root = etree.fromstring(client.get("/categories/science/feed.atom").data)
    assert root.find(f"{{{FH}}}complete") is not None
    assert "prev-archive" not in {l.get("rel") for l in root.findall(f"{{{ATOM}}}link")}
    assert client.get("/categories/science/archive/1/feed.atom").status_code == 404


def test_another_worker_renders_the_same_archive_bytes_from_disk(big):
    service = get_app_service(big)
    snap = service.store.current
    disk = SnapshotStore(service.config.cache_path).load(service.config)
    assert disk is not None and disk.generation == snap.generation
    for path in ("/archive/3/feed.atom", "/categories/science/archive/2/feed.rss",
                 "/categories/rare/archive/1/feed.json"):
        assert disk.get(path).body == snap.get(path).body, path
    assert sorted(disk.archive_paths()) == sorted(snap.archive_paths())


def test_export_includes_every_archive_page(big, tmp_path):
    from feedsvc.export import export
    out = tmp_path / "site"
    export(get_app_service(big).store.current, out)
    assert (out / "archive" / "25" / "feed.atom").is_file()
    assert (out / "categories" / "rare" / "archive" / "5" / "feed.json").is_file()
    assert not (out / "archive" / "26").exists()


def test_archive_documents_validate_against_the_atom_and_json_feed_schemas(big):
    from conformance.check import atom_schema, jsonfeed_validator
    client = big.test_client()
    schema = atom_schema()
    for path in ("/feed.atom", "/archive/1/feed.atom", "/categories/rare/archive/2/feed.atom"):
        doc = etree.fromstring(client.get(path).data)
        assert schema.validate(doc), (path, schema.error_log)
    validator = jsonfeed_validator()
    for path in ("/feed.json", "/archive/7/feed.json"):
        errors = list(validator.iter_errors(json.loads(client.get(path).data)))
        assert errors == [], (path, errors)
    for path in ("/feed.rss", "/archive/7/feed.rss", "/feed.atom", "/archive/7/feed.atom"):
        assert feedparser.parse(client.get(path).data).bozo == 0, path


def test_an_update_dated_ahead_shows_the_same_on_pages_every_worker_renders(write_entry, make_app):
    for i in range(6):
        add(write_entry, i)
    write_entry("e0000.md", {"title": "Entry 0", "date": "2024-01-01T00:00:00+00:00", "categories": ["Science"],
                             "updated": "2099-01-01T00:00:00Z"}, "Body.\n")
    app = make_app(feeds={"max_entries": 2})
    service = get_app_service(app)
    snap = service.store.current
    disk = SnapshotStore(service.config.cache_path).load(service.config)
    assert disk is not None and disk.generation == snap.generation
    for path in ("/articles/e0000/", "/archive/1/feed.atom", "/categories/science/archive/1/feed.rss"):
        built, read = snap.get(path), disk.get(path)
        assert read.etag == built.etag and read.last_modified == built.last_modified, path
        assert b"2099" not in read.body, path
