"""Rendering a large site's feeds in a helper process as well as in this one."""
from __future__ import annotations

import dataclasses
import signal
import sys
import threading
import time

import feedparser
import pytest

from feedsvc import renderjob, site
from feedsvc.catalog import Category
from feedsvc.errors import FeedBuildError
from feedsvc.model import Author
from feedsvc.render import FeedSpec
from feedsvc.refresher import new_refresher

from .conftest import NOW


def fill(write_entry, n):
    for i in range(n):
        write_entry(f"e{i:03d}.md", {"title": f"Entry {i}", "date": f"2025-07-{1 + i % 28:02d}T09:30:00Z",
                                     "categories": ["Science", f"Topic {i % 5}"]},
                    f"Body of entry {i}, with a \u201cquote\u201d and [a link](../notes/{i}/).\n")


@pytest.fixture
def shares(monkeypatch):
    """Every build shares its feeds with a helper, one feed per piece, and this process
    waits for the helper's first answer before it renders anything, so the helper gets
    pieces however slowly it starts (a fixed delay here lost that race on a loaded
    machine); the shares it was asked for are recorded."""
    monkeypatch.setattr(renderjob, "PARALLEL_FROM", 1)
    monkeypatch.setattr(renderjob, "PIECE_FEEDS", 1)
    monkeypatch.setattr(renderjob.helper, "cores", lambda: 2)
    answered = threading.Event()
    deadline = time.monotonic() + 60   # a helper that never answers must not hang the suite

    def slow_body(job, cats_of):
        answered.wait(max(0.0, deadline - time.monotonic()))
        return body_of(job, cats_of)

    body_of = site.body_of
    monkeypatch.setattr(site, "body_of", slow_body)
    handed: list[renderjob.Share] = []
    real = site.render_in

    def spy(session, share):
        handed.append(share)
        try:
            return real(session, share)
        finally:
            answered.set()

    monkeypatch.setattr(site, "render_in", spy)
    return handed


def built(config):
    """The report and every resource built (feeds, pages, OPML...): path -> (tag, body, gzip body)."""
    r = new_refresher(config, clock=lambda: NOW)
    report = r.refresh()
    assert report.ok, report.error
    snap = r.store.current
    return report, {p: (snap.get(p).etag, snap.get(p).body, snap.get(p).gzip_body) for p in snap.resources}


def test_a_helper_renders_byte_for_byte_what_one_process_does(write_entry, config, tmp_path, shares, monkeypatch,
                                                              caplog):
    fill(write_entry, 20)
    report, two = built(config)
    assert shares and "helper failed" not in caplog.text
    handed = {job.path for share in shares for job in share.jobs}
    assert handed and handed < set(two)                         # a share, not everything
    assert any(p.endswith("/") for p in handed)                 # category pages go too
    asked = len(shares)
    monkeypatch.setattr(renderjob, "PARALLEL_FROM", 10**9)
    _, one = built(dataclasses.replace(config, cache_path=tmp_path / "other-cache"))
    assert len(shares) == asked and two == one
    feeds = [p for p in two if p.rsplit(".", 1)[-1] in ("rss", "atom", "json")]
    assert len(feeds) == (1 + 6) * 3 and report.rendered == len(two)
    some = sorted(p for p in handed if p in feeds)[0]
    parsed = feedparser.parse(two[some][1])
    assert not parsed.bozo and parsed.entries


@pytest.mark.parametrize("cores, helpers", [(1, 0), (2, 1), (3, 2), (64, renderjob.MAX_HELPERS)])
def test_a_build_has_a_helper_per_other_core_and_a_few_at_most(monkeypatch, cores, helpers):
    monkeypatch.setattr(renderjob.helper, "cores", lambda: cores)
    assert renderjob.render_helpers() == helpers


def test_several_helpers_share_a_build_byte_for_byte(write_entry, config, tmp_path, shares, monkeypatch, caplog):
    monkeypatch.setattr(renderjob.helper, "cores", lambda: 3)
    started = []
    real = site.helper.Session.__init__
    monkeypatch.setattr(site.helper.Session, "__init__", lambda self: started.append(1) or real(self))
    fill(write_entry, 20)
    _, three = built(config)
    assert len(started) == 2 and "helper failed" not in caplog.text
    monkeypatch.setattr(renderjob, "PARALLEL_FROM", 10**9)
    _, one = built(dataclasses.replace(config, cache_path=tmp_path / "other-cache"))
    assert three == one


def test_formats_of_one_feed_and_its_page_go_in_one_piece(monkeypatch):
    monkeypatch.setattr(renderjob.helper, "cores", lambda: 2)
    keys = [f"k{i}" for i in range(200)]
    jobs = [renderjob.FeedJob(f"/{k}/feed.{fmt}", "", _spec(k), fmt, None) for k in keys for fmt in ("rss", "atom")]
    jobs += [renderjob.PageJob(f"/{k}/", "", Category(k, k, k, "", ()), None, None) for k in keys]
    cut = renderjob.pieces(jobs)
    assert cut is not None and len(cut) == 200 // renderjob.PIECE_FEEDS
    assert sorted(j.path for piece in cut for j in piece) == sorted(j.path for j in jobs)
    for piece in cut:
        assert len({j.key for j in piece}) == renderjob.PIECE_FEEDS and len(piece) == 3 * renderjob.PIECE_FEEDS
    assert renderjob.pieces(jobs[:renderjob.PARALLEL_FROM - 1]) is None   # too few to be worth a helper


