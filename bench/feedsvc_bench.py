"""feedsvc under measurement: started through its CLI (or a WSGI server on ``wsgi:app``), driven over HTTP."""
from __future__ import annotations

import json
import os
import re
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from .common import (PEERS_VENV, ROOT, Load, TreeMemory, get, get_all, have, start, statuses, stop, wait_tree_idle,
                     wait_until, wrk)

TOKEN = "bench-admin-token"
BASE_URL = "https://bench.example.org"   # the same for every server, so bytes and ETags are comparable
FORMATS = ("rss", "atom", "json")
EDIT = b"\nOne more sentence, added by the benchmark.\n"


def write_config(path: Path, entries: Path, cache: Path) -> Path:
    path.write_text(f"""# written by bench/run.py
[site]
title = "Bench"
base_url = "{BASE_URL}"
timezone = "UTC"
[entries]
path = {json.dumps(str(entries))}
[cache]
path = {json.dumps(str(cache))}
[refresh]
interval_seconds = 3600
""")
    return path


# -- servers ------------------------------------------------------------------------

@dataclass(frozen=True)
class Candidate:
    """One way of serving feedsvc: a label and the command for a port and a config."""

    label: str
    kind: str      # "serve": feedsvc serve; "gunicorn-sync", "waitress": a WSGI server on wsgi:app

    def command(self, port: int, config: Path) -> list[str] | None:
        py = sys.executable
        if self.kind == "serve":
            return [py, "-m", "feedsvc", "serve", "--config", str(config), "--port", str(port), "--workers", "2",
                    "--no-access-log"]
        if self.kind == "serve-gunicorn":
            return [*Candidate("", "serve").command(port, config), "--server", "gunicorn"]  # type: ignore[misc]
        if self.kind == "gunicorn-sync":
            return [py, "-m", "gunicorn", "-k", "sync", "-w", "2", "-b", f"127.0.0.1:{port}", "--chdir", str(ROOT),
                    "wsgi:app"]
        if self.kind == "waitress":
            site = waitress_site()
            return None if site is None else [py, "-m", "bench.waitress_app", "--port", str(port), "--threads", "8",
                                              "--site-packages", str(site)]
        raise ValueError(self.kind)


DEFAULT = Candidate("feedsvc serve (default: granian, 2 workers)", "serve")
CANDIDATES = (
    Candidate("feedsvc serve --server gunicorn (gthread, 2x4)", "serve-gunicorn"),
    Candidate("gunicorn sync, 2 workers, wsgi:app", "gunicorn-sync"),
    Candidate("waitress, 8 threads, wsgi:app", "waitress"),
)


def waitress_site() -> Path | None:
    """The peers venv's site-packages if waitress is installed there (bench/setup.sh)."""
    return next((p.parent.parent for p in PEERS_VENV.glob("lib/python*/site-packages/waitress/__init__.py")), None)


class Server:
    """A running feedsvc: its process tree, sampled for memory from the start."""

    def __init__(self, candidate: Candidate, port: int, config: Path, log: Path) -> None:
        cmd = candidate.command(port, config)
        if cmd is None:
            raise FileNotFoundError(f"{candidate.label}: not installed (run bench/setup.sh)")
        self.label = candidate.label
        self.base = f"http://127.0.0.1:{port}"
        self.log = log
        self.started = time.perf_counter()
        self.started_wall = datetime.now(timezone.utc)
        self.proc = start(cmd, log, env={"FEEDSVC_ADMIN_TOKEN": TOKEN, "FEEDSVC_CONFIG": str(config)})
        self.memory = TreeMemory(self.proc.pid)

    def wait_all_feeds(self, timeout: float) -> tuple[float, list[str]]:
        """Seconds from process start until /opml.xml and every feed it implies answer 200."""
        deadline = self.started + timeout
        if not wait_until(lambda: get(self.base + "/opml.xml", timeout=10).status == 200,
                          deadline - time.perf_counter(), alive=self.proc):
            raise RuntimeError(f"{self.label}: no /opml.xml ({self.why()})")
        feeds = feed_paths(get(self.base + "/opml.xml").body)
        pending = list(feeds)
        while pending:
            answers = statuses(self.base, pending)
            pending = [p for p, status in answers.items() if status != 200]
            if pending and (time.perf_counter() > deadline or self.proc.poll() is not None):
                raise RuntimeError(f"{self.label}: {len(pending)} feeds not served, e.g. {pending[:3]} "
                                   f"({self.why()})")
            if pending:
                time.sleep(0.05)
        return time.perf_counter() - self.started, feeds

    def why(self) -> str:
        state = "running" if self.proc.poll() is None else f"exited {self.proc.returncode}"
        return f"{state}; see {self.log}"

    def refresh(self) -> tuple[float, dict]:
        """POST /admin/refresh: (round-trip seconds, the JSON report)."""
        t0 = time.perf_counter()
        r = get(self.base + "/admin/refresh", {"Authorization": f"Bearer {TOKEN}"}, method="POST", body=b"",
                timeout=900)
        took = time.perf_counter() - t0
        if r.status not in (200, 500):
            raise RuntimeError(f"admin refresh answered {r.status}: {r.body[:200]!r}")
        return took, json.loads(r.body)

    def settle(self, timeout: float) -> float | None:
        """Seconds until the server's processes go idle (a background refresh after start has finished)."""
        return wait_tree_idle(self.proc.pid, timeout)

    def stop(self) -> TreeMemory:
        stop(self.proc)
        return self.memory.stop()


