"""Benchmark runner: feedsvc against Hugo and nginx on generated corpora.

    python -m bench [--only 10k|100k] [--quick] [--skip-peers]

Prints one table (figure | feedsvc | peer | ratio | target | pass/fail) and
writes it to bench/results/<time>.md and .json. Everything runs on 127.0.0.1.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import dataclasses
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPORA = HERE / "corpora"
RESULTS = HERE / "results"
SIZES = {"10k": (10_000, 200), "100k": (100_000, 500)}
TOKEN = "bench-token"


@dataclass
class Row:
    figure: str
    feedsvc: str
    peer: str = ""
    ratio: str = ""
    target: str = ""
    verdict: str = ""


# -- helpers ----------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def corpus(name: str) -> Path:
    entries, cats = SIZES[name]
    out = CORPORA / f"e{name}"
    if not (out / ".complete").exists():
        shutil.rmtree(out, ignore_errors=True)
        subprocess.run([sys.executable, str(HERE / "make_corpus.py"), str(out), "--entries", str(entries),
                        "--categories", str(cats)], check=True)
        (out / ".complete").write_text("ok")
    return out


def write_config(name: str, entries: Path, cache: Path, port: int) -> Path:
    cfg = CORPORA / f"config-{name}.toml"
    cfg.write_text(f"""[site]
title = "Bench"
base_url = "http://127.0.0.1:{port}"
timezone = "UTC"
[entries]
path = "{entries}"
[cache]
path = "{cache}"
[refresh]
interval_seconds = 3600
""")
    return cfg


def get(url: str, headers: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers.items()), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers.items()), e.read()
    except OSError:
        return 0, {}, b""


class Tree:
    """Peak resident memory of a process and all its descendants, sampled every 100 ms."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _pids(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    ppid = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(ppid, []).append(int(d))
        out, todo = [], [self.pid]
        while todo:
            p = todo.pop()
            out.append(p)
            todo += children.get(p, [])
        return out

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            total = 0
            for p in self._pids():
                try:
                    m = re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{p}/status").read_text())
                    total += int(m.group(1)) * 1024 if m else 0
                except OSError:
                    pass
            self.peak = max(self.peak, total)

    def stop(self) -> int:
        self._stop.set()
        self._t.join()
        return self.peak


