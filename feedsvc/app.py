"""create_app(): the Flask shell around the service."""
from __future__ import annotations

import atexit
import multiprocessing.util
import os

from flask import Flask

from .config import Config, load_config
from .refresher import Clock, utcnow
from .service import Service, make_service


def create_app(config: Config | None = None, *, start_scheduler: bool = False, clock: Clock = utcnow) -> Flask:
    """Build the app and render the feeds once before it serves.

    The scheduler starts when ``start_scheduler`` is true (``feedsvc serve``) or
    else with the first request the process serves. A process that never serves,
    such as the parent of Flask's reloader, never starts one.
    """
    if config is None:
        config = load_config(None, os.environ)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    # "/categories//feed.rss" is no URL of ours; merged, it was redirected to
    # "/categories/feed.rss/", which is none either.
    app.url_map.merge_slashes = False
    service = make_service(config, clock)
    app.extensions["feedsvc"] = service

    from . import metrics
    from .ops import bp as ops_bp
    from .web import bp
    app.register_blueprint(bp)
    app.register_blueprint(ops_bp)
    service.refresher.listeners.append(metrics.record_refresh)
    service.start(lead=start_scheduler)
    from .fastpath import FastFeeds
    app.wsgi_app = FastFeeds(app.wsgi_app, service)  # type: ignore[method-assign]

    if service.store.disk is not None:
        @app.before_request
        def _follow_other_workers() -> None:
            service.store.poll()

    if config.scheduler_enabled:
        if start_scheduler:
            service.start_scheduler()
        else:
            @app.before_request
            def _start_on_first_request() -> None:
                if not service.scheduler.running:
                    service.start_scheduler()
        atexit.register(service.shutdown)
        # A worker process of a server started through multiprocessing ends with
        # os._exit, which skips atexit; its finalizers still run.
        multiprocessing.util.Finalize(None, service.shutdown, exitpriority=10)
    return app


def get_app_service(app: Flask) -> Service:
    return app.extensions["feedsvc"]
