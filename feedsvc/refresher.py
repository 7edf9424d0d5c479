"""The Refresher: load -> index -> render what changed -> persist -> swap. The only writer.

One refresh runs at a time: threads of one process join the refresh already
running, and processes sharing a cache folder take turns on its refresh lock;
a process that gets the lock after another refreshed on its behalf (that
refresh started after it asked) adopts that result instead of running again.
"""
from __future__ import annotations

import errno
import logging
import os
import threading
import time
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Union

from .catalog import Catalog, build_catalog, patch_catalog
from .config import Config, output_key
from .entries import EntryCache, load_entries
from .entrystore import EntryStore
from .errors import FeedsvcError
from .heap import collections_paused, exempt_survivors
from .helper import kept_warm
from .model import Entry, Problem
from .parsejob import PARALLEL_FROM
from .persist import DiskSnapshot, SnapshotStore
from .priority import behind_requests
from .site import FeedChange, Snapshot, build_site, empty_snapshot
from .watch import FolderWatch

log = logging.getLogger("feedsvc.refresh")

Clock = Callable[[], datetime]
AnySnapshot = Union[Snapshot, DiskSnapshot]
# How often a process checks whether another one published a newer snapshot.
POLL_SECONDS = 0.05
# A refresh that finds the cache folder lost waits this long, at most, for the
# entry store's last save before starting it afresh.
SAVE_WAIT_SECONDS = 30
# A first load of at least this many files leaves what it made out of later
# collections (see heap.exempt_survivors); the size at which it is shared with helpers.
FREEZE_FROM = PARALLEL_FROM


# Errors of a write that name no file: the disk, not the program.
_WRITE_FAULTS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EFBIG}


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
    started_wall: float = 0.0        # time.time() at the start: compared across processes
    by_pid: int = 0

    @property
    def changed_feeds(self) -> tuple[FeedChange, ...]:
        return tuple(f for f in self.feeds if f.changed)

    def summary(self) -> str:
        if not self.ok:
            return f"refresh failed after {self.duration:.3f}s: {self.error}; still serving the previous feeds"
        errors = sum(1 for p in self.problems if p.severity == "error")
        return (f"refresh ok in {self.duration:.3f}s: {self.entries} entries published, "
                f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed; "
                f"{len(self.changed_feeds)} of {len(self.feeds)} feeds changed, {self.rendered} resources "
                f"rendered; {errors} entry error(s)")

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("started", "finished", "next_due"):
            d[k] = d[k].isoformat() if d[k] else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RefreshReport":
        d = dict(d)
        for k in ("started", "finished", "next_due"):
            d[k] = datetime.fromisoformat(d[k]) if d.get(k) else None
        d["feeds"] = tuple(FeedChange(**f) for f in d.get("feeds", ()))
        d["problems"] = tuple(Problem(**p) for p in d.get("problems", ()))
        for k in ("added", "changed", "removed"):
            d[k] = tuple(d.get(k, ()))
        return cls(**d)


