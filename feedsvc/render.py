"""Feed specs -> feed bytes: RSS 2.0 and Atom 1.0 through feedgen, JSON Feed 1.1 by hand.

Pure and deterministic: the same spec gives the same bytes. The only module that
imports feedgen, so its traps are handled once, here:

- ``add_entry`` prepends by default: entries are added with ``order='append'``;
- the RSS channel ``<link>`` is the *last* ``link()`` call: ``self`` goes first,
  ``alternate`` last;
- it stamps ``now()`` on feeds and entries: every date is set explicitly, the
  feed's own to the newest ``updated`` among its entries;
- it refuses naive datetimes and lxml refuses characters outside XML 1.0: the
  loader only lets aware UTC datetimes and clean text through.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Mapping
from urllib.parse import urlsplit

import orjson
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem

from . import __version__
from .config import Config
from .archive import archive_count, is_complete
from .dates import EPOCH, rfc3339
from .entries import image_type
from .errors import FeedBuildError
from .model import Author, Entry
from .slugs import slugify

GENERATOR = "feedsvc"
JSONFEED_VERSION = "https://jsonfeed.org/version/1.1"
CONTENT_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
FORMAT_NAMES = {"rss": "RSS", "atom": "Atom", "json": "JSON Feed"}


@dataclass(frozen=True)
class ItemCategory:
    term: str      # slug
    label: str     # name as written
    scheme: str    # which vocabulary: the site's categories or its tags


@dataclass(frozen=True)
class FeedSpec:
    """Everything one feed shows, fixed before rendering."""

    key: str                          # "" for the site, else the category slug
    id: str                           # Atom feed id, stable for the feed's life
    title: str
    description: str
    html_url: str                     # the page the feed belongs to
    urls: Mapping[str, str]           # format -> the feed's own absolute URL
    entries: tuple[Entry, ...]        # newest first, already cut to max_entries
    language: str
    author: Author
    full_content: bool
    refresh_interval: int             # seconds
    stylesheet: str | None = None     # absolute path of the CSS for browsers
    # The date of a feed with no entries (a configured category still empty):
    # the site's newest update, rather than an implausible 1970.
    empty_updated: datetime = EPOCH
    # RFC 5005: format -> ((rel, url), ...) for current / prev-archive / next-archive,
    # and "archive" or "complete" for the fh: marker.
    links: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    history: str | None = None
    hubs: tuple[str, ...] = ()        # WebSub hubs


CategoriesOf = Callable[[Entry], tuple[ItemCategory, ...]]


def feed_updated(spec: FeedSpec):
    """The feed's own date: the newest ``updated`` among its entries, never the clock."""
    return max((e.updated for e in spec.entries), default=spec.empty_updated)


def render(spec: FeedSpec, fmt: str, categories_of: CategoriesOf) -> bytes:
    try:
        if fmt == "json":
            return render_json(spec, categories_of)
        return _render_xml(spec, fmt, categories_of)
    except (ValueError, TypeError) as e:
        raise FeedBuildError(spec.urls.get(fmt, spec.key or "site"), f"{type(e).__name__}: {e}") from e


