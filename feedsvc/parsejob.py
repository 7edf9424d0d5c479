"""Parsing many entry files on every core.

A first load of a large folder is cut into pieces that this process and
helper processes (see ``helper``) take in turn; a helper reads its pieces'
files and sends back the parsed entries. If one fails for any reason, the
piece it held is parsed here instead, so a helper never costs an entry.
"""
from __future__ import annotations

import logging
import threading
from typing import Sequence

from . import helper
from .config import SiteConfig
from .entries import Parsed, Stamp, parse_entry, read_entry_file
from .heap import collections_paused

log = logging.getLogger("feedsvc.parse")

# Below this many files a helper's start (~0.3 s) costs more than it saves.
PARALLEL_FROM = 2000
MAX_HELPERS = 7
# Files per request to a helper: enough that the round trip is noise (~100 ms
# of parsing), few enough that nobody waits long for the last piece.
PIECE = 1000

Job = tuple[str, str]   # (relative path, absolute path)
Read = tuple[Parsed, Stamp]   # what a file gave, and the stamp of the bytes it was parsed from


def parse_file(rel: str, full: str, site: SiteConfig) -> Read | OSError:
    try:
        raw, stamp = read_entry_file(full)
    except OSError as e:
        return e
    return parse_entry(raw, rel, site, full), stamp


def parse_files(jobs: Sequence[Job], site: SiteConfig) -> list[Read | OSError]:
    """Parse ``jobs`` in order, on every core when they are many.

    The files are cut into pieces that this process and its helpers take in
    turn, so each parses as much as its speed allows.
    """
    helpers = helpers_for(len(jobs))
    if helpers <= 0:
        return _parse_here(jobs, site)
    pieces: helper.Pieces[Sequence[Job], list[Read | OSError]] = helper.Pieces(
        [jobs[i:i + PIECE] for i in range(0, len(jobs), PIECE)])
    threads = [threading.Thread(target=_run_helper, args=(pieces, site), daemon=True) for _ in range(helpers)]
    for t in threads:
        t.start()
    pieces.work(lambda piece: _parse_here(piece, site))
    for t in threads:
        t.join()
    # A helper that failed gave its piece back; if nobody was left to take it, it is parsed here.
    pieces.work(lambda piece: _parse_here(piece, site))
    return [r for got in pieces.results() for r in got]


def helpers_for(files: int) -> int:
    """How many helpers parse ``files`` files with this process."""
    return max(0, min(MAX_HELPERS, helper.cores() - 1, files // PARALLEL_FROM))


def prestart(files_found: int) -> None:
    """A walk has found this many files so far: the helpers to parse them start now."""
    helper.prestart(helpers_for(files_found))


def _parse_here(jobs: Sequence[Job], site: SiteConfig) -> list[Read | OSError]:
    return [parse_file(rel, full, site) for rel, full in jobs]


def _run_helper(pieces: "helper.Pieces[Sequence[Job], list[Read | OSError]]", site: SiteConfig) -> None:
    def ask(session: helper.Session, jobs: Sequence[Job]) -> list[Read | OSError]:
        got = session.ask(_parse_share, (site, list(jobs)))
        if not isinstance(got, list) or len(got) != len(jobs):
            raise helper.HelperFailed("answer of the wrong length")
        return got

    try:
        pieces.work_in_helper(ask)
    except helper.HelperFailed as e:  # the caller parses what is left itself
        log.warning("parse helper failed (%s); its files are parsed here", e)


def _parse_share(payload: tuple[SiteConfig, list[Job]]) -> list[Read | OSError]:
    site, jobs = payload
    with collections_paused():
        return [parse_file(rel, full, site) for rel, full in jobs]
