"""HTML pages and the OPML list, rendered from the catalog. Pure: no Flask, no clock."""
from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import quoteattr

import jinja2

from .catalog import Catalog, Category
from .config import Config
from .dates import rfc3339
from .model import Entry
from .render import CONTENT_TYPES, FORMAT_NAMES

HTML_TYPE = "text/html; charset=utf-8"
OPML_TYPE = "text/x-opml; charset=utf-8"


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("feedsvc", "templates"),
        autoescape=True,
        trim_blocks=False,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        # The templates ship with the package and change only with a new
        # release, which restarts the process: no stat of every template a
        # page uses on each render (a thousand pages in a large build).
        auto_reload=False,
    )


def _feeds(config: Config, prefix: str, title: str) -> list[dict[str, str]]:
    base = config.site.base_url
    return [{"format": FORMAT_NAMES[f], "type": CONTENT_TYPES[f].split(";")[0],
             "url": f"{base}{prefix}/feed.{f}", "title": f"{title} ({FORMAT_NAMES[f]})"}
            for f in config.formats]


def _when(d: datetime, config: Config) -> dict[str, str]:
    local = d.astimezone(config.site.tz)
    return {"iso": rfc3339(d), "text": f"{local.day} {local:%B %Y, %H:%M} {local.tzname()}"}


def _entry_row(e: Entry, config: Config) -> dict[str, Any]:
    w = _when(e.date, config)
    return {"title": e.title, "url": e.link, "summary": e.summary, "author": e.author.name, **w}


# Languages written right to left by default (a script subtag says otherwise: ku-Arab is, ku is not):
# those whose likely script in CLDR is Arabic, Hebrew, Syriac, Thaana, N'Ko or Adlam.
_RTL = frozenset({"ar", "arc", "azb", "bal", "bgn", "bqi", "ckb", "dv", "fa", "glk", "haz", "he", "iw", "ji",
                  "khw", "ks", "lrc", "mzn", "nqo", "pnb", "prs", "ps", "sd", "sdh", "skr", "syr", "ug", "ur",
                  "yi"})
_RTL_SCRIPTS = frozenset({"arab", "hebr", "thaa", "syrc", "nkoo", "adlm", "rohg"})


def direction(language: str) -> str:
    """'rtl' or 'ltr' for a BCP 47 tag: by its script subtag if it has one, else its language."""
    parts = language.lower().split("-")
    i = 1
    while i < len(parts) and i <= 3 and len(parts[i]) == 3 and parts[i].isalpha():   # extended language subtags
        i += 1
    if i < len(parts) and len(parts[i]) == 4 and parts[i].isalpha():   # the script, right after them (RFC 5646)
        return "rtl" if parts[i] in _RTL_SCRIPTS else "ltr"
    return "rtl" if parts[0] in _RTL else "ltr"


def _common(config: Config, feeds: list[dict[str, str]], description: str = "") -> dict[str, Any]:
    site = config.site
    return {
        "dir": direction(site.language),
        "site": site,
        "root": urlsplit(site.base_url).path.rstrip("/"),
        "feeds": feeds,
        "site_feeds": _feeds(config, "", site.title),
        "description": description,
    }


def index_page(catalog: Catalog, config: Config) -> bytes:
    site = config.site
    cats = []
    for c in catalog.categories:
        cats.append({
            "name": c.name, "slug": c.slug, "count": len(c.entries),
            "newest": _when(c.entries[0].date, config) if c.entries else None,
            "feeds": _feeds(config, f"/categories/{c.slug}", c.title),
        })
    ctx = _common(config, _feeds(config, "", site.title), site.description)
    ctx.update(categories=cats, latest=[_entry_row(e, config) for e in catalog.entries[:config.max_entries]])
    return _env().get_template("index.html").render(ctx).encode("utf-8")


def category_page(category: Category, config: Config) -> bytes:
    site = config.site
    own = _feeds(config, f"/categories/{category.slug}", category.title)
    ctx = _common(config, own + _feeds(config, "", site.title), category.description)
    ctx.update(category=category, category_feeds=own,
               entries=[_entry_row(e, config) for e in category.entries])
    return _env().get_template("category.html").render(ctx).encode("utf-8")


def article_page(entry: Entry, cats: tuple[Category, ...], config: Config) -> bytes:
    """``cats``: the entry's categories as published (see ``Catalog.entry_categories``)."""
    site = config.site
    feeds = _feeds(config, "", site.title)
    for c in cats:
        feeds += _feeds(config, f"/categories/{c.slug}", c.title)
    row = _entry_row(entry, config)
    row.update(updated_iso=None, updated_text=None)
    if entry.updated != entry.date:
        u = _when(entry.updated, config)
        row.update(updated_iso=u["iso"], updated_text=u["text"])
    row.update(html=entry.content_html, image=entry.image, tags=list(entry.tags),
               categories=[{"slug": c.slug, "name": c.name} for c in cats])
    ctx = _common(config, feeds, entry.summary)
    ctx.update(entry=row)
    return _env().get_template("article.html").render(ctx).encode("utf-8")


def opml(catalog: Catalog, config: Config, newest: datetime | None) -> bytes:
    """OPML 2.0: one outline per feed, each in the preferred format.

    Readers import an OPML file as a list of subscriptions; listing one feed in
    three formats would subscribe people three times to the same articles. So
    each outline names the first configured format (RSS by default, which every
    reader imports) and the site-wide feed comes first.
    """
    site = config.site
    fmt = config.formats[0]
    base = site.base_url
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<opml version="2.0">', "<head>",
             f"<title>{_esc(site.title)}</title>"]
    if newest is not None:
        lines.append(f"<dateModified>{_rfc822(newest)}</dateModified>")
    lines.append(f"<ownerName>{_esc(site.author.name)}</ownerName>")
    lines += ["</head>", "<body>"]

    def outline(title: str, prefix: str, html: str, indent: str) -> str:
        return (f'{indent}<outline type="rss" text={quoteattr(title)} title={quoteattr(title)} '
                f'xmlUrl={quoteattr(f"{base}{prefix}/feed.{fmt}")} htmlUrl={quoteattr(html)}/>')

    lines.append(outline(site.title, "", f"{base}/", ""))
    if catalog.categories:
        # A folder: text only. With a title too, validators want a type saying
        # how to read it (W3C: MissingOutlineType), and a folder has none.
        lines.append('<outline text="Categories">')
        for c in catalog.categories:
            lines.append(outline(c.title, f"/categories/{c.slug}", f"{base}/categories/{c.slug}/", "  "))
        lines.append("</outline>")
    lines += ["</body>", "</opml>", ""]
    return "\n".join(lines).encode("utf-8")


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _rfc822(d: datetime) -> str:
    return format_datetime(d.astimezone(timezone.utc), usegmt=True)
