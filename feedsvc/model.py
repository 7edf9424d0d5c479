"""The frozen values that cross module boundaries."""
from __future__ import annotations

import functools
import html
import logging
from dataclasses import dataclass, field
from datetime import datetime


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
        return f"{where}: {self.severity}: {self.field}: {self.message}"

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
    summary: str = ""
    image: str | None = None
    draft: bool = False
    body: str = field(default="", repr=False)   # Markdown
    digest: str = ""     # hash of the file's bytes: what changed between refreshes

    @functools.cached_property
    def content_html(self) -> str:
        """Sanitised HTML with absolute URLs, rendered on first use only.

        Never raises: a body the renderer cannot take is published as escaped
        text, so one odd article cannot fail the refresh of every feed.
        """
        from .markdown import render_body
        try:
            return render_body(self.body, self.link)
        except Exception:
            logging.getLogger("feedsvc.render").exception("%s: body could not be rendered; published as text",
                                                          self.path)
            return "<pre>" + html.escape(self.body) + "</pre>"

    def sort_key(self) -> tuple[float, str]:
        """Newest first; ties broken by id so the order never wobbles."""
        return (-self.date.timestamp(), self.id)