class FeedStore:
    """Holds the current snapshot; a swap replaces the whole set at once.

    With a cache folder, ``poll()`` follows snapshots that other processes
    publish there, so every worker serves the same generation within
    ``POLL_SECONDS`` of its publication.
    """

    def __init__(self, snapshot: AnySnapshot, disk: SnapshotStore | None = None,
                 config: Config | None = None) -> None:
        self._snapshot = snapshot
        self.disk = disk
        self.config = config or snapshot.config
        self._next_poll = 0.0
        self._poll_lock = threading.Lock()
        # The last snapshot on disk, when it was rendered under other settings
        # (another base_url, other categories): never served, its links and ids
        # are not this site's, but the first refresh compares with it, so that
        # it tells (and notifies) only the feeds whose bytes changed.
        self.prior: AnySnapshot | None = None
        self._foreign: str | None = None     # the generation found to be the other settings'

    @property
    def current(self) -> AnySnapshot:
        return self._snapshot

    def swap(self, snapshot: AnySnapshot) -> None:
        # One reference assignment: a request sees the old set or the new one.
        self._snapshot = snapshot

    def foreign(self) -> bool:
        """Whether the cache folder's current snapshot was rendered under other settings."""
        return self.disk is not None and self._foreign is not None and \
            self.disk.current_generation() == self._foreign

    def poll(self, force: bool = False) -> bool:
        """Adopt a newer snapshot published by another process. True if one was adopted."""
        if self.disk is None:
            return False
        now = time.monotonic()
        if not force and now < self._next_poll:
            return False
        if not self._poll_lock.acquire(blocking=force):
            return False
        try:
            self._next_poll = now + POLL_SECONDS
            gen = self.disk.current_generation()
            if gen is None or gen in (getattr(self._snapshot, "generation", None), self._foreign):
                return False
            loaded = self.disk.load(self.config, gen)
            if loaded is None:
                return False
            if loaded.output_key != output_key(self.config):
                self._foreign = gen
                return False
            self.swap(loaded)
            self.prior = None
            return True
        finally:
            self._poll_lock.release()


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
    entry_store: EntryStore | None = None
    watch: FolderWatch | None = None     # started by the service; None: every refresh walks the folder
    _cache: EntryCache | None = None
    _built: tuple[Snapshot, tuple[FeedChange, ...]] | None = None   # the last snapshot this process built
    _unsaved: bool = False   # a refresh failed since the entry store was last brought up to date
    _guard: threading.Lock = field(default_factory=threading.Lock)
    _inflight: Future[RefreshReport] | None = None
    _saver: threading.Thread | None = None       # writing the entry store

    @property
    def disk(self) -> SnapshotStore | None:
        return self.store.disk

    def refresh(self, full: bool = False, if_missing: bool = False,
                before_run: Callable[[], object] | None = None) -> RefreshReport:
        """Refresh now, or wait for the refresh already running and return its report.

        ``full``: walk the whole entries folder even if a watch says what changed.
        ``if_missing``: only if no snapshot has been published yet (another
        process may have published one while this one waited for the lock).
        ``before_run``: called when this process is about to refresh itself,
        holding the lock that makes every other process wait for it.
        """
        asked = time.time()
        with self._guard:
            fut = self._inflight
            owner = fut is None
            if owner:
                fut = self._inflight = Future()
        assert fut is not None
        if not owner:
            return fut.result()
        try:
            if self.disk is not None:
                try:
                    self.disk.refresh_lock.acquire()
                except OSError as e:   # the cache folder cannot be written at all
                    report = self._failed(e, self.clock(), time.perf_counter(), time.time())
                else:
                    try:
                        report = self._adopt(asked) or (self._published() if if_missing else None)
                        if report is None:
                            if before_run is not None:
                                before_run()
                            report = self._run(full)
                    finally:
                        self.disk.refresh_lock.release()
            else:
                report = self._run(full)
            fut.set_result(report)
        except BaseException as e:  # pragma: no cover - _run reports its own failures
            fut.set_exception(e)
            raise
        finally:
            with self._guard:
                self._inflight = None
        if report.by_pid == _pid():
            # Only for refreshes this process ran: an adopted result was
            # already announced (metrics, WebSub) by the process that ran it.
            for listener in list(self.listeners):
                try:
                    listener(report)
                except Exception:  # a listener must never break refreshing
                    log.exception("refresh listener failed")
        return report

    @property
    def running(self) -> bool:
        return self._inflight is not None

    def _adopt(self, asked: float) -> RefreshReport | None:
        """Another process refreshed after we were asked: serve and report its result."""
        assert self.disk is not None
        data = self.disk.read_report()
        if not data or data.get("started_wall", 0.0) < asked:
            return None
        self.store.poll(force=True)
        if self.store.foreign():
            return None     # a process on other settings ran it: what it published is not ours to serve
        report = RefreshReport.from_dict(data)
        self.last = report
        if report.ok:
            self.last_ok = report
        return report

    def _published(self) -> RefreshReport | None:
        """The report of the snapshot another process published, if there is one now."""
        assert self.disk is not None
        self.store.poll(force=True)
        data = self.disk.read_report()
        if not getattr(self.store.current, "generation", "") or not data or not data.get("ok"):
            return None
        report = RefreshReport.from_dict(data)
        self.last = self.last_ok = report
        return report

    def _run(self, full: bool = False) -> RefreshReport:
        # Helpers that parsed the entries then render the feeds: one start each, not two.
        with kept_warm():
            if self._cache is not None:
                return self._run_once(full)
            # A first refresh makes what the process will keep: at 100k entries
            # the collector spent ~1.7 s of it walking those objects again and again
            # (a refresh leaves no reference cycles: what it drops is freed as it goes).
            with collections_paused():
                report = self._run_once(full)
                if report.ok and report.files >= FREEZE_FROM:
                    exempt_survivors()
            return report

    def _run_once(self, full: bool = False) -> RefreshReport:
        started = self.clock()
        wall = time.time()
        t0 = time.perf_counter()
        self.store.poll(force=True)
        previous = self.store.current
        if not getattr(previous, "generation", "") and self.store.prior is not None:
            previous = self.store.prior    # compared with, never served
        try:
            lost = self.disk is not None and self.disk.lost(getattr(previous, "generation", ""))
            if lost:
                log.warning("the cache folder %s lost what it held (removed while serving?); every feed and "
                            "page is written to it again", self.disk.root if self.disk else "")
                # Nothing this process built is on disk now: no patch, no keep.
                self._built = None
                self._unsaved = True
                if self.entry_store is not None:
                    # A save still running would fill the store's record of what
                    # it holds with rows of the file that is gone.
                    self.wait_saved(SAVE_WAIT_SECONDS)
                    self.entry_store.reopen()
            if self._cache is None:
                self._cache = EntryCache(self.config.site)
                if self.entry_store is not None:
                    self.entry_store.load_into(self._cache)
            watch = self.watch    # read once: a shutdown may take it meanwhile
            changed = watch.take(full) if watch is not None else None
            loaded = load_entries(self.config.entries_path, self.config.site, self._cache, changed)
            patched_from = None
            # The snapshot served is the one this process built, and no scheduled
            # entry has fallen due since: what it holds can be kept or patched.
            own = (self._built is not None and self._built[0] is previous
                   and (previous.catalog.next_due is None or started < previous.catalog.next_due))
            if loaded.unchanged and own:
                # Same files, no scheduled entry due, and the snapshot being
                # served is the one built from them: nothing to select or render.
                snapshot, feeds, rendered = previous, [FeedChange(f.path, f.etag, False) for f in self._built[1]], 0
                catalog = previous.catalog
            else:
                blobs = self.disk.blobs if self.disk is not None else None
                patched = None
                if loaded.replaced is not None and own:
                    # Only these entries came, went or changed: patch them into
                    # the catalog being served instead of selecting anew.
                    patched = patch_catalog(previous.catalog, loaded.replaced, started)
                if patched is not None:
                    catalog = patched
                    patched_from = loaded.replaced
                    snapshot, feeds, rendered = build_site(catalog, self.config, previous, blobs,
                                                           touched=_touched(loaded.replaced), now=started)
                else:
                    catalog = build_catalog(loaded.entries, self.config, started)
                    if self.disk is not None and not getattr(previous, "generation", ""):
                        # A first build renders everything: its entry tables are
                        # written meanwhile instead of after the last feed.
                        self.disk.prepare(catalog, wall)
                    snapshot, feeds, rendered = build_site(catalog, self.config, previous, blobs, now=started,
                                                           reuse=not lost)
            if snapshot is previous:
                old = new = {}
            elif patched_from is not None:     # exactly these entries came, went or changed
                new = {n.id: n.digest for _, n in patched_from if n is not None and catalog.by_slug.get(n.slug) is n}
                old = {o.id: o.digest for o, _ in patched_from
                       if o is not None and previous.catalog.by_slug.get(o.slug) is o}
            else:
                # An update dated ahead that shows now changes what an entry shows, not its file.
                old = previous.entry_digests
                new = catalog.shown_digests()
            problems = (*loaded.problems, *catalog.problems)
            report = RefreshReport(
                started=started, finished=self.clock(), duration=time.perf_counter() - t0, ok=True,
                files=loaded.files, reparsed=loaded.reparsed, entries=len(catalog.entries),
                scheduled=len(catalog.scheduled), drafts=catalog.drafts, rendered=rendered, feeds=tuple(feeds),
                added=tuple(i for i in new if i not in old),
                changed=tuple(i for i in new if i in old and old[i] != new[i]),
                removed=tuple(i for i in old if i not in new),
                problems=problems, next_due=catalog.next_due, started_wall=wall, by_pid=_pid(),
            )
            if self.disk is not None:
                unchanged = snapshot is previous or (
                    rendered == 0 and not report.added and not report.changed and not report.removed
                    and getattr(previous, "generation", "") and not _moved(previous, catalog, patched_from))
                as_dict = report.as_dict()
                snapshot.generation = previous.generation if unchanged else \
                    self.disk.write(snapshot, as_dict, wall, patched_from)
                try:
                    self.disk.write_report(as_dict)
                except OSError as e:
                    # The snapshot is current already: failing the refresh now
                    # would leave it served and unannounced (no WebSub ping).
                    log.error("cannot record the refresh report (%s); /status in other workers lags", e)
            self.store.swap(snapshot)
            self.store.prior = None
            self._built = (snapshot, tuple(feeds))
            if self.entry_store is not None and (not loaded.unchanged or self._unsaved):
                # After a failed refresh the cache holds changes its load took in
                # that no save has seen: compare it all with the store.
                self._save_entries(set(loaded.paths) if patched_from is not None and not self._unsaved else None)
                self._unsaved = False
        except Exception as e:
            return self._failed(e, started, t0, wall)
        self.count += 1
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

    def _failed(self, e: Exception, started: datetime, t0: float, wall: float) -> RefreshReport:
        watch = self.watch
        if watch is not None:
            watch.invalidate()
        # The load may have taken in changes the snapshot served does not
        # show: the next refresh must not patch them onto it, nor keep it,
        # and the entry store has not seen them.
        self._built = None
        self._unsaved = True
        self.failures += 1
        self.count += 1
        cache = self._cache_fault(e)
        if isinstance(e, FeedsvcError):   # said in full by its message: no trace for an operator's mistake
            log.error("refresh failed: %s; still serving the previous feeds", e)
        elif cache:                       # a disk full or read-only: the machine's state, not a bug
            log.error("refresh failed: %s; still serving the previous feeds", cache)
        else:
            log.exception("refresh failed; still serving the previous feeds", exc_info=e)
        report = RefreshReport(started, self.clock(), time.perf_counter() - t0, False,
                               cache or f"{type(e).__name__}: {e}", problems=self.last.problems if self.last else (),
                               started_wall=wall, by_pid=_pid())
        if self.disk is not None:
            try:
                self.disk.write_report(report.as_dict())
            except OSError as w:
                log.error("cannot record the failed refresh in %s: %s", self.disk.root, w.strerror or w)
        self.last = report
        return report

    def _cache_fault(self, e: Exception) -> str:
        """What to tell of ``e`` if it is the cache folder refusing a write, else ""."""
        if self.disk is None or not isinstance(e, OSError):
            return ""
        root = str(self.disk.root)
        name = os.fsdecode(e.filename) if isinstance(e.filename, (str, bytes)) else ""
        if name == root or name.startswith(root + os.sep) or (not name and e.errno in _WRITE_FAULTS):
            return f"cannot write to the cache folder {root}: {e.strerror or e}"
        return ""

    def _save_entries(self, paths: set[str] | None) -> None:
        """Store what parsing gave, behind the refresh: it is for the next start only,
        and nobody should wait for it (at 100k entries it takes seconds, and a
        worker still starting would not serve until it is done)."""
        assert self.entry_store is not None and self._cache is not None
        store, parsed, before = self.entry_store, dict(self._cache.parsed), self._saver

        def save() -> None:
            with behind_requests():
                if before is not None:
                    before.join()       # saves land in the order of their refreshes
                store.save(parsed, paths)

        # Not a daemon: an orderly exit finishes the save rather than losing it.
        self._saver = threading.Thread(target=save, name="feedsvc-entry-store", daemon=False)
        self._saver.start()

    def wait_saved(self, timeout: float | None = None) -> bool:
        """Wait for the entry store to hold what the last refresh parsed. True if it does."""
        saver = self._saver
        if saver is not None:
            saver.join(timeout)
            return not saver.is_alive()
        return True


