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
# A helper that runs this long is stuck, not busy: the caller takes its share back.
TIMEOUT_SECONDS = 3600


class HelperFailed(Exception):
    pass


def call(module: str, payload: Any) -> Any:
    """Run ``python -m <module>`` on ``payload``; its answer, or HelperFailed."""
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    try:
        proc = subprocess.run([sys.executable, "-m", module], input=pickle.dumps(payload, pickle.HIGHEST_PROTOCOL),
                              capture_output=True, env=env, timeout=TIMEOUT_SECONDS, check=False)
    except Exception as e:  # no interpreter, a payload that cannot be pickled, a timeout
        raise HelperFailed(f"{type(e).__name__}: {e}") from None
    if proc.returncode != 0:
        raise HelperFailed(f"exit {proc.returncode}: {proc.stderr.decode(errors='replace')[-500:]}")
    # What the helper logged (an entry body published as text, say) is the
    # operator's to see, as if this process had done the work.
    said = proc.stderr.decode(errors="replace").strip()
    if said:
        log.warning("%s helper:\n%s", module, said)
    try:
        return pickle.loads(proc.stdout)
    except Exception as e:
        raise HelperFailed(f"unreadable answer: {type(e).__name__}: {e}") from None


def serve(work: Callable[[Any], Any]) -> None:
    """The helper's side: payload from stdin, answer to stdout."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    payload = pickle.load(sys.stdin.buffer)
    sys.stdout.buffer.write(pickle.dumps(work(payload), protocol=pickle.HIGHEST_PROTOCOL))
