"""Rendering many feeds (and their pages) on every core.

A full build of a large site renders thousands of feeds, which is Python
holding the GIL. They are cut into pieces (a feed's formats and its
category's page stay together) that this process and helper processes (see
``helper``; one per other core, a few at most) take in turn. A helper renders
its pieces, writes their bodies to the cache folder like this process does,
and sends back only what a response needs to know of each. If it fails for
any reason, what it had not done is rendered here instead.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Mapping, Sequence, Union

from . import helper
from .catalog import Category
from .config import Config
from .pages import HTML_TYPE, category_page
from .render import CONTENT_TYPES, FeedSpec, categories_of, render
from .resources import Blobs, Resource, make_resource

# Below this many bodies to render (a feed in one format, or a page, each), a helper's
# start (~0.4 s) costs more than it saves.
PARALLEL_FROM = 300
# Feeds (each with its formats and page) per piece: ~0.1 s of rendering.
PIECE_FEEDS = 2
# Each render helper holds its own caches of entry HTML (up to ~100 MB at
# 100k entries): a few are enough to keep a large machine's cores busy.
MAX_HELPERS = 3


@dataclass(frozen=True)
class FeedJob:
    """One feed body to render: a spec in one format, and what its resource carries."""

    path: str
    fingerprint: str
    spec: FeedSpec
    fmt: str
    modified: datetime | None

    @property
    def key(self) -> str:
        return self.spec.key


@dataclass(frozen=True)
class PageJob:
    """A category's page: the category with only the entries it shows."""

    path: str
    fingerprint: str
    category: Category
    config: Config
    modified: datetime | None

    @property
    def key(self) -> str:
        return self.category.slug


Job = Union[FeedJob, PageJob]


@dataclass(frozen=True)
class Share:
    """What a helper needs: the jobs, the item categories' mapping, and where bodies go."""

    cache_root: Path
    slug_of: Mapping[str, str]
    labels: Mapping[str, str]
    base_url: str
    jobs: tuple[Job, ...]


def pieces(jobs: Sequence[Job]) -> list[list[Job]] | None:
    """The jobs cut into pieces for this process and a helper to take in turn, or None
    when one process should do them all. All formats of a feed and its page stay in
    one piece: they show the same entries, whose HTML and summaries are then
    derived once for all of them."""
    if len(jobs) < PARALLEL_FROM or helper.cores() < 2:
        return None
    by_key: dict[str, list[Job]] = {}
    for j in jobs:
        by_key.setdefault(j.key, []).append(j)
    groups = list(by_key.values())
    return [[j for g in groups[i:i + PIECE_FEEDS] for j in g] for i in range(0, len(groups), PIECE_FEEDS)]


def render_helpers() -> int:
    """How many helper sessions share a build with this process: one per other core, a few at most."""
    return max(0, min(MAX_HELPERS, helper.cores() - 1))


def body_of(job: Job, cats_of) -> bytes:  # type: ignore[no-untyped-def]
    if isinstance(job, PageJob):
        return category_page(job.category, job.config)
    return render(job.spec, job.fmt, cats_of)


def finish(job: Job, body: bytes, blobs: Blobs | None) -> Resource:
    """The job's resource for its rendered ``body``: tagged, and in the cache folder with ``blobs``."""
    if isinstance(job, PageJob):
        return make_resource(body, HTML_TYPE, "page", job.modified, job.fingerprint, blobs)
    return make_resource(body, CONTENT_TYPES[job.fmt], "feed", job.modified, job.fingerprint, blobs)


def render_in(session: helper.Session, share: Share) -> list[Resource]:
    """The share's resources in job order, rendered by a helper (HelperFailed if it could not)."""
    got = session.ask(_render_share, share)
    if not isinstance(got, list) or len(got) != len(share.jobs) or not all(isinstance(r, Resource) for r in got):
        raise helper.HelperFailed("answer of the wrong shape")
    return got


_finishing: ThreadPoolExecutor | None = None


def _render_share(share: Share) -> list[Resource]:
    global _finishing
    blobs = Blobs(share.cache_root, 0)
    cats_of = categories_of(share.slug_of, share.labels, share.base_url)
    # Hashing a body and writing it to the cache folder release the GIL: they
    # run beside the next body's rendering, as in the caller (done in turn,
    # they were a sixth of a helper's time).
    if _finishing is None:
        _finishing = ThreadPoolExecutor(max_workers=2, thread_name_prefix="feedsvc-finish")
    done = [_finishing.submit(finish, job, body_of(job, cats_of), blobs) for job in share.jobs]
    # Bodies stay in the cache folder; the answer says where, not what.
    return [replace(f.result(), blobs=None) for f in done]

