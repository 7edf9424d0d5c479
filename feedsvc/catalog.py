"""Entries -> Catalog: the immutable snapshot every renderer reads. Pure."""
from __future__ import annotations

import bisect
import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Mapping

from .config import Config
from .model import Entry, Problem
from .slugs import slugify


@dataclass(frozen=True)
class Category:
    name: str
    slug: str
    title: str
    description: str
    entries: tuple[Entry, ...]   # published, newest first


@dataclass(frozen=True)
class Catalog:
    entries: tuple[Entry, ...]                 # published, newest first (ties by id)
    categories: tuple[Category, ...]           # by name, case-insensitively
    next_due: datetime | None = None           # when the next scheduled entry is published, or an update shows
    problems: tuple[Problem, ...] = ()         # category problems (slug collisions)
    scheduled: tuple[Entry, ...] = ()
    drafts: int = 0
    slug_of: Mapping[str, str] = field(default_factory=dict)   # category name -> slug
    by_slug: Mapping[str, Entry] = field(default_factory=dict, repr=False)
    category_by_slug: Mapping[str, Category] = field(default_factory=dict, repr=False)
    newest: datetime | None = None             # the latest ``updated`` of the published entries
    # Ids of entries whose ``updated`` lies ahead: shown as of their date until then.
    ahead: frozenset[str] = frozenset()

    def entry_categories(self, entry: Entry) -> tuple[Category, ...]:
        """The entry's categories as published (merged names appear once)."""
        out: list[Category] = []
        for name in entry.categories:
            slug = self.slug_of.get(name)
            cat = self.category_by_slug.get(slug) if slug else None
            if cat is not None and cat not in out:
                out.append(cat)
        return tuple(out)


def as_of(e: Entry, now: datetime) -> Entry:
    """``e`` as published at ``now``: an update dated ahead shows from its time on;
    until then the entry is as of its date, so no feed or page carries a date in
    the future."""
    return dataclasses.replace(e, updated=e.date) if e.updated > now >= e.date else e


def build_catalog(entries: Iterable[Entry], config: Config, now: datetime) -> Catalog:
    """Select what is published at ``now`` and group it by category.

    ``entries`` come in path order; that order decides which name wins when two
    category names give one slug, so the result never depends on chance.
    """
    entries = tuple(entries)
    problems: list[Problem] = []
    published: list[Entry] = []
    ahead: list[Entry] = []
    for e in entries:
        if e.draft or e.date > now:
            continue
        shown = as_of(e, now)
        if shown is not e:
            problems.append(Problem(e.path, "updated", f"is in the future ({e.updated.isoformat()}); until then "
                                    "the entry shows its date as its update", severity="warning"))
            ahead.append(e)
        published.append(shown)
    published.sort(key=Entry.sort_key)
    scheduled = sorted((e for e in entries if not e.draft and e.date > now), key=lambda e: (e.date, e.id))
    drafts = sum(1 for e in entries if e.draft)
    due = [e.date for e in scheduled[:1]] + [e.updated for e in ahead]

    overrides = {name: s.slug for name, s in config.categories.items() if s.slug}
    slug_of: dict[str, str] = {}
    name_of: dict[str, str] = {}          # slug -> the name that owns it
    first_path: dict[str, str] = {}       # name -> where it was first seen

    def claim(name: str, where: str) -> None:
        if name in slug_of:
            return
        slug = overrides.get(name) or slugify(name)
        if not slug:
            problems.append(Problem(where, "categories", f"category {name!r} gives an empty slug; set one in "
                                    f"config.toml under [categories.\"{name}\"]"))
            return
        owner = name_of.get(slug)
        if owner is not None and owner != name:
            problems.append(Problem(where, "categories",
                                    f"category names {owner!r} ({first_path[owner]}) and {name!r} both give the "
                                    f"slug {slug!r}; entries of both are published under {owner!r}. Rename one or "
                                    f"give it its own slug in config.toml"))
        else:
            name_of[slug] = name
            first_path[name] = where
        slug_of[name] = slug

    for name in config.categories:
        claim(name, str(config.source or "config.toml"))
    for e in entries:
        for name in e.categories:
            claim(name, e.path)

    members: dict[str, list[Entry]] = {slug: [] for slug in name_of}
    for e in published:
        seen: set[str] = set()
        for name in e.categories:
            slug = slug_of.get(name)
            if slug and slug not in seen:
                seen.add(slug)
                members[slug].append(e)

    cats: list[Category] = []
    site = config.site
    for slug, name in name_of.items():
        if not members[slug] and name not in config.categories:
            continue  # only drafts or scheduled entries so far: no feed yet
        settings = config.categories.get(name)
        cats.append(Category(
            name=name,
            slug=slug,
            title=(settings.title if settings and settings.title else f"{site.title}: {name}"),
            description=(settings.description if settings and settings.description
                         else f"{name}, from {site.title}"),
            entries=tuple(members[slug]),
        ))
    cats.sort(key=lambda c: (c.name.casefold(), c.slug))
    return Catalog(
        entries=tuple(published),
        categories=tuple(cats),
        next_due=min(due, default=None),
        problems=tuple(problems),
        scheduled=tuple(scheduled),
        drafts=drafts,
        slug_of=slug_of,
        by_slug={e.slug: e for e in published},
        category_by_slug={c.slug: c for c in cats},
        newest=max((e.updated for e in published), default=None),
        ahead=frozenset(e.id for e in ahead),
    )


