"""Catalog -> every public resource (feeds, pages, OPML, stylesheets), keyed by URL path.

Pure: given a catalog, the config and the previous snapshot, it returns the new
snapshot and what changed. A resource whose inputs are unchanged (same
fingerprint) is carried over from the previous snapshot instead of rendered
again, so an unchanged feed keeps its exact bytes, ETag and Last-Modified, and a
refresh costs only what changed.
"""
from __future__ import annotations

import dataclasses
import logging
import re
import subprocess
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from dataclasses import dataclass, field
from importlib import resources as _pkg
from typing import TYPE_CHECKING, Callable, Mapping

from . import __version__
from .catalog import Catalog, Category
from .model import Entry
from .config import Config, output_key
from .dates import EPOCH
from .entries import check_current
from .pages import HTML_TYPE, OPML_TYPE, article_page, index_page, opml
from .archive import archive_count
from .archive import page as archive_page
from .render import (CONTENT_TYPES, FeedSource, FeedSpec, archive_path, archive_spec, categories_of, feed_sources,
                     feed_specs, feed_updated, render)
from . import helper
from .helper import HelperFailed
from .renderjob import FeedJob, Job, PageJob, Share, body_of, finish, pieces, render_helpers, render_in
from .resources import LRU, Blobs, Resource, digest, make_resource

if TYPE_CHECKING:
    from .persist import DiskSnapshot

log = logging.getLogger("feedsvc.render")

# What every fingerprint says of the code. The release alone is not enough:
# bump the second part with any change to the bytes rendered from the same
# inputs, or a service upgraded on its cache folder keeps serving what the
# older code rendered until each entry changes.
RENDERING = f"{__version__}/8"   # 3: default summaries (CommonMark first paragraph, grapheme cut); text direction
                                 # 4: summaries from cmark's tree; ids, audio, video, srcset kept; lone '%' encoded
                                 # 5: lang/title kept, cite checked, code text untouched, no nested code in summaries
                                 # 6: a URL ending in '=' hides no attribute; no srcset URL ends in a comma
                                 # 7: the OPML's folder outline has a text only
                                 # 8: references to characters XML cannot carry dropped, kept as written in code
ASSETS = {"/style.css": "style.css", "/feed.css": "feed.css"}
CSS_TYPE = "text/css; charset=utf-8"
# Article and archive pages rendered on request are kept up to this many bytes
# per process: crawlers walk every one of them, readers come back to few.
LAZY_PAGES_BYTES = 32 * 2**20


def lazy_pages() -> LRU[str, Resource]:
    return LRU(LAZY_PAGES_BYTES, lambda r: r.size + r.gzip_size + 500)


@dataclass
class Snapshot:
    """One consistent set of rendered resources. Never changed after it is published,
    except that article and archive pages are rendered into it on first request."""

    resources: Mapping[str, Resource]
    catalog: Catalog
    config: Config
    generation: str = ""
    _lazy: LRU[str, Resource] = field(default_factory=lazy_pages, repr=False)   # path -> page rendered on request

    def get(self, path: str) -> Resource | None:
        """The resource at ``path``, or None. StaleEntry for an article or archive
        page whose entry files changed since this snapshot was made: rendered now,
        it would mix them with what the feeds show."""
        r = self.resources.get(path)
        if r is not None:
            return r
        if path.startswith("/articles/") and path.endswith("/") and path.count("/") == 3:
            return self.article(path[len("/articles/"):-1])
        wanted = parse_archive_path(path)
        if wanted is not None:
            return self.archive(*wanted)
        return None

    def listed(self, path: str) -> bool:
        """Whether ``path`` is one of the resources rendered at refresh time."""
        return path in self.resources

    @property
    def published(self) -> bool:
        """Whether a refresh has published anything (a site with no entries has its pages)."""
        return bool(self.resources)

    def archive(self, key: str, number: int, fmt: str) -> Resource | None:
        """An RFC 5005 archive page, rendered on first request: they are many and rarely read."""
        path = archive_path(f"/categories/{key}" if key else "", number, fmt)
        r = self._lazy.get(path)
        if r is not None:
            return r
        src = self._sources().get(key)
        if src is None or fmt not in self.config.formats:
            return None
        if not 1 <= number <= archive_count(len(src.entries), self.config.max_entries):
            return None
        entries = tuple(archive_page(src.entries, self.config.max_entries, number))
        for e in entries:   # rendered from the files: they must hold what was published
            check_current(e)
        r = render_archive(src, self.config, number, fmt, self.catalog.slug_of,
                           {c.slug: c.name for c in self.catalog.categories}, entries=entries)
        if r is None:
            return None
        return self._lazy.put(path, r)

    def _sources(self) -> dict[str, FeedSource]:
        return {s.key: s for s in feed_sources(self.catalog, self.config)}

    def archive_paths(self) -> list[str]:
        return [archive_path(s.prefix, i, fmt) for s in self._sources().values()
                for i in range(1, archive_count(len(s.entries), self.config.max_entries) + 1)
                for fmt in self.config.formats]

    def article(self, slug: str) -> Resource | None:
        path = f"/articles/{slug}/"
        r = self._lazy.get(path)
        if r is not None:
            return r
        entry = self.catalog.by_slug.get(slug)
        if entry is None:
            return None
        check_current(entry)
        page = article_page(entry, self.catalog.entry_categories(entry), self.config)
        r = make_resource(page, HTML_TYPE, "page", entry.updated)
        return self._lazy.put(path, r)

    def paths(self) -> list[str]:
        """Every public path, article and archive pages included (for export)."""
        return sorted([*self.resources, *(f"/articles/{s}/" for s in self.catalog.by_slug), *self.archive_paths()])

    @property
    def feed_paths(self) -> list[str]:
        return [p for p, r in self.resources.items() if r.kind == "feed"]

    @property
    def categories(self) -> tuple[Category, ...]:
        return self.catalog.categories

    @property
    def category_slugs(self) -> set[str]:
        return set(self.catalog.category_by_slug)

    @property
    def entry_digests(self) -> dict[str, str]:
        return self.catalog.shown_digests()

    @property
    def entry_count(self) -> int:
        return len(self.catalog.entries)

    @property
    def output_key(self) -> str:
        return output_key(self.config)

    def fingerprints(self) -> dict[str, tuple[str, str]]:
        return {p: (r.fingerprint, r.etag) for p, r in self.resources.items()}


