"""The rendered snapshot on disk, shared by every worker process.

Layout of the cache folder::

    blobs/ab/<etag>        bodies, content-addressed: a blob never changes once written
    snapshots/<gen>.json   one manifest per published snapshot: path -> blob tags and headers
    snapshots/<gen>.entries  per-entry tables (read only for archive and article pages); a
                           manifest names the one it uses, and carries the rows of
                           entries that came, went or changed since (so publishing
                           one article does not rewrite them)
    entries.sqlite         parsed entries, so a restart re-reads only changed files (entrystore.py)
    current                the generation being served, switched with one atomic rename
    refresh.lock           flock: one refresh at a time across processes
    leader.lock            flock: the process that runs the scheduler

Writers add blobs first and switch ``current`` last, so a reader that follows
``current`` always finds every blob of that manifest; an interrupted write
leaves at most unreferenced blobs or a manifest nobody points at.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import orjson

from .archive import archive_count
from .archive import page as archive_page
from .catalog import Category, as_of
from .config import Config, output_key
from .entries import parse_entry, read_entry_bytes
from .errors import StaleEntry
from .model import Entry
from .pages import HTML_TYPE, article_page
from .render import FeedSource, archive_path
from .resources import LRU, Blobs, Resource, atomic_write, make_resource
from .site import lazy_pages, parse_archive_path, render_archive

log = logging.getLogger("feedsvc.persist")
# Left in the cache folder by a worker that found a body of the snapshot gone.
BODIES_LOST = "bodies-lost"
KEEP_GENERATIONS = 3
# Rows of changed entries carried in manifests before the tables file is written anew.
MAX_OVERLAY = 2000
# 4: gzip blobs are written on first request, so a manifest may name one not yet on disk;
# 5: the overlay holds whole rows, and entries that went.
FORMAT = 5


class FileLock:
    """An flock on a file: released by the kernel when the process dies, however it dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._thread_lock = threading.Lock()

    def acquire(self, blocking: bool = True) -> bool:
        if not self._thread_lock.acquire(blocking):
            return False
        try:
            while True:
                fd = self._locked(blocking)
                if fd is None:
                    self._thread_lock.release()
                    return False
                if self._at_path(fd):
                    self._fd = fd
                    return True
                # Waited for on a file removed meanwhile (with the cache folder):
                # the lock to hold is the new file's.
                os.close(fd)
        except BaseException:
            # Kept, it would make every later refresh in this process wait forever.
            self._thread_lock.release()
            raise

    def holds_path(self) -> bool:
        """Whether the lock held is on the file now at ``path`` (not on one removed
        with the cache folder, which another process could then lock anew)."""
        fd = self._fd
        return fd is not None and self._at_path(fd)

    def retake(self) -> bool:
        """Lock the file now at ``path`` in place of the one held, if nobody holds it."""
        try:
            fd = self._locked(blocking=False)
        except OSError:
            return False
        if fd is None:
            return False
        old, self._fd = self._fd, fd
        if old is not None:
            os.close(old)
        return True

    def _locked(self, blocking: bool) -> int | None:
        """A descriptor of the file at ``path``, locked; None if another holds it (not blocking)."""
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _at_path(self, fd: int) -> bool:
        try:
            return os.fstat(fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            return False

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:
            # The cache folder was removed under a running service: make it again.
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            self._thread_lock.release()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def taken(self) -> bool:
        """Whether some process (this one included) holds the lock now.

        Probed on a descriptor of its own, not this object's, whose descriptor
        and thread lock belong to the holder's work. Shared and non-blocking:
        the probe never waits, and an ``acquire`` in the same instant waits
        only for the unlock just below, never fails.
        """
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:       # no such file yet: nobody has ever held it
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        finally:
            os.close(fd)


@dataclass
class DiskSnapshot:
    """A snapshot read back from the cache folder; bodies are read on first use."""

    generation: str
    config: Config
    manifest: dict[str, Any]
    root: Path
    blobs: Blobs
    _loaded: dict[str, Resource] = field(default_factory=dict, repr=False)   # metadata only
    _lazy: LRU[str, Resource] = field(default_factory=lazy_pages, repr=False)
    _orders: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _entry_tables: dict[str, Any] | None = field(default=None, repr=False)
    # Its entry tables were unreadable when last asked for (the cache folder was
    # removed under it): which articles and archive pages it has is unknown.
    tables_lost: bool = field(default=False, repr=False)

    @property
    def output_key(self) -> str:
        return self.manifest["config"]

    @property
    def categories(self) -> tuple[Category, ...]:
        return tuple(Category(c[1], c[0], c[2], c[3], ()) for c in self.manifest["categories"])

    def category_counts(self) -> dict[str, tuple[int, str | None]]:
        return {c[0]: (c[4], c[5]) for c in self.manifest["categories"]}

    @property
    def entry_digests(self) -> dict[str, str]:
        return self._entries()["entries"]

    def article_paths(self) -> dict[str, str]:
        """slug -> the file each published entry of this snapshot is read from."""
        return {slug: row[0] for slug, row in self._entries()["articles"].items()}

    @property
    def entry_count(self) -> int:
        return self.manifest["entry_count"]

    def _entries(self) -> dict[str, Any]:
        """The per-entry tables, kept apart from the manifest: at 100k entries they are
        40 MB, and a process that only serves feeds never needs them."""
        data = self._entry_tables
        if data is None:
            with self._lock:
                if self._entry_tables is None:
                    path = self.root / "snapshots" / (self.manifest.get("tables") or f"{self.generation}.entries")
                    try:
                        tables = orjson.loads(path.read_bytes())
                    except (OSError, orjson.JSONDecodeError) as e:
                        # Nothing is kept: a later ask reads them if they come back,
                        # and meanwhile the pages they list answer 503, not 404.
                        if not self.tables_lost:
                            log.error("snapshot %s: cannot read its entry tables: %s", self.generation, e)
                        self.tables_lost = True
                        empty: dict[str, Any] = {"articles": {}, "entries": {}}
                        _apply(empty, self.manifest.get("overlay"))
                        return empty
                    _apply(tables, self.manifest.get("overlay"))
                    self._entry_tables = tables
                    self.tables_lost = False
                data = self._entry_tables
        return data

    @property
    def resources(self) -> dict[str, Resource]:
        return {p: r for p in self.manifest["resources"] if (r := self.get(p)) is not None}

    def fingerprints(self) -> dict[str, tuple[str, str]]:
        """path -> (fingerprint, etag), without reading any body."""
        return {p: (v[5], v[0]) for p, v in self.manifest["resources"].items()}

    def listed(self, path: str) -> bool:
        """Whether ``path`` is one of this snapshot's resources, its bytes on disk or not
        (an article or archive page it may have, while its entry tables are lost)."""
        if path in self.manifest["resources"]:
            return True
        return self.tables_lost and (path.startswith("/articles/") or parse_archive_path(path) is not None)

    def get(self, path: str) -> Resource | None:
        r = self._loaded.get(path)
        if r is not None:
            return r
        meta = self.manifest["resources"].get(path)
        if meta is None:
            if path.startswith("/articles/") and path.endswith("/") and path.count("/") == 3:
                return self.article(path[len("/articles/"):-1])
            wanted = parse_archive_path(path)
            return self.archive(*wanted) if wanted is not None else None
        etag, gzip_etag, ctype, lm, kind, fp, size, gzip_size = meta
        if not self.blobs.has(etag):
            log.error("snapshot %s: blob missing for %s", self.generation, path)
            return None
        r = Resource(ctype, etag, gzip_etag, datetime.fromisoformat(lm) if lm else None, kind, fp, size, gzip_size,
                     blobs=self.blobs)
        with self._lock:
            return self._loaded.setdefault(path, r)

    def _entry(self, slug: str) -> Entry | None:
        """An entry of this snapshot, read again from its file (a follower holds no
        entries); StaleEntry if the file no longer holds what the snapshot published."""
        meta = self._entries()["articles"].get(slug)
        if meta is None:
            return None
        try:
            raw = read_entry_bytes(str(self.config.entries_path / meta[0]))
        except OSError:
            raise StaleEntry(meta[0]) from None
        entry = parse_entry(raw, meta[0], self.config.site).entry
        if entry is None or entry.digest != meta[1]:
            # Edited, broken or removed since: rendered now, the page would mix the two.
            raise StaleEntry(meta[0])
        # As the catalog that made this snapshot showed it, whichever process reads it.
        return as_of(entry, self.made)

    @property
    def made(self) -> datetime:
        """When the refresh that made this snapshot started, by the clock it selected entries with."""
        started = self.manifest.get("report", {}).get("started")
        return datetime.fromisoformat(started) if started else \
            datetime.fromtimestamp(self.manifest["started_wall"], timezone.utc)

    @property
    def published(self) -> bool:
        return bool(self.manifest["resources"])

    def article(self, slug: str) -> Resource | None:
        r = self._lazy.get(f"/articles/{slug}/")
        if r is not None:
            return r
        entry = self._entry(slug)
        if entry is None:
            return None
        slug_of = self.manifest["slug_of"]
        cats = {c.slug: c for c in self.categories}
        own = tuple(dict.fromkeys(cats[slug_of[n]] for n in entry.categories if slug_of.get(n) in cats))
        r = make_resource(article_page(entry, own, self.config), HTML_TYPE, "page", entry.updated)
        return self._lazy.put(f"/articles/{slug}/", r)

    def _feed_slugs(self, key: str) -> list[str]:
        """Slugs of a feed's entries, newest first (ties by id), as the catalog orders them."""
        cached = self._orders.get(key)
        if cached is None:
            slug_of = self.manifest["slug_of"]
            rows = [(-m[2], m[3], slug) for slug, m in self._entries()["articles"].items()
                    if not key or any(slug_of.get(n) == key for n in m[4])]
            cached = [slug for _, _, slug in sorted(rows)]
            if not self.tables_lost:
                self._orders[key] = cached
        return cached

    def archive(self, key: str, number: int, fmt: str) -> Resource | None:
        path = archive_path(f"/categories/{key}" if key else "", number, fmt)
        r = self._lazy.get(path)
        if r is not None:
            return r
        cat = next((c for c in self.categories if c.slug == key), None)
        if fmt not in self.config.formats or (key and cat is None):
            return None
        slugs = self._feed_slugs(key)
        n = self.config.max_entries
        if not 1 <= number <= archive_count(len(slugs), n):
            return None
        entries = tuple(e for e in map(self._entry, archive_page(slugs, n, number)) if e is not None)
        src = FeedSource(key, f"/categories/{key}" if key else "", cat.title if cat else self.config.site.title,
                         cat.description if cat else self.config.site.description, ())
        r = render_archive(src, self.config, number, fmt, self.manifest["slug_of"],
                           {c.slug: c.name for c in self.categories}, total=len(slugs), entries=entries)
        if r is None:
            return None
        return self._lazy.put(path, r)

    def archive_paths(self) -> list[str]:
        n = self.config.max_entries
        keys = [""] + [c.slug for c in self.categories]
        return [archive_path(f"/categories/{k}" if k else "", i, fmt) for k in keys
                for i in range(1, archive_count(len(self._feed_slugs(k)), n) + 1) for fmt in self.config.formats]

    def paths(self) -> list[str]:
        return sorted([*self.manifest["resources"], *(f"/articles/{s}/" for s in self._entries()["articles"]),
                       *self.archive_paths()])

    @property
    def feed_paths(self) -> list[str]:
        return [p for p, v in self.manifest["resources"].items() if v[4] == "feed"]

    @property
    def category_slugs(self) -> set[str]:
        return {c[0] for c in self.manifest["categories"]}


def _entry_tables(cat: Any) -> dict[str, Any]:
    return {
        "articles": {e.slug: _row(e) for e in cat.entries},
        "entries": cat.shown_digests(),
    }


def _row(e: Entry) -> list[Any]:
    # enough to order each feed's entries and find an archive page's files
    return [e.path, e.digest, e.date.timestamp(), e.id, list(e.categories)]


def _apply(tables: dict[str, Any], overlay: dict[str, Any] | None) -> None:
    """Patch tables read from a file with a manifest's overlay: a row or digest
    given replaces the file's, a None removes it."""
    for name, rows in (overlay or {}).items():
        table = tables[name]
        for key, row in rows.items():
            if row is None:
                table.pop(key, None)
            else:
                table[key] = row


def _generation(started_wall: float) -> str:
    """A snapshot's name: when its refresh started, and which process ran it."""
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(started_wall))}-{int(started_wall * 1e6) % 10**6:06d}" \
           f"-{os.getpid()}"