def _render_xml(spec: FeedSpec, fmt: str, categories_of: CategoriesOf) -> bytes:
    fg = FeedGenerator()
    fg.register_extension("extras", _FeedExtras, BaseEntryExtension, atom=True, rss=True)
    fg.extras.links = [(rel, href) for rel, href in spec.links.get(fmt, ())] + [("hub", h) for h in spec.hubs]
    fg.extras.history = spec.history
    if fmt == "atom":
        fg.register_extension("links", BaseExtension, _AtomEntryLinks, atom=True, rss=False)
    if fmt == "rss":
        fg.register_extension("dc", _DublinCore, _Creator, atom=False, rss=True)
        fg.register_extension("hints", _UpdateHints, BaseEntryExtension, atom=False, rss=True)
    fg.id(spec.id)
    fg.title(spec.title)
    fg.description(spec.description or spec.title)
    if fmt == "atom":
        fg.subtitle(spec.description or spec.title)
    fg.author(_author_dict(spec.author))
    # RSS takes the last link() as the channel <link>: self first, alternate last.
    fg.link(href=spec.urls[fmt], rel="self", type=CONTENT_TYPES[fmt].split(";")[0])
    fg.link(href=spec.html_url, rel="alternate", type="text/html")
    fg.language(spec.language)
    fg.generator(GENERATOR, version=__version__)
    updated = feed_updated(spec)
    fg.updated(updated)
    fg.lastBuildDate(updated)
    if fmt == "rss":
        fg.ttl(max(1, spec.refresh_interval // 60))
        fg.hints.period, fg.hints.frequency = _update_hint(spec.refresh_interval)

    for e in spec.entries:
        fe = fg.add_entry(order="append")
        fe.id(e.id)
        fe.title(e.title)
        # An empty body gets no content element: an empty one is a "blank
        # content" to validators, and the summary and link say all there is.
        body = e.content_html if spec.full_content else ""
        if fmt == "rss":
            fe.link(href=e.link, rel="alternate", type="text/html")
            if e.image:
                fe.enclosure(e.image, 0, image_type(e.image))
        else:   # feedgen writes Atom entry links wrong: see _AtomEntryLinks
            fe.links.links = [{"rel": "alternate", "type": "text/html", "href": e.link}]
            if e.image:
                fe.links.links.append({"rel": "enclosure", "type": image_type(e.image), "href": e.image})
            if not body:   # feedgen refuses an entry with neither content nor a link of its own
                fe.link(href=e.link, rel="alternate")
                fe.links.replace = True
        fe.published(e.date)
        fe.updated(e.updated)
        if fmt == "rss":
            fe.dc.creator = e.author.name
        else:
            fe.author(_author_dict(e.author))
        if e.summary:
            # RSS readers take <description> as HTML: a plain-text "<script>" must stay text.
            fe.summary(html.escape(e.summary, quote=False) if fmt == "rss" else e.summary)
        if body:
            fe.content(body, type="html")
        cats = categories_of(e)
        if cats:
            fe.category([{"term": c.term, "label": c.label, "scheme": c.scheme} for c in cats])

    body = fg.rss_str(xml_declaration=False) if fmt == "rss" else fg.atom_str(xml_declaration=False)
    head = "<?xml version='1.0' encoding='UTF-8'?>\n"
    if spec.stylesheet:
        # A processing instruction is ignored by feed readers and validators; it
        # lets a browser show the feed as a page instead of a tree of tags.
        head += f'<?xml-stylesheet type="text/css" href="{_attr(spec.stylesheet)}"?>\n'
    return head.encode() + body + b"\n"


SY_NS = "http://purl.org/rss/1.0/modules/syndication/"


class _UpdateHints(BaseExtension):
    """sy:updatePeriod and sy:updateFrequency (RSS 1.0 Syndication module).

    feedgen's own syndication extension writes them as ``UpdatePeriod`` and
    ``UpdateFrequency``, names the module does not define, so readers ignore
    them and validators flag them.
    """

    def __init__(self) -> None:
        self.period: str | None = None
        self.frequency: int | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"sy": SY_NS}

    def extend_rss(self, feed):  # type: ignore[no-untyped-def]
        channel = feed[0]
        if self.period:
            xml_elem(f"{{{SY_NS}}}updatePeriod", channel).text = self.period
            xml_elem(f"{{{SY_NS}}}updateFrequency", channel).text = str(self.frequency)
        return feed


DC_NS = "http://purl.org/dc/elements/1.1/"


class _DublinCore(BaseExtension):
    """The ``dc`` namespace, for ``dc:creator``.

    feedgen's own Dublin Core extension costs more than it gives here: loaded
    by name, it searches the import path for a module that does not exist on
    every feed, and it looks for fifteen elements in every item.
    """

    def extend_ns(self) -> dict[str, str]:
        return {"dc": DC_NS}


class _Creator(BaseEntryExtension):
    """An item's ``dc:creator``: its author by name (RSS's ``<author>`` would
    need an e-mail address, and publish it)."""

    def __init__(self) -> None:
        self.creator: str | None = None

    def extend_rss(self, item):  # type: ignore[no-untyped-def]
        if self.creator is not None:
            xml_elem(f"{{{DC_NS}}}creator", item).text = self.creator
        return item


ATOM_NS = "http://www.w3.org/2005/Atom"
FH_NS = "http://purl.org/syndication/history/1.0"


class _FeedExtras(BaseExtension):
    """Feed-level links feedgen does not write (WebSub ``hub``; RFC 5005
    ``current``, ``prev-archive``, ``next-archive``) and the ``fh:archive`` /
    ``fh:complete`` markers. In RSS the links are ``atom:link`` elements."""

    def __init__(self) -> None:
        self.links: list[tuple[str, str]] = []
        self.history: str | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"fh": FH_NS} if self.history else {}

    def _add(self, parent, tag: str):  # type: ignore[no-untyped-def]
        for rel, href in self.links:
            xml_elem(tag, parent, rel=rel, href=href)
        if self.history:
            xml_elem(f"{{{FH_NS}}}{self.history}", parent)

    def extend_atom(self, feed):  # type: ignore[no-untyped-def]
        self._add(feed, "link")
        return feed

    def extend_rss(self, feed):  # type: ignore[no-untyped-def]
        self._add(feed[0], f"{{{ATOM_NS}}}link")
        return feed


