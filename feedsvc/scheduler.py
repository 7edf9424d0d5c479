"""APScheduler jobs: refresh every interval, and once more when the next scheduled entry falls due."""
from __future__ import annotations

import logging
import os
import threading
from datetime import datetime, timedelta, timezone
from typing import Callable

from apscheduler.schedulers.background import BackgroundScheduler

from .persist import SnapshotStore
from .refresher import RefreshReport, Refresher

log = logging.getLogger("feedsvc.scheduler")

# Fire a moment after the due time so the entry is certainly "not in the future"
# when the refresh reads the clock.
DUE_MARGIN = timedelta(milliseconds=50)
FOLLOW_SECONDS = 2
REQUEST_POLL_SECONDS = 0.01


class RefreshScheduler:
    def __init__(self, refresher: Refresher, interval_seconds: int, disk: SnapshotStore | None = None) -> None:
        self.refresher = refresher
        self.interval = interval_seconds
        self.disk = disk
        self._sched = BackgroundScheduler(
            timezone=timezone.utc,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._started = False
        self._ready = False
        self._stop_requests = threading.Event()
        # Called every FOLLOW_SECONDS while it runs: the service checks that it still leads.
        self.keep_lead: Callable[[], None] | None = None

    @property
    def running(self) -> bool:
        """True once started and its schedule published (what /status shows), until shut down."""
        return self._ready

    def start(self) -> None:
        if self._started:
            return
        self._sched.add_job(self._refresh, "interval", seconds=self.interval, id="interval",
                            next_run_time=datetime.now(timezone.utc) + timedelta(seconds=self.interval))
        if self.disk is not None:
            # Another process may refresh (an admin request it served) and find a
            # new scheduled entry: follow its report so the due run is not missed.
            self._sched.add_job(self._follow, "interval", seconds=FOLLOW_SECONDS, id="follow")
        self._sched.start()
        self._started = True
        if self.disk is not None:
            self._requests = threading.Thread(target=self._serve_requests, name="feedsvc-requests", daemon=True)
            self._requests.start()
        self.refresher.listeners.append(self._after_refresh)
        if self.refresher.last is not None:
            self._after_refresh(self.refresher.last)
        self._publish()
        self._ready = True
        log.info("scheduler started: refresh every %ss", self.interval)

    def shutdown(self) -> None:
        self._ready = False
        if not self._started:
            return
        self._started = False
        try:
            self.refresher.listeners.remove(self._after_refresh)
        except ValueError:
            pass
        self._stop_requests.set()
        if self._sched.running:
            self._sched.shutdown(wait=True)
        log.info("scheduler stopped")

    def next_runs(self) -> dict[str, datetime | None]:
        out: dict[str, datetime | None] = {"interval": None, "due": None}
        for job in self._sched.get_jobs():
            if job.id in out:
                out[job.id] = getattr(job, "next_run_time", None)
        return out

    def _serve_requests(self) -> None:
        """Run the refreshes other processes ask for (admin requests they received).

        The leader keeps every parsed entry in memory, so its refresh re-reads
        only what changed; a worker that refreshed itself would parse the whole
        folder first.
        """
        assert self.disk is not None
        handled = self.disk.refresh_requested_at() or 0.0
        while not self._stop_requests.wait(REQUEST_POLL_SECONDS):
            asked = self.disk.refresh_requested_at()
            if asked is not None and asked > handled:
                handled = asked
                try:
                    if self.refresher.refresh().started_wall < asked:
                        # That joined a refresh already running, begun before the
                        # request: the process that asked waits for one begun after.
                        self.refresher.refresh()
                except Exception:  # pragma: no cover - refresh() reports its own failures
                    log.exception("requested refresh failed")

    def _follow(self) -> None:
        assert self.disk is not None
        if self.keep_lead is not None:
            self.keep_lead()
        data = self.disk.read_report()
        if not data or not data.get("ok") or data.get("by_pid") == os.getpid():
            return
        due = data.get("next_due")
        job = self._sched.get_job("due")
        current = getattr(job, "next_run_time", None) if job else None
        wanted = datetime.fromisoformat(due) + DUE_MARGIN if due else None
        if (current is None) != (wanted is None) or (wanted and current and abs(current - wanted).total_seconds() > 1):
            self._after_refresh(RefreshReport.from_dict(data))

    def _refresh(self) -> None:
        # The scheduled refresh walks the whole folder: whatever a watch of it
        # missed (a network file system, a flood of changes) is published now.
        self.refresher.refresh(full=True)
        self._publish()

    def _publish(self) -> None:
        """Tell the other processes (and /status in any of them) when the next runs are."""
        if self.disk is None:
            return
        runs = self.next_runs()
        try:
            self.disk.write_schedule({"pid": os.getpid(), "interval_seconds": self.interval,
                                      **{k: v.isoformat() if v else None for k, v in runs.items()}})
        except OSError as e:
            log.error("cannot write the schedule to %s: %s", self.disk.root, e.strerror or e)

    def _after_refresh(self, report: RefreshReport) -> None:
        due = report.next_due if report.ok else None
        if due is None and not report.ok and self.refresher.last_ok is not None:
            due = self.refresher.last_ok.next_due
        if due is None:
            if self._sched.get_job("due"):
                self._sched.remove_job("due")
                self._publish()
            return
        # A due time already past means the refresh's clock and ours disagree;
        # wait a second rather than refresh in a tight loop.
        run_at = max(due + DUE_MARGIN, datetime.now(timezone.utc) + timedelta(seconds=1)) \
            if due <= datetime.now(timezone.utc) else due + DUE_MARGIN
        self._sched.add_job(self._refresh, "date", run_date=run_at, id="due", replace_existing=True)
        self._publish()
