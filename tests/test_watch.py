"""A watch of the entries folder lets a refresh look at the changed files alone."""
from __future__ import annotations

import datetime as dt
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


def no_rebuild(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("this change should have been patched in, not selected anew")

    monkeypatch.setattr("feedsvc.refresher.build_catalog", refuse)


def small_pages(make_config):
    # Five entries per feed: 24 entries make archive pages, whose links move when entries come or go.
    return make_config(feeds={"max_entries": 5})


def test_a_new_article_is_patched_in_and_gives_the_bytes_of_a_full_build(write_entry, make_config, monkeypatch):
    config = small_pages(make_config)
    r, watch = watched(write_entry, config)
    write_entry("2025/new.md", {"title": "Breaking", "date": "2025-07-28T09:00:00Z", "categories": ["Topic 1"]},
                "Just in.\n")
    watch.paths = {"2025/new.md"}
    no_rebuild(monkeypatch)
    report = r.refresh()
    monkeypatch.undo()
    assert report.ok and report.reparsed == 1 and report.entries == 25
    (added,) = report.added
    assert r.store.current.catalog.by_slug["new"].id == added
    # the newest entry shows in the site feed and Topic 1 only
    assert {f.path for f in report.changed_feeds} == {
        f"{p}/feed.{fmt}" for p in ("", "/categories/topic-1") for fmt in ("rss", "atom", "json")}
    assert site_bytes(r.store.current) == site_bytes(fresh_build(config))


def test_an_old_article_added_changes_the_archives_of_its_feeds_as_a_full_build_would(write_entry, make_config,
                                                                                      monkeypatch):
    config = small_pages(make_config)
    r, watch = watched(write_entry, config)
    write_entry("2025/old.md", {"title": "From the archive", "date": "2025-06-01T09:00:00Z",
                                "categories": ["Science"]}, "Back-dated.\n")
    watch.paths = {"2025/old.md"}
    no_rebuild(monkeypatch)
    report = r.refresh()
    monkeypatch.undo()
    assert report.ok and len(report.added) == 1
    assert site_bytes(r.store.current) == site_bytes(fresh_build(config))


def test_a_deleted_article_is_patched_out_and_gives_the_bytes_of_a_full_build(write_entry, make_config,
                                                                             monkeypatch):
    config = small_pages(make_config)
    r, watch = watched(write_entry, config)
    gone_id = r.store.current.catalog.by_slug["e23"].id
    (config.entries_path / "2025/e23.md").unlink()      # the newest
    watch.paths = {"2025/e23.md"}
    no_rebuild(monkeypatch)
    report = r.refresh()
    monkeypatch.undo()
    assert report.ok and report.removed == (gone_id,) and report.entries == 23
    assert r.store.current.get("/articles/e23/") is None
    assert site_bytes(r.store.current) == site_bytes(fresh_build(config))


def test_an_entry_moved_to_another_date_and_category_is_patched_in(write_entry, make_config, monkeypatch):
    config = small_pages(make_config)
    r, watch = watched(write_entry, config)
    write_entry("2025/e05.md", {"title": "Entry 5", "date": "2025-07-30T09:00:00Z",       # now the newest
                                "categories": ["Topic 0"]}, "Body 5.\n")
    watch.paths = {"2025/e05.md"}
    no_rebuild(monkeypatch)
    report = r.refresh()
    monkeypatch.undo()
    # its default id holds its date: to readers, another entry
    assert report.ok and len(report.added) == len(report.removed) == 1
    assert site_bytes(r.store.current) == site_bytes(fresh_build(config))


def test_an_entry_that_breaks_is_unpublished_with_its_error_and_comes_back_when_fixed(write_entry, config,
                                                                                      monkeypatch):
    r, watch = watched(write_entry, config)
    before = site_bytes(r.store.current)
    good = (config.entries_path / "2025/e05.md").read_bytes()
    write_entry("2025/e05.md", "title: [unclosed\ndate: 2025-07-06T09:00:00Z")
    watch.paths = {"2025/e05.md"}
    no_rebuild(monkeypatch)
    broken = r.refresh()
    assert broken.ok and len(broken.removed) == 1 and broken.entries == 23
    assert [p.path for p in broken.problems if p.severity == "error"] == ["2025/e05.md"]
    (config.entries_path / "2025/e05.md").write_bytes(good)
    watch.paths = {"2025/e05.md"}
    fixed = r.refresh()
    monkeypatch.undo()
    assert fixed.ok and fixed.added == broken.removed and not fixed.problems
    assert site_bytes(r.store.current) == before


def test_a_draft_and_a_scheduled_article_added_change_no_feed(write_entry, config, monkeypatch):
    r, watch = watched(write_entry, config)
    write_entry("2025/draft.md", {"title": "Not yet", "date": "2025-07-29T09:00:00Z", "draft": True})
    write_entry("2025/later.md", {"title": "Later", "date": "2026-01-05T09:00:00Z", "categories": ["Science"]})
    watch.paths = {"2025/draft.md", "2025/later.md"}
    no_rebuild(monkeypatch)
    report = r.refresh()
    monkeypatch.undo()
    assert report.ok and report.rendered == 0 and not report.added
    assert (report.drafts, report.scheduled) == (1, 1)
    assert report.next_due == dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.timezone.utc)


