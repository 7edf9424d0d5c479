"""``feedsvc serve``: the app under a production HTTP server, scheduler included.

granian is the default: on 2 cores it answered feed polls 2 to 10 times faster
than gunicorn's gthread workers (see the README's Performance section).
gunicorn stays available with ``--server gunicorn``.
"""
from __future__ import annotations

import copy
import errno
import logging
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

from .config import Config
from .errors import ConfigError, ListenError

log = logging.getLogger("feedsvc.server")

METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"


def serve(config: Config, server: str, host: str, port: int, workers: int, threads: int,
          access_log: bool = True) -> None:
    # Workers load the config themselves, from the same file and environment.
    if config.source is not None:
        os.environ["FEEDSVC_CONFIG"] = str(Path(config.source).resolve())
    if server != "gunicorn":
        # gunicorn binds without SO_REUSEPORT and reports a taken address
        # itself; its USR2 upgrade also runs this command again while the old
        # master still listens, which this check would refuse.
        check_address_free(host, port)
    own_dir, parent = _metrics_dir(), os.getpid()
    try:
        if server == "gunicorn":
            _gunicorn(config, host, port, workers, threads, access_log)
        else:
            _granian(host, port, workers, threads, access_log)
    finally:
        # gunicorn forks its workers inside the call above, and each leaves it
        # by SystemExit through this frame: only the server's own exit may
        # remove the directory the other workers still write to.
        if own_dir is not None and os.getpid() == parent:
            shutil.rmtree(own_dir, ignore_errors=True)


def _metrics_dir() -> str | None:
    """Point the workers' metrics at one directory, so that a scrape answered
    by any of them sums all of them; returns the directory if it is ours.

    Set in this process's environment before any worker starts: workers are
    forked or spawned from it and inherit it. prometheus_client chooses
    between per-process and shared values once, when it is imported, and
    neither this process nor a worker has imported it by then.
    """
    given = os.environ.get(METRICS_DIR)
    if given:
        # The operator's directory: theirs to empty between runs (prometheus_client
        # asks for that) and to remove; it may be shared with something else.
        try:
            os.makedirs(given, exist_ok=True)
        except OSError as e:
            raise ConfigError(METRICS_DIR, f"cannot create {given}: {e.strerror or e}") from None
        return None
    # Fresh for each run: values left by an earlier run's processes would be
    # added to this run's.
    path = tempfile.mkdtemp(prefix="feedsvc-metrics-")
    os.environ[METRICS_DIR] = path
    return path


def check_address_free(host: str, port: int) -> None:
    """Raise ListenError unless a server could listen on (host, port) alone.

    granian binds with SO_REUSEPORT, so a second instance on a taken port
    would start and silently take half of the first one's connections.
    granian (2.8) has no setting to turn that off; a plain bind shows whether
    anything listens there. Another process may still take the port before
    granian binds it: this catches the operator's mistake, not a race.
    """
    try:
        family, type_, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                           flags=socket.AI_PASSIVE)[0]
        with socket.socket(family, type_, proto) as probe:
            if os.name == "posix":
                # Lets the probe bind over connections of a stopped server
                # still in TIME_WAIT, as the server itself will (a restart is
                # no conflict), while a listening socket still refuses it.
                # Not on Windows, where the option would let it share a port.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(addr)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            reason = "address already in use (is another feedsvc or another server running there?)"
        else:
            reason = e.strerror or str(e)
            reason = reason[:1].lower() + reason[1:]
        raise ListenError(host, port, reason) from None


# Control characters, C1 included, and the Unicode line separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class AccessLineFormatter(logging.Formatter):
    """One line per request, whatever the request's path holds.

    granian logs the path percent-decoded: a request for ``/x%0A[...] "POST
    /admin/refresh" 200`` would write a forged line into the access log, and
    ``%1B`` escape sequences would reach the operator's terminal. Control
    characters are written as ``\\xNN`` instead.
    """

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", line) if _CONTROL.search(line) else line


def _granian_logging() -> dict[str, Any]:
    from granian.log import LOGGING_CONFIG
    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["access"]["()"] = f"{__name__}.AccessLineFormatter"
    return config


def _granian(host: str, port: int, workers: int, threads: int, access_log: bool) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    Granian(
        "feedsvc.worker:app",
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=threads,
        backpressure=max(threads * 8, 32),
        websockets=False,
        log_access=access_log,
        log_dictconfig=_granian_logging(),
        respawn_failed_workers=True,
        respawn_interval=0.5,
        workers_kill_timeout=10,
    ).serve()


def _gunicorn(config: Config, host: str, port: int, workers: int, threads: int, access_log: bool) -> None:
    from gunicorn.app.base import BaseApplication

    class FeedsvcServer(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in options.items():
                if key in self.cfg.settings:  # settings newer than the installed gunicorn are skipped
                    self.cfg.set(key, value)

        def load(self):  # type: ignore[no-untyped-def]
            from .worker import app
            return app

    options: dict[str, Any] = {
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
    }
    FeedsvcServer().run()


def _worker_exit(server: Any, worker: Any) -> None:
    app = getattr(worker, "wsgi", None)
    ext = getattr(app, "extensions", {}) if app is not None else {}
    service = ext.get("feedsvc")
    if service is not None:
        service.shutdown()
