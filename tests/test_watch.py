"""A watch of the entries folder lets a refresh look at the changed files alone."""
from __future__ import annotations

import time

import pytest

from feedsvc import entries
from feedsvc.refresher import new_refresher
from feedsvc.watch import FolderWatch

from .conftest import NOW


def wait_for(cond, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = cond()
        if got:
            return got
        time.sleep(0.02)
    return cond()


@pytest.fixture
def watch(entries_dir):
    w = FolderWatch(entries_dir)
    assert w.start()
    yield w
    w.stop()


def test_the_first_take_asks_for_a_walk_and_later_ones_name_the_changed_files(watch, write_entry):
    assert watch.take() is None
    write_entry("2025/a.md", {"title": "A", "date": "2025-07-01"})   # the folder is new: unknown again
    assert wait_for(lambda: watch.take() is None)
    pending: set[str] = set()
    write_entry("2025/b.md", {"title": "B", "date": "2025-07-02"})
    assert wait_for(lambda: pending.update(watch.take() or set()) or "2025/b.md" in pending)


def test_a_watch_that_stopped_asks_for_a_walk(watch):
    watch.take()
    watch.stop()
    assert watch.take() is None


def test_a_file_written_just_before_the_take_is_always_named(watch, write_entry):
    # No reader thread to lag behind: the kernel has queued the event before the write returns.
    write_entry("a.md", {"title": "A", "date": "2025-07-01"})
    assert watch.take() is None
    for i in range(50):
        write_entry("a.md", {"title": f"A {i}", "date": "2025-07-01"})
        assert watch.take() == {"a.md"}


def test_a_refresh_with_a_watch_looks_only_at_the_changed_file(write_entry, config, watch, monkeypatch):
    for i in range(5):
        write_entry(f"e{i}.md", {"title": f"Entry {i}", "date": f"2025-07-0{i + 1}T09:00:00Z"})
    r = new_refresher(config, clock=lambda: NOW)
    r.watch = watch
    assert r.refresh().entries == 5          # a full walk: the baseline

    def no_walk(root):
        raise AssertionError("the watch named the changed file: no walk needed")

    monkeypatch.setattr(entries, "scan_entry_files", no_walk)
    write_entry("e2.md", {"title": "Entry 2, revised", "date": "2025-07-03T09:00:00Z"})
    report = wait_for(lambda: (rep := r.refresh()).changed and rep)
    assert report.reparsed == 1 and report.entries == 5
    (tmp := config.entries_path / "e4.md").unlink()
    report = wait_for(lambda: (rep := r.refresh()).removed and rep)
    assert report.entries == 4 and not tmp.exists()
    nothing = r.refresh()
    assert nothing.reparsed == 0 and nothing.rendered == 0


def test_a_full_refresh_walks_the_folder_even_when_the_watch_saw_nothing(write_entry, config, monkeypatch):
    write_entry("e0.md", {"title": "Entry 0", "date": "2025-07-01T09:00:00Z"})
    r = new_refresher(config, clock=lambda: NOW)

    class Blind:      # a watch that misses everything (a network file system, say)
        def take(self, full=False):
            return None if full else set()

        def invalidate(self):
            pass

    r.watch = Blind()
    r.refresh(full=True)
    write_entry("e1.md", {"title": "Entry 1", "date": "2025-07-02T09:00:00Z"})
    assert r.refresh().entries == 1            # trusted the watch
    assert r.refresh(full=True).entries == 2   # the scheduled walk publishes it


def test_a_folder_swapped_behind_a_symlink_is_walked_and_then_watched(tmp_path, write_entry):
    old, new = tmp_path / "release-1", tmp_path / "release-2"
    old.mkdir()
    new.mkdir()
    link = tmp_path / "current"
    link.symlink_to(old)
    w = FolderWatch(link)
    assert w.start()
    try:
        assert w.take() is None
        tmp = tmp_path / "next"
        tmp.symlink_to(new)
        tmp.replace(link)                      # a deploy switches the link atomically
        assert w.take() is None                # the old folder's silence means nothing
        (new / "a.md").write_text("---\\ntitle: A\\ndate: 2025-07-01\\n---\\nA.\\n")
        seen: set[str] = set()
        assert wait_for(lambda: seen.update(w.take() or set()) or "a.md" in seen)
    finally:
        w.stop()


class Told:
    """A watch that reports exactly the paths it is told (no timing involved)."""

    def __init__(self):
        self.paths: set[str] | None = None

    def take(self, full=False):
        out, self.paths = self.paths, set()
        return None if full else out

    def invalidate(self):
        self.paths = None


def site_bytes(snapshot):
    return {p: snapshot.get(p).body for p in snapshot.paths() if not p.startswith("/articles/")}


def fresh_build(config):
    import dataclasses as dc
    r = new_refresher(dc.replace(config, cache_path=None), clock=lambda: NOW)
    r.refresh()
    return r.store.current


def many(write_entry, n=24):
    for i in range(n):
        write_entry(f"2025/e{i:02d}.md", {"title": f"Entry {i}", "date": f"2025-07-{1 + i:02d}T09:00:00Z",
                                          "categories": ["Science", f"Topic {i % 3}"]}, f"Body {i}.\n")


def watched(write_entry, config):
    """A refresher on 24 entries, refreshed once, with a watch the test tells what changed."""
    many(write_entry)
    r = new_refresher(config, clock=lambda: NOW)
    r.watch = watch = Told()
    r.refresh()
    return r, watch


def test_an_edit_that_moves_no_entry_is_patched_in_and_gives_the_bytes_of_a_full_build(write_entry, config,
                                                                                      monkeypatch):
    r, watch = watched(write_entry, config)
    write_entry("2025/e05.md", {"title": "Entry 5, corrected", "date": "2025-07-06T09:00:00Z",
                                "categories": ["Science", "Topic 2"]}, "A \u201cnew\u201d body.\n")
    watch.paths = {"2025/e05.md"}

    def no_rebuild(*a, **k):
        raise AssertionError("an edit that moves no entry needs no new catalog")

    monkeypatch.setattr("feedsvc.refresher.build_catalog", no_rebuild)
    report = r.refresh()
    monkeypatch.undo()
    assert report.ok and report.reparsed == 1 and len(report.changed) == 1
    # the site feed, Science and Topic 2 in three formats; Topic 0 and 1 untouched
    assert {f.path for f in report.changed_feeds} == {
        f"{p}/feed.{fmt}" for p in ("", "/categories/science", "/categories/topic-2") for fmt in ("rss", "atom", "json")}
    assert site_bytes(r.store.current) == site_bytes(fresh_build(config))


def test_an_edit_that_moves_an_entry_rebuilds_the_catalog(write_entry, config):
    r, watch = watched(write_entry, config)
    write_entry("2025/e05.md", {"title": "Entry 5", "date": "2025-07-30T09:00:00Z",       # now the newest
                                "categories": ["Topic 0"]}, "Body 5.\n")
    watch.paths = {"2025/e05.md"}
    report = r.refresh()
    assert report.ok and report.reparsed == 1
    assert site_bytes(r.store.current) == site_bytes(fresh_build(config))


def test_a_patched_edit_keeps_the_tables_file_and_carries_the_new_digest_in_the_manifest(write_entry, config):
    from feedsvc.persist import SnapshotStore

    r, watch = watched(write_entry, config)
    before = SnapshotStore(config.cache_path).load(config)
    write_entry("2025/e07.md", {"title": "Entry 7, corrected", "date": "2025-07-08T09:00:00Z",
                                "categories": ["Science", "Topic 1"]}, "Corrected.\n")
    watch.paths = {"2025/e07.md"}
    report = r.refresh()
    after = SnapshotStore(config.cache_path).load(config)
    assert after.generation != before.generation
    assert after.manifest["tables"] == before.manifest["tables"]          # not written again
    (changed,) = report.changed
    new_digest = next(e.digest for e in r.store.current.catalog.entries if e.id == changed)
    assert after.entry_digests[changed] == new_digest != before.entry_digests[changed]
    assert after.entry_digests == r.store.current.entry_digests
