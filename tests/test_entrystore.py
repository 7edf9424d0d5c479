"""Parsed entries kept across restarts, and large loads parsed on every core."""
from __future__ import annotations

import dataclasses
import os
import sys
import threading
import time

import pytest

from feedsvc import parsejob
from feedsvc.entries import EntryCache, load_entries
from feedsvc.entrystore import EntryStore
from feedsvc.refresher import new_refresher

from .conftest import NOW


def fill(write_entry, n, start=0):
    for i in range(start, start + n):
        write_entry(f"2025/{i % 3}/e{i:03d}.md", {"title": f"Entry {i}", "date": f"2025-07-{1 + i % 28:02d}T09:30:00Z",
                                                 "categories": ["Science", f"Topic {i % 4}"]},
                    f"Body of entry {i}, with a \u201cquote\u201d.\n")


def refresh_once(config):
    r = new_refresher(config, clock=lambda: NOW)
    report = r.refresh()
    assert r.wait_saved(10)
    return report


def test_a_restart_parses_only_the_files_changed_while_it_was_down(write_entry, config):
    fill(write_entry, 30)
    first = refresh_once(config)
    assert first.ok and first.reparsed == 30
    write_entry("2025/0/e000.md", {"title": "Entry 0, revised", "date": "2025-07-01T09:30:00Z"}, "New body.\n")
    fill(write_entry, 1, start=30)
    again = refresh_once(config)          # a new process: nothing in memory
    assert again.ok and again.reparsed == 2
    assert again.entries == 31 and len(again.changed) == 1 and len(again.added) == 1


def test_entries_from_the_store_render_exactly_as_freshly_parsed_ones(write_entry, config, make_config):
    fill(write_entry, 12)
    refresh_once(config)
    r = new_refresher(config, clock=lambda: NOW)
    assert r.refresh().reparsed == 0
    stored = r.store.current
    fresh = new_refresher(dataclasses.replace(config, cache_path=None), clock=lambda: NOW)
    fresh.refresh()
    for path in ("/feed.atom", "/feed.rss", "/feed.json", "/categories/science/feed.atom"):
        assert stored.get(path).body == fresh.store.current.get(path).body, path


def test_an_unreadable_entry_store_is_set_aside_and_rebuilt(write_entry, config, caplog):
    fill(write_entry, 5)
    refresh_once(config)
    db = config.cache_path / "entries.sqlite"
    for extra in ("-wal", "-shm"):
        db.with_name(db.name + extra).unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    report = refresh_once(config)
    assert report.ok and report.entries == 5 and report.reparsed == 5
    assert "cannot be read" in caplog.text
    assert list(config.cache_path.glob("entries.sqlite.broken-*"))
    assert refresh_once(config).reparsed == 0        # rebuilt, and used again


def test_another_site_configuration_empties_the_store(write_entry, config):
    fill(write_entry, 4)
    refresh_once(config)
    moved = dataclasses.replace(config, site=dataclasses.replace(config.site, base_url="https://other.example.org"))
    report = refresh_once(moved)
    assert report.reparsed == 4          # links and ids depend on the base URL: nothing stored is reused


@pytest.fixture
def helpers(monkeypatch):
    """Helpers parse pieces of two files; this process is slow, so they get some."""
    monkeypatch.setattr(parsejob, "PARALLEL_FROM", 4)
    monkeypatch.setattr(parsejob, "PIECE", 2)
    monkeypatch.setattr(parsejob.helper, "cores", lambda: 3)
    here = parsejob._parse_here
    monkeypatch.setattr(parsejob, "_parse_here", lambda jobs, site: time.sleep(0.2) or here(jobs, site))
    asked = []
    ask = parsejob.helper.Session.ask
    monkeypatch.setattr(parsejob.helper.Session, "ask",
                        lambda self, work, payload: asked.append(payload) or ask(self, work, payload))
    return asked