def feed_paths(opml: bytes) -> list[str]:
    """Every current feed in every format, from the OPML list (which names one format per feed)."""
    urls = re.findall(r'xmlUrl="([^"]+)"', opml.decode())
    stems = [urlsplit(u).path.rsplit(".", 1)[0] for u in urls]
    return [f"{s}.{fmt}" for s in stems for fmt in FORMATS]


# -- incremental refresh ---------------------------------------------------------------

@dataclass
class EditedFile:
    """An entry file the benchmark changed, and how to put it back exactly as it was."""

    path: Path
    original: bytes
    times: tuple[int, int]

    @classmethod
    def edit(cls, path: Path) -> "EditedFile":
        st = path.stat()
        edited = cls(path, path.read_bytes(), (st.st_atime_ns, st.st_mtime_ns))
        path.write_bytes(edited.original + EDIT)
        return edited

    def restore(self) -> None:
        self.path.write_bytes(self.original)
        os.utime(self.path, ns=self.times)


@dataclass
class Incremental:
    served: float              # POST sent -> every changed feed answers with its new ETag
    refresh_wall: float        # the POST's round trip
    refresh_duration: float    # the report's own duration
    rendered: int
    reparsed: int | None
    changed: list[str]
    expected: list[str]        # the feeds holding the edited entry
    total_feeds: int
    stale_after: int           # answers with the old ETag among repeated GETs once served
    idle_wall: float
    idle_duration: float
    idle_rendered: int
    idle_changed: int
    edited: EditedFile
    published: "Published | None" = None


@dataclass
class Published:
    """A new article written beside the newest one (same categories, a minute newer), then deleted."""

    served: float              # POST sent -> every feed holding it answers with its new ETag
    refresh_duration: float
    rendered: int
    changed: list[str]
    removed_served: float      # the same once the file is deleted again
    removed_duration: float
    removed_rendered: int
    removed_changed: list[str]


def publish_and_retract(srv: Server, newest: Path) -> Published:
    """Write a new article next to ``newest``, refresh and time it; delete it, refresh and time that."""
    text = newest.read_text(encoding="utf-8")
    meta = yaml.safe_load(text.split("\n---", 1)[0].removeprefix("---"))
    cats = meta.get("categories") or []
    new = newest.with_name("bench-published-article.md")
    new.write_text("---\n" + yaml.safe_dump({
        "title": "An article the benchmark publishes", "date": _a_minute_after(srv),
        "categories": cats if isinstance(cats, list) else [cats],
    }, allow_unicode=True) + "---\nIt is published, timed and deleted again.\n", encoding="utf-8")
    try:
        served, _, report = refresh_until_served(srv)
    finally:
        new.unlink()
    gone, _, after = refresh_until_served(srv)
    return Published(served, report.get("duration", float("nan")), report.get("rendered", -1),
                     sorted(f["path"] for f in report.get("feeds", []) if f["changed"]), gone,
                     after.get("duration", float("nan")), after.get("rendered", -1),
                     sorted(f["path"] for f in after.get("feeds", []) if f["changed"]))


def _a_minute_after(srv: Server) -> str:
    """A minute after the site's newest entry (never in the future, which would schedule it)."""
    newest = json.loads(get(srv.base + "/feed.json").body)["items"][0]["date_published"]
    when = datetime.fromisoformat(newest.replace("Z", "+00:00")) + timedelta(minutes=1)
    return min(when, datetime.now(timezone.utc)).isoformat()