class Service:
    def __init__(self, cfg: Path, port: int, workers: int = 2, extra_env: dict[str, str] | None = None) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.log = open(CORPORA / f"serve-{port}.log", "wb")
        env = {**os.environ, "FEEDSVC_ADMIN_TOKEN": TOKEN, **(extra_env or {})}
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "feedsvc", "serve", "--config", str(cfg), "--port",
                                      str(port), "--workers", str(workers), "--no-access-log"],
                                     cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.memory = Tree(self.proc.pid)

    def wait_all_feeds(self, timeout: float = 1800) -> tuple[float, list[str]]:
        """Seconds from process start until every feed answers 200, and the feed paths."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            status, _, body = get(self.base + "/opml.xml", timeout=5)
            if status == 200:
                break
            if self.proc.poll() is not None:
                raise RuntimeError("feedsvc exited; see " + self.log.name)
            time.sleep(0.05)
        else:
            raise TimeoutError("no /opml.xml")
        urls = re.findall(r'xmlUrl="([^"]+)"', body.decode())
        paths = [u.split("://", 1)[1].split("/", 1)[1].rsplit(".", 1)[0] for u in urls]
        feeds = ["/" + p + "." + f for p in paths for f in ("rss", "atom", "json")]
        with cf.ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda p: get(self.base + p, {"Accept-Encoding": "gzip"})[0], feeds))
        bad = [p for p, s in zip(feeds, statuses) if s != 200]
        if bad:
            raise RuntimeError(f"{len(bad)} feeds not served, e.g. {bad[:3]}")
        return time.perf_counter() - self.started, feeds

    def refresh(self) -> dict:
        req = urllib.request.Request(self.base + "/admin/refresh", method="POST", data=b"",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(req, timeout=600) as r:
            return json.loads(r.read())

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()
        return self.memory.stop()


def fmt_s(x: float | None) -> str:
    return "—" if x is None else (f"{x:.2f} s" if x >= 0.1 else f"{x * 1000:.0f} ms")


def verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("pass" if ok else "FAIL")


# -- peers ------------------------------------------------------------------------

def hugo_site(name: str, entries: Path) -> Path | None:
    """A Hugo copy of the corpus: same files, dates rewritten to ISO (Hugo reads few forms)."""
    if shutil.which("hugo") is None:
        return None
    site = CORPORA / f"hugo-{name}"
    if not (site / ".complete").exists():
        shutil.rmtree(site, ignore_errors=True)
        shutil.copytree(HERE / "peers" / "hugo", site)
        content = site / "content" / "posts"
        content.mkdir(parents=True)
        sys.path.insert(0, str(ROOT))
        from zoneinfo import ZoneInfo

        import yaml

        from feedsvc.dates import parse_when
        utc = ZoneInfo("UTC")
        for f in entries.rglob("*.md"):
            text = f.read_text(encoding="utf-8")
            _, fm, body = text.split("---", 2)
            meta = yaml.load(fm, Loader=yaml.CSafeLoader) or {}
            when, _ = parse_when(meta.get("date"), utc)
            meta["date"] = when.isoformat()
            if "updated" in meta:
                meta["lastmod"] = parse_when(meta.pop("updated"), utc)[0].isoformat()
            if isinstance(meta.get("categories"), str):
                meta["categories"] = [meta["categories"]]
            if isinstance(meta.get("author"), dict):
                meta["author"] = meta["author"].get("name")
            (content / f.name).write_text("---\n" + yaml.safe_dump(meta, allow_unicode=True) + "---" + body,
                                          encoding="utf-8")
        (site / ".complete").write_text("ok")
    return site


def hugo_build(site: Path) -> tuple[float, int]:
    shutil.rmtree(site / "public", ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    subprocess.run(["hugo", "--quiet", "-s", str(site)], check=True, stdout=subprocess.DEVNULL)
    took = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return took, (peak if peak > before else before) * 1024


def hugo_incremental(site: Path) -> float | None:
    """Hugo's own "Total in" for a rebuild after one content file is edited, under `hugo server`."""
    port = free_port()
    log = open(CORPORA / "hugo-server.log", "w+")
    # hugo server renders to memory by default (older versions have no flag for it)
    proc = subprocess.Popen(["hugo", "server", "-s", str(site), "--port", str(port), "--disableLiveReload"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 900
        while time.time() < deadline and "Web Server is available" not in Path(log.name).read_text():
            if proc.poll() is not None:
                return None
            time.sleep(0.5)
        before = len(re.findall(r"Total in (\d+) ms", Path(log.name).read_text()))
        target = next((site / "content" / "posts").iterdir())
        target.write_text(target.read_text() + "\nOne more sentence.\n")
        while time.time() < deadline:
            totals = re.findall(r"Total in (\d+) ms", Path(log.name).read_text())
            if len(totals) > before:
                return int(totals[-1]) / 1000
            time.sleep(0.2)
        return None
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        log.close()


def wrk(url: str, seconds: int, headers: list[str]) -> tuple[float, float]:
    """(requests per second, p99 latency in ms) from `wrk -t2 -c32 --latency`."""
    cmd = ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency"]
    for h in headers:
        cmd += ["-H", h]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)] if m else float("nan")
    return rps, p99


def nginx(root: Path, files: dict[str, bytes]) -> tuple[subprocess.Popen, int] | None:
    if shutil.which("nginx") is None:
        return None
    www = root / "www"
    shutil.rmtree(root, ignore_errors=True)
    www.mkdir(parents=True)
    for name, data in files.items():
        (www / name).write_bytes(data)
    port = free_port()
    conf = (HERE / "peers" / "nginx.conf").read_text().replace("{root}", str(root)).replace("{port}", str(port))
    (root / "nginx.conf").write_text(conf)
    proc = subprocess.Popen(["nginx", "-c", str(root / "nginx.conf")], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(50):
        if get(f"http://127.0.0.1:{port}/feed.rss", timeout=1)[0] == 200:
            return proc, port
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGTERM)
    return None


# -- figures ----------------------------------------------------------------------

