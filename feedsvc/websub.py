"""WebSub publishing: tell each hub which feeds changed, in the background.

A refresh hands over the self URLs of the feeds whose bytes changed; one
thread per hub posts ``hub.mode=publish`` with ``hub.url`` and ``hub.topic``
(the two names hubs use), retrying with doubling pauses. A hub that is slow or
down delays nothing but its own queue, and costs a logged warning.

Only the process that refreshes notifies; ``on_change`` hands each new state
of the hubs to whoever shows it in the other processes (see ``Service``).
"""
from __future__ import annotations

import logging
import queue
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Callable

SHARE_EVERY_SECONDS = 0.5   # at most this often while deliveries are queued
log = logging.getLogger("feedsvc.websub")

Post = Callable[[str, bytes, float], int]   # (url, form body, timeout) -> HTTP status


def http_post(url: str, body: bytes, timeout: float) -> int:
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded",
                                          "User-Agent": "feedsvc WebSub publisher"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


@dataclass
class HubState:
    url: str
    sent: int = 0          # notifications the hub accepted (2xx)
    failed: int = 0        # notifications given up after every retry
    queued: int = 0        # waiting now
    last_ok: str | None = None
    last_error: str | None = None
    last_error_at: str | None = None


class _HubWorker:
    def __init__(self, state: HubState, timeout: float, retries: int, post: Post,
                 on_result: Callable[[str, bool], None], backoff: float,
                 on_done: Callable[[], None] = lambda: None) -> None:
        self.state = state
        self.timeout = timeout
        self.retries = retries
        self.post = post
        self.on_result = on_result
        self.on_done = on_done
        self.backoff = backoff
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.lock = threading.Lock()
        # Queued, not yet taken: each with the time.monotonic() it is not sent
        # before, pushed later by a refresh that changes it again meanwhile.
        self.waiting: dict[str, float] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"websub-{state.url}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            topic = self.queue.get()
            if topic is None:
                return
            while True:
                with self.lock:
                    wait = self.waiting[topic] - time.monotonic()
                    if wait <= 0 or self.stopping.is_set():
                        del self.waiting[topic]
                        break
                self.stopping.wait(wait)
            try:
                self._deliver(topic)
            finally:
                with self.lock:
                    self.state.queued -= 1
                # after the count drops, so that what is shared says "delivered", not "in flight"
                self.on_done()

    def _deliver(self, topic: str) -> None:
        body = urllib.parse.urlencode({"hub.mode": "publish", "hub.url": topic, "hub.topic": topic}).encode()
        pause = self.backoff
        error = ""
        for attempt in range(self.retries + 1):
            if attempt and self.stopping.wait(pause):
                break
            if attempt:
                pause *= 2
            try:
                status = self.post(self.state.url, body, self.timeout)
            except (OSError, ValueError) as e:
                error = f"{type(e).__name__}: {getattr(e, 'reason', e)}"
                continue
            if 200 <= status < 300:
                self.state.sent += 1
                self.state.last_ok = _now()
                self.on_result(self.state.url, True)
                return
            error = f"HTTP {status}"
        self.state.failed += 1
        self.state.last_error = f"{topic}: {error}"
        self.state.last_error_at = _now()
        self.on_result(self.state.url, False)
        log.warning("WebSub hub %s did not take %s after %d tries: %s", self.state.url, topic,
                    self.retries + 1, error)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class Notifier:
    def __init__(self, hubs: tuple[str, ...], timeout: float = 10, retries: int = 3, post: Post = http_post,
                 backoff: float = 1.0, on_change: Callable[[list[dict[str, object]]], None] | None = None,
                 settle: float = 0.0) -> None:
        """``settle``: seconds between a refresh and its notifications, for the other
        processes serving the site to switch to the new bytes first: a hub fetches
        the feed as soon as it is told, and one that got the old bytes keeps them."""
        from . import metrics
        self.settle = settle
        self._metrics = metrics
        self.on_change = on_change
        self.changed_at: float | None = None     # time.time() of this process's last change; None: none yet
        # One at a time, so that a state taken earlier never lands after a later one.
        self._share_lock = threading.Lock()
        self._shared_at = float("-inf")
        self._share_failing = False

        def record(hub: str, ok: bool) -> None:
            metrics.WEBSUB.labels(hub, "ok" if ok else "failed").inc()

        self.workers = {h: _HubWorker(HubState(h), timeout, retries, post, record, backoff, self.changed)
                        for h in hubs}

    def changed(self, force: bool = False) -> None:
        """Hand the hubs' state to ``on_change`` now (called on every change).

        Never raises: a state that cannot be shared must not stop delivery."""
        with self._share_lock:
            now = self.changed_at = time.time()
            if self.on_change is None:
                return
            # While deliveries go on, sharing each one (a file written and synced)
            # made a burst of them queue behind the writes: 1.4 s for 4,000
            # against 0.04. The last delivery of a burst always shares.
            busy = any(w.state.queued for w in self.workers.values())
            if not force and busy and now - self._shared_at < SHARE_EVERY_SECONDS:
                return
            self._shared_at = now
            try:
                self.on_change(self.status())
            except Exception as e:
                if not self._share_failing:   # once per run of failures, not once per notification
                    log.warning("cannot share the WebSub hubs' state with the other processes: %s", e)
                self._share_failing = True
            else:
                self._share_failing = False

    def publish(self, topics: list[str]) -> int:
        """Queue one notification per topic for every hub; returns how many were queued.

        A topic still waiting for a hub is not queued twice: the hub fetches the
        feed when it gets the notification, so one covers every change before it.
        """
        count = 0
        ready = time.monotonic() + self.settle
        for w in self.workers.values():
            with w.lock:
                for topic in topics:
                    queued = topic in w.waiting
                    w.waiting[topic] = ready   # one notice, after this refresh has settled too
                    if queued:
                        continue
                    w.state.queued += 1
                    w.queue.put(topic)
                    count += 1
        if topics:
            # even with nothing new queued: a process waiting for the state
            # after this refresh learns that this is it
            self.changed(force=True)
        return count

    def status(self) -> list[dict[str, object]]:
        return [asdict(w.state) for w in self.workers.values()]

    def wait_idle(self, timeout: float) -> bool:
        """For tests and shutdown: True once every queue is empty and delivered."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(w.state.queued == 0 for w in self.workers.values()):
                return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        for w in self.workers.values():
            w.stopping.set()
            w.queue.put(None)
