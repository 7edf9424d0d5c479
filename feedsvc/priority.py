"""Work behind requests: a refresh or a save running in a process that serves.

Requests come first. The OS is told so through the thread's priority (on
Linux, where priorities are per thread); the GIL, which the OS knows nothing
of, through a shorter switch interval while such work runs.
"""
from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager
from typing import Iterator


def yield_cpu() -> None:
    """Lower this thread's CPU priority: work behind a served snapshot is in no
    hurry, and requests arriving meanwhile should not wait for it. Linux sets
    priorities per thread; elsewhere the call would lower the whole process."""
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except OSError:
            pass


# While work runs behind requests in the same process, the GIL changes hands
# this often instead of every 5 ms: a request thread waits that long for it.
# On a restart at 100k entries this took every feed served from 2.3-2.9 s to
# 2.0-2.6 s, and a second full fetch from 2.5-2.6 s to 1.7-2.1 s.
BEHIND_SWITCH_SECONDS = 0.0005
_behind_lock = threading.Lock()
_behind_depth = 0
_behind_saved = 0.005


@contextmanager
def behind_requests() -> Iterator[None]:
    """Run the block as work behind requests: low CPU priority for this thread (on
    Linux), and a short GIL switch interval for the process while any such block runs."""
    global _behind_depth, _behind_saved
    yield_cpu()
    with _behind_lock:
        if _behind_depth == 0:
            _behind_saved = sys.getswitchinterval()
            sys.setswitchinterval(BEHIND_SWITCH_SECONDS)
        _behind_depth += 1
    try:
        yield
    finally:
        with _behind_lock:
            _behind_depth -= 1
            if _behind_depth == 0:
                sys.setswitchinterval(_behind_saved)