def test_a_new_article_that_takes_a_category_or_a_slug_no_patch_can_settle_is_selected_anew(write_entry, config):
    r, watch = watched(write_entry, config)
    write_entry("2025/a-new-topic.md", {"title": "Fresh", "date": "2025-07-29T09:00:00Z",
                                        "categories": ["Brand New"]})
    watch.paths = {"2025/a-new-topic.md"}
    report = r.refresh()
    assert report.ok and r.store.current.get("/categories/brand-new/feed.atom") is not None
    write_entry("2025/zz-twin.md", {"title": "Twin", "date": "2025-07-29T10:00:00Z", "slug": "e03"})
    watch.paths = {"2025/zz-twin.md"}
    report = r.refresh()
    assert report.ok and not report.added
    assert [p.field for p in report.problems if p.path == "2025/zz-twin.md"] == ["slug"]
    assert site_bytes(r.store.current) == site_bytes(fresh_build(config))


def test_patched_arrivals_and_departures_keep_the_tables_file_and_a_worker_reads_the_same_site(write_entry,
                                                                                               make_config):
    from feedsvc.persist import SnapshotStore

    config = small_pages(make_config)
    r, watch = watched(write_entry, config)
    before = SnapshotStore(config.cache_path).load(config)
    write_entry("2025/new.md", {"title": "Breaking", "date": "2025-07-28T09:00:00Z", "categories": ["Science"]})
    (config.entries_path / "2025/e02.md").unlink()
    watch.paths = {"2025/new.md", "2025/e02.md"}
    report = r.refresh()
    assert report.ok and len(report.added) == len(report.removed) == 1
    after = SnapshotStore(config.cache_path).load(config)
    assert after.manifest["tables"] == before.manifest["tables"]          # not written again
    own = r.store.current
    assert after.entry_digests == own.entry_digests
    assert after.paths() == own.paths()
    assert {p: after.get(p).body for p in after.paths()} == {p: own.get(p).body for p in own.paths()}


def test_a_restart_after_patched_changes_parses_no_file_again(write_entry, config):
    r, watch = watched(write_entry, config)
    write_entry("2025/new.md", {"title": "Breaking", "date": "2025-07-28T09:00:00Z"})
    (config.entries_path / "2025/e02.md").unlink()
    watch.paths = {"2025/new.md", "2025/e02.md"}
    assert r.refresh().ok
    assert r.wait_saved(10)
    stored = {row[0] for row in r.entry_store._open().execute("SELECT path FROM entries")}
    assert stored == {p.relative_to(config.entries_path).as_posix() for p in config.entries_path.rglob("*.md")}
    again = new_refresher(config, clock=lambda: NOW)
    report = again.refresh()
    assert report.ok and report.reparsed == 0 and report.entries == 24


def test_a_file_moved_to_a_folder_that_sorts_first_keeps_its_article(write_entry, config):
    r, watch = watched(write_entry, config)
    (config.entries_path / "0-archive").mkdir()
    (config.entries_path / "2025/e05.md").rename(config.entries_path / "0-archive/e05.md")
    watch.paths = {"2025/e05.md", "0-archive/e05.md"}
    report = r.refresh()
    assert report.ok and not report.added and not report.removed
    assert r.store.current.catalog.by_slug["e05"].path == "0-archive/e05.md"
    assert r.store.current.get("/articles/e05/") is not None


