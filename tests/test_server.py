"""The real service on 127.0.0.1: gunicorn, the scheduler with a real clock, signals, restarts."""
from __future__ import annotations

import datetime as dt
import gzip
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import feedparser
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from .servers import ROOT, Server, feedsvc, free_port


def write_config(tmp_path: Path, interval: int = 3600, extra: str = "") -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"""
[site]
title = "Server Test"
base_url = "https://news.example.org"
timezone = "UTC"

[entries]
path = "entries"

[refresh]
interval_seconds = {interval}
{extra}
""", encoding="utf-8")
    (tmp_path / "entries").mkdir(exist_ok=True)
    return cfg


def write(tmp_path: Path, name: str, title: str, date: str, cats: str = "[World & U.S. News]") -> None:
    (tmp_path / "entries" / name).write_text(
        f"---\ntitle: {title}\ndate: {date}\ncategories: {cats}\n---\n{title} body.\n", encoding="utf-8")


@pytest.fixture
def server_factory():
    started: list[Server] = []

    def start(cfg: Path, *extra: str) -> Server:
        s = Server(feedsvc("serve", "--config", str(cfg), "--port", "{port}", *extra))
        started.append(s)
        return s.wait_ready()

    yield start
    for s in started:
        s.stop()


def titles(server: Server, path: str = "/feed.atom") -> list[str]:
    return [e.title for e in feedparser.parse(server.get(path).content).entries]


@pytest.mark.parametrize("server", ["granian", "gunicorn"])
def test_gzip_head_and_304_over_a_real_connection(tmp_path, server_factory, server):
    cfg = write_config(tmp_path)
    write(tmp_path, "a.md", "Alpha", "2025-07-01T00:00:00Z")
    s = server_factory(cfg, "--server", server)
    r = s.get("/categories/world-us-news/feed.rss", headers={"Accept-Encoding": "gzip"}, stream=True)
    raw = r.raw.read(decode_content=False)
    assert r.headers["Content-Encoding"] == "gzip" and gzip.decompress(raw).startswith(b"<?xml")
    h = requests.head(s.base + "/feed.rss", timeout=5)
    assert h.status_code == 200 and h.content == b"" and int(h.headers["Content-Length"]) > 0
    for enc in ("identity", "gzip"):
        etag = s.get("/feed.rss", headers={"Accept-Encoding": enc}).headers["ETag"]
        nm = s.get("/feed.rss", headers={"If-None-Match": etag, "Accept-Encoding": enc})
        assert nm.status_code == 304 and nm.content == b"" and nm.headers["ETag"] == etag


def test_scheduled_entry_is_published_within_seconds_of_its_time(tmp_path, server_factory):
    cfg = write_config(tmp_path, interval=3600)   # the interval alone would take an hour
    write(tmp_path, "a.md", "Alpha", "2025-07-01T00:00:00Z")
    due = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(seconds=3)
    write(tmp_path, "soon.md", "Soon", due.isoformat())
    s = server_factory(cfg)
    assert titles(s) == ["Alpha"]
    deadline = time.monotonic() + 10
    seen_at = None
    while time.monotonic() < deadline:
        if "Soon" in titles(s):
            seen_at = dt.datetime.now(dt.timezone.utc)
            break
        time.sleep(0.2)
    assert seen_at is not None, s.output()
    assert due <= seen_at <= due + dt.timedelta(seconds=3)


def test_interval_refresh_picks_up_new_files(tmp_path, server_factory):
    cfg = write_config(tmp_path, interval=1)
    write(tmp_path, "a.md", "Alpha", "2025-07-01T00:00:00Z")
    s = server_factory(cfg)
    write(tmp_path, "b.md", "Beta", "2025-07-02T00:00:00Z")
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline and "Beta" not in titles(s):
        time.sleep(0.2)
    assert titles(s) == ["Beta", "Alpha"]


@pytest.mark.parametrize("server", ["granian", "gunicorn"])
def test_sigterm_stops_the_scheduler_and_exits_cleanly(tmp_path, server_factory, server):
    cfg = write_config(tmp_path)
    s = server_factory(cfg, "--server", server)
    # Serving starts before the elected worker has started its scheduler.
    deadline = time.monotonic() + 10
    while "scheduler started" not in s.output() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert s.terminate() == 0
    out = s.output()
    assert "scheduler stopped" in out and "Traceback" not in out


