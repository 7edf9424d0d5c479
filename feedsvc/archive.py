"""RFC 5005 feed paging and archiving: which entries go on which archive page. Pure.

A feed's entries, oldest first, are cut into pages of ``size``; every full page
is an archive document. New entries only ever land after the last full page,
so an archive page never changes once written (unless one of its own entries
is edited or removed). Page 1 holds the oldest entries. The current feed (the
newest ``size`` entries) links to the newest archive page with
``prev-archive``; a feed that holds all of its entries says so with
``fh:complete`` and has no archive.
"""
from __future__ import annotations

from typing import Sequence, TypeVar

T = TypeVar("T")


def archive_count(total: int, size: int) -> int:
    """Full archive pages of a feed with ``total`` entries (0 when the current feed holds them all)."""
    return 0 if total <= size else total // size


def is_complete(total: int, size: int) -> bool:
    return total <= size


def page(newest_first: Sequence[T], size: int, number: int) -> list[T]:
    """Entries of archive page ``number`` (1-based), newest first as a feed lists them.

    Raises ``IndexError`` for a page that does not exist (or is not full yet).
    """
    total = len(newest_first)
    if not 1 <= number <= archive_count(total, size):
        raise IndexError(number)
    # oldest-first index range [lo, hi) -> newest-first positions
    lo, hi = (number - 1) * size, number * size
    return list(newest_first[total - hi: total - lo])
