"""Entries -> Catalog: the immutable snapshot every renderer reads. Pure."""
from __future__ import annotations

import bisect
import dataclasses
import operator
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
    # How many entries (drafts and scheduled ones too) name each category name:
    # a name none names any more leaves ``slug_of``.
    name_uses: Mapping[str, int] = field(default_factory=dict, repr=False)

    def entry_categories(self, entry: Entry) -> tuple[Category, ...]:
        """The entry's categories as published (merged names appear once)."""
        out: list[Category] = []
        for name in entry.categories:
            slug = self.slug_of.get(name)
            cat = self.category_by_slug.get(slug) if slug else None
            if cat is not None and cat not in out:
                out.append(cat)
        return tuple(out)

    def shown_digests(self) -> dict[str, str]:
        """id -> what each published entry shows: its file's digest, marked while an
        update dated ahead is not shown yet (the file stays the same when it shows)."""
        ahead = self.ahead
        if not ahead:
            return {e.id: e.digest for e in self.entries}
        return {e.id: f"{e.digest} as of its date" if e.id in ahead else e.digest for e in self.entries}


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
    problems: list[Problem] = []
    published: list[Entry] = []
    ahead: list[Entry] = []
    scheduled: list[Entry] = []
    unpublished: list[Entry] = []    # drafts and scheduled entries, in path order
    # One pass over every entry where there were six: at 100k entries each
    # pass cost tens of milliseconds, most of it in fetching the entries.
    for e in entries:
        if e.draft or e.date > now:
            unpublished.append(e)
            if not e.draft:
                scheduled.append(e)
            continue
        shown = as_of(e, now)
        if shown is not e:
            problems.append(Problem(e.path, "updated", f"is in the future ({e.updated.isoformat()}); until then "
                                    "the entry shows its date as its update", severity="warning"))
            ahead.append(e)
        published.append(shown)
    published_in_path_order = list(published)
    # Entry.sort_key's order (newest first, ties by id) in two stable sorts on
    # plain attributes: a third faster than building 100k key tuples.
    published.sort(key=operator.attrgetter("id"))
    published.sort(key=operator.attrgetter("date"), reverse=True)
    scheduled.sort(key=lambda e: (e.date, e.id))
    drafts = len(unpublished) - len(scheduled)
    due = [e.date for e in scheduled[:1]] + [e.updated for e in ahead]

    overrides = {name: s.slug for name, s in config.categories.items() if s.slug}
    # A name that differs from a configured one only in case is that category,
    # as names that slugify alike are: not a category of its own under the made
    # slug. Unless it is configured itself, or two configured names fold alike.
    folds: dict[str, list[str]] = {}
    for name in config.categories:
        folds.setdefault(name.casefold(), []).append(name)
    folded = {key: overrides[names[0]] for key, names in folds.items() if len(names) == 1 and names[0] in overrides}
    slug_of: dict[str, str] = {}
    name_of: dict[str, str] = {}          # slug -> the name that owns it
    first_path: dict[str, str] = {}       # name -> where it was first seen

    def claim(name: str, where: str) -> None:
        if name in slug_of:
            return
        slug = overrides.get(name) or (None if name in config.categories else folded.get(name.casefold())) \
            or slugify(name)
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
    uses: dict[str, int] = {}
    # Published entries name their categories first: a draft or a scheduled
    # entry must not relabel a live category by a name that differs in case.
    # Path order within each (``published`` is sorted by date by now).
    for group in (published_in_path_order, unpublished):
        for e in group:
            names = e.categories
            # each name once per entry, first use first
            for name in (names if len(names) < 2 else dict.fromkeys(names)):
                claim(name, e.path)
                uses[name] = uses.get(name, 0) + 1

    members: dict[str, list[Entry]] = {slug: [] for slug in name_of}
    for e in published:
        names = e.categories
        if len(names) == 1:   # most entries: nothing to merge
            slug = slug_of.get(names[0])
            if slug:
                members[slug].append(e)
            continue
        seen: set[str] = set()
        for name in names:
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
        newest=max(map(_UPDATED, published), default=None),
        ahead=frozenset(e.id for e in ahead),
        name_uses=uses,
    )


