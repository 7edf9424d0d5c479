"""Operator endpoints through the test client: admin refresh, status, metrics."""
from __future__ import annotations

import dataclasses
import threading

import pytest
from prometheus_client.parser import text_string_to_metric_families

from feedsvc.app import create_app, get_app_service

TOKEN = "s3cret-token"


@pytest.fixture
def site(write_entry):
    write_entry("a.md", {"title": "Alpha", "date": "2025-07-01T00:00:00Z", "categories": ["Science"]})


@pytest.fixture
def admin_app(site, make_config, clock):
    config = dataclasses.replace(make_config(), admin_token=TOKEN)
    app = create_app(config, clock=clock)
    app.testing = True
    return app


def auth(token=TOKEN):
    return {"Authorization": f"Bearer {token}"}


def test_admin_refresh_reports_what_changed(admin_app, write_entry):
    client = admin_app.test_client()
    write_entry("b.md", {"title": "Beta", "date": "2025-07-02T00:00:00Z", "categories": ["Science"]})
    write_entry("bad.md", {"title": "Bad", "date": "not a date"})
    r = client.post("/admin/refresh", headers=auth())
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    body = r.get_json()
    assert body["ok"] is True and body["entries"] == 2
    assert body["added"] == ["tag:news.example.org,2025-07-02:/articles/b/"]
    assert body["changed"] == [] and body["removed"] == []
    changed = {f["path"] for f in body["feeds"] if f["changed"]}
    assert changed == {f"/{p}feed.{f}" for p in ("", "categories/science/") for f in ("rss", "atom", "json")}
    for f in body["feeds"]:
        assert client.get(f["path"]).headers["ETag"] == f'"{f["etag"]}"'
    assert [(p["path"], p["field"]) for p in body["problems"]] == [("bad.md", "date")]
    assert body["started"] and body["finished"] and body["duration"] >= 0