class SnapshotStore:
    """Reads and writes snapshots in one cache folder."""

    def __init__(self, root: Path, memory_bytes: int = 64 * 2**20) -> None:
        self.root = root
        self.blobs = Blobs(root, memory_bytes)
        self._last_tables: dict[str, Any] | None = None
        self._tables_file: str | None = None        # the tables file the last manifest written refers to
        # What changed since that file was written, as ``_apply`` takes it
        self._overlay: dict[str, dict[str, Any]] = {"articles": {}, "entries": {}}
        # (catalog, its tables file and tables as they are being written) from ``prepare``;
        # a file prepared for a build that then failed is removed with old generations
        self._prepared: tuple[Any, Future[tuple[str, dict[str, Any]]]] | None = None
        for sub in ("blobs", "snapshots"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self.refresh_lock = FileLock(root / "refresh.lock")
        self.leader_lock = FileLock(root / "leader.lock")

    def ensure(self) -> bool:
        """Make the cache folder's layout again where it is gone (removed under a
        running service, by hand or by a cleaner of temporary files); True if it was."""
        lost = False
        for sub in ("blobs", "snapshots"):
            if not (self.root / sub).is_dir():
                (self.root / sub).mkdir(parents=True, exist_ok=True)
                lost = True
        return lost

    def lost(self, generation: str) -> bool:
        """Whether the cache folder lost what snapshot ``generation`` was written to
        it with: its bodies must then be written again, none carried over. The
        folder's layout is made again, and what this store held of its last
        write (entry tables to patch) is forgotten."""
        snapshots = self.root / "snapshots"
        lost = self.ensure() or bool(generation) and not (snapshots / f"{generation}.json").exists()
        if not lost and generation:
            # Its entry tables alone can go too (an old file, to a cleaner of
            # temporary files): articles and archive pages are then unknown.
            tables = self._tables_file or self._tables_of(generation)
            lost = bool(tables) and not (snapshots / tables).exists()
        marker = self.root / BODIES_LOST
        if generation and marker.exists():
            # A worker found a body gone, the folder kept (a cleaner of old
            # files): the snapshot's bodies are all looked for, once.
            lost = lost or self._bodies_missing(generation)
            marker.unlink(missing_ok=True)
        if lost:
            self._last_tables, self._tables_file = None, None
            self._overlay = {"articles": {}, "entries": {}}
            self._prepared = None
        return lost

    def mark_bodies_lost(self) -> None:
        """Tell the next refresh, in whichever process, to look for every body of its snapshot."""
        self.root.mkdir(parents=True, exist_ok=True)   # not its layout: lost() tells a folder made again
        atomic_write(self.root / BODIES_LOST, b"")

    def _bodies_missing(self, generation: str) -> bool:
        try:
            manifest = orjson.loads((self.root / "snapshots" / f"{generation}.json").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return True
        # The gzip forms are written on first request: only the bodies themselves must be there.
        return not all(self.blobs.has(meta[0]) for meta in manifest.get("resources", {}).values())

    def _tables_of(self, generation: str) -> str | None:
        try:
            manifest = orjson.loads((self.root / "snapshots" / f"{generation}.json").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None
        return manifest.get("tables") or f"{generation}.entries"

    def current_generation(self) -> str | None:
        try:
            return (self.root / "current").read_text().strip() or None
        except FileNotFoundError:
            return None

    def load(self, config: Config, generation: str | None = None) -> DiskSnapshot | None:
        gen = generation or self.current_generation()
        if gen is None:
            return None
        try:
            manifest = orjson.loads((self.root / "snapshots" / f"{gen}.json").read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError) as e:
            log.warning("cannot read snapshot %s: %s", gen, e)
            return None
        if manifest.get("format") != FORMAT:
            return None
        return DiskSnapshot(gen, config, manifest, self.root, self.blobs)

    def _tables(self, cat: Any, replaced: Any) -> dict[str, Any]:
        """The per-entry tables of ``cat``: patched from the last ones written when
        ``replaced`` (old, new entry pairs; see ``catalog.patch_catalog``) is all
        that changed, else built anew. A patch is also added to the overlay."""
        last = self._last_tables
        if replaced is None or last is None:
            self._last_tables = _entry_tables(cat)
            return self._last_tables
        rows, digests = self._overlay["articles"], self._overlay["entries"]
        for old, _ in replaced:
            if old is not None and (row := last["articles"].get(old.slug)) is not None and row[3] == old.id:
                del last["articles"][old.slug]
                del last["entries"][old.id]
                rows[old.slug] = digests[old.id] = None
        for _, new in replaced:
            if new is not None and cat.by_slug.get(new.slug) is new:   # published
                rows[new.slug] = last["articles"][new.slug] = _row(new)
                digests[new.id] = last["entries"][new.id] = new.digest
        return last

    def prepare(self, catalog: Any, started_wall: float) -> None:
        """Start writing the per-entry tables of a new ``catalog`` now, while its feeds
        render: at 100k entries they take a second to build and write, which a
        first build would otherwise spend after the last feed, with every
        worker waiting. ``write`` uses them if it is given that catalog."""
        done: Future[tuple[str, dict[str, Any]]] = Future()
        name = f"{_generation(started_wall)}.entries"

        def run() -> None:
            try:
                tables = _entry_tables(catalog)
                atomic_write(self.root / "snapshots" / name, orjson.dumps(tables))
                done.set_result((name, tables))
            except BaseException as e:   # raised again by ``write``, where a failure is reported
                done.set_exception(e)

        self._prepared = (catalog, done)
        threading.Thread(target=run, name="feedsvc-entry-tables", daemon=True).start()

    def write(self, snapshot: Any, report: dict[str, Any], started_wall: float, replaced: Any = None) -> str:
        """Persist ``snapshot`` (a ``site.Snapshot``) and make it current. Returns its generation.

        ``replaced``: the (old, new) entries that are all that changed since the
        last snapshot this store wrote (see ``catalog.patch_catalog``)."""
        try:
            return self._write(snapshot, report, started_wall, replaced)
        except BaseException:
            # The tables held here may now be ahead of the snapshot served:
            # the next write builds them anew rather than patching them.
            self._last_tables, self._tables_file = None, None
            self._overlay = {"articles": {}, "entries": {}}
            raise

    def _write(self, snapshot: Any, report: dict[str, Any], started_wall: float, replaced: Any) -> str:
        resources: dict[str, list[Any]] = {}
        for path, r in snapshot.resources.items():
            if r.data is not None:   # rendered without the blob store (bodies written as they are rendered)
                self.blobs.put(r.etag, r.body)
                self.blobs.put(r.gzip_etag, r.gzip_body)
            resources[path] = [r.etag, r.gzip_etag, r.content_type,
                               r.last_modified.isoformat() if r.last_modified else None, r.kind, r.fingerprint,
                               r.size, r.gzip_size]
        cat = snapshot.catalog
        manifest = {
            "format": FORMAT,
            "config": output_key(snapshot.config),
            "started_wall": started_wall,
            "resources": resources,
            "entry_count": len(cat.entries),
            "slug_of": dict(cat.slug_of),
            "categories": [[c.slug, c.name, c.title, c.description, len(c.entries),
                            c.entries[0].date.isoformat() if c.entries else None] for c in cat.categories],
            # the outcome, without the per-entry and per-feed lists (last-refresh.json has them)
            "report": {k: v for k, v in report.items() if k not in ("added", "changed", "removed", "feeds",
                                                                     "problems")},
        }
        gen = _generation(started_wall)
        prepared, self._prepared = self._prepared, None
        if prepared is not None and prepared[0] is cat and replaced is None:
            self._tables_file, self._last_tables = prepared[1].result()
            self._overlay = {"articles": {}, "entries": {}}
        elif (replaced is not None and self._tables_file is not None
              and len(self._overlay["articles"]) + len(replaced) <= MAX_OVERLAY):
            # A few entries came, went or changed: the tables file stays and
            # their rows ride in the manifest (40 MB less to write at 100k entries).
            self._tables(cat, replaced)
        else:
            tables = self._tables(cat, replaced)
            self._tables_file = f"{gen}.entries"
            self._overlay = {"articles": {}, "entries": {}}
            atomic_write(self.root / "snapshots" / self._tables_file, orjson.dumps(tables))
        manifest["tables"] = self._tables_file
        manifest["overlay"] = self._overlay
        atomic_write(self.root / "snapshots" / f"{gen}.json", orjson.dumps(manifest))
        atomic_write(self.root / "current", gen.encode())
        self._collect_garbage()
        return gen

    def write_report(self, report: dict[str, Any]) -> None:
        self._write_json("last-refresh.json", report)

    def read_report(self) -> dict[str, Any] | None:
        return self._read_json("last-refresh.json")

    def request_refresh(self) -> float:
        """Ask the leader for a refresh; returns the time asked (a refresh that starts later answers it)."""
        asked = time.time()
        self.ensure()
        atomic_write(self.root / "refresh-request", repr(asked).encode())
        return asked

    def refresh_requested_at(self) -> float | None:
        try:
            return float((self.root / "refresh-request").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def write_schedule(self, data: dict[str, Any]) -> None:
        self._write_json("schedule.json", data)

    def read_schedule(self) -> dict[str, Any] | None:
        return self._read_json("schedule.json")

    def write_websub(self, data: dict[str, Any]) -> None:
        self._write_json("websub.json", data)

    def read_websub(self) -> dict[str, Any] | None:
        return self._read_json("websub.json")

    def _write_json(self, name: str, data: dict[str, Any]) -> None:
        atomic_write(self.root / name, json.dumps(data).encode())

    def _read_json(self, name: str) -> dict[str, Any] | None:
        try:
            return json.loads((self.root / name).read_bytes())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def _collect_garbage(self) -> None:
        manifests = sorted((self.root / "snapshots").glob("*.json"))
        keep, drop = manifests[-KEEP_GENERATIONS:], manifests[:-KEEP_GENERATIONS]
        for m in drop:
            with contextlib.suppress(FileNotFoundError):
                m.unlink()
        if not drop:
            return
        live: set[str] = set()
        tables: set[str] = set()
        for m in keep:
            try:
                kept = orjson.loads(m.read_bytes())
                for v in kept["resources"].values():
                    live.update((v[0], v[1]))
                tables.add(kept.get("tables") or m.with_suffix(".entries").name)
            except (FileNotFoundError, orjson.JSONDecodeError, KeyError):
                return  # never delete blobs on a doubt
        for t in (self.root / "snapshots").glob("*.entries"):
            if t.name not in tables:
                with contextlib.suppress(FileNotFoundError):
                    t.unlink()
        for sub in (self.root / "blobs").iterdir():
            for b in sub.iterdir():
                if b.name not in live and not b.name.startswith("."):
                    with contextlib.suppress(FileNotFoundError):
                        b.unlink()
