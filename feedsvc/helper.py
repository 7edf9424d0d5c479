"""Running a share of CPU-bound work in a helper interpreter.

Parsing and rendering are Python holding the GIL, so large jobs use helper
processes. They are fresh interpreters (``python -m feedsvc.<module>``) rather
than forks: the service forks from threads (server, scheduler), where a lock
held by another thread at fork time can hang the child. The work goes in and
the answer comes back pickled over pipes; a helper that fails for any reason
raises here, and the caller does its share itself, so a helper never costs
anything but time.
"""
from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger("feedsvc.helper")
# A helper that runs this long is stuck, not busy (a 100k-entry site's share
# takes under a minute here): the caller takes its share back.
TIMEOUT_SECONDS = 900


class HelperFailed(Exception):
    pass


def cores() -> int:
    """The cores this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:   # not on Linux
        return os.cpu_count() or 1


def call(module: str, payload: Any, started: Callable[[subprocess.Popen[bytes]], None] | None = None) -> Any:
    """Run ``python -m <module>`` on ``payload``; its answer, or HelperFailed.

    ``started`` is given the process as soon as it runs, so that a caller who
    no longer needs the answer can kill it.
    """
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    try:
        data = pickle.dumps(payload, pickle.HIGHEST_PROTOCOL)
        with subprocess.Popen([sys.executable, "-m", module], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env) as proc:
            if started is not None:
                started(proc)
            try:
                out, err = proc.communicate(data, timeout=TIMEOUT_SECONDS)
            except BaseException:
                proc.kill()
                raise
    except Exception as e:  # no interpreter, a payload that cannot be pickled, a timeout
        raise HelperFailed(f"{type(e).__name__}: {e}") from None
    if proc.returncode != 0:
        raise HelperFailed(f"exit {proc.returncode}: {err.decode(errors='replace')[-500:]}")
    # What the helper logged (an entry body published as text, say) is the
    # operator's to see, as if this process had done the work.
    said = err.decode(errors="replace").strip()
    if said:
        log.warning("%s helper:\n%s", module, said)
    try:
        return pickle.loads(out)
    except Exception as e:
        raise HelperFailed(f"unreadable answer: {type(e).__name__}: {e}") from None


def serve(work: Callable[[Any], Any]) -> None:
    """The helper's side: payload from stdin, answer to stdout."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    payload = pickle.load(sys.stdin.buffer)
    sys.stdout.buffer.write(pickle.dumps(work(payload), protocol=pickle.HIGHEST_PROTOCOL))