def test_a_renamed_file_is_read_from_its_new_place_by_workers(write_entry, make_config):
    from feedsvc.persist import SnapshotStore

    config = small_pages(make_config)     # the renamed entry is in no current feed: nothing renders

    many(write_entry)
    write_entry("2025/moving.md", {"title": "Moving", "date": "2025-06-01T09:00:00Z", "slug": "moving"})
    r = new_refresher(config, clock=lambda: NOW)
    r.watch = watch = Told()
    r.refresh()
    (config.entries_path / "2025/moving.md").rename(config.entries_path / "2025/zz-moving.md")
    watch.paths = {"2025/moving.md", "2025/zz-moving.md"}
    assert r.refresh().ok
    worker = SnapshotStore(config.cache_path).load(config)
    assert worker.get("/articles/moving/") is not None
    write_entry("2025/new.md", {"title": "New", "date": "2025-07-29T09:00:00Z"})
    watch.paths = {"2025/new.md"}
    assert r.refresh().ok
    worker = SnapshotStore(config.cache_path).load(config)
    assert worker.get("/articles/moving/").body == r.store.current.get("/articles/moving/").body


def test_a_renamed_file_found_by_a_walk_is_read_from_its_new_place_by_workers(write_entry, make_config):
    from feedsvc.persist import SnapshotStore

    config = small_pages(make_config)

    many(write_entry)
    write_entry("2025/moving.md", {"title": "Moving", "date": "2025-06-01T09:00:00Z", "slug": "moving"})
    r = new_refresher(config, clock=lambda: NOW)
    r.refresh()
    (config.entries_path / "2025/moving.md").rename(config.entries_path / "2025/zz-moving.md")
    report = r.refresh()                         # no watch: a walk, and a new selection
    assert report.ok and report.rendered == 0 and not report.added and not report.removed
    worker = SnapshotStore(config.cache_path).load(config)
    assert worker.article_paths()["moving"] == "2025/zz-moving.md"
    assert worker.get("/articles/moving/") is not None


