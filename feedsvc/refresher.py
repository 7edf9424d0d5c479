"""The Refresher: load -> index -> render what changed -> swap. The only writer of the store."""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from .catalog import build_catalog
from .config import Config
from .entries import EntryCache, load_entries
from .model import Problem
from .site import FeedChange, Snapshot, build_site, empty_snapshot

log = logging.getLogger("feedsvc.refresh")

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class RefreshReport:
    started: datetime
    finished: datetime
    duration: float
    ok: bool
    error: str | None = None
    files: int = 0
    reparsed: int = 0
    entries: int = 0          # published
    scheduled: int = 0
    drafts: int = 0
    rendered: int = 0         # resources rendered this time (the rest were carried over)
    feeds: tuple[FeedChange, ...] = ()
    added: tuple[str, ...] = ()      # entry ids
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()
    next_due: datetime | None = None

    @property
    def changed_feeds(self) -> tuple[FeedChange, ...]:
        return tuple(f for f in self.feeds if f.changed)

    def summary(self) -> str:
        if not self.ok:
            return f"refresh failed after {self.duration:.3f}s: {self.error}; still serving the previous feeds"
        errors = sum(1 for p in self.problems if p.severity == "error")
        return (f"refresh ok in {self.duration:.3f}s: {self.entries} entries published, "
                f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed; "
                f"{len(self.changed_feeds)} of {len(self.feeds)} feeds changed; "
                f"{errors} entry error(s)")


class FeedStore:
    """Holds the current snapshot; a swap replaces the whole set at once."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    @property
    def current(self) -> Snapshot:
        return self._snapshot

    def swap(self, snapshot: Snapshot) -> None:
        # One reference assignment: a request sees the old set or the new one.
        self._snapshot = snapshot


@dataclass
class Refresher:
    config: Config
    store: FeedStore
    clock: Clock = utcnow
    last: RefreshReport | None = None
    last_ok: RefreshReport | None = None
    count: int = 0
    failures: int = 0
    listeners: list[Callable[[RefreshReport], None]] = field(default_factory=list)
    _cache: EntryCache | None = None
    _guard: threading.Lock = field(default_factory=threading.Lock)
    _inflight: Future[RefreshReport] | None = None

    def refresh(self) -> RefreshReport:
        """Refresh now, or wait for the refresh already running and return its report."""
        with self._guard:
            fut = self._inflight
            owner = fut is None
            if owner:
                fut = self._inflight = Future()
        assert fut is not None
        if not owner:
            return fut.result()
        try:
            report = self._run()
            fut.set_result(report)
        except BaseException as e:  # pragma: no cover - _run reports its own failures
            fut.set_exception(e)
            raise
        finally:
            with self._guard:
                self._inflight = None
        for listener in list(self.listeners):
            try:
                listener(report)
            except Exception:  # a listener must never break refreshing
                log.exception("refresh listener failed")
        return report

    @property
    def running(self) -> bool:
        return self._inflight is not None

    def _run(self) -> RefreshReport:
        started = self.clock()
        t0 = time.perf_counter()
        previous = self.store.current
        try:
            if self._cache is None:
                self._cache = EntryCache(self.config.site)
            loaded = load_entries(self.config.entries_path, self.config.site, self._cache)
            catalog = build_catalog(loaded.entries, self.config, started)
            snapshot, feeds, rendered = build_site(catalog, self.config, previous)
            self.store.swap(snapshot)
        except Exception as e:
            self.failures += 1
            self.count += 1
            duration = time.perf_counter() - t0
            log.exception("refresh failed; still serving the previous feeds")
            report = RefreshReport(started, self.clock(), duration, False, f"{type(e).__name__}: {e}",
                                   problems=self.last.problems if self.last else ())
            self.last = report
            return report
        self.count += 1
        old = {e.id: e.digest for e in previous.catalog.entries}
        new = {e.id: e.digest for e in catalog.entries}
        problems = (*loaded.problems, *catalog.problems)
        report = RefreshReport(
            started=started, finished=self.clock(), duration=time.perf_counter() - t0, ok=True,
            files=loaded.files, reparsed=loaded.reparsed, entries=len(catalog.entries),
            scheduled=len(catalog.scheduled), drafts=catalog.drafts, rendered=rendered, feeds=tuple(feeds),
            added=tuple(i for i in new if i not in old),
            changed=tuple(i for i in new if i in old and old[i] != new[i]),
            removed=tuple(i for i in old if i not in new),
            problems=problems, next_due=catalog.next_due,
        )
        # Log each problem once, when it appears, not again on every refresh.
        known = {str(p) for p in self.last.problems} if self.last else set()
        self.last = self.last_ok = report
        log.info(report.summary())
        for p in problems:
            key = str(p)
            if key not in known:
                known.add(key)
                (log.error if p.severity == "error" else log.warning)("%s", p)
        return report


def new_refresher(config: Config, clock: Clock = utcnow) -> Refresher:
    return Refresher(config, FeedStore(empty_snapshot(config)), clock)
