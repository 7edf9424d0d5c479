"""A finished HTTP body with everything a response needs, computed once per refresh.

Bodies live either in memory (no cache folder, or pages rendered on request)
or as content-addressed files in the cache folder, read through a cache of
bounded size: a site with a hundred thousand entries renders gigabytes of
feeds, and holding them all in every worker would cost that much memory per
worker for bytes most of which nobody asks for between two refreshes.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Generic, Hashable, TypeVar

from zlib_ng import gzip_ng

log = logging.getLogger("feedsvc.cache")


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` so that ``path`` holds either its old content or all of the new."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(Generic[K, V]):
    """A thread-safe least-recently-used map bounded by the total weight of its values."""

    def __init__(self, budget: int, weigh: Callable[[V], int] = lambda v: 1) -> None:
        self.budget = budget
        self._weigh = weigh
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                return None
            self._items.move_to_end(key)
            return hit[0]

    def put(self, key: K, value: V) -> V:
        """Keep ``value`` unless the key is already held; returns the value held."""
        w = self._weigh(value)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                return hit[0]
            if w > self.budget:
                return value   # larger than the whole budget: served, never kept
            self._items[key] = (value, w)
            self._weight += w
            while self._weight > self.budget:
                _, (_, old) = self._items.popitem(last=False)
                self._weight -= old
            return value

    def __len__(self) -> int:
        return len(self._items)

    @property
    def weight(self) -> int:
        return self._weight


class Blobs:
    """Content-addressed body files (``blobs/ab/<tag>``) and a bounded cache of their bytes."""

    def __init__(self, root: Path, memory_bytes: int) -> None:
        self.root = root
        self.cache: LRU[str, bytes] = LRU(memory_bytes, len)

    def path(self, tag: str) -> Path:
        return self.root / "blobs" / tag[:2] / tag

    def put(self, tag: str, data: bytes) -> None:
        p = self.path(tag)
        if not p.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(p, data)

    def has(self, tag: str) -> bool:
        return self.path(tag).exists()

    def read(self, tag: str) -> bytes:
        data = self.cache.get(tag)
        if data is None:
            with open(self.path(tag), "rb") as fh:
                data = fh.read()
            data = self.cache.put(tag, data)
        return data

    def gzip(self, tag: str, gz_tag: str) -> bytes:
        """The gzip form of body ``tag``, compressed and stored by the first process that asks."""
        try:
            return self.read(gz_tag)
        except FileNotFoundError:
            pass
        data = compress(self.read(tag))
        try:
            self.put(gz_tag, data)
        except OSError as e:   # a full disk: serve it anyway, compress again next time
            log.warning("cannot store the gzip form of %s: %s", tag, e)
        return self.cache.put(gz_tag, data)


@dataclass(frozen=True)
class Resource:
    content_type: str
    etag: str                         # strong, of ``body``
    gzip_etag: str                    # the gzip variant is another representation: its own tag
    last_modified: datetime | None    # newest ``updated`` of what the body shows
    kind: str                         # "feed", "page", "opml", "asset" or "archive"
    fingerprint: str = ""             # of the inputs: equal fingerprints give equal bytes
    size: int = 0
    gzip_size: int = 0                # 0: not compressed yet (see make_resource)
    data: bytes | None = field(default=None, repr=False)        # the body, when held in memory
    gzip_data: bytes | None = field(default=None, repr=False)
    blobs: Blobs | None = field(default=None, repr=False, compare=False)   # where it is, when not

    @property
    def body(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.blobs is not None
        return self.blobs.read(self.etag)

    @property
    def gzip_body(self) -> bytes:
        if self.gzip_data is not None:
            return self.gzip_data
        assert self.blobs is not None
        return self.blobs.gzip(self.etag, self.gzip_etag)


def digest(data: bytes) -> str:
    """128 bits of SHA-256: ETags, blob names, fingerprints and entry files all use it.

    SHA-256 rather than BLAKE2b because CPUs compute it in hardware: 1.2 GB/s
    against 0.45 here, and a large build hashes every feed it writes (770 MB
    at 100k entries) and every entry file it reads.
    """
    return hashlib.sha256(data).hexdigest()[:32]


def compress(body: bytes) -> bytes:
    # mtime=0 keeps the compressed bytes reproducible; zlib-ng gives zlib's
    # level-6 ratio in about 60% of the time.
    return gzip_ng.compress(body, compresslevel=6, mtime=0)


def make_resource(body: bytes, content_type: str, kind: str, last_modified: datetime | None,
                  fingerprint: str = "", blobs: Blobs | None = None) -> Resource:
    """Tag ``body``; with ``blobs``, write it to the cache folder and keep nothing in memory.

    In the cache folder the gzip form is made on first request, not here: a
    large site's build would spend a third of its time compressing feeds of
    which only those polled soon need it then. Its tag is derived from the
    body's, so conditional requests are answered without it.
    """
    tag = digest(body)
    gz_tag = f"{tag}-gz"
    if blobs is not None:
        blobs.put(tag, body)
        return Resource(content_type, tag, gz_tag, last_modified, kind, fingerprint, len(body), blobs=blobs)
    z = compress(body)
    return Resource(content_type, tag, gz_tag, last_modified, kind, fingerprint, len(body), len(z), body, z)