@dataclass(frozen=True)
class FeedChange:
    path: str
    etag: str
    changed: bool


def empty_snapshot(config: Config) -> Snapshot:
    return Snapshot({}, Catalog((), ()), config)


def build_site(catalog: Catalog, config: Config, previous: "Snapshot | DiskSnapshot | None" = None,
               blobs: Blobs | None = None, touched: frozenset[str] | None = None, now: datetime | None = None,
               reuse: bool = True) -> tuple[Snapshot, list[FeedChange], int]:
    """Render everything that changed. Returns (snapshot, per-feed changes, resources rendered).

    With ``blobs``, each body goes to the cache folder as soon as it is
    rendered and the snapshot holds none of them, so memory stays flat
    however many feeds the site has.

    ``touched``: the ids of the only entries that differ from ``previous``'s
    catalog, whose structure (order, categories, config) is otherwise the
    same; a feed or page showing none of them is carried over without
    computing its fingerprint.

    ``now``: when this refresh started, for the resources' Last-Modified
    (see ``_dated``); without it, each is the newest date of what it shows.

    ``reuse``: False when ``previous``'s bodies are gone (its cache folder was
    removed): everything is rendered, and ``previous`` only dates what it had.
    """
    same_config = previous is not None and previous.output_key == output_key(config)
    # What ``previous`` holds: against it, a feed is "changed" (for the report and
    # WebSub) only if its bytes are, whatever else the config changed; its bodies
    # are carried over only with the same config and ``reuse``.
    prev = previous.fingerprints() if previous is not None else {}
    keep = prev if reuse and same_config else {}
    out: dict[str, Resource | Future[Resource]] = {}
    # Rendering is Python and holds the GIL; hashing, writing to the cache folder
    # (or compressing, without one) do not, so they run beside it.
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="feedsvc-finish")
    # Rendering can outrun hashing and writing; bodies waiting in the queue
    # are memory, so only a few may wait.
    waiting = threading.BoundedSemaphore(8)

    def kept(path: str, fp: str) -> bool:
        old = keep.get(path)
        r = previous.get(path) if old is not None and old[0] == fp and previous is not None else None
        if r is not None:
            out[path] = r
        return r is not None

    def submit(path: str, data: bytes, make: Callable[[bytes], Resource]) -> None:
        waiting.acquire()
        fut = pool.submit(make, data)
        fut.add_done_callback(lambda _: waiting.release())
        out[path] = fut   # a path already listed keeps its place in ``out``

    def put(path: str, fp: str, kind: str, ctype: str, modified: datetime | None,
            body: Callable[[], bytes]) -> None:
        if not kept(path, fp):
            submit(path, body(), lambda data: make_resource(data, ctype, kind, modified, fp, blobs))

    def carried(paths: list[str], shown: tuple[Entry, ...]) -> bool:
        """Carry ``paths`` over unchanged if ``touched`` says none of ``shown`` changed.
        Never one that shows nothing: it is dated by the site's newest entry,
        which an edit of any entry can move."""
        if touched is None or previous is None or not same_config or not reuse or not shown \
                or any(e.id in touched for e in shown):
            return False
        olds = [previous.get(p) for p in paths]
        if any(r is None for r in olds):
            return False
        for p, r in zip(paths, olds):
            out[p] = r
        return True

    fillers: list[threading.Thread] = []
    helpers: list[subprocess.Popen[bytes]] = []
    ended = threading.Event()
    finished = False

    def started(proc: subprocess.Popen[bytes]) -> None:
        helpers.append(proc)
        if ended.is_set():   # this build failed before its helper even started
            proc.kill()

    try:
        labels = {c.slug: c.name for c in catalog.categories}
        cats_of = categories_of(catalog.slug_of, labels, config.site.base_url)
        # Item categories depend on the whole name -> slug -> label mapping: one
        # digest of it stands for them in every feed's fingerprint.
        cats_key = _fp(sorted(catalog.slug_of.items()), sorted(labels.items()))
        base = len(config.site.base_url)
        jobs: list[Job] = []

        def job(j: Job) -> None:
            if not kept(j.path, j.fingerprint):
                jobs.append(j)
                out[j.path] = Future()   # its place, filled below

        # A category's page right after its feeds: it shows the same entries,
        # whose summaries are then at hand in the same process.
        pages = {c.slug: c for c in catalog.categories}
        for spec in feed_specs(catalog, config, config.websub_hubs):
            if not carried([spec.urls[fmt][base:] for fmt in config.formats], spec.entries):
                inputs = _feed_inputs(spec, cats_key, catalog.ahead)
                updated = feed_updated(spec)
                for fmt in config.formats:
                    job(FeedJob(spec.urls[fmt][base:], digest(repr((inputs, fmt)).encode()), spec, fmt, updated))
            c = pages.get(spec.key)
            if c is None:
                continue
            shown = c.entries[:config.max_entries]
            path = f"/categories/{c.slug}/"
            if not carried([path], shown):
                job(PageJob(path, _fp(RENDERING, config, c.name, c.title, c.description, len(c.entries),
                                      _digests(shown, catalog.ahead)),
                            dataclasses.replace(c, entries=shown), config, shown[0].updated if shown else None))

        def here(piece: list[Job]) -> None:
            for j in piece:
                submit(j.path, body_of(j, cats_of), lambda data, j=j: finish(j, data, blobs))

        cut = pieces(jobs) if blobs is not None else None
        if cut is None:
            here(jobs)
        else:
            assert blobs is not None
            shared = helper.Pieces(cut)
            place = {j.path: out[j.path] for j in jobs}
            share = Share(blobs.root, catalog.slug_of, labels, config.site.base_url, ())
            fillers = [threading.Thread(target=_fill_from_helper, args=(shared, share, blobs, place, started),
                                        name="feedsvc-render-helper", daemon=True)
                       for _ in range(render_helpers())]
            for t in fillers:
                t.start()
            shared.work(here)

        newest = catalog.newest
        put("/", _fp(RENDERING, config, [(c.slug, c.name, c.title, len(c.entries), _source(c.entries[0])
                                           if c.entries else "") for c in catalog.categories],
                     _digests(catalog.entries[:config.max_entries], catalog.ahead)),
            "page", HTML_TYPE, newest, lambda: index_page(catalog, config))
        put("/opml.xml", _fp(RENDERING, config, [(c.slug, c.title) for c in catalog.categories], newest),
            "opml", OPML_TYPE, newest, lambda: opml(catalog, config, newest))
        for path, name in ASSETS.items():
            put(path, _fp(RENDERING, name), "asset", CSS_TYPE, None,
                lambda name=name: _pkg.files("feedsvc").joinpath("static", name).read_bytes())
        if fillers:
            for t in fillers:
                t.join()
            shared.work(here)   # what a failed helper gave back
        done = {p: (r.result() if isinstance(r, Future) else r) for p, r in out.items()}
        finished = True
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        ended.set()
        if not finished:
            for proc in helpers:   # this build failed: what they still do is wasted
                if proc.poll() is None:
                    proc.kill()

    rendered = sum(1 for r in out.values() if isinstance(r, Future))
    if now is not None:
        done = {p: _dated(r, previous.get(p) if previous is not None else None, now) for p, r in done.items()}
    changes = [FeedChange(p, r.etag, p not in prev or prev[p][1] != r.etag)
               for p, r in done.items() if r.kind == "feed"]
    return Snapshot(done, catalog, config), changes, rendered


