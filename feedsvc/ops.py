"""Operator endpoints: POST /admin/refresh, GET /status, GET /metrics."""
from __future__ import annotations

import hmac
import json
import os
from typing import Any

from flask import Blueprint, Response, request
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, Unauthorized

from . import __version__, metrics
from .web import get_service

bp = Blueprint("feedsvc_ops", __name__)


def _json(data: Any, status: int = 200) -> Response:
    resp = Response(json.dumps(data, indent=2, ensure_ascii=False) + "\n", status=status,
                    content_type="application/json; charset=utf-8")
    resp.cache_control.no_store = True
    return resp


def _authorize() -> None:
    token = get_service().config.admin_token
    if not token:
        raise Forbidden("Admin endpoints are disabled: set FEEDSVC_ADMIN_TOKEN in the service's environment.")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise Unauthorized("Send the admin token as 'Authorization: Bearer <token>'.",
                           www_authenticate=WWWAuthenticate("Bearer", {"realm": "feedsvc"}))
    # Constant time: how much of a guess matches must not show in the timing.
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise Unauthorized("Wrong admin token.", www_authenticate=WWWAuthenticate(
            "Bearer", {"realm": "feedsvc", "error": "invalid_token"}))


@bp.post("/admin/refresh")
def admin_refresh() -> Response:
    _authorize()
    service = get_service()
    report = service.refresh_now()
    data = report.as_dict()
    if service.notifier is not None:
        # delivery runs in the background; this is each hub's state right now
        data["websub"], data["websub_by_pid"] = service.websub_status(after=report)
    return _json(data, 200 if report.ok else 500)


@bp.get("/status")
def status() -> Response:
    service = get_service()
    store = service.store
    store.poll()
    snap = store.current
    disk = store.disk
    last = disk.read_report() if disk is not None else None
    own = service.refresher.last
    # This process's own, when newer: a refresh that could not write the cache
    # folder could not record its failure there either.
    if own is not None and (last is None or own.started_wall > last.get("started_wall", 0.0)):
        last = own.as_dict()
    schedule = disk.read_schedule() if disk is not None else None
    if schedule is None and service.scheduler.running:
        schedule = {"pid": os.getpid(), "interval_seconds": service.config.refresh_interval,
                    **{k: v.isoformat() if v else None for k, v in service.scheduler.next_runs().items()}}
    feeds = snap.feed_paths
    made = _made(snap, service, last)
    websub, websub_by = service.websub_status()
    return _json({
        "version": __version__,
        "started_at": service.started_at.isoformat(),
        "pid": os.getpid(),
        "snapshot": getattr(snap, "generation", "") or None,
        "refreshing": service.refreshing,
        "last_refresh": _brief(last),
        "schedule": schedule,
        "counts": {
            "entries": snap.entry_count,
            "categories": len(snap.categories),
            "feeds": len(feeds),
            # Of the refresh that made the snapshot served: a failed one since counted nothing.
            "scheduled": (made or {}).get("scheduled"),
            "drafts": (made or {}).get("drafts"),
        },
        "problems": (last or {}).get("problems", []),
        "websub": websub,
        "websub_by_pid": websub_by,
    })


def _made(snap: Any, service: Any, last: dict[str, Any] | None) -> dict[str, Any] | None:
    """The last successful refresh's report: the one that made ``snap``, or kept it
    (a refresh that changed only drafts or scheduled entries publishes no new
    snapshot). After a failure: this process's last success, else the report kept
    in the manifest of the snapshot read from the cache folder."""
    if last is not None and last.get("ok"):
        return last
    ok = service.refresher.last_ok
    if ok is not None:
        return ok.as_dict()
    manifest = getattr(snap, "manifest", None)
    if isinstance(manifest, dict) and isinstance(manifest.get("report"), dict):
        return manifest["report"]
    return None


def _brief(report: dict[str, Any] | None) -> dict[str, Any] | None:
    if report is None:
        return None
    keep = ("started", "finished", "duration", "ok", "error", "entries", "added", "changed", "removed",
            "rendered", "next_due", "by_pid")
    out = {k: report.get(k) for k in keep}
    out["changed_feeds"] = [f["path"] for f in report.get("feeds", []) if f.get("changed")]
    return out


@bp.get("/metrics")
def metrics_view() -> Response:
    body, ctype = metrics.exposition()
    resp = Response(body, content_type=ctype)
    resp.cache_control.no_store = True
    return resp


@bp.after_app_request
def count(resp: Response) -> Response:
    rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
    metrics.REQUESTS.labels(rule, str(resp.status_code)).inc()
    if not resp.is_streamed and request.method != "HEAD":
        metrics.BYTES.labels(rule).inc(resp.content_length or 0)
    return resp
