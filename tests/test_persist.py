"""The snapshot on disk: the entry tables a first build writes while it renders."""
from __future__ import annotations

import shutil
import time

import orjson
import pytest

from feedsvc import refresher as refresher_module
from feedsvc.catalog import build_catalog
from feedsvc.refresher import new_refresher

from .conftest import NOW


def published_tables(r):
    disk = r.disk
    manifest = orjson.loads((disk.root / "snapshots" / f"{disk.current_generation()}.json").read_bytes())
    return orjson.loads((disk.root / "snapshots" / manifest["tables"]).read_bytes())


def fill(write_entry, n):
    for i in range(n):
        write_entry(f"e{i}.md", {"title": f"Entry {i}", "date": f"2025-07-{1 + i:02d}T09:30:00Z"}, "Body.\n")


def test_a_first_build_starts_its_entry_tables_before_it_renders(write_entry, config, monkeypatch):
    fill(write_entry, 3)
    calls = []
    r = new_refresher(config, clock=lambda: NOW)
    prepare, build_site = r.disk.prepare, refresher_module.build_site
    monkeypatch.setattr(r.disk, "prepare", lambda *a: calls.append("prepare") or prepare(*a))
    monkeypatch.setattr(refresher_module, "build_site", lambda *a, **k: calls.append("build") or build_site(*a, **k))
    assert r.refresh().ok
    assert calls == ["prepare", "build"]
    assert set(published_tables(r)["articles"]) == {"e0", "e1", "e2"}
    write_entry("e3.md", {"title": "Entry 3", "date": "2025-07-09T09:30:00Z"}, "Body.\n")
    assert r.refresh().ok
    assert calls == ["prepare", "build", "build"]              # only a first build prepares
    assert set(published_tables(r)["articles"]) == {"e0", "e1", "e2", "e3"}


def test_tables_prepared_for_a_build_that_was_not_published_are_never_used(write_entry, config):
    fill(write_entry, 3)
    r = new_refresher(config, clock=lambda: NOW)
    assert r.refresh().ok
    loaded = refresher_module.load_entries(config.entries_path, config.site)
    r.disk.prepare(build_catalog(loaded.entries[:1], config, NOW), time.time())   # as if that build then failed
    write_entry("e3.md", {"title": "Entry 3", "date": "2025-07-09T09:30:00Z"}, "Body.\n")
    assert r.refresh().ok
    assert set(published_tables(r)["articles"]) == {"e0", "e1", "e2", "e3"}


def test_a_refresh_whose_report_cannot_be_recorded_still_publishes_and_announces(write_entry, config, monkeypatch):
    from feedsvc.persist import SnapshotStore

    write_entry("a.md", {"title": "A", "date": "2025-07-01T09:00:00Z"})
    r = new_refresher(config, clock=lambda: NOW)
    heard = []
    r.listeners.append(heard.append)

    def full_disk(self, report):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(SnapshotStore, "write_report", full_disk)
    report = r.refresh()
    assert report.ok and heard == [report]            # announced (WebSub pings go out from listeners)
    assert r.store.current.get("/articles/a/") is not None
    assert SnapshotStore(config.cache_path).load(config).generation == r.store.current.generation


# -- a cache folder removed under a running service ------------------------------

def test_a_lock_whose_folder_was_removed_is_taken_after_making_the_folder_again(tmp_path):
    from feedsvc.persist import FileLock

    lock = FileLock(tmp_path / "cache" / "refresh.lock")
    assert lock.acquire(blocking=False)
    lock.release()
    shutil.rmtree(tmp_path / "cache")
    assert lock.acquire(blocking=False)
    lock.release()


def test_a_lock_that_cannot_be_opened_is_not_left_held_in_this_process(tmp_path):
    from feedsvc.persist import FileLock

    (tmp_path / "cache").write_text("a file where the folder should be")
    lock = FileLock(tmp_path / "cache" / "refresh.lock")
    with pytest.raises(OSError):
        lock.acquire(blocking=False)
    (tmp_path / "cache").unlink()
    assert lock.acquire(blocking=False)      # not blocked by a thread lock the failure kept
    lock.release()


def test_a_refresh_that_cannot_write_the_cache_folder_is_a_failed_report_and_the_feeds_stay(write_entry, config):
    fill(write_entry, 2)
    r = new_refresher(config, clock=lambda: NOW)
    assert r.refresh().ok
    served = r.store.current
    shutil.rmtree(config.cache_path)
    config.cache_path.write_text("a file where the folder should be")
    report = r.refresh()
    assert not report.ok and "cache" in report.error
    assert r.store.current is served and not r.running
    config.cache_path.unlink()
    assert r.refresh().ok