def _dated(r: Resource, old: Resource | None, now: datetime) -> Resource:
    """``r`` with the Last-Modified HTTP validation needs.

    The newest date of what a body shows is a fine Last-Modified until the
    bytes change without it moving (an entry edited without a new
    ``updated``, one removed, one back-dated): a client sending
    If-Modified-Since would then be told 304 for bytes it has never seen. Such
    a change is dated ``now``. Nor may a Last-Modified be later than the
    response (RFC 9110 8.8.2.1): an ``updated`` in the future becomes ``now``.
    Unchanged bytes keep the date they had.

    A path with no earlier resource (a first refresh on an empty cache
    folder, a category new or back) is dated ``now`` too: a poller may hold a
    later date for it from before (a cache folder lost or a new deployment
    after an edit dated by its refresh), and a date going back would answer
    its If-Modified-Since with 304 for bytes it has never seen.
    """
    if old is r:
        return r
    if old is not None and old.etag == r.etag:
        return r if old.last_modified == r.last_modified else dataclasses.replace(r, last_modified=old.last_modified)
    when = r.last_modified
    if when is None:
        return r
    if old is None or (old.last_modified is not None and when <= old.last_modified):
        when = now
    when = min(when, now)
    return r if when == r.last_modified else dataclasses.replace(r, last_modified=when)


