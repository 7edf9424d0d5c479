"""Several worker processes on 127.0.0.1: they agree, follow a refresh, survive a kill, restart warm."""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from .servers import Server, feedsvc
from .test_server import write, write_config
from .test_websub import Hub

TOKEN = "workers-token"


@pytest.fixture
def cluster(tmp_path):
    cfg = write_config(tmp_path)
    write(tmp_path, "a.md", "Alpha", "2025-07-01T00:00:00Z")
    servers = []

    def start(workers=2):
        s = Server(feedsvc("serve", "--config", str(cfg), "--port", "{port}", "--workers", str(workers)),
                   env={"FEEDSVC_ADMIN_TOKEN": TOKEN})
        servers.append(s)
        return s.wait_ready()

    yield start, tmp_path
    for s in servers:
        s.stop()


def pids_seen(server, n=60):
    """Worker pids that answered n requests (each /status names its process)."""
    pids = set()
    for _ in range(n):
        pids.add(requests.get(server.base + "/status", timeout=5, headers={"Connection": "close"}).json()["pid"])
    return pids


def etags(server, path, n=40):
    return {requests.get(server.base + path, timeout=5, headers={"Connection": "close",
                                                                  "Accept-Encoding": "identity"}).headers["ETag"]
            for _ in range(n)}


def test_every_worker_serves_the_same_bytes(cluster):
    start, _ = cluster
    s = start(2)
    assert len(pids_seen(s)) == 2
    for path in ("/feed.rss", "/feed.atom", "/categories/world-us-news/feed.json", "/opml.xml", "/"):
        assert len(etags(s, path)) == 1, path


