"""Warnings that matter to readers, beyond what stops an entry from loading. Pure."""
from __future__ import annotations

import re
from collections import defaultdict
from html import unescape
from typing import Iterable, Mapping
from urllib.parse import urlsplit

from .catalog import Catalog
from .config import Config
from .markdown import NONCHARACTER_REF, SUMMARY_LIMIT, TAB_NL, first_paragraph_text, html_as_written
from .model import Entry, Problem
from .text import clean_text, unclean

FEED_SIZE_LIMIT = 1_000_000
_URL_ATTR = re.compile(r'\s(?:href|src)="([^"]*)"')
_ABSOLUTE = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//|#)")
_HTML_SPACE = " \t\n\f\r"


def lint(entries: Iterable[Entry], catalog: Catalog, config: Config,
         feed_sizes: Mapping[str, int] = {}) -> list[Problem]:
    entries = tuple(entries)
    out: list[Problem] = []
    # A link from the host's root ("/articles/x/") leads to the same place from
    # a feed as from the site's own pages, and there means what its author
    # meant; only a site under a path ("https://example.org/news"), or an
    # article whose link is on another host, makes it lead elsewhere. A link
    # relative to the page ("../images/c.png") is read against the article's
    # URL, not the entry file's folder.
    site = urlsplit(config.site.base_url)
    rooted = site.path.strip("/") == ""
    for e in entries:
        first = first_paragraph_text(body := e.markdown)
        if len(first) > SUMMARY_LIMIT and e.summary and len(e.summary) <= SUMMARY_LIMIT and \
                first.startswith(e.summary.rstrip("\u2026")):
            out.append(Problem(e.path, "summary", f"no summary, and the first paragraph is {len(first)} "
                               f"characters: readers see it cut at {SUMMARY_LIMIT}; add a summary",
                               severity="warning"))
        html = html_as_written(body)
        # The body was cleaned at load: what is left to remove came from references
        # (&#1;), and those to U+FFFE/U+FFFF went before parsing.
        nonchars = NONCHARACTER_REF.findall(body) if "&#" in body else []
        removed = unclean(html)[0] + len(nonchars)
        if removed:
            seen = list(dict.fromkeys([f"U+{ord(c):04X}" for c in html if clean_text(c) != c]
                                      + [f"U+{int(r[3:-1], 16) if r[2] in 'xX' else int(r[2:-1]):04X}"
                                         for r in nonchars]))
            out.append(Problem(e.path, "body", f"removed {removed} character reference(s) to characters XML "
                               f"cannot carry ({', '.join(seen[:3])}{', ...' if len(seen) > 3 else ''})",
                               severity="warning"))
        # Read as a browser (and the renderer) reads it: the spaces around a URL
        # stripped, its tabs and line breaks dropped (" java\tscript:x" is no
        # relative link, "/\t/host/" none from the root).
        urls = (TAB_NL.sub("", unescape(u)).strip(_HTML_SPACE) for u in _URL_ATTR.findall(html))
        on_site = rooted and urlsplit(e.link)[:2] == site[:2]
        relative = [u for u in urls if u and not _ABSOLUTE.match(u) and not (on_site and u.startswith("/"))]
        if relative:
            shown = ", ".join(relative[:3]) + (", ..." if len(relative) > 3 else "")
            out.append(Problem(e.path, "body", f"{len(relative)} relative link(s) made absolute against "
                               f"{e.link}: {shown}", severity="warning"))
    for e in catalog.scheduled:
        out.append(Problem(e.path, "date", f"dated in the future: published at {e.date.isoformat()}",
                           severity="warning"))
    by_day: dict[tuple[str, str], list[Entry]] = defaultdict(list)
    for e in entries:
        if not e.draft:
            by_day[(e.title.casefold(), e.date.astimezone(config.site.tz).date().isoformat())].append(e)
    for (_, day), group in by_day.items():
        for dup in group[1:]:
            out.append(Problem(dup.path, "title", f"same title as {group[0].path} on {day}; readers may take "
                               f"one for a repeat", severity="warning"))
    for path, size in sorted(feed_sizes.items()):
        if size > FEED_SIZE_LIMIT:
            out.append(Problem(path, "feed", f"{size:,} bytes: over 1 MB, some readers refuse it; lower "
                               f"feeds.max_entries or set feeds.full_content = false", severity="warning"))
    return out