def render_floor(entries: Path, reps: int) -> tuple[float, float]:
    """Median seconds: feedsvc rendering one 50-entry RSS feed vs feedgen alone on the same items."""
    sys.path.insert(0, str(ROOT))
    from feedgen.feed import FeedGenerator

    from feedsvc.catalog import build_catalog
    from feedsvc.config import config_from_mapping
    from feedsvc.entries import load_entries
    from feedsvc.refresher import utcnow
    from feedsvc.render import categories_of, feed_specs, render
    config = config_from_mapping({"site": {"title": "Bench", "base_url": "https://bench.example.org"},
                                  "entries": {"path": str(entries)}})
    loaded = load_entries(config.entries_path, config.site)
    catalog = build_catalog(loaded.entries, config, utcnow())
    spec = max(feed_specs(catalog, config)[1:], key=lambda s: len(s.entries))
    cats = categories_of(catalog.slug_of, {c.slug: c.name for c in catalog.categories}, config.site.base_url)
    for e in spec.entries:
        e.content_html  # noqa: B018 - rendered once, as in a refresh; both sides reuse it

    def plain() -> bytes:
        fg = FeedGenerator()
        fg.id(spec.id)
        fg.title(spec.title)
        fg.description(spec.description or spec.title)
        fg.link(href=spec.html_url, rel="alternate")
        for e in spec.entries:
            fe = fg.add_entry(order="append")
            fe.id(e.id)
            fe.title(e.title)
            fe.link(href=e.link)
            fe.published(e.date)
            fe.updated(e.updated)
            fe.summary(e.summary)
            fe.content(e.content_html, type="html")
            fe.author({"name": e.author.name})
            fe.category([{"term": c.term, "label": c.label} for c in cats(e)])
        return fg.rss_str()

    def timed(fn: Callable[[], bytes]) -> float:
        samples = []
        for _ in range(reps):
            t = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t)
        return statistics.median(samples)

    return timed(lambda: render(spec, "rss", cats)), timed(plain)