def _touched(replaced: tuple[tuple[Entry | None, Entry | None], ...]) -> frozenset[str] | None:
    """The ids ``build_site`` may limit its work to, when every change is an edit
    in place (same id, date, categories and draft state: the same place in the
    same feeds); None when entries came, went or moved: a feed that does not
    show one may still change (its archive links, or an entry moving into its
    newest), so every fingerprint is computed."""
    def key(e: Entry) -> tuple[object, ...]:
        return (e.id, e.date, e.categories, e.draft)

    if all(o is not None and n is not None and key(o) == key(n) for o, n in replaced):
        return frozenset(n.id for _, n in replaced if n is not None)
    return None


def _moved(previous: AnySnapshot, catalog: Catalog, patched: tuple[tuple[Entry | None, Entry | None], ...] | None
           ) -> bool:
    """Whether an entry now comes from another file than in ``previous``, with
    the same bytes (so neither its id nor its digest tells): workers read
    article and archive pages from the files its snapshot's tables name."""
    if patched is not None:   # a file renamed is one gone and one new: look no further
        return any(o is None or n is None or o.path != n.path for o, n in patched)
    if isinstance(previous, Snapshot):
        old = previous.catalog.by_slug
        return any((o := old.get(e.slug)) is None or o.path != e.path for e in catalog.entries)
    rows = previous.article_paths()
    return any(rows.get(e.slug) != e.path for e in catalog.entries)


def _pid() -> int:
    return os.getpid()


def new_refresher(config: Config, clock: Clock = utcnow) -> Refresher:
    disk = SnapshotStore(config.cache_path, config.cache_memory_mb * 2**20) if config.cache_path is not None else None
    start: AnySnapshot = empty_snapshot(config)
    prior = None
    if disk is not None:
        loaded = disk.load(config)
        if loaded is not None and loaded.output_key == output_key(config):
            start = loaded
        elif loaded is not None:
            log.info("the feeds in %s were rendered with other settings: rendered again before they are "
                     "served", disk.root)
            prior = loaded
    entry_store = None
    if config.cache_path is not None:
        entry_store = EntryStore(config.cache_path / "entries.sqlite", repr((config.site, str(config.entries_path))))
    store = FeedStore(start, disk, config)
    store.prior = prior
    if prior is not None:
        store._foreign = prior.generation
    return Refresher(config, store, clock, entry_store=entry_store)
