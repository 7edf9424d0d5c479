"""Pausing the garbage collector around large batches."""
from __future__ import annotations

import gc
import threading

import pytest

from feedsvc.heap import collections_paused


@pytest.fixture(autouse=True)
def collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    gc.enable() if was else gc.disable()


def test_no_automatic_collection_runs_inside_the_block_and_it_resumes_after():
    with collections_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_overlapping_blocks_resume_collection_only_when_the_last_ends():
    first_in, release = threading.Event(), threading.Event()

    def first():
        with collections_paused():
            first_in.set()
            release.wait(5)

    t = threading.Thread(target=first)
    t.start()
    first_in.wait(5)
    with collections_paused():
        pass
    assert not gc.isenabled()      # the first block still runs
    release.set()
    t.join(5)
    assert gc.isenabled()


def test_a_collector_switched_off_before_stays_off():
    gc.disable()
    with collections_paused():
        pass
    assert not gc.isenabled()


def test_collection_resumes_when_the_block_raises():
    with pytest.raises(KeyError):
        with collections_paused():
            raise KeyError("x")
    assert gc.isenabled()


def test_loading_entries_pauses_collection(config, write_entry, monkeypatch):
    from feedsvc import entries, parsejob

    seen = []
    real = parsejob.parse_entry
    monkeypatch.setattr(parsejob, "parse_entry", lambda *a, **k: seen.append(gc.isenabled()) or real(*a, **k))
    write_entry("a.md", {"title": "A", "date": "2025-07-20T08:00:00Z"}, "Body.\n")
    assert entries.load_entries(config.entries_path, config.site).entries
    assert gc.isenabled()
    assert seen == [False]
