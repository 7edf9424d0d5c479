"""The snapshot on disk: the entry tables a first build writes while it renders, and what a power cut can cost."""
from __future__ import annotations

import os
import shutil
import time

import feedparser
import orjson
import pytest

from feedsvc import persist, resources
from feedsvc import refresher as refresher_module
from feedsvc.catalog import build_catalog
from feedsvc.refresher import new_refresher
from feedsvc.resources import digest

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
    assert r.disk.wait_synced(10)
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
    assert r.disk.wait_synced(10)
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


# -- durability: a build's bodies are synced once, after it is published ---------------

def _blob_files(config):
    return [p for p in (config.cache_path / "blobs").glob("*/*") if not p.name.startswith(".")]


def _wait_for(pred, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _marked(config):
    return (config.cache_path / persist.UNSYNCED).exists()


def test_a_build_marks_the_folder_writes_its_bodies_unsynced_then_syncs_once_and_clears_the_mark(
        write_entry, config, monkeypatch):
    fill(write_entry, 3)
    writes, syncs = [], []
    real_write, real_sync = resources.atomic_write, persist.sync_folder
    monkeypatch.setattr(resources, "atomic_write", lambda p, data, sync=True: writes.append((p, sync))
                        or real_write(p, data, sync))
    monkeypatch.setattr(persist, "atomic_write", lambda p, data, sync=True: writes.append((p, sync))
                        or real_write(p, data, sync))
    monkeypatch.setattr(persist, "sync_folder", lambda folder: syncs.append(folder) or real_sync(folder))
    r = new_refresher(config, clock=lambda: NOW)
    assert r.refresh().ok
    assert _wait_for(lambda: not _marked(config))
    blobs = [i for i, (p, sync) in enumerate(writes) if "blobs" in p.parts]
    assert len(blobs) == len(_blob_files(config)) >= 3 and not any(writes[i][1] for i in blobs)
    mark = [i for i, (p, sync) in enumerate(writes) if p.name == persist.UNSYNCED]
    assert mark and writes[mark[0]][1] and mark[0] < blobs[0]   # marked, synced, before any body
    ours = [f for f in syncs if f == config.cache_path]        # (earlier tests' folders may still be syncing)
    assert 1 <= len(ours) <= 2                                  # once, and once more for what came meanwhile


def test_without_a_boot_id_every_body_is_synced_as_written(write_entry, config, monkeypatch):
    fill(write_entry, 3)
    monkeypatch.setattr(persist, "boot_id", lambda: None)
    writes = []
    real_write = resources.atomic_write
    monkeypatch.setattr(resources, "atomic_write", lambda p, data, sync=True: writes.append(sync)
                        or real_write(p, data, sync))
    r = new_refresher(config, clock=lambda: NOW)
    assert r.refresh().ok
    assert writes and all(writes) and not _marked(config)


def _crash(config, monkeypatch, publish=True):
    """A build under an earlier boot whose machine went down before its sync (and,
    unless ``publish``, before its snapshot was switched to)."""
    with monkeypatch.context() as m:
        m.setattr(persist, "boot_id", lambda: "an-earlier-boot")
        m.setattr(persist.SnapshotStore, "_sync_later", lambda self: None)
        if not publish:
            real = persist.atomic_write
            m.setattr(persist, "atomic_write", lambda p, data, sync=True: real(p, data, sync)
                      if p.name != "current" else (_ for _ in ()).throw(OSError("power cut")))
        r = new_refresher(config, clock=lambda: NOW)
        assert r.refresh().ok is publish
    assert (config.cache_path / persist.UNSYNCED).read_text() == "an-earlier-boot"
    return r


def _assert_intact(r, config, titles):
    parsed = feedparser.parse(r.store.current.get("/feed.atom").body)
    assert sorted(e.title for e in parsed.entries) == titles
    for p in _blob_files(config):
        if not p.name.endswith("-gz"):
            assert digest(p.read_bytes()) == p.name


def test_after_the_machine_went_down_before_a_sync_every_body_is_dropped_and_rendered_again(
        write_entry, config, monkeypatch, caplog):
    fill(write_entry, 3)
    _crash(config, monkeypatch)
    for p in _blob_files(config):
        p.write_bytes(b"")                    # what a power cut leaves of a file never synced
    caplog.clear()
    r = new_refresher(config, clock=lambda: NOW)
    assert "the machine went down before the last feeds rendered reached the disk" in caplog.text
    assert r.store.current.resources == {} and not _blob_files(config) and not _marked(config)
    assert r.refresh().ok
    _assert_intact(r, config, ["Entry 0", "Entry 1", "Entry 2"])


def test_bodies_of_a_build_cut_short_before_it_was_served_are_not_used_after_the_reboot(
        write_entry, config, monkeypatch):
    fill(write_entry, 3)
    r = new_refresher(config, clock=lambda: NOW)
    assert r.refresh().ok and r.disk.wait_synced(10)          # a published, durable snapshot
    before = {p.name for p in _blob_files(config)}
    write_entry("e3.md", {"title": "Entry 3", "date": "2025-07-09T09:30:00Z"}, "Body.\n")
    _crash(config, monkeypatch, publish=False)               # its bodies written, never served
    cut = [p for p in _blob_files(config) if p.name not in before]
    assert cut
    for p in cut:
        p.write_bytes(b"")
    again = new_refresher(config, clock=lambda: NOW)           # the same build again reuses no empty file
    assert again.refresh().ok
    _assert_intact(again, config, ["Entry 0", "Entry 1", "Entry 2", "Entry 3"])


def test_a_synced_snapshot_of_an_earlier_boot_is_served_at_once(write_entry, config, monkeypatch):
    fill(write_entry, 3)
    with monkeypatch.context() as m:
        m.setattr(persist, "boot_id", lambda: "an-earlier-boot")
        r = new_refresher(config, clock=lambda: NOW)
        assert r.refresh().ok
        assert r.disk.wait_synced(10) and not _marked(config)
    gen = r.disk.current_generation()
    assert new_refresher(config, clock=lambda: NOW).store.current.generation == gen


def test_an_unsynced_snapshot_of_this_boot_is_served_and_the_next_sync_clears_the_mark(
        write_entry, config, monkeypatch):
    fill(write_entry, 3)
    with monkeypatch.context() as m:
        m.setattr(persist.SnapshotStore, "_sync_later", lambda self: None)
        r = new_refresher(config, clock=lambda: NOW)
        assert r.refresh().ok          # its process stopped before it synced
    gen = r.disk.current_generation()
    assert _marked(config)
    again = new_refresher(config, clock=lambda: NOW)
    assert again.store.current.generation == gen and _marked(config)
    assert again.disk.wait_synced(10) and not _marked(config)


def test_a_sync_that_fails_leaves_the_mark(write_entry, config, monkeypatch, caplog):
    fill(write_entry, 3)

    def failing(folder):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(persist, "sync_folder", failing)
    r = new_refresher(config, clock=lambda: NOW)
    assert r.refresh().ok
    assert not r.disk.wait_synced(10) and _marked(config)
    assert "cannot make the cache folder" in caplog.text and "Input/output error" in caplog.text


def test_a_service_stopping_waits_for_its_last_bodies_to_be_synced(write_entry, config, monkeypatch):
    from feedsvc.service import make_service

    fill(write_entry, 3)
    real_sync = persist.sync_folder
    monkeypatch.setattr(persist, "sync_folder", lambda folder: time.sleep(0.3) or real_sync(folder))   # a slow disk
    service = make_service(config, clock=lambda: NOW)
    assert service.refresh().ok and _marked(config)
    service.shutdown()
    assert not _marked(config)


def test_the_mark_stays_while_a_refresh_elsewhere_may_be_writing(write_entry, config, monkeypatch):
    import fcntl

    fill(write_entry, 3)
    monkeypatch.setattr(persist, "SETTLE_WAIT_SECONDS", 0.2)
    with monkeypatch.context() as m:
        m.setattr(persist.SnapshotStore, "_sync_later", lambda self: None)
        r = new_refresher(config, clock=lambda: NOW)
        assert r.refresh().ok
    fd = os.open(r.disk.write_lock.path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)           # another process's refresh, writing bodies
        assert not r.disk.wait_synced(10) and _marked(config)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    assert r.disk.wait_synced(10) and not _marked(config)