def test_after_the_cache_folder_is_removed_a_refresh_writes_everything_again(write_entry, config):
    fill(write_entry, 3)
    r = new_refresher(config, clock=lambda: NOW)
    first = r.refresh()
    tags = {f.path: f.etag for f in first.feeds}
    r.wait_saved()
    shutil.rmtree(config.cache_path)
    again = r.refresh()                       # nothing changed in the entries folder
    assert again.ok and again.rendered >= len(tags)
    assert {f.path: f.etag for f in again.feeds} == tags
    assert not again.changed_feeds      # the same bytes: nothing to announce to hubs or in the report
    assert all(r.disk.blobs.path(res.etag).is_file() for res in r.store.current.resources.values())
    r.wait_saved()
    # The entry store was written again too: a restart parses no file.
    restarted = new_refresher(config, clock=lambda: NOW)
    assert restarted.refresh().reparsed == 0


def test_an_entries_folder_gone_fails_the_refresh_and_the_last_feeds_stay_served(write_entry, config):
    fill(write_entry, 2)
    r = new_refresher(config, clock=lambda: NOW)
    first = r.refresh()
    served = r.store.current
    config.entries_path.rename(config.entries_path.with_name("away"))
    report = r.refresh()
    assert not report.ok and "entries.path" in report.error and "does not exist" in report.error
    assert r.store.current is served and {f.path: f.etag for f in first.feeds} == \
        {p: res.etag for p, res in served.resources.items() if res.kind == "feed"}
    config.entries_path.with_name("away").rename(config.entries_path)
    back = r.refresh()
    assert back.ok and back.entries == 2 and back.reparsed == 0     # what was parsed is kept meanwhile


def published(write_entry, config):
    """(a refresher that published three entries, their snapshot as another process reads it)."""
    fill(write_entry, 3)
    r = new_refresher(config, clock=lambda: NOW)
    assert r.refresh().ok
    r.wait_saved()
    return r, r.disk.load(config)


def test_pages_of_a_snapshot_whose_entry_tables_are_gone_are_unknown_not_missing(write_entry, config):
    r, snap = published(write_entry, config)
    tables = r.disk.root / "snapshots" / snap.manifest["tables"]
    saved = tables.read_bytes()
    tables.unlink()                                   # the cache folder removed under a worker
    assert snap.get("/articles/e0/") is None
    # Whether it has that article or archive page is unknown: 503, not a 404 a cache would keep.
    assert snap.listed("/articles/e0/") and snap.listed("/archive/1/feed.rss")
    assert not snap.listed("/categories/none/feed.rss")
    tables.write_bytes(saved)                         # back (a refresh wrote them again)
    assert snap.get("/articles/e0/") is not None and not snap.tables_lost
    assert not snap.listed("/articles/none/")


def test_a_lock_waited_for_on_a_removed_file_is_taken_on_the_new_one(tmp_path):
    import threading

    from feedsvc.persist import FileLock
    path = tmp_path / "cache" / "leader.lock"
    holder, waiter = FileLock(path), FileLock(path)
    assert holder.acquire()
    got = threading.Event()
    t = threading.Thread(target=lambda: waiter.acquire() and got.set(), daemon=True)
    t.start()
    time.sleep(0.2)
    shutil.rmtree(tmp_path / "cache")          # the cache folder, and the file waited on
    holder.release()
    assert got.wait(5)
    assert waiter.holds_path(), "the lock is on the file now at the path, which others will lock"
    assert not FileLock(path).acquire(blocking=False)
    waiter.release()


def test_a_restart_with_a_changed_config_reports_only_the_feeds_whose_bytes_changed(write_entry, make_config):
    write_entry("a.md", {"title": "A", "date": "2025-07-01T09:00:00Z", "categories": ["Energy"]})
    write_entry("b.md", {"title": "B", "date": "2025-07-02T09:00:00Z", "categories": ["Science"]})
    first = new_refresher(make_config(), clock=lambda: NOW)
    assert first.refresh().ok
    first.wait_saved()
    # Another process, another config: only the Energy feeds show its description.
    again = new_refresher(make_config(categories={"Energy": {"description": "Grids and fuels."}}), clock=lambda: NOW)
    report = again.refresh()
    assert report.ok
    assert sorted(f.path for f in report.changed_feeds) == [f"/categories/energy/feed.{x}" for x in ("atom", "json",
                                                                                                     "rss")]


