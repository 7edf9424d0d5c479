"""Run the real service as a subprocess on 127.0.0.1, bounded in time, always stopped."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
                 port: int | None = None) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # A file, not a pipe: a pipe nobody reads fills up with access logs and blocks the server.
        self._logfile = tempfile.TemporaryFile()
        full_env = {**os.environ, **(env or {})}
        full_env.pop("FEEDSVC_CONFIG", None) if env is None or "FEEDSVC_CONFIG" not in env else None
        self.proc = subprocess.Popen(
            [a.replace("{port}", str(self.port)) for a in args], cwd=cwd or ROOT, env=full_env,
            stdout=self._logfile, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 20.0, path: str = "/opml.xml") -> "Server":
        """Until ``path`` answers 200: by default, until the first render has published
        (a worker answers /healthz, and 503 for feeds, while it runs)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.output()}")
            try:
                if requests.get(self.base + path, timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"server not ready in {timeout}s: {self.output()}")

    def wait_settled(self, timeout: float = 20.0) -> "Server":
        """Until the scheduler runs and its process has refreshed once: that refresh walked
        the entries folder while the folder was watched, so a file written after it is
        the next refresh's news, not a change that walk may or may not have seen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.get("/status").json()
            last = status.get("last_refresh") or {}
            leader = (status.get("schedule") or {}).get("pid")
            if leader and not status.get("refreshing") and last.get("ok") and last.get("by_pid") == leader:
                return self
            time.sleep(0.05)
        raise TimeoutError(f"server not settled in {timeout}s: {self.output()}")

    def get(self, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", 5)
        return requests.get(self.base + path, **kw)

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM the whole group and wait; returns the exit status."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        return self.proc.returncode

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.terminate()

    def output(self) -> str:
        self._logfile.seek(0)
        return self._logfile.read().decode("utf-8", "replace")


def feedsvc(*args: str) -> list[str]:
    return [sys.executable, "-m", "feedsvc", *args]
