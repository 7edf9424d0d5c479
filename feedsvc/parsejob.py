"""Parsing many entry files on every core.

A first load of a large folder hands shares of the files to helper processes
(see ``helper``). Each reads its share and sends back the parsed entries; if
one fails for any reason, its share is parsed here instead, so a helper never
costs an entry.
"""
from __future__ import annotations

import logging
import threading
from typing import Sequence

from . import helper
from .config import SiteConfig
from .entries import Parsed, parse_entry
from .heap import collections_paused

log = logging.getLogger("feedsvc.parse")

# Below this many files a helper's start (~0.3 s) costs more than it saves.
PARALLEL_FROM = 2000
MAX_HELPERS = 7

Job = tuple[str, str]   # (relative path, absolute path)


def parse_file(rel: str, full: str, site: SiteConfig) -> Parsed | OSError:
    try:
        with open(full, "rb") as fh:
            raw = fh.read()
    except OSError as e:
        return e
    return parse_entry(raw, rel, site, full)


def parse_files(jobs: Sequence[Job], site: SiteConfig) -> list[Parsed | OSError]:
    """Parse ``jobs`` in order, on every core when they are many."""
    helpers = min(MAX_HELPERS, helper.cores() - 1, len(jobs) // PARALLEL_FROM)
    if helpers <= 0:
        return [parse_file(rel, full, site) for rel, full in jobs]
    share = len(jobs) // (helpers + 1)
    slices = [jobs[i * share:(i + 1) * share] for i in range(helpers)]
    own = jobs[helpers * share:]
    results: list[list[Parsed | OSError] | None] = [None] * helpers
    threads = [threading.Thread(target=_run_helper, args=(s, site, results, i), daemon=True)
               for i, s in enumerate(slices)]
    for t in threads:
        t.start()
    mine = [parse_file(rel, full, site) for rel, full in own]
    out: list[Parsed | OSError] = []
    for i, t in enumerate(threads):
        t.join()
        got = results[i]
        out.extend(got if got is not None else [parse_file(rel, full, site) for rel, full in slices[i]])
    out.extend(mine)
    return out


def _run_helper(jobs: Sequence[Job], site: SiteConfig, results: list[list[Parsed | OSError] | None],
                slot: int) -> None:
    try:
        got = helper.call("feedsvc.parsejob", (site, list(jobs)))
        if not isinstance(got, list) or len(got) != len(jobs):
            raise helper.HelperFailed("answer of the wrong length")
        results[slot] = got
    except helper.HelperFailed as e:  # the caller parses this share itself
        log.warning("parse helper failed (%s); parsing its %d files here", e, len(jobs))


def _parse_share(payload: tuple[SiteConfig, list[Job]]) -> list[Parsed | OSError]:
    site, jobs = payload
    with collections_paused():
        return [parse_file(rel, full, site) for rel, full in jobs]


if __name__ == "__main__":
    helper.serve(_parse_share)