def test_helper_processes_parse_exactly_what_one_process_does(write_entry, config, helpers, monkeypatch):
    fill(write_entry, 20)
    write_entry("broken.md", b"---\ntitle: [unclosed\n---\nx\n")
    many = load_entries(config.entries_path, config.site, EntryCache(config.site))
    assert helpers                          # helpers took pieces (and this process others)
    monkeypatch.setattr(parsejob, "PARALLEL_FROM", 10**9)
    one = load_entries(config.entries_path, config.site, EntryCache(config.site))
    assert many.entries == one.entries and many.problems == one.problems
    assert len(many.entries) == 20 and [p.path for p in many.problems] == ["broken.md"]
    assert [e.markdown for e in many.entries] == [e.markdown for e in one.entries]


def test_a_failing_helper_costs_no_entry(write_entry, config, helpers, monkeypatch, caplog):
    fill(write_entry, 20)
    monkeypatch.setattr(sys, "executable", "/bin/false")
    loaded = load_entries(config.entries_path, config.site, EntryCache(config.site))
    assert len(loaded.entries) == 20 and loaded.reparsed == 20
    assert "parse helper failed" in caplog.text


def test_a_refresh_with_no_file_changed_selects_and_renders_nothing(write_entry, config, monkeypatch):
    fill(write_entry, 6)
    r = new_refresher(config, clock=lambda: NOW)
    r.refresh()
    served = r.store.current

    def must_not_run(*a, **k):
        raise AssertionError("nothing changed: the catalog must not be rebuilt")

    monkeypatch.setattr("feedsvc.refresher.build_catalog", must_not_run)
    report = r.refresh()
    assert report.ok and report.rendered == 0 and report.reparsed == 0
    assert r.store.current is served and report.entries == 6
    assert report.feeds and not report.changed_feeds
    monkeypatch.undo()
    write_entry("2025/0/e000.md", {"title": "Revised", "date": "2025-07-01T09:30:00Z"})
    assert r.refresh().changed                 # a change still goes the whole way


def test_a_refresh_serves_its_feeds_without_waiting_for_the_entry_store(write_entry, config, monkeypatch):
    fill(write_entry, 5)
    release = threading.Event()
    real = EntryStore.save

    def slow_save(self, parsed, paths=None):
        release.wait(10)
        return real(self, parsed, paths)

    monkeypatch.setattr(EntryStore, "save", slow_save)
    r = new_refresher(config, clock=lambda: NOW)
    report = r.refresh()                                   # returns while the store is still being written
    assert report.ok and r.store.current.get("/feed.atom") is not None
    assert not r.wait_saved(0.05)
    assert new_refresher(config, clock=lambda: NOW).refresh().reparsed == 5   # a start now parses again
    release.set()
    assert r.wait_saved(10)
    assert new_refresher(config, clock=lambda: NOW).refresh().reparsed == 0


def test_a_process_that_waited_for_the_first_snapshot_serves_it_instead_of_rendering_again(write_entry, config):
    fill(write_entry, 8)
    first = new_refresher(config, clock=lambda: NOW)
    second = new_refresher(config, clock=lambda: NOW)      # started before anything was on disk
    done = first.refresh()
    report = second.refresh(if_missing=True)
    assert report.started_wall == done.started_wall and report.by_pid == done.by_pid
    assert second._cache is None                           # parsed nothing, holds no entries
    assert second.store.current.get("/feed.atom").body == first.store.current.get("/feed.atom").body