def test_a_refresh_through_one_worker_is_seen_by_all_within_a_second(cluster):
    start, tmp = cluster
    s = start(2)
    old = etags(s, "/feed.atom")
    write(tmp, "b.md", "Beta", "2025-07-02T00:00:00Z")
    r = requests.post(s.base + "/admin/refresh", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert r.status_code == 200 and r.json()["added"]
    new_etag = next(f["etag"] for f in r.json()["feeds"] if f["path"] == "/feed.atom")
    time.sleep(1.0)
    assert etags(s, "/feed.atom", 60) == {f'"{new_etag}"'} != old


def test_concurrent_refreshes_across_workers_run_one_at_a_time(cluster):
    start, tmp = cluster
    s = start(2)
    write(tmp, "b.md", "Beta", "2025-07-02T00:00:00Z")

    def post(_):
        return requests.post(s.base + "/admin/refresh", headers={"Authorization": f"Bearer {TOKEN}",
                                                                  "Connection": "close"}, timeout=60).json()

    with ThreadPoolExecutor(8) as pool:
        reports = list(pool.map(post, range(16)))
    assert all(r["ok"] for r in reports)
    # Runs never overlap: sort by start; each starts after the previous one finished.
    runs = sorted({(r["started_wall"], r["started"], r["finished"], r["by_pid"]) for r in reports})
    for a, b in zip(runs, runs[1:]):
        assert b[1] >= a[2], (a, b)
    assert len(runs) < len(reports)  # requests joined runs instead of each starting one
    assert s.proc.poll() is None


def test_only_one_worker_runs_the_scheduler_and_another_takes_over_if_it_dies(cluster):
    start, _ = cluster
    s = start(2)
    deadline = time.monotonic() + 10
    leader = None
    while time.monotonic() < deadline and leader is None:
        sched = requests.get(s.base + "/status", timeout=5).json()["schedule"]
        leader = sched and sched.get("pid")
        time.sleep(0.1)
    assert leader
    os.kill(leader, signal.SIGKILL)
    deadline = time.monotonic() + 15
    new_leader = leader
    while time.monotonic() < deadline and new_leader == leader:
        try:
            sched = requests.get(s.base + "/status", timeout=5).json()["schedule"]
            new_leader = sched and sched.get("pid")
        except requests.RequestException:
            pass
        time.sleep(0.2)
    assert new_leader and new_leader != leader


def test_killed_worker_is_replaced_without_losing_feeds(cluster):
    start, _ = cluster
    s = start(2)
    before = etags(s, "/feed.rss")
    victim = next(iter(pids_seen(s, 10)))
    os.kill(victim, signal.SIGKILL)
    failures = 0
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        try:
            r = requests.get(s.base + "/feed.rss", timeout=2, headers={"Connection": "close",
                                                                       "Accept-Encoding": "identity"})
            assert r.status_code == 200 and r.headers["ETag"] in before
        except (requests.ConnectionError, requests.Timeout):
            failures += 1  # a connection the killed worker had already taken
    assert failures <= 2
    pids = pids_seen(s)
    assert len(pids) == 2 and victim not in pids


def test_a_cache_folder_removed_while_serving_is_written_again_without_a_500(cluster):
    start, tmp = cluster
    s = start(2)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    # The tags from a refresh's report: no body is fetched (and kept in a worker's memory) before the removal.
    report = requests.post(s.base + "/admin/refresh", headers=auth, timeout=30).json()
    tags = {f["path"]: f'"{f["etag"]}"' for f in report["feeds"]}
    shutil.rmtree(tmp / ".feedsvc-cache")
    seen: set[int] = set()
    deadline = time.monotonic() + 30
    while True:
        answers = {p: requests.get(s.base + p, timeout=5, headers={"Connection": "close", "Accept-Encoding": "identity"})
                   for p in tags}
        seen |= {r.status_code for r in answers.values()}
        if all(r.status_code == 200 for r in answers.values()) or time.monotonic() > deadline:
            break
        assert all(r.headers.get("Retry-After") for r in answers.values() if r.status_code == 503)
        time.sleep(0.2)
    assert {p: r.headers["ETag"] for p, r in answers.items()} == tags     # the same bytes, written again
    assert seen <= {200, 503}
    assert (tmp / ".feedsvc-cache" / "current").is_file()
    again = requests.post(s.base + "/admin/refresh", headers=auth, timeout=30)
    assert again.status_code == 200 and again.json()["ok"]
    assert requests.get(s.base + "/status", timeout=5).json()["refreshing"] is False


def test_restart_serves_the_last_snapshot_from_the_first_request(cluster):
    start, tmp = cluster
    s = start(2)
    before = etags(s, "/feed.rss")
    assert s.terminate() == 0
    s2 = Server(feedsvc("serve", "--config", str(tmp / "config.toml"), "--port", "{port}", "--workers", "2"))
    try:
        deadline = time.monotonic() + 20
        first = None
        while time.monotonic() < deadline and first is None:
            try:
                first = requests.get(s2.base + "/feed.rss", timeout=5, headers={"Accept-Encoding": "identity"})
            except requests.ConnectionError:
                time.sleep(0.02)
        assert first is not None and first.status_code == 200
        assert {first.headers["ETag"]} == before
    finally:
        s2.stop()


def test_on_a_cold_start_the_worker_that_renders_runs_the_scheduler_and_walks_only_once(cluster):
    start, _ = cluster
    s = start(2)
    deadline = time.monotonic() + 10
    status = {}
    while time.monotonic() < deadline and not (status.get("schedule") or {}).get("pid"):
        status = requests.get(s.base + "/status", timeout=5).json()
        time.sleep(0.05)
    time.sleep(1.0)                     # room for a refresh behind the first render, if one were started
    status = requests.get(s.base + "/status", timeout=5).json()
    last = status["last_refresh"]
    assert last["by_pid"] == status["schedule"]["pid"]
    assert last["added"] == ["tag:news.example.org,2025-07-01:/articles/a/"]     # still the first render's report


def test_if_the_worker_rendering_the_first_snapshot_dies_another_renders_it_and_leads(tmp_path):
    cfg = write_config(tmp_path)
    for i in range(4000):      # a first render long enough to be cut short
        write(tmp_path, f"e{i:04d}.md", f"Entry {i}", f"2025-07-{1 + i % 28:02d}T{i % 24:02d}:00:00Z")
    schedule = tmp_path / ".feedsvc-cache" / "schedule.json"
    s = Server(feedsvc("serve", "--config", str(cfg), "--port", "{port}", "--workers", "2"),
               env={"FEEDSVC_ADMIN_TOKEN": TOKEN})
    try:
        deadline = time.monotonic() + 30
        first = None
        while time.monotonic() < deadline and first is None:
            try:
                first = json.loads(schedule.read_text())["pid"]     # written as it starts to render
            except (FileNotFoundError, ValueError, KeyError):
                time.sleep(0.005)
        assert first
        os.kill(first, signal.SIGKILL)
        s.wait_ready(timeout=60)
        deadline = time.monotonic() + 60
        status = {}
        while time.monotonic() < deadline:
            status = requests.get(s.base + "/status", timeout=5).json()
            leader = (status.get("schedule") or {}).get("pid")
            if leader and leader != first and (status.get("last_refresh") or {}).get("ok"):
                break
            time.sleep(0.1)
        assert status["last_refresh"]["by_pid"] == status["schedule"]["pid"] != first
        assert status["counts"]["entries"] == 4000
    finally:
        s.stop()


def test_admin_refreshes_are_run_by_the_scheduler_process(cluster):
    start, tmp = cluster
    s = start(2)
    deadline = time.monotonic() + 10
    leader = None
    while time.monotonic() < deadline and not leader:
        leader = (requests.get(s.base + "/status", timeout=5).json()["schedule"] or {}).get("pid")
        time.sleep(0.1)
    ran_by = set()
    for i in range(8):   # new connections land on both workers
        write(tmp, f"n{i}.md", f"New {i}", f"2025-08-0{i + 1}T00:00:00Z")
        r = requests.post(s.base + "/admin/refresh", headers={"Authorization": f"Bearer {TOKEN}",
                                                               "Connection": "close"}, timeout=60).json()
        assert r["ok"] and f"tag:news.example.org,2025-08-0{i + 1}:/articles/n{i}/" in r["added"]
        ran_by.add(r["by_pid"])
    assert ran_by == {leader}


def statuses(server, path, n=40):
    return {requests.get(server.base + path, timeout=5, headers={"Connection": "close"}).status_code
            for _ in range(n)}


def test_every_worker_serves_an_article_published_and_then_deleted_by_patched_refreshes(cluster):
    start, tmp = cluster
    s = start(2)
    auth = {"Authorization": f"Bearer {TOKEN}", "Connection": "close"}
    assert requests.post(s.base + "/admin/refresh", headers=auth, timeout=30).json()["ok"]   # the watch's baseline
    write(tmp, "b.md", "Beta", "2025-07-02T00:00:00Z")
    r = requests.post(s.base + "/admin/refresh", headers=auth, timeout=30).json()
    assert r["ok"] and r["reparsed"] == 1 and r["added"]
    time.sleep(1.0)
    assert statuses(s, "/articles/b/") == {200} and len(etags(s, "/articles/b/")) == 1
    (tmp / "entries" / "b.md").unlink()
    r = requests.post(s.base + "/admin/refresh", headers=auth, timeout=30).json()
    assert r["ok"] and r["removed"]
    time.sleep(1.0)
    assert statuses(s, "/articles/b/") == {404}
    assert statuses(s, "/articles/a/") == {200}


def status_by_pid(server, n=60):
    """pid -> the /status answers that worker gave, over n new connections."""
    seen: dict[int, list[dict]] = {}
    for _ in range(n):
        st = requests.get(server.base + "/status", timeout=5, headers={"Connection": "close"}).json()
        seen.setdefault(st["pid"], []).append(st)
    return seen


@pytest.fixture
def hub():
    h = Hub()
    yield h
    h.stop()


def test_every_worker_shows_the_hub_counts_of_the_worker_that_notifies(cluster, hub):
    start, tmp = cluster
    write_config(tmp, extra=f'[websub]\nhubs = ["{hub.url}"]\n')
    s = start(2).wait_settled()
    write(tmp, "b.md", "Beta", "2025-07-02T00:00:00Z")
    r = requests.post(s.base + "/admin/refresh", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert r.status_code == 200 and r.json()["ok"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        hubs = s.get("/status").json()["websub"]
        if hub.topics() and hubs[0]["sent"] >= 1 and hubs[0]["queued"] == 0:
            break
        time.sleep(0.02)
    time.sleep(0.2)             # the notifying worker writes its state just after updating it
    seen = status_by_pid(s)
    assert len(seen) == 2
    for pid, answers in seen.items():
        for st in answers:
            assert st["websub"][0]["url"] == hub.url
            assert st["websub"][0]["sent"] >= 1, (pid, st["websub"])
            assert st["websub_by_pid"] == st["schedule"]["pid"]


def test_every_admin_refresh_answer_includes_the_notifications_it_caused(cluster, hub):
    start, tmp = cluster
    write_config(tmp, extra=f'[websub]\nhubs = ["{hub.url}"]\n')
    s = start(2).wait_settled()
    for i in range(6):          # new connections land on both workers
        deadline = time.monotonic() + 10
        while True:             # the earlier notifications are all delivered
            state = s.get("/status").json()["websub"][0]
            if state["queued"] == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        before = state["sent"] + state["failed"]
        write(tmp, f"n{i}.md", f"New {i}", f"2025-08-0{i + 1}T00:00:00Z")
        r = requests.post(s.base + "/admin/refresh", headers={"Authorization": f"Bearer {TOKEN}",
                                                               "Connection": "close"}, timeout=30).json()
        assert r["ok"] and r["added"]
        after = r["websub"][0]
        assert after["sent"] + after["failed"] + after["queued"] > before, (i, before, after)


def test_every_worker_reports_a_refresh_another_process_runs(cluster):
    start, tmp = cluster
    s = start(2).wait_settled()
    fd = os.open(tmp / ".feedsvc-cache" / "refresh.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + 10
        while True:             # as a refresh does; fails the test rather than wait forever
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                assert time.monotonic() < deadline
                time.sleep(0.02)
        held = status_by_pid(s, 40)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    free = status_by_pid(s, 40)
    assert len(held) == 2 and len(free) == 2
    assert {pid: {st["refreshing"] for st in sts} for pid, sts in held.items()} == {pid: {True} for pid in held}
    assert {pid: {st["refreshing"] for st in sts} for pid, sts in free.items()} == {pid: {False} for pid in free}