def patch_catalog(previous: Catalog, replaced: Iterable[tuple[Entry, Entry]], now: datetime) -> Catalog | None:
    """``previous`` with entries swapped for their edited versions, when no edit moves
    an entry (same date, categories, draft state, slug and id) and none has an
    update dated after ``now``; None otherwise.

    What an edit of an article's text or title changes, at the cost of the
    entries it touches rather than a new selection and grouping of all of them.
    """
    replaced = tuple(replaced)
    swap: dict[int, Entry] = {}
    for old, new in replaced:
        if (old.date, old.categories, old.draft, old.slug, old.id) != \
                (new.date, new.categories, new.draft, new.slug, new.id) \
                or old.id in previous.ahead or as_of(new, now) is not new:
            return None
        swap[id(old)] = new

    def sub(entries: tuple[Entry, ...]) -> tuple[Entry, ...]:
        # The tuples are in sort-key order, which no patched edit changes:
        # find each entry by bisection instead of looking at every one.
        out = list(entries)
        for old, new in replaced:
            i = bisect.bisect_left(out, old.sort_key(), key=Entry.sort_key)
            if i < len(out) and out[i] is old:
                out[i] = new
        return tuple(out)

    entries = sub(previous.entries)
    hit = {previous.slug_of.get(name) for new in swap.values() for name in new.categories}
    cats = tuple(dataclasses.replace(c, entries=sub(c.entries)) if c.slug in hit else c
                 for c in previous.categories)
    by_slug = dict(previous.by_slug)
    for new in swap.values():
        if by_slug.get(new.slug) is not None and by_slug[new.slug].id == new.id:
            by_slug[new.slug] = new
    published = [(old, new) for old, new in replaced if by_slug.get(new.slug) is new]
    newest = previous.newest
    if any(old.updated == newest for old, _ in published):
        newest = max((e.updated for e in entries), default=None)   # the newest may have gone back
    elif published:
        newest = max(newest or published[0][1].updated, *(new.updated for _, new in published))
    scheduled = tuple(swap.get(id(e), e) for e in previous.scheduled)   # few, and in date order
    return dataclasses.replace(previous, entries=entries, categories=cats, scheduled=scheduled,
                               by_slug=by_slug, category_by_slug={c.slug: c for c in cats}, newest=newest)
