"""create_app(): the Flask shell around the service."""
from __future__ import annotations

import atexit
import multiprocessing.util
import os
from typing import Any
from urllib.parse import SplitResult, urlsplit

from flask import Flask
from werkzeug.routing import MapAdapter

from .config import Config, load_config
from .refresher import Clock, utcnow
from .service import Service, make_service


class _PublicURLs(Flask):
    """Flask whose own URLs (the redirect that adds a trailing slash) start with site.base_url.

    Werkzeug builds them from the request's Host header and the socket's
    scheme, which behind a proxy are not the public ones (http for https, no
    path prefix) and which any client can set to another site.
    """

    public: SplitResult = urlsplit("http://localhost")   # site.base_url

    def create_url_adapter(self, request: Any) -> MapAdapter | None:
        adapter = super().create_url_adapter(request)
        if adapter is not None and request is not None:
            adapter.url_scheme, adapter.server_name = self.public.scheme, self.public.netloc
            adapter.script_name = self.public.path.rstrip("/") + "/"
        return adapter


def create_app(config: Config | None = None, *, start_scheduler: bool = False, clock: Clock = utcnow,
               render_behind: bool = False) -> Flask:
    """Build the app and render the feeds once before it serves, or, with
    ``render_behind`` (``feedsvc serve``'s workers), while it serves.

    The scheduler starts when ``start_scheduler`` is true (``feedsvc serve``),
    after that first render, or else with the first request the process serves.
    A process that never serves, such as the parent of Flask's reloader, never
    starts one.
    """
    if config is None:
        config = load_config(None, os.environ)
    app = _PublicURLs(__name__)
    app.public = urlsplit(config.site.base_url)
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
    then = service.start_scheduler if config.scheduler_enabled and start_scheduler else None
    service.start(lead=start_scheduler, behind=render_behind, then=then)
    from .fastpath import FastFeeds
    app.wsgi_app = FastFeeds(app.wsgi_app, service)  # type: ignore[method-assign]

    if service.store.disk is not None:
        @app.before_request
        def _follow_other_workers() -> None:
            service.store.poll()

    if config.scheduler_enabled:
        if not start_scheduler:
            # Around the fast path too: a process polled only for feeds (which
            # never reach Flask's before_request) must still refresh them.
            serve = app.wsgi_app

            def start_on_first_request(environ: Any, start_response: Any) -> Any:
                if not service.scheduler.running:
                    service.start_scheduler()
                return serve(environ, start_response)

            app.wsgi_app = start_on_first_request  # type: ignore[method-assign]
        atexit.register(service.shutdown)
        # A worker process of a server started through multiprocessing ends with
        # os._exit, which skips atexit; its finalizers still run.
        multiprocessing.util.Finalize(None, service.shutdown, exitpriority=10)
    return app


def get_app_service(app: Flask) -> Service:
    return app.extensions["feedsvc"]
