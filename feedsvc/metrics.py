"""Prometheus metrics. Under several workers, values are kept per process in
``PROMETHEUS_MULTIPROC_DIR`` (a fresh directory ``feedsvc serve`` makes before
its workers start, unless the operator set one) and summed at scrape time, so
that every worker answers a scrape with the same totals; a single process
(``flask run``, tests) uses the default registry.

No gauge uses a ``live*`` multiprocess mode: those need
``multiprocess.mark_process_dead(pid)`` for each worker that exits, and granian
has no hook that runs then (gunicorn's ``child_exit`` would do). The gauges
here hold what the last refresh found, whichever process ran it, which a dead
worker's file still tells right: ``mostrecent``.
"""
from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY

from . import __version__

REFRESHES = Counter("feedsvc_refresh_total", "Refreshes run, by outcome.", ["outcome"])
REFRESH_SECONDS = Histogram("feedsvc_refresh_duration_seconds", "Time a refresh took.",
                            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
ENTRIES = Gauge("feedsvc_entries", "Entries by state after the last refresh.", ["state"],
                multiprocess_mode="mostrecent")
FEEDS = Gauge("feedsvc_feeds", "Feeds served (all formats).", multiprocess_mode="mostrecent")
PROBLEMS = Gauge("feedsvc_entry_problems", "Entry problems found by the last refresh.", ["severity"],
                 multiprocess_mode="mostrecent")
LAST_REFRESH = Gauge("feedsvc_last_refresh_timestamp_seconds", "When the last successful refresh finished.",
                     multiprocess_mode="mostrecent")
REQUESTS = Counter("feedsvc_http_requests_total", "HTTP requests by route and status; the 304 ratio is "
                   "requests with status 304 over all GET requests to feed routes.", ["route", "status"])
BYTES = Counter("feedsvc_http_response_bytes_total", "Body bytes sent, by route.", ["route"])
WEBSUB = Counter("feedsvc_websub_notifications_total", "WebSub publish notifications by hub and outcome "
                 "(after retries).", ["hub", "outcome"])
INFO = Gauge("feedsvc_build_info", "Version of feedsvc.", ["version"], multiprocess_mode="max")
INFO.labels(__version__).set(1)


def record_refresh(report) -> None:  # type: ignore[no-untyped-def]
    REFRESHES.labels("ok" if report.ok else "failed").inc()
    REFRESH_SECONDS.observe(report.duration)
    if not report.ok:
        return
    ENTRIES.labels("published").set(report.entries)
    ENTRIES.labels("scheduled").set(report.scheduled)
    ENTRIES.labels("draft").set(report.drafts)
    FEEDS.set(len(report.feeds))
    errors = sum(1 for p in report.problems if p.severity == "error")
    PROBLEMS.labels("error").set(errors)
    PROBLEMS.labels("warning").set(len(report.problems) - errors)
    LAST_REFRESH.set(report.finished.timestamp())


def exposition() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