class _AtomEntryLinks(BaseEntryExtension):
    """Writes an Atom entry's links with their ``rel`` and ``type``.

    feedgen 1.0's ``FeedEntry.atom_entry`` rebinds its loop variable to the new
    element before reading ``rel``/``type`` from it, so every entry link comes
    out bare: an enclosure would turn into a second ``alternate`` link, which
    RFC 4287 forbids. So feedgen is given an entry link in Atom only when it
    insists (an entry without content), and that bare link is replaced here.
    """

    def __init__(self) -> None:
        self.links: list[dict[str, str]] = []
        self.replace = False   # feedgen wrote a link of its own

    def extend_atom(self, entry):  # type: ignore[no-untyped-def]
        if self.replace:
            for old in [c for c in entry if isinstance(c.tag, str) and c.tag.rsplit("}", 1)[-1] == "link"]:
                entry.remove(old)
        for link in self.links:
            xml_elem("link", entry, **link)
        return entry


def _attr(s: str) -> str:
    return s.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _author_dict(a: Author) -> dict[str, str]:
    d = {"name": a.name}
    if a.email:
        d["email"] = a.email
    if a.uri:
        d["uri"] = a.uri
    return d


def _update_hint(seconds: int) -> tuple[str, int]:
    """sy:updatePeriod / sy:updateFrequency nearest to the real interval."""
    for period, length in (("hourly", 3600), ("daily", 86400), ("weekly", 604800), ("monthly", 2592000)):
        if seconds <= length:
            return period, max(1, round(length / seconds))
    return "yearly", max(1, round(31536000 / seconds))


def render_json(spec: FeedSpec, categories_of: CategoriesOf) -> bytes:
    feed: dict[str, object] = {
        "version": JSONFEED_VERSION,
        "title": spec.title,
        "home_page_url": spec.html_url,
        "feed_url": spec.urls["json"],
        "description": spec.description or spec.title,
        "language": spec.language,
        "authors": [_json_author(spec.author)],
    }
    older = dict(spec.links.get("json", ())).get("prev-archive")
    if older:
        feed["next_url"] = older  # JSON Feed pages toward older items
    if spec.hubs:
        feed["hubs"] = [{"type": "WebSub", "url": h} for h in spec.hubs]
    feed["items"] = [_json_item(spec, e, categories_of) for e in spec.entries]
    # orjson: the indented form people read in a browser, at C speed (the json
    # module drops to pure Python as soon as it indents).
    return orjson.dumps(feed, option=orjson.OPT_INDENT_2) + b"\n"


def _json_author(a: Author) -> dict[str, str]:
    d = {"name": a.name}
    if a.uri:
        d["url"] = a.uri
    elif a.email:
        d["url"] = f"mailto:{a.email}"
    return d


def _json_item(spec: FeedSpec, e: Entry, categories_of: CategoriesOf) -> dict[str, object]:
    item: dict[str, object] = {"id": e.id, "url": e.link, "title": e.title}
    if e.summary:
        item["summary"] = e.summary
    body = e.content_html if spec.full_content else ""
    if body:
        item["content_html"] = body
    else:   # JSON Feed wants one of the two
        item["content_text"] = e.summary or e.title
    item["date_published"] = rfc3339(e.date)
    item["date_modified"] = rfc3339(e.updated)
    item["authors"] = [_json_author(e.author)]
    tags = list(dict.fromkeys(c.label for c in categories_of(e)))  # JSON Feed wants each tag once
    if tags:
        item["tags"] = tags
    if e.image:
        item["image"] = e.image
    return item