def test_admin_refresh_needs_the_bearer_token(admin_app):
    client = admin_app.test_client()
    for headers in ({}, auth("wrong"), {"Authorization": f"Basic {TOKEN}"}, {"Authorization": "Bearer"}):
        r = client.post("/admin/refresh", headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert TOKEN not in r.get_data(as_text=True)


def test_admin_is_refused_when_no_token_is_configured(site, app):
    r = app.test_client().post("/admin/refresh", headers=auth())
    assert r.status_code == 403 and "FEEDSVC_ADMIN_TOKEN" in r.get_data(as_text=True)


def test_admin_refresh_only_accepts_post(admin_app):
    assert admin_app.test_client().get("/admin/refresh", headers=auth()).status_code == 405


def test_a_burst_of_refresh_requests_coalesces(admin_app, monkeypatch):
    service = get_app_service(admin_app)
    gate = threading.Event()
    started = threading.Event()
    runs = []
    real = service.refresher._run

    def slow_run(full=False):
        runs.append(1)
        started.set()
        gate.wait(5)
        return real(full)

    monkeypatch.setattr(service.refresher, "_run", slow_run)
    results = []

    def call():
        results.append(admin_app.test_client().post("/admin/refresh", headers=auth()).status_code)

    first = threading.Thread(target=call)
    first.start()
    assert started.wait(5)
    others = [threading.Thread(target=call) for _ in range(10)]
    for t in others:
        t.start()
    gate.set()
    for t in [first, *others]:
        t.join(10)
    assert results == [200] * 11
    assert len(runs) <= 2  # the burst joined the running refresh (at most one more ran after it)


def test_status_shows_last_refresh_counts_and_problems(site, app, write_entry):
    write_entry("bad.md", "title: [oops")
    get_app_service(app).refresh()
    s = app.test_client().get("/status").get_json()
    assert s["version"] and s["started_at"]
    assert s["last_refresh"]["ok"] is True and s["last_refresh"]["entries"] == 1
    assert s["counts"] == {"entries": 1, "categories": 1, "feeds": 6, "scheduled": 0, "drafts": 0}
    assert [p["path"] for p in s["problems"]] == ["bad.md"]
    assert s["problems"][0]["line"] >= 2 and s["problems"][0]["field"] == "front matter"


@pytest.mark.parametrize("cached", [False, True], ids=["in-memory", "cache-folder"])
def test_status_counts_stay_those_of_the_feeds_served_after_a_failed_refresh(site, write_entry, make_app,
                                                                              entries_dir, tmp_path, cached):
    write_entry("draft.md", {"title": "Draft", "date": "2025-07-02T00:00:00Z", "draft": True})
    write_entry("later.md", {"title": "Later", "date": "2026-07-02T00:00:00Z"})
    app = make_app(**({"cache": {"path": str(tmp_path / "cache")}} if cached else {}))
    service = get_app_service(app)
    assert service.refresh().ok
    client = app.test_client()
    before = client.get("/status").get_json()["counts"]
    assert before == {"entries": 1, "categories": 1, "feeds": 6, "scheduled": 1, "drafts": 1}
    entries_dir.rename(tmp_path / "moved")
    assert not service.refresh().ok
    s = client.get("/status").get_json()
    assert s["last_refresh"]["ok"] is False
    assert s["counts"] == before
    assert client.get("/feed.rss").status_code == 200
    if cached:     # a worker started since, which reads the snapshot from the folder, tells the same
        worker = make_app(cache={"path": str(tmp_path / "cache")})
        assert worker.test_client().get("/status").get_json()["counts"] == before


def test_status_counts_follow_a_refresh_that_changed_only_drafts_in_a_worker_reading_the_folder():
    # Such a refresh publishes no new snapshot: a worker serving the one on disk
    # must not take the counts from that snapshot's manifest.
    from types import SimpleNamespace

    from feedsvc.ops import _made
    on_disk = SimpleNamespace(manifest={"report": {"ok": True, "drafts": 0, "scheduled": 0}})
    worker = SimpleNamespace(refresher=SimpleNamespace(last_ok=None))
    recorded = {"ok": True, "drafts": 1, "scheduled": 2}
    assert _made(on_disk, worker, recorded) == recorded
    failed = {"ok": False}
    assert _made(on_disk, worker, failed) == on_disk.manifest["report"], "after a failure: what the folder kept"


def test_status_shows_a_failed_refresh_the_cache_folder_could_not_record(site, make_app, entries_dir, tmp_path,
                                                                         monkeypatch):
    app = make_app(cache={"path": str(tmp_path / "cache")})
    service = get_app_service(app)
    assert service.refresh().ok
    disk = service.store.disk

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(disk, "write_report", read_only)
    entries_dir.rename(tmp_path / "moved")
    assert not service.refresh().ok
    last = app.test_client().get("/status").get_json()["last_refresh"]
    assert last["ok"] is False and "entries" in last["error"]


@pytest.mark.parametrize("fault", ["disk full", "read-only"])
def test_a_cache_folder_refusing_writes_fails_the_refresh_with_one_line_naming_it(site, make_app, write_entry,
                                                                                  tmp_path, monkeypatch, caplog,
                                                                                  fault):
    import errno
    import logging
    cache = tmp_path / "cache"
    app = make_app(cache={"path": str(cache)})
    service = get_app_service(app)
    assert service.refresh().ok
    disk = service.store.disk
    if fault == "disk full":
        def full(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")
        monkeypatch.setattr(disk, "write", full)
        monkeypatch.setattr(disk, "write_report", full)
        reason = "No space left on device"
    else:
        lock = disk.refresh_lock

        def read_only():
            raise OSError(errno.EROFS, "Read-only file system", str(lock.path))
        monkeypatch.setattr(lock, "_open", read_only)
        reason = "Read-only file system"
    write_entry("b.md", {"title": "Beta", "date": "2025-07-02T00:00:00Z"})
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="feedsvc"):
        report = service.refresh()
    assert not report.ok
    assert report.error == f"cannot write to the cache folder {cache.resolve()}: {reason}"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and all(r.exc_info is None for r in errors), "no trace for a full or read-only disk"
    assert f"refresh failed: {report.error}; still serving the previous feeds" in caplog.text
    assert app.test_client().get("/feed.rss").status_code == 200


def test_only_errors_on_the_cache_folder_are_told_as_the_cache_folders(site, make_app, tmp_path):
    import errno
    cache = tmp_path / "feeds"
    refresher = get_app_service(make_app(cache={"path": str(cache)})).refresher
    beside = OSError(errno.EACCES, "Permission denied", str(tmp_path / "feeds-src" / "a.md"))
    inside = OSError(errno.EACCES, "Permission denied", str(cache.resolve() / "blobs" / "ab" / "abc"))
    assert refresher._cache_fault(beside) == ""
    assert refresher._cache_fault(inside) == f"cannot write to the cache folder {cache.resolve()}: Permission denied"
    assert refresher._cache_fault(OSError(errno.EIO, "Input/output error")) == "", "a read fails with it too"


def test_status_lists_next_scheduled_runs(site, write_entry, make_config, clock):
    import datetime as dt
    clock.now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)  # the scheduler runs on real time
    write_entry("later.md", {"title": "Later", "date": (clock.now + dt.timedelta(days=1)).isoformat()})
    config = dataclasses.replace(make_config(), scheduler_enabled=True)
    app = create_app(config, clock=clock, start_scheduler=True)
    try:
        service = get_app_service(app)
        import time
        deadline = time.monotonic() + 5
        while not service.scheduler.running and time.monotonic() < deadline:
            time.sleep(0.05)
        s = app.test_client().get("/status").get_json()
        assert s["schedule"]["interval_seconds"] == 300
        assert s["schedule"]["interval"] is not None
        assert dt.datetime.fromisoformat(s["schedule"]["due"]) >= clock.now + dt.timedelta(days=1)
        assert s["last_refresh"]["next_due"] == (clock.now + dt.timedelta(days=1)).isoformat()
    finally:
        get_app_service(app).shutdown()


