"""The peers: Hugo (build and `hugo server`), Pelican, nginx; each set up from the files in bench/peers/."""
from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .common import CORPORA, PEERS, PEERS_VENV, free_port, get, have, start, stop, timed_run, wait_until
from .convert import Converted, convert, hugo_entry, pelican_entry


@dataclass
class Build:
    seconds: float
    peak_rss: int | None
    feeds: int            # feed files written
    ok: bool
    log: Path
    all_seconds: list[float] = field(default_factory=list)   # every run, when repeated


def median_build(builds: list[Build]) -> Build:
    """The build of median time, with every run's time and the highest peak memory."""
    ok = [b for b in builds if b.ok] or builds
    mid = sorted(ok, key=lambda b: b.seconds)[(len(ok) - 1) // 2]
    peaks = [b.peak_rss for b in ok if b.peak_rss]
    return Build(statistics.median(b.seconds for b in ok), max(peaks) if peaks else None, mid.feeds, mid.ok,
                 mid.log, [b.seconds for b in ok])


# -- Hugo ------------------------------------------------------------------------------

def hugo_site(name: str, entries: Path) -> tuple[Path, Converted]:
    """bench/corpora/hugo-<name>: the converted entries (kept) plus bench/peers/hugo's config and layouts (fresh)."""
    site = CORPORA / f"hugo-{name}"
    stats = convert(entries, site / "content" / "posts", hugo_entry)
    shutil.rmtree(site / "layouts", ignore_errors=True)
    shutil.copytree(PEERS / "hugo" / "layouts", site / "layouts")
    shutil.copy(PEERS / "hugo" / "hugo.toml", site / "hugo.toml")
    return site, stats


def hugo_build(site: Path, log: Path) -> Build:
    public = site / "public"
    shutil.rmtree(public, ignore_errors=True)
    shutil.rmtree(site / "resources", ignore_errors=True)
    took, peak, rc = timed_run(["hugo", "--quiet", "-s", str(site), "-d", str(public)], log)
    feeds = sum(1 for p in public.rglob("feed.*") if p.suffix in (".xml", ".atom"))
    return Build(took, peak, feeds, rc == 0, log)


@dataclass
class HugoEdit:
    total_in: float | None    # Hugo's own "Total in" for the rebuild after the edit
    wall: float | None        # edit -> the served home feed holds the new sentence
    startup: float            # hugo server start -> "Web Server is available"


def hugo_server_edit(site: Path, file_name: str, log: Path, timeout: float = 1800) -> HugoEdit | None:
    """Start `hugo server` (renders to memory), edit one entry, read how long the rebuild took."""
    port = free_port()
    proc = start(["hugo", "server", "-s", str(site), "--bind", "127.0.0.1", "--port", str(port),
                  "--disableLiveReload", "--disableFastRender"], log)
    target = site / "content" / "posts" / file_name
    original, st = target.read_bytes(), target.stat()
    t0 = time.perf_counter()
    try:
        if not wait_until(lambda: "Web Server is available" in log.read_text(errors="replace"), timeout,
                          step=0.2, alive=proc):
            return None
        startup = time.perf_counter() - t0
        before = log.read_text(errors="replace").count("Total in")
        marker = b"One more sentence, added by the benchmark."
        target.write_bytes(original + b"\n" + marker + b"\n")
        t1 = time.perf_counter()
        home = f"http://127.0.0.1:{port}/feed.xml"
        wall = time.perf_counter() - t1 if wait_until(lambda: marker in get(home).body, 300, step=0.02) else None
        wait_until(lambda: log.read_text(errors="replace").count("Total in") > before, 300, step=0.1)
        totals = re.findall(r"Total in (\d+) ms", log.read_text(errors="replace"))
        total = int(totals[before]) / 1000 if len(totals) > before else None   # the first rebuild after the edit
        return HugoEdit(total, wall, startup)
    finally:
        stop(proc)
        target.write_bytes(original)
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))


# -- Pelican ---------------------------------------------------------------------------

def pelican_bin() -> Path | None:
    p = PEERS_VENV / "bin" / "pelican"
    return p if p.exists() else None


def pelican_build(name: str, entries: Path, log: Path) -> tuple[Build, Converted] | None:
    exe = pelican_bin()
    if exe is None:
        return None
    site = CORPORA / f"pelican-{name}"
    stats = convert(entries, site / "content", pelican_entry)
    out = site / "output"
    shutil.rmtree(out, ignore_errors=True)
    took, peak, rc = timed_run([str(exe), str(site / "content"), "-s", str(PEERS / "pelican" / "pelicanconf.py"),
                                "-o", str(out), "-q"], log, cwd=site)
    feeds = sum(1 for _ in out.rglob("*.xml")) if out.exists() else 0
    return Build(took, peak, feeds, rc == 0, log), stats


# -- nginx -----------------------------------------------------------------------------

class Nginx:
    """nginx serving a static tree (a `feedsvc export` output) as bench/peers/nginx.conf says."""

    def __init__(self, www: Path, run_dir: Path) -> None:
        self.port = free_port()
        run_dir.mkdir(parents=True, exist_ok=True)
        for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (run_dir / "tmp" / d).mkdir(parents=True, exist_ok=True)
        conf = (PEERS / "nginx.conf").read_text()
        for key, value in {"{run}": str(run_dir), "{www}": str(www.resolve()), "{port}": str(self.port)}.items():
            conf = conf.replace(key, value)
        (run_dir / "nginx.conf").write_text(conf)
        self.proc = start(["nginx", "-p", str(run_dir), "-c", str(run_dir / "nginx.conf"),
                           "-e", str(run_dir / "error.log")], run_dir / "stdout.log")
        self.base = f"http://127.0.0.1:{self.port}"
        if not wait_until(lambda: get(self.base + "/opml.xml").status == 200, 10, alive=self.proc):
            self.stop()
            raise RuntimeError(f"nginx did not start; see {run_dir / 'error.log'}")

    def stop(self) -> None:
        stop(self.proc)


def nginx_available() -> bool:
    return have("nginx")


def installed() -> dict[str, bool]:
    return {"hugo": have("hugo"), "pelican": pelican_bin() is not None, "nginx": have("nginx"), "wrk": have("wrk")}


def hugo_version() -> str:
    if not have("hugo"):
        return ""
    return subprocess.run(["hugo", "version"], capture_output=True, text=True).stdout.split(" ")[1]
