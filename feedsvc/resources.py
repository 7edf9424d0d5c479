"""A finished HTTP body with everything a response needs, computed once per refresh."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from zlib_ng import gzip_ng


@dataclass(frozen=True)
class Resource:
    body: bytes
    content_type: str
    etag: str                         # strong, of ``body``
    gzip_body: bytes
    gzip_etag: str                    # the gzip variant is another representation: its own tag
    last_modified: datetime | None    # newest ``updated`` of what the body shows
    kind: str                         # "feed", "page", "opml" or "asset"
    fingerprint: str = ""             # of the inputs: equal fingerprints give equal bytes


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def make_resource(body: bytes, content_type: str, kind: str, last_modified: datetime | None,
                  fingerprint: str = "") -> Resource:
    # mtime=0 keeps the compressed bytes (and so their ETag) reproducible;
    # zlib-ng gives zlib's level-6 ratio in about 60% of the time.
    z = gzip_ng.compress(body, compresslevel=6, mtime=0)
    tag = digest(body)
    return Resource(body=body, content_type=content_type, etag=tag, gzip_body=z, gzip_etag=f"{tag}-gz",
                    last_modified=last_modified, kind=kind, fingerprint=fingerprint)
