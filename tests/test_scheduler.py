"""The leader runs the refreshes other processes ask it for."""
from __future__ import annotations

import threading
import time

from feedsvc import refresher as refresher_module
from feedsvc.refresher import new_refresher
from feedsvc.scheduler import RefreshScheduler

from .conftest import NOW


def test_a_request_made_while_a_refresh_runs_gets_a_refresh_begun_after_it(write_entry, config, monkeypatch):
    write_entry("a.md", {"title": "A", "date": "2025-07-01T09:30:00Z"}, "Body.\n")
    r = new_refresher(config, clock=lambda: NOW)
    assert r.refresh().ok
    scheduler = RefreshScheduler(r, 3600, r.disk)
    running, release = threading.Event(), threading.Event()
    load = refresher_module.load_entries

    def slow_load(*a, **k):          # the first refresh below holds on until told
        if not release.is_set():
            running.set()
            release.wait(10)
        return load(*a, **k)

    monkeypatch.setattr(refresher_module, "load_entries", slow_load)
    busy = threading.Thread(target=r.refresh)
    busy.start()
    scheduler.start()
    try:
        assert running.wait(10)
        asked = r.disk.request_refresh()      # another worker's admin request, made meanwhile
        time.sleep(0.2)                       # the leader sees it and joins the refresh running
        release.set()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            report = r.disk.read_report() or {}
            if report.get("started_wall", 0.0) >= asked and report.get("finished"):
                break
            time.sleep(0.02)
        assert report.get("started_wall", 0.0) >= asked, "no refresh begun after the request was published"
    finally:
        release.set()
        busy.join(10)
        scheduler.shutdown()
