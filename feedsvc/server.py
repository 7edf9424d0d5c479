"""``feedsvc serve``: the Flask app under gunicorn, scheduler included."""
from __future__ import annotations

import logging
from typing import Any

from gunicorn.app.base import BaseApplication

from .config import Config

log = logging.getLogger("feedsvc.server")


class FeedsvcServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, config: Config, options: dict[str, Any]) -> None:
        self.feedsvc_config = config
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # settings newer than the installed gunicorn are skipped
                self.cfg.set(key, value)

    def load(self):  # type: ignore[no-untyped-def]
        # Runs in each worker (no preload): each builds its own snapshot and
        # scheduler; rendering is deterministic, so every worker serves the
        # same bytes and ETags.
        from .app import create_app
        return create_app(self.feedsvc_config, start_scheduler=True)


def _worker_exit(server: Any, worker: Any) -> None:
    app = getattr(worker, "wsgi", None)
    ext = getattr(app, "extensions", {}) if app is not None else {}
    service = ext.get("feedsvc")
    if service is not None:
        service.shutdown()


def serve(config: Config, host: str, port: int, workers: int, threads: int, access_log: bool = True) -> None:
    options = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "accesslog": "-" if access_log else None,
        "errorlog": "-",
        "loglevel": "info",
        "graceful_timeout": 10,
        "timeout": 60,
        "keepalive": 5,
        "worker_exit": _worker_exit,
        "proc_name": "feedsvc",
        # One fixed control socket per user would collide between instances.
        "control_socket_disable": True,
        "forwarded_allow_ips": "127.0.0.1,::1",
    }
    FeedsvcServer(config, options).run()