def test_after_a_failed_refresh_the_next_one_publishes_what_the_files_say(write_entry, config, monkeypatch):
    import feedsvc.refresher as refresher

    r, watch = watched(write_entry, config)
    good = (config.entries_path / "2025/e05.md").read_bytes()
    (config.entries_path / "2025/e05.md").unlink()
    watch.paths = {"2025/e05.md"}
    real = refresher.build_site

    def fail(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(refresher, "build_site", fail)
    assert not r.refresh().ok
    monkeypatch.setattr(refresher, "build_site", real)
    assert r.refresh().ok                         # the walk after a failure
    assert "e05" not in r.store.current.catalog.by_slug
    (config.entries_path / "2025/e05.md").write_bytes(good)
    watch.paths = {"2025/e05.md"}
    assert r.refresh().ok
    ids = [e.id for e in r.store.current.catalog.entries]
    assert len(ids) == len(set(ids)) == 24


def test_deleting_the_last_file_warns_as_a_walk_would(write_entry, config):
    write_entry("only.md", {"title": "Only", "date": "2025-07-01T09:00:00Z"})
    r = new_refresher(config, clock=lambda: NOW)
    r.watch = watch = Told()
    r.refresh()
    (config.entries_path / "only.md").unlink()
    watch.paths = {"only.md"}
    got = r.refresh()
    walked = new_refresher(config, clock=lambda: NOW).refresh()
    assert [str(p) for p in got.problems] == [str(p) for p in walked.problems] != []


def test_an_edit_that_moves_the_sites_newest_date_redates_an_empty_configured_feed(write_entry, make_config):
    config = make_config(categories={"Empty": {"title": "Nothing yet"}})
    r, watch = watched(write_entry, config)
    write_entry("2025/e05.md", {"title": "Entry 5", "date": "2025-07-06T09:00:00Z",
                                "updated": "2025-11-01T09:00:00Z", "categories": ["Science", "Topic 2"]},
                "Body 5.\n")
    watch.paths = {"2025/e05.md"}
    assert r.refresh().ok
    assert r.store.current.get("/categories/empty/feed.atom").body == \
        fresh_build(config).get("/categories/empty/feed.atom").body


def test_a_file_renamed_while_the_service_was_down_is_read_from_its_new_place(write_entry, make_config):
    from feedsvc.persist import SnapshotStore

    config = small_pages(make_config)
    many(write_entry)
    write_entry("2025/moving.md", {"title": "Moving", "date": "2025-06-01T09:00:00Z", "slug": "moving"})
    assert new_refresher(config, clock=lambda: NOW).refresh().ok
    (config.entries_path / "2025/moving.md").rename(config.entries_path / "2025/zz-moving.md")
    report = new_refresher(config, clock=lambda: NOW).refresh()   # starts from the snapshot on disk
    assert report.ok and report.rendered == 0
    worker = SnapshotStore(config.cache_path).load(config)
    assert worker.article_paths()["moving"] == "2025/zz-moving.md"

def test_a_file_renamed_with_its_bytes_unchanged_gets_its_new_link_everywhere(write_entry, config):
    r, watch = watched(write_entry, config)
    (config.entries_path / "2025/e05.md").rename(config.entries_path / "2025/e05-moved.md")
    watch.paths = {"2025/e05.md", "2025/e05-moved.md"}
    report = r.refresh()
    assert report.ok and len(report.added) == len(report.removed) == 1     # its slug, so its id, is its name
    assert site_bytes(r.store.current) == site_bytes(fresh_build(config))


def test_after_a_snapshot_write_that_failed_workers_read_tables_of_what_is_served(write_entry, make_config,
                                                                                   monkeypatch):
    import feedsvc.persist as persist
    from feedsvc.persist import SnapshotStore

    config = small_pages(make_config)
    now = [NOW]
    many(write_entry)
    write_entry("2025/soon.md", {"title": "Soon", "date": "2025-12-01T13:00:00Z"})    # an hour ahead
    r = new_refresher(config, clock=lambda: now[0])
    r.watch = watch = Told()
    assert r.refresh().ok
    now[0] = NOW + dt.timedelta(hours=2)                 # "soon" falls due...
    real = persist.atomic_write

    def no_switch(path, data):
        if path.name == "current":
            raise OSError("disk full")
        real(path, data)

    monkeypatch.setattr(persist, "atomic_write", no_switch)
    assert not r.refresh().ok                            # ...but its snapshot cannot be made current
    monkeypatch.undo()
    (config.entries_path / "2025/soon.md").unlink()      # withdrawn: the site is the one served
    watch.paths = {"2025/soon.md"}
    assert r.refresh().ok
    write_entry("2025/new.md", {"title": "New", "date": "2025-07-28T09:00:00Z"})
    watch.paths = {"2025/new.md"}
    assert r.refresh().ok
    worker = SnapshotStore(config.cache_path).load(config)
    assert worker.get("/articles/soon/") is None
    assert worker.paths() == r.store.current.paths()


def test_after_a_failed_refresh_the_entry_store_catches_up_with_the_files(write_entry, config, monkeypatch):
    import feedsvc.refresher as refresher

    write_entry("a.md", {"title": "A", "date": "2025-07-01T09:00:00Z"})
    r = new_refresher(config, clock=lambda: NOW)
    r.watch = watch = Told()
    assert r.refresh().ok
    (config.entries_path / "a.md").rename(config.entries_path / "b.md")
    watch.paths = {"a.md", "b.md"}

    def fail(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(refresher, "build_site", fail)
    assert not r.refresh().ok
    monkeypatch.undo()
    assert r.refresh().ok            # a walk: the cache already holds b.md, so the load is "unchanged"
    assert r.wait_saved(10)
    assert {row[0] for row in r.entry_store._open().execute("SELECT path FROM entries")} == {"b.md"}


def test_a_refresh_that_finds_nothing_changed_looks_at_no_entry(write_entry, config, monkeypatch):
    r, watch = watched(write_entry, config)

    def no_look(*a, **k):
        raise AssertionError("nothing changed: no entry needs looking at")

    monkeypatch.setattr("feedsvc.refresher._moved", no_look)
    report = r.refresh()
    assert report.ok and report.rendered == 0
