"""The running service: config, store, refresher and scheduler wired together (no Flask)."""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from .config import Config
from .priority import behind_requests
from .refresher import Clock, FeedStore, RefreshReport, Refresher, new_refresher, utcnow
from .scheduler import RefreshScheduler
from .websub import Notifier
from .watch import FolderWatch

log = logging.getLogger("feedsvc")
LEADER_WAIT_SECONDS = 120
SAVE_GRACE_SECONDS = 8
LOST_ASK_SECONDS = 5
# An admin answer from a worker that did not run the refresh waits this long, at most,
# for the worker that did to share its hubs' state after queuing the notifications.
WEBSUB_WAIT_SECONDS = 2
# Hubs are told of a refresh this long after it, when several processes serve the
# site: each adopts a new snapshot on its next request at least POLL_SECONDS after
# its last look, reading its manifest, and a hub that fetched old bytes keeps them.
HUB_SETTLE_SECONDS = 0.5


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Service:
    config: Config
    refresher: Refresher
    scheduler: RefreshScheduler
    started_at: datetime
    _start_lock: threading.Lock = field(default_factory=threading.Lock)
    notifier: Notifier | None = None
    _election: threading.Thread | None = None
    _stopping: bool = False
    _stepping_down: bool = False
    _lost_asked: float = float("-inf")

    def announce(self, report: RefreshReport) -> None:
        """Tell the WebSub hubs which current feeds changed."""
        if self.notifier is None or not report.ok:
            return
        base = self.config.site.base_url
        topics = [base + f.path for f in report.changed_feeds]
        if topics:
            self.notifier.publish(topics)

    @property
    def store(self) -> FeedStore:
        return self.refresher.store

    @property
    def is_leader(self) -> bool:
        return self.scheduler.running

    @property
    def refreshing(self) -> bool:
        """Whether any process refreshes now. The refresh lock tells for the
        others: the kernel frees it when a process dies, so one killed in the
        middle of a refresh does not leave this true."""
        if self.refresher.running:
            return True
        disk = self.store.disk
        return disk is not None and disk.refresh_lock.taken()

    def _share_websub(self, hubs: list[dict[str, object]]) -> None:
        disk = self.store.disk
        assert disk is not None
        disk.write_websub({"pid": os.getpid(), "written": time.time(), "hubs": hubs})

    def _shared_websub(self) -> dict[str, Any] | None:
        """What the process that last notified wrote, if it is about the hubs configured here."""
        disk = self.store.disk
        assert disk is not None and self.notifier is not None
        try:
            data = disk.read_websub()
        except OSError:
            return None
        if not isinstance(data, dict):
            return None
        try:
            by_url = {h["url"]: h for h in data["hubs"]}
            if set(by_url) != set(self.notifier.workers) or not isinstance(data["written"], (int, float)):
                return None    # left by a run with other hubs, or not ours at all
        except (KeyError, TypeError):
            return None
        return {"pid": data.get("pid"), "written": data["written"],
                "hubs": [by_url[u] for u in self.notifier.workers]}

    def websub_status(self, after: RefreshReport | None = None) -> tuple[list[dict[str, object]] | None, int | None]:
        """Each hub's state, and the pid of the process it is from.

        Only a process that refreshes notifies (the one running the scheduler,
        as a rule), so the others show what it shared in the cache folder: the
        newest state wins, this process's own or the file's. ``after``: a
        refresh just answered; when another process ran it, wait a moment for
        the state that includes its notifications.
        """
        notifier = self.notifier
        if notifier is None:
            return None, None
        if self.store.disk is None:
            return notifier.status(), os.getpid()
        if after is not None and after.ok and after.changed_feeds and after.by_pid != os.getpid():
            since = after.finished.timestamp()
            deadline = time.monotonic() + WEBSUB_WAIT_SECONDS
            while time.monotonic() < deadline:
                shared = self._shared_websub()
                if shared is not None and shared["written"] >= since:
                    break
                time.sleep(0.01)
        shared = self._shared_websub()
        mine = notifier.changed_at
        if shared is None or (mine is not None and (shared["pid"] == os.getpid() or mine >= shared["written"])):
            return notifier.status(), os.getpid()
        return shared["hubs"], shared["pid"]

    def refresh(self) -> RefreshReport:
        return self.refresher.refresh()

    def entry_changed(self, path: str) -> None:
        """A page asked for shows an entry whose file changed since the snapshot
        served was made: ask for the refresh that publishes the change."""
        self._ask_refresh(logging.INFO, "%s changed since the feeds were published; asking for a refresh", path)

    def body_lost(self, path: str) -> None:
        """A body of the snapshot served is gone from the cache folder (removed
        while serving): ask the process that refreshes to write it all again."""
        disk = self.store.disk
        if disk is not None:
            self._ask_refresh(logging.ERROR, "%s: its bytes are gone from the cache folder %s; asking for a "
                                             "refresh to write them again", path, disk.root,
                              first=disk.mark_bodies_lost)

    def _ask_refresh(self, level: int, message: str, *args: object,
                     first: Callable[[], object] | None = None) -> None:
        """A refresh, by the process running the scheduler (it takes requests even from
        itself, and holds every parsed entry: its refresh re-reads only what changed),
        else behind this one's requests; asked at most once every few seconds,
        however many requests find a reason."""
        now = time.monotonic()
        if now - self._lost_asked < LOST_ASK_SECONDS:
            return
        self._lost_asked = now
        log.log(level, message, *args)
        disk = self.store.disk
        try:
            if first is not None:
                first()
            if disk is not None and self.config.scheduler_enabled:
                disk.request_refresh()
            else:
                self._refresh_behind()
        except OSError as e:
            log.error("cannot ask for that refresh: %s", e)

    def refresh_now(self) -> RefreshReport:
        """An operator's refresh: run by the process that runs the scheduler, if another one does.

        That process holds every parsed entry, so it re-reads only what
        changed. This one waits for a refresh that started after it asked, and
        serves its result; with no live leader (or no answer) it refreshes itself.
        A refresh already running is joined, as in the process running it: its
        result is the answer, and no other is asked for.
        """
        disk = self.store.disk
        leader = (disk.read_schedule() or {}).get("pid") if disk is not None else None
        if disk is None or self.is_leader or not _alive(leader):
            return self.refresh()
        last = (disk.read_report() or {}).get("started_wall")
        asked = None if disk.refresh_lock.taken() else disk.request_refresh()
        deadline = time.monotonic() + LEADER_WAIT_SECONDS
        while time.monotonic() < deadline:
            data = disk.read_report()
            if data and data.get("finished") and (data.get("started_wall", 0.0) >= asked if asked is not None
                                                  else data.get("started_wall") != last):
                self.store.poll(force=True)
                return RefreshReport.from_dict(data)
            time.sleep(0.01)
        log.warning("the scheduler process %s did not answer a refresh request; refreshing here", leader)
        return self.refresh()

    def start(self, lead: bool = False, behind: bool = False, then: Callable[[], None] | None = None) -> None:
        """``first_start``, then ``then`` (the scheduler's start, say).

        ``behind``: a first render runs in a thread of its own, and the process
        answers meanwhile: feeds and pages with 503 and Retry-After, /healthz
        with 200. A server's worker needs this: one that answers nothing for
        the 20 s of a first render at 100k entries is refused by clients and
        failed by a load balancer's health checks, which may restart it.
        """
        if behind and not self.store.current.generation:
            def first() -> None:
                try:
                    self.first_start(lead)
                except Exception:   # a refresh reports its own failures; this is a bug, said once
                    log.exception("the first render failed; the scheduler's refreshes will try again")
                if then is not None and not self._stopping:
                    then()
            threading.Thread(target=first, name="feedsvc-first-render", daemon=True).start()
            return
        self.first_start(lead)
        if then is not None:
            then()

    def first_start(self, lead: bool = False) -> None:
        """Render at once if nothing is on disk yet; else serve the last snapshot and refresh behind it.

        With several workers, the one elected to run the scheduler does that
        refresh; the others only serve. A worker that starts while another
        renders the first snapshot waits for it and serves it (each would
        otherwise hold every entry in memory and render the site again).

        ``lead``: this process means to run the scheduler. If it is the one
        to render the first snapshot, it first takes the leader lock (when
        free) and starts its watch: the walk of that render is then the
        watch's baseline, where an election after it would walk every file
        again behind the new snapshot (at 100k entries, seconds of CPU while
        the first polls arrive). It does so holding the refresh lock, so the
        worker that renders is the one that leads: a leader that took the lock
        first and then waited for another worker's render would have to load
        every entry afresh to refresh behind it.
        """
        if not self.store.current.generation:
            report = self.refresher.refresh(if_missing=True, before_run=self._lead_at_once if lead else None)
            watch = self.refresher.watch
            if self.is_leader and not (report.ok and watch is not None and watch.has_baseline):
                # It led from before its render, but that render failed or nothing
                # can be watched here: refresh behind it as an elected leader would.
                self._refresh_behind()
        elif not (self.config.scheduler_enabled and self.store.disk is not None):
            self._refresh_behind()

    def _lead_at_once(self) -> None:
        """Run the scheduler from now on if no other process does (never waits)."""
        disk = self.store.disk
        if not self.config.scheduler_enabled or disk is None:
            return
        with self._start_lock:
            if self._election is None and not self.scheduler.running and not self._stopping \
                    and disk.leader_lock.acquire(blocking=False):
                self._lead()

    def _refresh_behind(self) -> None:
        threading.Thread(target=self._background_refresh, name="feedsvc-first-refresh", daemon=True).start()

    def _background_refresh(self) -> None:
        with behind_requests():
            try:
                self.refresh()
            except Exception:  # pragma: no cover - refresh() reports its own failures
                log.exception("first refresh failed")

    def start_scheduler(self) -> None:
        """Idempotent. With a cache folder, only the process holding its leader lock runs the
        scheduler; the others wait on the lock and take over if the leader dies."""
        if not self.config.scheduler_enabled:
            return
        with self._start_lock:
            if self._election is not None or self.scheduler.running:
                return
            disk = self.store.disk
            if disk is None:
                self.scheduler.start()
                self._watch()
                return
            self._election = threading.Thread(target=self._elect, name="feedsvc-election", daemon=True)
            self._election.start()

    def _elect(self) -> None:
        disk = self.store.disk
        assert disk is not None
        disk.leader_lock.acquire()  # blocks until no other process holds it
        if self._stopping:
            disk.leader_lock.release()
            return
        self._lead()
        # Bring the snapshot up to date if it came from disk, and in any case
        # give the new watch its baseline: until one walk has run since it
        # started, it cannot tell an edit from the files it never saw.
        self._refresh_behind()

    def _keep_lead(self) -> None:
        """Run by the scheduler every few seconds: a cache folder removed took the
        leader lock's file with it, and another process could lock the new one
        and lead too. Take the new one first, or step down if another has."""
        disk = self.store.disk
        if disk is None or self._stopping or self._stepping_down or disk.leader_lock.holds_path():
            return
        if disk.leader_lock.retake():
            log.warning("the leader lock went with the cache folder %s; process %s took it again",
                        disk.root, os.getpid())
            return
        log.warning("another process leads since the cache folder %s was removed; process %s stops its "
                    "scheduler", disk.root, os.getpid())
        self._stepping_down = True     # once, however often the check runs before it is done
        threading.Thread(target=self._step_down, name="feedsvc-step-down", daemon=True).start()

    def _step_down(self) -> None:
        """Stop leading (not from the scheduler's own thread) and wait to be elected again."""
        disk = self.store.disk
        assert disk is not None
        with self._start_lock:
            old = self.scheduler
            old.shutdown()
            watch, self.refresher.watch = self.refresher.watch, None
            if watch is not None:
                watch.stop()
            disk.leader_lock.release()     # the removed file's lock: nobody else can want it
            self.scheduler = RefreshScheduler(self.refresher, old.interval, disk)
            self._election = None
            self._stepping_down = False
        if not self._stopping:
            self.start_scheduler()

    def _lead(self) -> None:
        log.info("process %s runs the scheduler", os.getpid())
        self.scheduler.keep_lead = self._keep_lead
        if self.notifier is not None:
            # It notifies from now on: every process shows its counts, not those
            # an earlier leader (of this run or an earlier one) left behind.
            self.notifier.changed()
        self.scheduler.start()
        self._watch()

    def _watch(self) -> None:
        """The process that runs the scheduler runs every refresh: it watches the folder."""
        watch = FolderWatch(self.config.entries_path)
        if watch.start():
            self.refresher.watch = watch

    def shutdown(self) -> None:
        self._stopping = True
        self.scheduler.shutdown()
        watch, self.refresher.watch = self.refresher.watch, None
        if watch is not None:
            watch.stop()
        if self.notifier is not None:
            self.notifier.close()
        # Within the server's grace period (10 s): a save cut short is rolled
        # back, and the next start only parses more files.
        self.refresher.wait_saved(SAVE_GRACE_SECONDS)
        # The leader lock is not released here: the kernel frees it when the
        # process ends, and releasing it early would elect another worker of a
        # server that is stopping as a whole.


def make_service(config: Config, clock: Clock = utcnow) -> Service:
    refresher = new_refresher(config, clock)
    scheduler = RefreshScheduler(refresher, config.refresh_interval, refresher.disk)
    notifier = Notifier(config.websub_hubs, config.websub_timeout, config.websub_retries,
                        settle=HUB_SETTLE_SECONDS if refresher.disk is not None else 0.0) \
        if config.websub_hubs else None
    service = Service(config, refresher, scheduler, clock(), notifier=notifier)
    if notifier is not None and refresher.disk is not None:
        notifier.on_change = service._share_websub
    refresher.listeners.append(service.announce)
    return service