def run_size(name: str, args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    entries = corpus(name)
    cache = CORPORA / f"cache-{name}"
    shutil.rmtree(cache, ignore_errors=True)
    port = free_port()
    cfg = write_config(name, entries, cache, port)

    hugo_time = hugo_mem = hugo_inc = None
    site = None if args.skip_peers else hugo_site(name, entries)
    if site is not None:
        hugo_time, hugo_mem = hugo_build(site)
        if not args.quick:
            hugo_inc = hugo_incremental(site)
    peer_missing = "skipped" if args.skip_peers else "missing"

    svc = Service(cfg, port)
    try:
        cold, feeds = svc.wait_all_feeds()
        share = 3 if name == "10k" else 4
        rows.append(Row(f"{name}: cold start, every feed served", fmt_s(cold),
                        f"Hugo build {fmt_s(hugo_time)}" if hugo_time else f"Hugo {peer_missing}",
                        f"{cold / hugo_time:.2f}" if hugo_time else "", f"<= 1/{share} of Hugo",
                        verdict(cold <= hugo_time / share if hugo_time else None)))
        rows.append(Row(f"{name}: feeds (all formats)", str(len(feeds))))
        # incremental: edit the newest entry's file, refresh through the admin API
        # the newest entry: it is in the site feed and in each of its categories' feeds
        first_url = json.loads(get(svc.base + "/feed.json")[2])["items"][0]["url"]
        slug = first_url.rstrip("/").rsplit("/", 1)[1]
        newest = next(entries.rglob(f"{slug}.md"))
        _, headers, _ = get(svc.base + "/feed.atom", {"Accept-Encoding": "gzip"})
        newest.write_text(newest.read_text(encoding="utf-8") + "\nOne more sentence.\n", encoding="utf-8")
        t = time.perf_counter()
        report = svc.refresh()
        while get(svc.base + "/feed.atom", {"Accept-Encoding": "gzip"})[1].get("ETag") == headers.get("ETag"):
            if time.perf_counter() - t > 120:
                break
            time.sleep(0.01)
        edit = time.perf_counter() - t
        changed = sum(1 for f in report["feeds"] if f["changed"])
        rows.append(Row(f"{name}: one entry edited -> new feeds served", fmt_s(edit),
                        f"hugo server {fmt_s(hugo_inc)}" if hugo_inc else "hugo server not measured",
                        f"{edit / hugo_inc:.2f}" if hugo_inc else "", "<= 0.5 s", verdict(edit <= 0.5)))
        rows.append(Row(f"{name}: feeds re-rendered for that edit", f"{changed} of {len(report['feeds'])}",
                        target="only feeds holding the entry"))
        again = svc.refresh()
        rows.append(Row(f"{name}: refresh with nothing changed", fmt_s(again["duration"]),
                        target="<= 0.3 s, 0 rendered",
                        verdict=verdict(again["duration"] <= 0.3 and again["rendered"] == 0)))
        # serving
        biggest = max((p for p in feeds if p.startswith("/categories/") and p.endswith(".rss")),
                      key=lambda p: len(get(svc.base + p)[2]))
        _, h_id, body = get(svc.base + biggest)
        _, h_gz, gz = get(svc.base + biggest, {"Accept-Encoding": "gzip"})
        secs = 5 if args.quick else 10
        served = {}
        for label, hdrs in (("identity", []), ("gzip", ["Accept-Encoding: gzip"]),
                            ("304", [f"If-None-Match: {h_id['ETag']}"])):
            served[label] = wrk(svc.base + biggest, secs, hdrs) if shutil.which("wrk") else None
        mem = None
    finally:
        mem = svc.stop()
    rows.append(Row(f"{name}: peak RSS, whole service (2 workers)", f"{mem / 2**20:.0f} MiB",
                    f"Hugo build {hugo_mem / 2**20:.0f} MiB" if hugo_mem else "",
                    target="< 1.5 GB (100k)" if name == "100k" else "",
                    verdict=verdict(mem < 1.5e9) if name == "100k" else ""))
    # warm restart
    svc = Service(cfg, port)
    try:
        warm, _ = svc.wait_all_feeds()
    finally:
        svc.stop()
    rows.append(Row(f"{name}: warm restart, every feed served", fmt_s(warm), target="<= 3 s",
                    verdict=verdict(warm <= 3)))
    # nginx on the same bytes
    ng = None if args.skip_peers else nginx(CORPORA / "nginx", {"feed.rss": body, "feed.rss.gz": gz})
    try:
        for label, hdrs in (("identity", []), ("gzip", ["Accept-Encoding: gzip"]), ("304", None)):
            ours = served.get(label)
            if ours is None:
                rows.append(Row(f"{name}: serving {label}", "wrk missing"))
                continue
            peer = None
            if ng is not None:
                url = f"http://127.0.0.1:{ng[1]}/feed.rss"
                if hdrs is None:
                    hdrs = [f"If-None-Match: {get(url)[1]['ETag']}"]
                peer = wrk(url, secs, hdrs)
            rows.append(Row(f"{name}: serving {label} (req/s, p99)", f"{ours[0]:,.0f}/s, {ours[1]:.1f} ms",
                            f"nginx {peer[0]:,.0f}/s, {peer[1]:.1f} ms" if peer else f"nginx {peer_missing}",
                            f"{ours[0] / peer[0]:.2f}" if peer else "", ">= 0.25 of nginx, p99 < 20 ms",
                            verdict(ours[0] >= 0.25 * peer[0] and ours[1] < 20) if peer else ""))
    finally:
        if ng is not None:
            os.killpg(ng[0].pid, signal.SIGTERM)
    if name == "10k":
        ours_t, feedgen_t = render_floor(entries, 10 if args.quick else 30)
        rows.append(Row("render floor: one 50-entry RSS feed", fmt_s(ours_t), f"feedgen alone {fmt_s(feedgen_t)}",
                        f"{ours_t / feedgen_t:.2f}", "<= 1.3x feedgen", verdict(ours_t <= 1.3 * feedgen_t)))
    return rows


def table(rows: list[Row]) -> str:
    head = ["figure", "feedsvc", "peer", "ratio", "target", "pass/fail"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(dataclasses.astuple(r)) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--only", choices=sorted(SIZES), help="one corpus size only")
    p.add_argument("--quick", action="store_true", help="shorter wrk runs; no hugo server measurement")
    p.add_argument("--skip-peers", action="store_true", help="feedsvc figures only")
    args = p.parse_args(argv)
    CORPORA.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h"], capture_output=True,
                            text=True).stdout.strip()
    rows: list[Row] = []
    for name in ([args.only] if args.only else list(SIZES)):
        rows += run_size(name, args)
    out = f"feedsvc at {commit}, {os.cpu_count()} cores\n\n" + table(rows)
    print(out)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"{stamp}.md").write_text(out + "\n")
    (RESULTS / f"{stamp}.json").write_text(json.dumps([dataclasses.asdict(r) for r in rows], indent=2))
    return 0