def _spec(key):
    return FeedSpec(key, "", "", "", "", {}, (), "en", Author("x"), True, 60)


def test_a_failing_render_helper_costs_no_feed(write_entry, config, tmp_path, shares, monkeypatch, caplog):
    fill(write_entry, 20)
    monkeypatch.setattr(sys, "executable", "/bin/false")
    _, served = built(config)
    assert len(shares) == 1 and "render helper failed" in caplog.text   # its first piece failed
    monkeypatch.setattr(renderjob, "PARALLEL_FROM", 10**9)
    _, one = built(dataclasses.replace(config, cache_path=tmp_path / "other-cache"))
    assert served == one


def test_a_feed_neither_process_can_build_fails_the_refresh_and_keeps_the_last_feeds(write_entry, config, shares,
                                                                                      monkeypatch):
    fill(write_entry, 20)
    r = new_refresher(config, clock=lambda: NOW)
    assert r.refresh().ok
    before = {p: r.store.current.get(p).etag for p in r.store.current.feed_paths}
    write_entry("e999.md", {"title": "Entry 999", "date": "2025-08-01T09:30:00Z", "categories": ["Science"]}, "New.\n")
    monkeypatch.setattr(sys, "executable", "/bin/false")       # the helper fails...

    def refuse(job, cats_of):                                  # ...and so does this process
        raise FeedBuildError(job.path, "cannot build this feed")

    monkeypatch.setattr(site, "body_of", refuse)
    report = r.refresh()
    assert not report.ok and "cannot build this feed" in report.error
    assert {p: r.store.current.get(p).etag for p in r.store.current.feed_paths} == before


def test_a_build_that_fails_here_stops_the_helper_it_started(write_entry, config, tmp_path, monkeypatch):
    monkeypatch.setattr(renderjob, "PARALLEL_FROM", 1)
    monkeypatch.setattr(renderjob.helper, "cores", lambda: 2)
    fill(write_entry, 20)
    slow = tmp_path / "slow-python"
    slow.write_text("#!/bin/sh\nexec sleep 60\n")
    slow.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(slow))       # a helper that would run for a minute
    procs = []
    real = site.helper.Session.__init__
    monkeypatch.setattr(site.helper.Session, "__init__", lambda self: (real(self), procs.append(self.proc))[0])

    def refuse(job, cats_of):
        raise FeedBuildError(job.path, "cannot build this feed")

    monkeypatch.setattr(site, "body_of", refuse)             # this process's own share fails
    report = new_refresher(config, clock=lambda: NOW).refresh()
    assert not report.ok and "cannot build this feed" in report.error
    deadline = time.monotonic() + 10        # the helper may start only after the build gave up
    while not procs and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(procs) == 1
    assert procs[0].wait(10) == -signal.SIGKILL


def test_one_helper_starts_during_a_large_first_walk_parses_the_entries_then_renders_the_feeds(
        write_entry, config, shares, monkeypatch):
    from feedsvc import entries, parsejob
    monkeypatch.setattr(parsejob, "PARALLEL_FROM", 4)
    monkeypatch.setattr(parsejob, "PIECE", 2)
    # This process parses nothing until the helper has parsed a piece, however slowly it starts.
    parsed_there = threading.Event()
    deadline = time.monotonic() + 60
    here = parsejob._parse_here
    monkeypatch.setattr(parsejob, "_parse_here", lambda jobs, site_: (
        parsed_there.wait(max(0.0, deadline - time.monotonic())), here(jobs, site_))[1])
    walking = []
    scan = entries.scan_entry_files
    monkeypatch.setattr(entries, "scan_entry_files",
                        lambda *a, **k: walking.append(True) or (scan(*a, **k), walking.clear())[0])
    spawned = []
    real_init = site.helper.Session.__init__
    monkeypatch.setattr(site.helper.Session, "__init__",
                        lambda self: (real_init(self), spawned.append((self.proc.pid, bool(walking))))[0])
    used = []
    real_ask = site.helper.Session.ask

    def ask(self, work, payload):
        used.append((work.__name__, self.proc.pid))
        try:
            return real_ask(self, work, payload)
        finally:
            if work.__name__ == "_parse_share":
                parsed_there.set()

    monkeypatch.setattr(site.helper.Session, "ask", ask)
    fill(write_entry, 20)
    report, _ = built(config)
    assert report.files == 20 and len(spawned) == 1
    (pid, during_walk), = spawned
    assert during_walk                                     # started before the walk had ended
    assert {w for w, _ in used} == {"_parse_share", "_render_share"} and {p for _, p in used} == {pid}
    assert site.helper._idle == []                         # and stopped with the refresh


def test_a_new_rendering_version_renders_again_what_an_older_one_left(write_entry, config, monkeypatch):
    fill(write_entry, 5)
    assert new_refresher(config, clock=lambda: NOW).refresh().ok
    again = new_refresher(config, clock=lambda: NOW)        # a restart on the same cache folder
    assert again.refresh().rendered == 0
    monkeypatch.setattr(site, "RENDERING", site.RENDERING + "-next")
    upgraded = new_refresher(config, clock=lambda: NOW)
    report = upgraded.refresh()
    assert report.rendered == len(upgraded.store.current.resources)
