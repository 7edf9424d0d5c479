"""The frozen values that cross module boundaries."""
from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from .resources import LRU

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)

# Rendered bodies, by (file digest, link): an entry shows in the site feed and
# its categories' feeds, in every format, and is rendered once for all of them
# while it stays among the recently used. Bounded, because a large site has
# more HTML than is worth holding between refreshes.
_HTML: LRU[tuple[str, str], str] = LRU(32 * 2**20, len)   # characters
# Summaries derived from bodies, by file digest (a few hundred characters each).
_SUMMARIES: LRU[str, str] = LRU(4 * 2**20, len)
# Bodies read back from their files, by digest: a feed asks an entry for its
# summary and then for its HTML, and both come from the body; one read serves both.
_BODIES: LRU[str, str] = LRU(2**20, len)


@dataclass(frozen=True)
class Author:
    name: str
    email: str | None = None
    uri: str | None = None


@dataclass(frozen=True)
class Problem:
    """Something wrong with one entry file (or a pair of them)."""

    path: str
    field: str
    message: str
    line: int | None = None
    severity: str = "error"  # "error": the file is not published; "warning": published anyway

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        # One line per problem, whatever a value quoted in the message holds.
        message = " ".join(self.message.splitlines())
        return f"{where}: {self.severity}: {self.field}: {message}"

    def as_dict(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line, "field": self.field, "message": self.message,
                "severity": self.severity}


@dataclass(frozen=True)
class Entry:
    """One article, validated. Every datetime is timezone-aware UTC."""

    path: str            # relative to the entries folder, '/'-separated
    slug: str
    id: str
    title: str
    date: datetime
    updated: datetime
    link: str            # absolute
    author: Author
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    # The front matter's summary, cleaned; when empty, ``summary`` derives one
    # from the body on use: most entries of a large site are in no feed, and
    # deriving it at load cost a sixth of the parse.
    given_summary: str = ""
    image: str | None = None
    draft: bool = False
    body: str = field(default="", repr=False)   # Markdown, when held; see ``markdown``
    digest: str = ""     # hash of the file's bytes: what changed between refreshes
    # The file the body is read from on use, when it is not held: bodies are
    # most of an entry's size, and most entries of a large site are in no feed.
    file: str = field(default="", repr=False, compare=False)

    @property
    def markdown(self) -> str:
        """The Markdown body. Read from ``file`` when not held; a file gone since
        the refresh that read it gives an empty body until the next refresh."""
        return self._body()[0]

    def _body(self) -> tuple[str, bool]:
        """(the body, whether it is the one ``digest`` names): what is derived from a
        file changed or unreadable since it was parsed must not be kept under its digest."""
        if not self.file:
            return self.body, bool(self.digest)
        hit = _BODIES.get(self.digest)
        if hit is not None:
            return hit, True
        from .entries import read_body
        body, exact = read_body(self.file, self.path, self.digest)
        return (_BODIES.put(self.digest, body) if exact else body), exact

    @property
    def summary(self) -> str:
        """The given summary, else the body's first prose paragraph (shortened), else
        the text of its headings and lists, else the title: RSS always has a description."""
        if self.given_summary:
            return self.given_summary
        hit = _SUMMARIES.get(self.digest) if self.digest else None
        if hit is not None:
            return hit
        return self._rendered()[1]

    @property
    def content_html(self) -> str:
        """Sanitised HTML with absolute URLs, rendered on use (and kept a while).

        Never raises: a body the renderer cannot take is published as escaped
        text, so one odd article cannot fail the refresh of every feed.
        """
        if self.digest:
            hit = _HTML.get((self.digest, self.link))
            if hit is not None:
                return hit
        return self._rendered()[0]

    def _rendered(self) -> tuple[str, str]:
        """(content HTML, summary) from one parse of the body, kept under its digest
        when the body read is the one the digest names."""
        from . import markdown
        body, exact = self._body()
        try:
            if self.given_summary:
                out, summary = markdown.render_body(body, self.link), self.given_summary
            else:
                out, summary = markdown.render_entry(body, self.link)
                summary = summary or self.title
        except Exception:
            logging.getLogger("feedsvc.render").exception("%s: body could not be rendered; published as text",
                                                          self.path)
            return "<pre>" + html.escape(body) + "</pre>", self.given_summary or self.title
        if exact:
            _HTML.put((self.digest, self.link), out)
            if not self.given_summary:
                _SUMMARIES.put(self.digest, summary)
        return out, summary

    def sort_key(self) -> tuple[int, str]:
        """Newest first; ties broken by id so the order never wobbles. In whole
        microseconds: a float timestamp cannot tell them apart before ~1700,
        and this must be the order of ``catalog.build_catalog``'s sorts."""
        return (-((self.date - _EPOCH) // _MICROSECOND), self.id)