def test_a_server_worker_answers_while_its_first_render_runs_and_leads_after_it(
        site, make_config, clock, monkeypatch):
    import time

    from feedsvc.refresher import Refresher
    gate, rendering = threading.Event(), threading.Event()
    real = Refresher.refresh

    def held(self, *args, **kwargs):
        rendering.set()
        assert gate.wait(10)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Refresher, "refresh", held)
    config = dataclasses.replace(make_config(), scheduler_enabled=True)
    app = create_app(config, clock=clock, start_scheduler=True, render_behind=True)
    service = get_app_service(app)
    try:
        assert rendering.wait(5)
        client = app.test_client()
        r = client.get("/feed.rss")
        assert r.status_code == 503 and r.headers["Retry-After"] == "30"
        assert client.get("/healthz").status_code == 200
        gate.set()
        deadline = time.monotonic() + 10
        while client.get("/feed.rss").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.get("/feed.rss").status_code == 200
        assert service.scheduler.running and service.is_leader
    finally:
        gate.set()
        service.shutdown()


def test_a_first_render_that_raises_is_logged_and_the_scheduler_still_starts(site, make_config, clock,
                                                                            monkeypatch, caplog):
    import logging
    import time

    from feedsvc.service import Service

    def broken(self, lead=False):
        raise PermissionError(13, "Permission denied", "last-refresh.json")

    monkeypatch.setattr(Service, "first_start", broken)
    config = dataclasses.replace(make_config(), scheduler_enabled=True)
    with caplog.at_level(logging.ERROR, logger="feedsvc"):
        app = create_app(config, clock=clock, start_scheduler=True, render_behind=True)
        service = get_app_service(app)
        try:
            deadline = time.monotonic() + 10
            while not service.scheduler.running and time.monotonic() < deadline:
                time.sleep(0.02)
            assert service.scheduler.running, "its refreshes can still publish"
            assert "the first render failed" in caplog.text
        finally:
            service.shutdown()


def _samples(text):
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_count_refreshes_requests_and_304s(site, app):
    client = app.test_client()
    before = _samples(client.get("/metrics").get_data(as_text=True))
    etag = client.get("/feed.rss").headers["ETag"]
    client.get("/feed.rss", headers={"If-None-Match": etag})
    client.get("/categories/nope/feed.rss")
    get_app_service(app).refresh()
    r = client.get("/metrics")
    assert r.headers["Content-Type"].startswith("text/plain")
    after = _samples(r.get_data(as_text=True))

    def delta(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert delta("feedsvc_http_requests_total", route="/feed.<fmt>", status="200") == 1
    assert delta("feedsvc_http_requests_total", route="/feed.<fmt>", status="304") == 1
    assert delta("feedsvc_http_requests_total", route="/categories/<slug>/feed.<fmt>", status="404") == 1
    assert delta("feedsvc_refresh_total", outcome="ok") == 1
    assert delta("feedsvc_http_response_bytes_total", route="/feed.<fmt>") > 0
    assert after[("feedsvc_entries", (("state", "published"),))] == 1
    assert after[("feedsvc_feeds", ())] == 6


def test_status_shows_a_refresh_another_process_runs_and_probing_takes_nothing(site, app):
    import fcntl
    import os
    import time

    service = get_app_service(app)
    client = app.test_client()
    lock = service.store.disk.refresh_lock
    assert client.get("/status").get_json()["refreshing"] is False
    # What another process's refresh holds: the flock, through a descriptor of its own
    fd = os.open(lock.path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        started = time.monotonic()
        assert client.get("/status").get_json()["refreshing"] is True
        assert time.monotonic() - started < 1.0         # the probe does not wait for the lock
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    assert client.get("/status").get_json()["refreshing"] is False
    # the probe let go: a refresh gets the lock at once
    assert lock.acquire(blocking=False)
    try:
        # held by this process's own lock object (and its thread lock): still no wait, still true
        started = time.monotonic()
        assert service.refreshing is True and time.monotonic() - started < 1.0
    finally:
        lock.release()
    assert service.refreshing is False


def test_an_admin_refresh_in_a_worker_joins_the_refresh_the_leader_is_running(write_entry, make_app, monkeypatch):
    import os
    import time as time_module

    from feedsvc.persist import FileLock

    write_entry("a.md", {"title": "A", "date": "2025-07-01T00:00:00Z"})
    service = get_app_service(make_app())
    disk = service.store.disk
    assert disk is not None and not service.is_leader
    disk.write_schedule({"pid": os.getppid()})          # another process leads, alive
    asked: list[float] = []
    monkeypatch.setattr(disk, "request_refresh", lambda: asked.append(1.0) or time_module.time())
    running = FileLock(disk.root / "refresh.lock")       # the leader's refresh, under way
    assert running.acquire()
    report = dict(disk.read_report() or {})
    report.update(started_wall=time_module.time(), by_pid=os.getppid())

    def leader_finishes() -> None:
        time_module.sleep(0.3)
        disk.write_report(report)
        running.release()

    threading.Thread(target=leader_finishes).start()
    got = service.refresh_now()
    assert asked == [] and got.started_wall == report["started_wall"]   # joined, none asked for