def patch_catalog(previous: Catalog, replaced: Iterable[tuple[Entry | None, Entry | None]],
                  now: datetime) -> Catalog | None:
    """``previous`` with entries that came (old None), went (new None) or changed
    patched in, when that gives what ``build_catalog`` would at ``now``; None
    when it may not: a category would come or go, a category name would be
    named for the first or the last time (the names' claims on slugs could
    change), or an entry involved has an update dated ahead.

    What publishing, retracting or editing an article changes, at the cost of
    the entries it touches rather than a new selection and grouping of all of
    them. ``previous`` must be a catalog of the same config in which no
    scheduled entry has fallen due by ``now``.
    """
    replaced = tuple(replaced)
    uses = dict(previous.name_uses)
    names_move = False
    for old, new in replaced:
        if old is not None and old.id in previous.ahead or new is not None and as_of(new, now) is not new:
            return None
        # Which name owns a shared slug depends on which entries are published.
        if old is None or new is None or old.categories != new.categories or old.draft != new.draft \
                or (old.date > now) != (new.date > now):
            names_move = True
        for e, step in ((old, -1), (new, 1)):
            for name in set(e.categories) if e is not None else ():
                uses[name] = uses.get(name, 0) + step
    if names_move:
        if any(p.field == "categories" for p in previous.problems):
            return None   # names that share a slug: which one owns it depends on every entry's path
        for name, n in uses.items():
            if name not in previous.slug_of or n <= 0 < previous.name_uses.get(name, 0):
                return None

    entries = list(previous.entries)
    scheduled = list(previous.scheduled)
    by_slug = dict(previous.by_slug)
    members: dict[str, list[Entry]] = {}
    drafts = previous.drafts
    newest, newest_gone = previous.newest, False

    def member_lists(e: Entry) -> list[list[Entry]] | None:
        out = []
        for slug in dict.fromkeys(previous.slug_of[n] for n in e.categories if n in previous.slug_of):
            cat = previous.category_by_slug.get(slug)
            if cat is None:
                return None   # a category with no published entry yet: it would come
            if slug not in members:
                members[slug] = list(cat.entries)
            out.append(members[slug])
        return out

    # Every removal before any insertion: a file that sorts first may take the
    # slug another one in the same batch gives up.
    for old, _ in replaced:
        if old is not None:
            if previous.by_slug.get(old.slug) is old:
                lists = member_lists(old)
                if lists is None or not (_drop(entries, old, Entry.sort_key) and
                                         all(_drop(m, old, Entry.sort_key) for m in lists)):
                    return None
                del by_slug[old.slug]
                newest_gone = newest_gone or old.updated == newest
            elif old.draft:
                drafts -= 1
            elif not _drop(scheduled, old, _due):
                return None
    for _, new in replaced:
        if new is not None:
            if new.draft:
                drafts += 1
            elif new.date > now:
                bisect.insort(scheduled, new, key=_due)
            else:
                lists = member_lists(new)
                if lists is None:
                    return None
                for seq in (entries, *lists):
                    bisect.insort(seq, new, key=Entry.sort_key)
                by_slug[new.slug] = new
                if not newest_gone:
                    newest = new.updated if newest is None else max(newest, new.updated)
    if any(not m for m in members.values()):
        return None   # a category left with no published entry: it would go
    if newest_gone:
        newest = max(map(_UPDATED, entries), default=None)
    next_due = previous.next_due
    if scheduled[:1] != list(previous.scheduled[:1]):
        if previous.ahead:
            return None   # the next due may be an update ahead, whose date the catalog does not hold
        next_due = scheduled[0].date if scheduled else None
    cats = tuple(dataclasses.replace(c, entries=tuple(members[c.slug])) if c.slug in members else c
                 for c in previous.categories)
    return dataclasses.replace(previous, entries=tuple(entries), categories=cats, scheduled=tuple(scheduled),
                               drafts=drafts, by_slug=by_slug, category_by_slug={c.slug: c for c in cats},
                               newest=newest, next_due=next_due, name_uses=uses)


_UPDATED = operator.attrgetter("updated")


def _due(e: Entry) -> tuple[datetime, str]:
    return (e.date, e.id)


def _drop(seq: list[Entry], e: Entry, key) -> bool:  # type: ignore[no-untyped-def]
    """Remove ``e`` itself from ``seq`` (sorted by ``key``, which no two entries share)."""
    i = bisect.bisect_left(seq, key(e), key=key)
    if i < len(seq) and seq[i] is e:
        del seq[i]
        return True
    return False
