"""Keeping the cyclic garbage collector out of the way of large batches."""
from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from typing import Iterator

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def collections_paused() -> Iterator[None]:
    """No automatic collection while the block runs (in this process).

    A first load of a large folder makes millions of objects that all live
    on, and the collector walked them again and again as they piled up: at
    100,000 entries, 5 of the 15 seconds of a load. What a load makes (text,
    tuples, dates, frozen dataclasses) holds no cycles, and the little cyclic
    garbage made meanwhile is collected after the block. Blocks may nest and
    overlap across threads: collection resumes when the last one ends, and
    only if it was on before the first.
    """
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()


def exempt_survivors() -> None:
    """Leave every object alive now out of all later collections (``gc.freeze``).

    For a process that has just loaded and rendered a large site. What it
    keeps (entries, the snapshot) holds no reference cycles, so reference
    counting frees it when a refresh replaces it; the collector, which would
    walk all of it at every full collection (0.3-0.6 s each at 100,000
    entries, with a request or a refresh waiting), need not look at it again.
    """
    gc.freeze()