def test_with_a_scheduler_only_the_elected_process_refreshes_behind_a_restored_snapshot(write_entry, config):
    import dataclasses as dc

    from feedsvc.service import make_service

    fill(write_entry, 4)
    refresh_once(config)
    cfg = dc.replace(config, scheduler_enabled=True)
    service = make_service(cfg, clock=lambda: NOW)
    service.start()
    time.sleep(0.3)
    assert service.refresher.count == 0                    # serving the snapshot from disk, not refreshing
    niceness = []
    service.refresher.listeners.append(
        lambda report: niceness.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
    service.start_scheduler()
    try:
        # Listeners hear of a refresh after it is counted: wait for them.
        deadline = time.monotonic() + 5
        while not niceness and time.monotonic() < deadline:
            time.sleep(0.02)
        assert service.refresher.count == 1 and service.refresher.last.ok
        if sys.platform.startswith("linux"):     # behind a served snapshot, requests come first
            assert niceness and niceness[0] >= 10
    finally:
        service.shutdown()


def test_a_leader_that_renders_the_first_snapshot_walks_the_folder_once_and_then_follows_the_watch(
        write_entry, config):
    import dataclasses as dc

    from feedsvc.service import make_service

    fill(write_entry, 4)
    cfg = dc.replace(config, scheduler_enabled=True)
    service = make_service(cfg, clock=lambda: NOW)
    service.start(lead=True)
    try:
        assert service.is_leader and service.refresher.count == 1 and service.refresher.last.reparsed == 4
        watch = service.refresher.watch
        if watch is None:             # no inotify here: every refresh walks, which is correct too
            pytest.skip("no folder watch on this platform")
        service.start_scheduler()     # what create_app does next: nothing more to elect
        time.sleep(0.3)
        assert service.refresher.count == 1                # no second walk behind the first render
        assert watch.has_baseline
        write_entry("2025/0/e000.md", {"title": "Entry 0, revised", "date": "2025-07-01T09:30:00Z"}, "New.\n")
        assert watch.take() == {"2025/0/e000.md"}          # an edit made after the render is seen
    finally:
        service.shutdown()


def leading(write_entry, config):  # type: ignore[no-untyped-def]
    """(a service that rendered four entries and runs the scheduler, its config)."""
    import dataclasses as dc

    from feedsvc.service import make_service

    fill(write_entry, 4)
    cfg = dc.replace(config, scheduler_enabled=True)
    service = make_service(cfg, clock=lambda: NOW)
    service.start(lead=True)
    service.start_scheduler()
    return service, cfg


def test_after_the_cache_folder_is_removed_one_process_leads_even_when_another_elects_meanwhile(
        write_entry, config):
    import shutil

    from feedsvc.service import make_service

    leader, cfg = leading(write_entry, config)
    newcomer = None
    try:
        assert leader.is_leader
        shutil.rmtree(cfg.cache_path)         # its leader.lock with it
        newcomer = make_service(cfg, clock=lambda: NOW)   # a worker replaced meanwhile
        newcomer.start_scheduler()            # locks the new leader.lock at once
        deadline = time.monotonic() + 10
        while not newcomer.is_leader and time.monotonic() < deadline:
            time.sleep(0.02)
        assert newcomer.is_leader
        while leader.is_leader and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not leader.is_leader, "the old leader noticed and stepped down"
        time.sleep(0.5)
        assert [s.is_leader for s in (leader, newcomer)] == [False, True]
        newcomer.shutdown()                   # the new leader goes: the old one is elected again
        newcomer.store.disk.leader_lock.release()
        deadline = time.monotonic() + 10
        while not leader.is_leader and time.monotonic() < deadline:
            time.sleep(0.05)
        assert leader.is_leader
    finally:
        leader.shutdown()
        if newcomer is not None:
            newcomer.shutdown()


def test_a_leader_whose_lock_file_went_with_the_cache_folder_takes_the_new_one(write_entry, config):
    import shutil

    leader, cfg = leading(write_entry, config)
    try:
        lock = leader.store.disk.leader_lock
        shutil.rmtree(cfg.cache_path)
        assert not lock.holds_path()
        deadline = time.monotonic() + 10
        while not lock.holds_path() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lock.holds_path() and leader.is_leader
        other = type(lock)(lock.path)
        assert not other.acquire(blocking=False), "a worker replaced now waits for it"
    finally:
        leader.shutdown()


def test_of_two_workers_starting_together_the_one_that_renders_the_first_snapshot_leads(write_entry, config, tmp_path):
    import dataclasses as dc

    from feedsvc.service import make_service

    fill(write_entry, 4)
    for round_ in range(6):
        cfg = dc.replace(config, scheduler_enabled=True, cache_path=tmp_path / f"cache-{round_}")
        workers = [make_service(cfg, clock=lambda: NOW) for _ in range(2)]
        together = threading.Barrier(2)

        def start(service):
            together.wait()
            service.start(lead=True)

        threads = [threading.Thread(target=start, args=(w,)) for w in workers]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            time.sleep(0.2)
            counts = sorted(w.refresher.count for w in workers)
            builder = max(workers, key=lambda w: w.refresher.count)
            assert counts == [0, 1], counts                 # one render, and no walk again behind it
            assert builder.is_leader and not min(workers, key=lambda w: w.refresher.count).is_leader
        finally:
            for w in workers:
                w.shutdown()


def test_a_worker_that_adopted_the_first_snapshot_refreshes_behind_it_once_elected(write_entry, config):
    import dataclasses as dc

    from feedsvc.service import make_service

    fill(write_entry, 4)
    cfg = dc.replace(config, scheduler_enabled=True)
    other = new_refresher(cfg, clock=lambda: NOW)
    service = make_service(cfg, clock=lambda: NOW)
    other.refresh()              # published after this process started, before it rendered
    assert other.wait_saved(10)
    service.start(lead=True)
    try:
        assert service.refresher.count == 0 and not service.is_leader    # served what the other one rendered
        service.start_scheduler()                                        # elected: no other process leads
        deadline = time.monotonic() + 10
        while service.refresher.count == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert service.is_leader and service.refresher.count == 1 and service.refresher.last.ok
    finally:
        service.shutdown()


def test_a_removed_file_is_unpublished_even_when_another_file_turns_unreadable_at_once(write_entry, config):
    fill(write_entry, 3)
    r = new_refresher(config, clock=lambda: NOW)
    assert r.refresh().entries == 3
    (config.entries_path / "2025/0/e000.md").unlink()
    (config.entries_path / "2025/1/dangling.md").symlink_to("missing.md")   # stat fails: cannot read
    report = r.refresh()
    assert report.entries == 2 and len(report.removed) == 1
    assert any(p.path == "2025/1/dangling.md" and "cannot read" in p.message for p in report.problems)


def test_a_refresh_leaves_nothing_for_the_cyclic_collector(write_entry, config):
    """What a refresh drops is freed as it goes: on a large site the walk alone
    held every file's stat until a full collection, and the collector's pauses
    grow with everything a refreshing process keeps."""
    import collections
    import gc

    fill(write_entry, 30)
    r = new_refresher(config, clock=lambda: NOW)
    assert r.refresh().ok and r.wait_saved(10)
    write_entry("2025/0/e000.md", {"title": "Entry 0, revised", "date": "2025-07-01T09:30:00Z"}, "New body.\n")
    (config.entries_path / "2025/1/e001.md").unlink()
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        report = r.refresh(full=True)
        assert report.ok and len(report.changed) == 1 and len(report.removed) == 1 and r.wait_saved(10)
        gc.collect()
        kinds = collections.Counter(type(o).__name__ for o in gc.garbage)   # from every collection meanwhile
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert not kinds, kinds.most_common(5)


def test_a_first_refresh_of_a_large_folder_runs_no_collection_and_exempts_what_it_keeps(
        write_entry, config, monkeypatch):
    import gc

    from feedsvc import refresher

    monkeypatch.setattr(refresher, "FREEZE_FROM", 20)
    fill(write_entry, 30)
    collections: list[int] = []

    def seen(phase, info):
        if phase == "start":
            collections.append(info["generation"])

    gc.unfreeze()
    gc.callbacks.append(seen)
    try:
        r = new_refresher(config, clock=lambda: NOW)
        report = r.refresh()
        during = list(collections)
        frozen = gc.get_freeze_count()
        assert report.ok and r.wait_saved(10)
        again = r.refresh(full=True)             # a later refresh: collections as usual, nothing frozen anew
        assert again.ok and gc.get_freeze_count() <= frozen   # frozen objects that die leave the count
    finally:
        gc.callbacks.remove(seen)
        gc.unfreeze()
    assert during == []                          # nothing walked while the first refresh made its objects
    assert frozen > 30 * 5                       # the entries (and all else alive) are left out of collections
    assert gc.isenabled()


def test_a_first_refresh_of_a_small_folder_leaves_the_collector_as_it_was(write_entry, config):
    import gc

    fill(write_entry, 3)
    gc.unfreeze()
    try:
        assert new_refresher(config, clock=lambda: NOW).refresh().ok
        assert gc.get_freeze_count() == 0 and gc.isenabled()
    finally:
        gc.unfreeze()