@pytest.mark.parametrize("server", ["granian", "gunicorn"])
def test_a_worker_answers_while_its_first_render_runs_and_a_sigterm_then_stops_it_cleanly(tmp_path, server):
    cfg = write_config(tmp_path)
    for i in range(6000):      # a first render that lasts a while
        write(tmp_path, f"e{i:04d}.md", f"Entry {i}", f"2025-07-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
              f"[Topic {i % 40}]")
    schedule = tmp_path / ".feedsvc-cache" / "schedule.json"
    s = Server(feedsvc("serve", "--config", str(cfg), "--port", "{port}", "--server", server))
    try:
        deadline = time.monotonic() + 30
        while not schedule.exists() and time.monotonic() < deadline:   # written as the first render starts
            time.sleep(0.005)
        s.wait_ready(path="/healthz", timeout=30)      # the worker serves while it renders
        rendered = "refresh ok" in s.output()
        r = s.get("/feed.rss")
        # 503 while the first render runs (unless it has just finished), never a refused connection.
        assert r.status_code == 200 if rendered else r.status_code in (200, 503)
        if r.status_code == 503:
            assert r.headers["Retry-After"] == "30"
        os.kill(s.proc.pid, signal.SIGTERM)           # as a supervisor stops the server
        assert s.proc.wait(timeout=9) == 0, "stopped before the server's 10 s kill timeout"
        out = s.output()
        assert "refused to gracefully stop" not in out and "Traceback" not in out
    finally:
        s.stop()


