"""Pieces every figure uses: result rows, paths, HTTP, wrk, process-tree memory, machine load."""
from __future__ import annotations

import concurrent.futures as cf
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPORA = HERE / "corpora"
RESULTS = HERE / "results"
PEERS = HERE / "peers"
PEERS_VENV = HERE / ".peers-venv"


# -- result rows ------------------------------------------------------------------

PASS, FAIL, INFO = "pass", "FAIL", "info"


@dataclass
class Row:
    """One line of the result table; ``data`` holds the raw numbers for the JSON file."""

    figure: str
    feedsvc: str
    peer: str = ""
    ratio: str = ""
    target: str = ""
    verdict: str = INFO
    data: dict[str, Any] = field(default_factory=dict)

    def cells(self) -> list[str]:
        return [self.figure, self.feedsvc, self.peer, self.ratio, self.target, self.verdict]


def verdict(ok: bool) -> str:
    return PASS if ok else FAIL


def fmt_s(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.2f} s" if x >= 0.1 else f"{x * 1000:.1f} ms"


def fmt_mib(n: int | None) -> str:
    return "—" if n is None else f"{n / 2**20:,.0f} MiB"


def ratio(ours: float | None, peer: float | None) -> str:
    return f"{ours / peer:.2f}" if ours is not None and peer else ""


# -- processes ----------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.Popen:
    """A child in its own session (so it and its workers stop together), output to ``log``."""
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **(env or {})}, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)