def test_bodies_deleted_from_a_kept_cache_folder_are_written_again_after_a_request_finds_one_gone(
        write_entry, make_config, tmp_path):
    import dataclasses
    import time

    from feedsvc.app import create_app, get_app_service
    write_entry("a.md", {"title": "A", "date": "2025-07-01T09:00:00Z", "categories": ["Energy"]})
    cache = tmp_path / "cache"
    config = dataclasses.replace(make_config(cache={"path": str(cache)}), scheduler_enabled=True)
    leader = create_app(config, clock=lambda: NOW, start_scheduler=True)   # holds what it rendered
    worker = create_app(config, clock=lambda: NOW)     # started since: reads bodies from the folder
    try:
        deadline = time.monotonic() + 10
        while not get_app_service(leader).scheduler.running and time.monotonic() < deadline:
            time.sleep(0.02)
        client = worker.test_client()
        etag = leader.test_client().get("/feed.rss").headers["ETag"]
        get_app_service(leader).refresher.wait_saved()
        for f in (cache / "blobs").rglob("*"):       # a cleaner of old files: the folders stay
            if f.is_file():
                f.unlink()
        r = client.get("/feed.rss")
        assert r.status_code == 503 and r.headers["Retry-After"]
        deadline = time.monotonic() + 15
        while r.status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
            r = client.get("/feed.rss")
        assert r.status_code == 200 and r.headers["ETag"] == etag
        assert client.get("/categories/energy/feed.atom").status_code == 200
    finally:
        get_app_service(worker).shutdown()
        get_app_service(leader).shutdown()


def test_a_restart_with_another_base_url_serves_nothing_rendered_under_the_old_one(write_entry, make_config):
    write_entry("a.md", {"title": "A", "date": "2025-07-01T09:00:00Z", "categories": ["Energy"]})
    first = new_refresher(make_config(), clock=lambda: NOW)
    assert first.refresh().ok
    first.wait_saved()
    moved = make_config(site={"base_url": "https://moved.example.net"})
    again = new_refresher(moved, clock=lambda: NOW)
    assert not again.store.current.published, "the old feeds name the old site in every link and id"
    assert not again.store.poll(force=True) and not again.store.current.published
    asked = time.time()
    assert first.refresh().ok      # the process on the old settings refreshes after this one asked
    assert again._adopt(asked) is None, "its refresh is no first render for this one"
    report = again.refresh()
    assert report.ok and {f.path for f in report.changed_feeds} == {f.path for f in report.feeds}
    body = again.store.current.get("/feed.atom").body
    assert b"https://moved.example.net/articles/a/" in body and b"news.example.org" not in body
    # A process still on the old settings does not take the new feeds up either.
    assert not first.store.poll(force=True)


@pytest.mark.parametrize("restart", [False, True], ids=["same process", "after a restart"])
def test_an_update_that_falls_due_is_reported_as_a_changed_entry(write_entry, config, restart):
    import datetime as dt

    write_entry("a.md", {"title": "A", "date": "2025-07-01T09:00:00Z", "updated": "2030-01-01T00:00:00Z"})
    write_entry("b.md", {"title": "B", "date": "2025-07-02T09:00:00Z"})
    clock = {"now": NOW}
    r = new_refresher(config, clock=lambda: clock["now"])
    first = r.refresh()
    assert first.ok and not first.changed
    r.wait_saved()
    clock["now"] = dt.datetime(2030, 1, 2, tzinfo=dt.timezone.utc)
    if restart:
        r = new_refresher(config, clock=lambda: clock["now"])
    due = r.refresh()                                    # no file changed; the update's time came
    assert due.ok and len(due.changed) == 1 and not due.added and not due.removed
    assert due.changed[0].endswith("/articles/a/") and len(due.changed_feeds) == 3


def test_entry_tables_gone_alone_make_the_next_refresh_write_the_snapshot_again(write_entry, config):
    r, snap = published(write_entry, config)
    (r.disk.root / "snapshots" / snap.manifest["tables"]).unlink()   # an old file, to a cleaner
    assert r.disk.lost(snap.generation)
    again = r.refresh()
    assert again.ok
    assert r.disk.load(config).get("/articles/e0/") is not None


def test_a_follower_never_renders_or_keeps_a_page_from_a_file_changed_since_its_snapshot(write_entry, config):
    from feedsvc.errors import StaleEntry

    r, snap = published(write_entry, config)
    path = config.entries_path / "e0.md"
    saved = path.read_bytes()
    path.write_bytes(saved.replace(b"Body.", b"Unpublished words."))
    with pytest.raises(StaleEntry):
        snap.get("/articles/e0/")
    path.unlink()
    with pytest.raises(StaleEntry):
        snap.get("/articles/e0/")
    path.write_bytes(saved)                      # as published again: its page, never the other's
    page = snap.get("/articles/e0/")
    assert page is not None and b"Unpublished" not in page.body