def test_workers_stop_when_the_servers_main_process_is_killed_and_the_port_can_be_served_again(tmp_path):
    cfg = write_config(tmp_path)
    write(tmp_path, "a.md", "Alpha", "2025-07-01T00:00:00Z")
    # A main process killed cannot remove the metrics folder it made: one of the test's own.
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    s = Server(feedsvc("serve", "--config", str(cfg), "--port", "{port}", "--workers", "2"),
               env={"PROMETHEUS_MULTIPROC_DIR": str(metrics)})
    again, workers = None, []
    try:
        s.wait_ready()
        workers = subprocess.run(["pgrep", "-P", str(s.proc.pid)], capture_output=True, text=True).stdout.split()
        assert len(workers) == 2
        os.kill(s.proc.pid, signal.SIGKILL)            # the OOM killer, say
        s.proc.wait(5)
        deadline = time.monotonic() + 15
        while any(Path(f"/proc/{w}").exists() for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(Path(f"/proc/{w}").exists() for w in workers), "no worker left holding the port"
        again = Server(feedsvc("serve", "--config", str(cfg), "--port", "{port}"), port=s.port).wait_ready()
        assert again.get("/feed.rss").status_code == 200
    finally:
        for server in (again, s):
            if server is not None:
                server.stop()
        for w in workers:      # orphans, had they outlived it (and not a process that took a pid since)
            try:
                if b"feedsvc" in Path(f"/proc/{w}/cmdline").read_bytes():
                    os.kill(int(w), signal.SIGKILL)
            except (FileNotFoundError, ProcessLookupError):
                pass


def test_feeds_are_byte_identical_across_a_restart(tmp_path, server_factory):
    cfg = write_config(tmp_path)
    write(tmp_path, "a.md", "Alpha", "2025-07-01T00:00:00Z")
    write(tmp_path, "b.md", "Beta", "July 2, 2025 9:30 AM", cats="Science")
    paths = ["/feed.rss", "/feed.atom", "/feed.json", "/categories/science/feed.atom", "/opml.xml", "/"]
    s1 = server_factory(cfg)
    first = {p: (s1.get(p).content, s1.get(p).headers["ETag"]) for p in paths}
    s1.terminate()
    s2 = server_factory(cfg)
    assert {p: (s2.get(p).content, s2.get(p).headers["ETag"]) for p in paths} == first


def test_flask_run_serves_the_app_too(tmp_path):
    cfg = write_config(tmp_path)
    write(tmp_path, "a.md", "Alpha", "2025-07-01T00:00:00Z")
    s = Server([sys.executable, "-m", "flask", "--app", "wsgi", "run", "--port", "{port}"],
               env={"FEEDSVC_CONFIG": str(cfg)})
    try:
        s.wait_ready()
        assert titles(s, "/feed.rss") == ["Alpha"]
    finally:
        s.stop()


def test_bad_config_stops_startup_with_one_line_and_status_2(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[site]\ntitle = "x"\nbase_url = "not a url"\n', encoding="utf-8")
    for args in (["serve", "--config", str(cfg)], ["check", "--config", str(cfg)],
                 ["serve", "--config", str(tmp_path / "missing.toml")]):
        r = subprocess.run(feedsvc(*args), capture_output=True, text=True, timeout=30, cwd=ROOT)
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in r.stderr
    assert "site.base_url" in subprocess.run(feedsvc("check", "--config", str(cfg)), capture_output=True,
                                             text=True, timeout=30).stderr


def test_a_cache_folder_that_cannot_be_made_stops_serve_with_one_line_and_status_2(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    cfg = write_config(tmp_path, extra=f'[cache]\npath = "{tmp_path / "a-file"}"\n')
    proc = subprocess.Popen(feedsvc("serve", "--config", str(cfg), "--port", str(free_port())), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:   # it started after all: stop it and its workers
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 2, err
    (line,) = err.strip().splitlines()
    assert "cache.path" in line and "a-file" in line


def test_flask_reloader_starts_one_scheduler(tmp_path):
    cfg = write_config(tmp_path, interval=1)
    write(tmp_path, "a.md", "Alpha", "2025-07-01T00:00:00Z")
    s = Server([sys.executable, "-m", "flask", "--app", "wsgi", "run", "--reload", "--port", "{port}"],
               env={"FEEDSVC_CONFIG": str(cfg)})
    try:
        s.wait_ready()
        time.sleep(3)   # three interval refreshes if one scheduler runs, six if two did
    finally:
        s.stop()
    out = s.output()
    assert out.count("scheduler started") == 1, out
    assert "runs the scheduler" in out


def test_a_request_path_cannot_forge_or_color_access_log_lines(tmp_path, server_factory):
    cfg = write_config(tmp_path)
    write(tmp_path, "a.md", "Alpha", "2025-07-01T00:00:00Z")
    s = server_factory(cfg)
    forged = '[2026-01-01 00:00:00 +0000] 127.0.0.1 - "POST /admin/refresh HTTP/1.1" 200 FORGED'
    r = s.get("/categories/x%0A" + requests.utils.quote(forged) + "%1B[31m/feed.rss")
    assert r.status_code == 404
    assert s.get("/feed.rss").status_code == 200     # a later line: the request above was logged by then
    deadline = time.monotonic() + 5
    while "GET /feed.rss" not in s.output() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = s.output().splitlines()
    assert not [line for line in lines if line.startswith("[2026-01-01")]
    (logged,) = [line for line in lines if "FORGED" in line]
    assert "/categories/x\\x0a[2026-01-01" in logged and "\\x1b[31m" in logged and "\x1b" not in s.output()


@pytest.mark.parametrize("server", ["granian", "gunicorn"])
def test_every_scrape_of_several_workers_shows_the_sum_of_all_of_them(tmp_path, server_factory, server):
    cfg = write_config(tmp_path)
    write(tmp_path, "a.md", "Alpha", "2025-07-01T00:00:00Z")
    s = server_factory(cfg, "--server", server, "--workers", "2").wait_settled()

    def get(path: str) -> requests.Response:
        return requests.get(s.base + path, timeout=5, headers={"Connection": "close"})

    # New connections at once: gunicorn's workers take turns only under load.
    with ThreadPoolExecutor(8) as pool:
        pids: set[int] = set()
        for _ in range(10):
            pids.update(r.json()["pid"] for r in pool.map(get, ["/status"] * 16))
            if len(pids) == 2:
                break
        assert len(pids) == 2, "one worker answered all; the scrapes below would prove nothing"
        polls = 24
        assert {r.status_code for r in pool.map(get, ["/feed.rss"] * polls)} == {200}
        scrapes = [{(m.name, tuple(sorted(m.labels.items()))): m.value
                    for family in text_string_to_metric_families(r.text) for m in family.samples}
                   for r in pool.map(get, ["/metrics"] * 8)]
    polled = ("feedsvc_http_requests_total", (("route", "/feed.<fmt>"), ("status", "200")))
    refreshed = ("feedsvc_refresh_total", (("outcome", "ok"),))
    assert [m.get(polled) for m in scrapes] == [polls] * 8
    assert all(m.get(refreshed, 0) >= 1 for m in scrapes), [m.get(refreshed) for m in scrapes]


@pytest.mark.parametrize("server", ["granian", "gunicorn"])
def test_the_workers_metrics_folder_lives_as_long_as_the_server(tmp_path, server, monkeypatch):
    cfg = write_config(tmp_path)
    (tmp_path / "tmp").mkdir()
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    s = Server(feedsvc("serve", "--config", str(cfg), "--port", "{port}", "--server", server, "--workers", "2"),
               env={"TMPDIR": str(tmp_path / "tmp")})
    try:
        s.wait_ready().wait_settled()
        (folder,) = (tmp_path / "tmp").glob("feedsvc-metrics-*")
        assert list(folder.glob("counter_*.db"))
        assert s.terminate() == 0, s.output()
    finally:
        s.stop()
    assert not folder.exists() and "Traceback" not in s.output()


def test_a_metrics_folder_the_operator_set_is_used_and_kept(tmp_path, server_factory, monkeypatch):
    cfg = write_config(tmp_path)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "prom"))
    s = server_factory(cfg, "--workers", "2").wait_settled()
    assert s.get("/feed.rss").status_code == 200
    assert s.terminate() == 0
    assert list((tmp_path / "prom").glob("counter_*.db"))


@pytest.mark.parametrize("reuse_port", [False, True], ids=["plain", "reuse-port"])
def test_serve_refuses_a_port_another_server_listens_on(tmp_path, reuse_port):
    if reuse_port and not hasattr(socket, "SO_REUSEPORT"):
        pytest.skip("no SO_REUSEPORT here")
    cfg = write_config(tmp_path)
    with socket.socket() as taken:
        if reuse_port:  # as another granian listens, which a second one used to share
            taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        proc = subprocess.Popen(feedsvc("serve", "--config", str(cfg), "--port", str(port), "--workers", "1"),
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                _, err = proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                _, err = proc.communicate()
            pytest.fail(f"feedsvc serve started on a taken port: {err}")
    assert proc.returncode != 0, err
    assert time.monotonic() - started < 15
    assert err.strip().splitlines() == [f"feedsvc: cannot listen on 127.0.0.1:{port}: address already in use "
                                        "(is another feedsvc or another server running there?)"], err
