"""The WSGI app of one `feedsvc serve` worker process.

`feedsvc serve` checks the configuration, then starts the server, which
imports this module in each worker; the config path comes through
$FEEDSVC_CONFIG and the FEEDSVC_* overrides through the environment, as for
any other start.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from typing import Any

_STOPS = (signal.SIGTERM, signal.SIGINT)
_asked: list[int] = []


def _remember(signum: int, frame: Any) -> None:
    _asked.append(signum)


def _hold_early_stops() -> None:
    """Keep a stop asked for while this worker starts, and pass it on once it can be obeyed.

    granian forks a worker with its main process's signal handlers and puts
    the worker's own in place only after importing the app: a SIGTERM in
    between ran the main process's handler on the worker's copy of it, which
    does nothing there, and the worker served on until the main process
    killed it 10 s later. gunicorn puts its handlers in place before loading
    the app, and they are left alone.
    """
    if getattr(signal.getsignal(signal.SIGTERM), "__name__", "") != "signal_handler_interrupt":
        return
    for sig in _STOPS:
        signal.signal(sig, _remember)

    def pass_on() -> None:
        deadline = time.monotonic() + 60
        while signal.getsignal(signal.SIGTERM) is _remember and time.monotonic() < deadline:
            time.sleep(0.01)
        if not _asked:
            return
        if signal.getsignal(signal.SIGTERM) is _remember:
            os._exit(128 + _asked[0])     # the server never took over: stop as asked, at once
        # Its handler is in place; what it sets is waited on a moment later.
        time.sleep(0.2)
        os.kill(os.getpid(), _asked[0])

    threading.Thread(target=pass_on, name="feedsvc-early-stop", daemon=True).start()


def _die_with_the_server() -> None:
    """Be told (SIGTERM) when the server's main process dies, on Linux.

    A granian worker whose main process was killed (-9, the OOM killer)
    went on serving, orphaned, holding the port, so the server could not be
    started again until someone found and killed it. gunicorn's workers
    notice a new parent themselves; for them this is one more way to stop.
    """
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:    # it died before it could be watched
        os.kill(os.getpid(), signal.SIGTERM)


_PR_SET_PDEATHSIG = 1
_hold_early_stops()   # first: importing the app takes a while
_die_with_the_server()

from .app import create_app  # noqa: E402
from .cli import setup_logging  # noqa: E402
from .config import load_config  # noqa: E402

setup_logging()
app = create_app(load_config(None, os.environ), start_scheduler=True, render_behind=True)