def categories_of(slug_of: Mapping[str, str], labels: Mapping[str, str], base_url: str) -> CategoriesOf:
    """Item categories: the entry's categories (merged names once), then its tags."""
    cat_scheme = f"{base_url}/categories/"
    tag_scheme = f"{base_url}/tags/"
    # A feed asks once per format, and an entry shows in several feeds: many
    # entries share their names, and slugifying tags was 4% of a large build.
    known: dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[ItemCategory, ...]] = {}

    def of(e: Entry) -> tuple[ItemCategory, ...]:
        key = (e.categories, e.tags)
        hit = known.get(key)
        if hit is None:
            hit = known[key] = _of(e)
        return hit

    def _of(e: Entry) -> tuple[ItemCategory, ...]:
        out: list[ItemCategory] = []
        seen: set[tuple[str, str]] = set()
        for name in e.categories:
            slug = slug_of.get(name)
            if slug and (cat_scheme, slug) not in seen:
                seen.add((cat_scheme, slug))
                out.append(ItemCategory(slug, labels.get(slug, name), cat_scheme))
        for tag in e.tags:
            # Tags differing only in case or spacing are one; "C++" and "C#"
            # share the term "c" but are two tags, and both labels stay.
            key = " ".join(tag.casefold().split())
            if (tag_scheme, key) not in seen:
                seen.add((tag_scheme, key))
                out.append(ItemCategory(slugify(tag) or tag, tag, tag_scheme))
        return tuple(out)

    return of


@dataclass(frozen=True)
class FeedSource:
    """One logical feed (the site's or a category's) with all its entries."""

    key: str                      # "" for the site, else the category slug
    prefix: str                   # URL path prefix: "" or "/categories/<slug>"
    title: str
    description: str
    entries: tuple[Entry, ...]    # every published entry, newest first


def feed_sources(catalog, config: Config) -> list[FeedSource]:  # type: ignore[no-untyped-def]
    site = config.site
    out = [FeedSource("", "", site.title, site.description, catalog.entries)]
    out += [FeedSource(c.slug, f"/categories/{c.slug}", c.title, c.description, c.entries)
            for c in catalog.categories]
    return out


def archive_path(prefix: str, number: int, fmt: str) -> str:
    return f"{prefix}/archive/{number}/feed.{fmt}"


def _spec(src: FeedSource, config: Config, entries: tuple[Entry, ...], urls: dict[str, str],
          links: dict[str, tuple[tuple[str, str], ...]], history: str | None, newest: datetime,
          hubs: tuple[str, ...]) -> FeedSpec:
    site = config.site
    base = site.base_url
    return FeedSpec(
        key=src.key, id=f"{base}{src.prefix}/", title=src.title, description=src.description,
        html_url=f"{base}{src.prefix}/", urls=urls, entries=entries, language=site.language, author=site.author,
        full_content=config.full_content, refresh_interval=config.refresh_interval,
        stylesheet=urlsplit(base).path.rstrip("/") + "/feed.css", empty_updated=newest, links=links,
        history=history, hubs=hubs,
    )


def current_spec(src: FeedSource, config: Config, newest: datetime, hubs: tuple[str, ...] = ()) -> FeedSpec:
    base = config.site.base_url
    n = config.max_entries
    pages = archive_count(len(src.entries), n)
    links = {fmt: ((("prev-archive", base + archive_path(src.prefix, pages, fmt)),) if pages else ())
             for fmt in config.formats}
    history = "complete" if is_complete(len(src.entries), n) else None
    return _spec(src, config, src.entries[:n], {fmt: f"{base}{src.prefix}/feed.{fmt}" for fmt in config.formats},
                 links, history, newest, hubs)


def archive_spec(src: FeedSource, config: Config, number: int, total: int, entries: tuple[Entry, ...]) -> FeedSpec:
    """Archive page ``number`` of a feed of ``total`` entries, holding ``entries`` (see archive.page)."""
    base = config.site.base_url
    pages = archive_count(total, config.max_entries)
    links = {}
    for fmt in config.formats:
        rels = [("current", f"{base}{src.prefix}/feed.{fmt}")]
        if number > 1:
            rels.append(("prev-archive", base + archive_path(src.prefix, number - 1, fmt)))
        if number < pages:
            rels.append(("next-archive", base + archive_path(src.prefix, number + 1, fmt)))
        links[fmt] = tuple(rels)
    urls = {fmt: base + archive_path(src.prefix, number, fmt) for fmt in config.formats}
    return _spec(src, config, entries, urls, links, "archive", EPOCH, ())


def feed_specs(catalog, config: Config, hubs: tuple[str, ...] = ()) -> list[FeedSpec]:  # type: ignore[no-untyped-def]
    """The current site feed and one per category, as the catalog and config define them."""
    newest = catalog.newest or EPOCH
    return [current_spec(src, config, newest, hubs) for src in feed_sources(catalog, config)]