_ARCHIVE = re.compile(r"^(?:/categories/([^/]+))?/archive/([1-9][0-9]{0,8})/feed\.([a-z]+)$")


def parse_archive_path(path: str) -> tuple[str, int, str] | None:
    """'/categories/x/archive/3/feed.atom' -> ('x', 3, 'atom'); None for any other path."""
    m = _ARCHIVE.match(path)
    return (m.group(1) or "", int(m.group(2)), m.group(3)) if m else None


def render_archive(src: FeedSource, config: Config, number: int, fmt: str, slug_of: Mapping[str, str],
                   labels: Mapping[str, str], total: int | None = None,
                   entries: tuple[Entry, ...] | None = None) -> Resource | None:
    """Archive page ``number`` of ``src`` in ``fmt``, or None if there is no such full page.

    ``total`` and ``entries`` (the page's own) are for callers that do not hold
    every entry of the feed; by default they come from ``src.entries``.
    """
    total = len(src.entries) if total is None else total
    if not 1 <= number <= archive_count(total, config.max_entries):
        return None
    if entries is None:
        entries = tuple(archive_page(src.entries, config.max_entries, number))
    spec = archive_spec(src, config, number, total, entries)
    cats_of = categories_of(slug_of, labels, config.site.base_url)
    return make_resource(render(spec, fmt, cats_of), CONTENT_TYPES[fmt], "archive", feed_updated(spec))


def _fill_from_helper(shared: "helper.Pieces[list[Job], None]", share: Share, blobs: Blobs,
                      place: Mapping[str, Future[Resource]], started: Callable[[subprocess.Popen[bytes]], None]
                      ) -> None:
    """Have a helper render pieces, filling their places as it goes, until none is left
    or it fails (this process then renders what it had not done)."""
    def ask(session: helper.Session, piece: list[Job]) -> None:
        for job, r in zip(piece, render_in(session, dataclasses.replace(share, jobs=tuple(piece)))):
            place[job.path].set_result(dataclasses.replace(r, blobs=blobs))

    try:
        shared.work_in_helper(ask, started)
    except HelperFailed as e:
        log.warning("render helper failed (%s); what it had not rendered is rendered here", e)


def _feed_inputs(spec: FeedSpec, cats_key: str, ahead: frozenset[str] = frozenset()) -> str:
    """What a feed's bytes depend on. An entry's digest covers its file; the
    config is compared as a whole before any fingerprint is trusted."""
    # The site's newest date is a feed's own only while it has no entries: kept
    # in every fingerprint, each new article re-rendered every feed.
    head = dataclasses.replace(spec, entries=(), empty_updated=EPOCH if spec.entries else spec.empty_updated)
    return repr((RENDERING, head, cats_key, _digests(spec.entries, ahead)))


def _digests(entries: tuple[Entry, ...], ahead: frozenset[str]) -> list[str]:
    """What the entries shown contribute to a fingerprint: their files' digests
    and paths (a file renamed keeps its bytes, but a slug, id and link taken
    from its name change), marked for an entry shown as of its date while its
    update lies ahead (when that update shows, the file is the same but the
    bytes are not)."""
    return [f"{_source(e)} as of its date" if e.id in ahead else _source(e) for e in entries]


def _source(e: Entry) -> str:
    return f"{e.digest} {e.path}"


def _fp(*parts: object) -> str:
    return digest(repr(parts).encode())