def refresh_until_served(srv: Server) -> tuple[float, float, dict]:
    """POST a refresh; (seconds until every feed it changed answers with its new ETag,
    the POST's round trip, its report)."""
    t0 = time.perf_counter()
    wall, report = srv.refresh()
    pending = {f["path"]: f["etag"] for f in report.get("feeds", []) if f["changed"]}
    while pending and time.perf_counter() - t0 < 120:
        answers = get_all(srv.base, pending)
        pending = {p: tag for p, tag in pending.items() if answers[p].etag() != tag}
    return (time.perf_counter() - t0 if not pending else float("inf")), wall, report


def newest_entry(srv: Server, entries: Path) -> Path:
    slug = json.loads(get(srv.base + "/feed.json").body)["items"][0]["url"].rstrip("/").rsplit("/", 1)[1]
    return next(entries.rglob(f"{slug}.md"))


def feeds_of(path: Path) -> list[str]:
    """The current feeds an entry appears in when it is the newest: the site's and its categories'."""
    from feedsvc.slugs import slugify  # the project's own slug rule
    meta = yaml.safe_load(path.read_text(encoding="utf-8").split("\n---", 1)[0].removeprefix("---"))
    cats = meta.get("categories") or []
    cats = [cats] if isinstance(cats, str) else cats
    stems = ["/feed"] + [f"/categories/{slugify(str(c))}/feed" for c in cats]
    return sorted(f"{s}.{fmt}" for s in stems for fmt in FORMATS)


def incremental(srv: Server, entries: Path, total_feeds: int) -> Incremental:
    """Edit the newest entry, refresh, time until its feeds are served anew; then refresh with nothing changed.

    The file is put back afterwards (and refreshed once more), so later runs see the corpus as generated.
    """
    target = newest_entry(srv, entries)
    expected = feeds_of(target)
    old = get(srv.base + "/feed.atom").etag()
    edited = EditedFile.edit(target)
    try:
        served, wall, report = refresh_until_served(srv)
        new = {f["path"]: f["etag"] for f in report.get("feeds", []) if f["changed"]}
        stale = sum(1 for _ in range(20) if get(srv.base + "/feed.atom").etag() == old)
        idle_wall, idle = srv.refresh()
    finally:
        edited.restore()
    srv.refresh()   # back to the corpus as generated: the warm restart and the peers see nothing changed
    published = publish_and_retract(srv, target)
    return Incremental(
        served=served, refresh_wall=wall, refresh_duration=report.get("duration", float("nan")),
        rendered=report.get("rendered", -1), reparsed=report.get("reparsed"), changed=sorted(new),
        expected=expected, total_feeds=total_feeds, stale_after=stale, idle_wall=idle_wall,
        idle_duration=idle.get("duration", float("nan")), idle_rendered=idle.get("rendered", -1),
        idle_changed=sum(1 for f in idle.get("feeds", []) if f["changed"]), edited=edited, published=published)


# -- serving ---------------------------------------------------------------------------

VARIANTS = ("identity", "gzip", "304")


def biggest_category_feed(srv: Server, feeds: list[str]) -> str:
    rss = [p for p in feeds if p.startswith("/categories/") and p.endswith(".rss")]
    return max(rss, key=lambda p: len(get(srv.base + p).body))


def variant_headers(base_url: str, path: str) -> dict[str, dict[str, str]]:
    """The three request kinds a poller sends; 304 uses the server's own ETag for the plain body."""
    tag = get(base_url + path).headers.get("etag", "")
    return {"identity": {}, "gzip": {"Accept-Encoding": "gzip"}, "304": {"If-None-Match": tag}}


EXPECTED_STATUS = {"identity": 200, "gzip": 200, "304": 304}


def serve_load(base_url: str, path: str, seconds: int) -> dict[str, Load]:
    """wrk on one URL, each variant in turn; checks each variant gets the status it should."""
    out = {}
    for variant, headers in variant_headers(base_url, path).items():
        probe = get(base_url + path, headers)
        if probe.status != EXPECTED_STATUS[variant] or (variant == "gzip" and
                                                         probe.headers.get("content-encoding") != "gzip"):
            raise RuntimeError(f"{base_url}{path} {variant}: answered {probe.status} "
                               f"{probe.headers.get('content-encoding', '')}")
        out[variant] = wrk(base_url + path, seconds, headers)
    return out


def can_load() -> bool:
    return have("wrk")