def stop(proc: subprocess.Popen, grace: float = 30) -> None:
    """SIGTERM to the child's process group (only what this harness started), SIGKILL after ``grace``."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    except ProcessLookupError:
        pass


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def timed_run(cmd: list[str], log: Path, cwd: Path = ROOT, timeout: float = 7200) -> tuple[float, int | None, int]:
    """(wall seconds, peak RSS bytes or None, exit status) of ``cmd``; peak from GNU time -v when present."""
    wrap = ["/usr/bin/time", "-v"] if Path("/usr/bin/time").exists() else []
    t0 = time.perf_counter()
    with open(log, "w") as out:
        rc = subprocess.run(wrap + cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout).returncode
    took = time.perf_counter() - t0
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", log.read_text(errors="replace"))
    return took, int(m.group(1)) * 1024 if m else None, rc


# -- HTTP ---------------------------------------------------------------------------

@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def etag(self) -> str:
        return self.headers.get("etag", "").strip('"')


def get(url: str, headers: dict[str, str] | None = None, method: str = "GET", body: bytes | None = None,
        timeout: float = 30) -> Response:
    """One request on a fresh connection; status 0 when nothing answered."""
    host_port, _, path = url.split("://", 1)[1].partition("/")
    host, _, port = host_port.partition(":")
    conn = http.client.HTTPConnection(host, int(port or 80), timeout=timeout)
    try:
        conn.request(method, "/" + path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    except (OSError, http.client.HTTPException):
        return Response(0, {}, b"")
    finally:
        conn.close()


def get_all(base: str, paths: Iterable[str], threads: int = 6, headers: dict[str, str] | None = None
            ) -> dict[str, Response]:
    paths = list(paths)
    with cf.ThreadPoolExecutor(threads) as pool:
        return dict(zip(paths, pool.map(lambda p: get(base + p, headers), paths)))


def statuses(base: str, paths: Iterable[str], threads: int = 6, timeout: float = 30) -> dict[str, int]:
    """GET every path, each body read in full and dropped; path -> status (0: no
    answer, or a body cut short).

    For figures that end when everything is served: each thread keeps its
    connection and reads bodies into one buffer. ``get_all``, which holds
    every body and connects for each request, spent 0.45 s of CPU on one
    fetch of the 603 feeds of 10k entries (0.5 s of wall time, the client
    being the slower side), where this spends 0.2 s.
    """
    host, _, port = base.split("://", 1)[1].split("/", 1)[0].partition(":")
    local = threading.local()
    opened: list[http.client.HTTPConnection] = []

    def one(path: str) -> int:
        if not hasattr(local, "buf"):
            local.buf, local.conn = memoryview(bytearray(1 << 20)), None
        for _ in range(2):
            kept = local.conn is not None
            if not kept:
                local.conn = http.client.HTTPConnection(host, int(port or 80), timeout=timeout)
                opened.append(local.conn)
            try:
                local.conn.request("GET", path)
                r = local.conn.getresponse()
                while r.readinto(local.buf):
                    pass
                if r.length:   # the stream ended before the body did (readinto does not raise)
                    raise http.client.IncompleteRead(b"", r.length)
                if r.will_close:
                    local.conn.close()
                    local.conn = None
                return r.status
            except (OSError, http.client.HTTPException) as e:
                local.conn.close()
                local.conn = None
                # Only a kept connection the server closed meanwhile is tried again (once):
                # a timeout or a refusal is the answer.
                if not (kept and isinstance(e, (http.client.RemoteDisconnected, ConnectionResetError,
                                                BrokenPipeError))):
                    return 0
        return 0

    paths = list(paths)
    try:
        with cf.ThreadPoolExecutor(threads) as pool:
            return dict(zip(paths, pool.map(one, paths)))
    finally:
        for conn in opened:
            conn.close()


def wait_until(pred, timeout: float, step: float = 0.05, alive: subprocess.Popen | None = None) -> bool:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if pred():
            return True
        if alive is not None and alive.poll() is not None:
            return False
        time.sleep(step)
    return False


# -- wrk ----------------------------------------------------------------------------

@dataclass
class Load:
    rps: float
    p99_ms: float
    errors: int          # socket errors + non-2xx/3xx answers
    status_seen: int     # status of one request like those wrk sent (checks the variant is what we think)

    def cell(self) -> str:
        err = f", {self.errors:,} errors" if self.errors else ""
        return f"{self.rps:,.0f}/s, p99 {self.p99_ms:.1f} ms{err}"


def wrk(url: str, seconds: int, headers: dict[str, str]) -> Load:
    """``wrk -t2 -c32 -d<seconds>s --latency``: requests/s, p99, errors."""
    cmd = ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=seconds + 120).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)] if m else float("nan")
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(m.group(1)) if m else 0
    return Load(rps, p99, errors, get(url, headers).status)


# -- memory of a process tree ---------------------------------------------------------

def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            out.setdefault(ppid, []).append(int(d))
    return out


def tree(pid: int) -> list[int]:
    kids = _children()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def _kib(path: str, key: str) -> int:
    try:
        m = re.search(key + r":\s+(\d+) kB", Path(path).read_text())
    except OSError:
        return 0
    return int(m.group(1)) * 1024 if m else 0


class TreeMemory:
    """Samples a process tree every 100 ms: peak of the summed RSS, and each process's peak
    RSS; every second, the peak of the summed PSS.

    RSS is a counter the kernel keeps. PSS walks the process's page tables under its
    memory-map lock (~5 ms for a 700 MB process), and the process's own allocations wait
    meanwhile: the service measured should not pay for it ten times a second. (Peers
    are measured by GNU time, which does not sample at all.)
    """

    def __init__(self, pid: int, interval: float = 0.1, pss_every: int = 10) -> None:
        self.pid = pid
        self.interval = interval
        self.pss_every = pss_every
        self._samples = 0
        self.peak_rss = 0
        self.peak_pss = 0
        self.per_process: dict[int, tuple[int, str]] = {}   # pid -> (peak RSS, command line)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-memory", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        rss_sum = pss_sum = 0
        with_pss = self._samples % self.pss_every == 0
        self._samples += 1
        for p in tree(self.pid):
            rss = _kib(f"/proc/{p}/status", "VmRSS")
            rss_sum += rss
            if with_pss:
                pss_sum += _kib(f"/proc/{p}/smaps_rollup", "Pss")
            if rss > self.per_process.get(p, (0, ""))[0]:
                try:
                    cmd = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
                except OSError:
                    cmd = "?"
                self.per_process[p] = (rss, cmd)
        self.peak_rss = max(self.peak_rss, rss_sum)
        self.peak_pss = max(self.peak_pss, pss_sum)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def stop(self) -> "TreeMemory":
        self._stop.set()
        self._thread.join()
        return self

    @property
    def max_process(self) -> tuple[int, str]:
        return max(self.per_process.values(), default=(0, ""))


# -- machine load ---------------------------------------------------------------------

def _cpu_times() -> tuple[int, int]:
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts) - idle, sum(parts)


def cpu_busy(seconds: float = 1.0) -> float:
    """Fraction of all cores busy over ``seconds`` (anything running on the machine)."""
    b0, t0 = _cpu_times()
    time.sleep(seconds)
    b1, t1 = _cpu_times()
    return (b1 - b0) / max(1, t1 - t0)


def wait_quiet(max_wait: float, threshold: float = 0.15) -> float:
    """Wait (at most ``max_wait`` s) for a second in which the machine is mostly idle; the last busy fraction."""
    deadline = time.perf_counter() + max_wait
    busy = cpu_busy()
    while busy > threshold and time.perf_counter() < deadline:
        busy = cpu_busy()
    return busy


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by the live processes of a tree."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / tick


def wait_tree_idle(pid: int, timeout: float, threshold: float = 0.05) -> float | None:
    """Seconds until a process tree uses under ``threshold`` of a core for one second; None on timeout."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        c0 = tree_cpu_seconds(pid)
        time.sleep(1.0)
        if tree_cpu_seconds(pid) - c0 < threshold:
            return time.perf_counter() - t0 - 1.0
    return None
