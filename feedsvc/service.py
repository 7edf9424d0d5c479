"""The running service: config, store, refresher and scheduler wired together (no Flask)."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime

from .config import Config
from .refresher import Clock, RefreshReport, Refresher, new_refresher, utcnow
from .scheduler import RefreshScheduler

log = logging.getLogger("feedsvc")


@dataclass
class Service:
    config: Config
    refresher: Refresher
    scheduler: RefreshScheduler
    started_at: datetime
    _start_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def store(self):  # type: ignore[no-untyped-def]
        return self.refresher.store

    def refresh(self) -> RefreshReport:
        return self.refresher.refresh()

    def start_scheduler(self) -> None:
        """Idempotent: the first caller in this process starts it, later calls do nothing."""
        if not self.config.scheduler_enabled:
            return
        with self._start_lock:
            self.scheduler.start()

    def shutdown(self) -> None:
        self.scheduler.shutdown()


def make_service(config: Config, clock: Clock = utcnow) -> Service:
    refresher = new_refresher(config, clock)
    return Service(config, refresher, RefreshScheduler(refresher, config.refresh_interval), clock())
