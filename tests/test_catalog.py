"""build_catalog: what is published at ``now``, in which order, and under which categories."""
from __future__ import annotations

import datetime as dt
from typing import Iterable

import pytest

from feedsvc.catalog import Catalog, build_catalog
from feedsvc.config import Config
from feedsvc.entries import load_entries
from feedsvc.model import Author, Entry

from .conftest import BASE_URL, NOW

DAY = dt.timedelta(days=1)


def entry(slug: str, when: dt.datetime, *categories: str, draft: bool = False, id: str | None = None,
          path: str | None = None) -> Entry:
    return Entry(
        path=path or f"{slug}.md", slug=slug, id=id or f"tag:news.example.org,2025-07-26:/articles/{slug}/",
        title=slug.replace("-", " ").title(), date=when, updated=when, link=f"{BASE_URL}/articles/{slug}/",
        author=Author("Newsroom"), categories=tuple(categories), draft=draft,
    )


def slugs(entries: Iterable[Entry]) -> list[str]:
    return [e.slug for e in entries]


def cat(catalog: Catalog, slug: str):
    return catalog.category_by_slug[slug]


# -- what is published, in which order ------------------------------------------

def test_published_entries_are_newest_first(config):
    es = [entry("old", NOW - 3 * DAY), entry("new", NOW - DAY), entry("mid", NOW - 2 * DAY)]
    assert slugs(build_catalog(es, config, NOW).entries) == ["new", "mid", "old"]


def test_equal_dates_are_ordered_by_id_whatever_the_input_order(config):
    when = NOW - DAY
    es = [entry("b", when, id="tag:x,2025:b"), entry("a", when, id="tag:x,2025:a"), entry("c", when, id="tag:x,2025:c")]
    assert slugs(build_catalog(es, config, NOW).entries) == ["a", "b", "c"]
    assert slugs(build_catalog(reversed(es), config, NOW).entries) == ["a", "b", "c"]


def test_same_instant_in_different_zones_counts_as_a_tie(config):
    plus8 = dt.timezone(dt.timedelta(hours=8))
    a = entry("a", dt.datetime(2025, 7, 26, 9, 30, tzinfo=plus8), id="tag:x:2")
    b = entry("b", dt.datetime(2025, 7, 26, 1, 30, tzinfo=dt.timezone.utc), id="tag:x:1")
    assert slugs(build_catalog([a, b], config, NOW).entries) == ["b", "a"]


def test_entries_a_microsecond_apart_are_ordered_by_time_even_centuries_ago(config):
    # A float timestamp cannot tell them apart in 1500; the id would then
    # decide, and a patched catalog could order them unlike a full build.
    t = dt.datetime(1500, 1, 1, 0, 0, 0, 1, tzinfo=dt.timezone.utc)
    assert t.timestamp() == (t + dt.timedelta(microseconds=1)).timestamp()
    older = entry("older", t, id="tag:x:1")
    newer = entry("newer", t + dt.timedelta(microseconds=1), id="tag:x:2")
    assert slugs(build_catalog([older, newer], config, NOW).entries) == ["newer", "older"]
    assert slugs(sorted([older, newer], key=Entry.sort_key)) == ["newer", "older"]


def test_entry_dated_exactly_now_is_published(config):
    catalog = build_catalog([entry("now", NOW)], config, NOW)
    assert slugs(catalog.entries) == ["now"]
    assert catalog.next_due is None


def test_future_entries_are_held_back_and_next_due_is_the_earliest(config):
    es = [entry("past", NOW - DAY), entry("later", NOW + 3 * DAY), entry("soon", NOW + dt.timedelta(hours=2)),
          entry("latest", NOW + 9 * DAY)]
    catalog = build_catalog(es, config, NOW)
    assert slugs(catalog.entries) == ["past"]
    assert slugs(catalog.scheduled) == ["soon", "later", "latest"]
    assert catalog.next_due == NOW + dt.timedelta(hours=2)
    assert set(catalog.by_slug) == {"past"}


def test_no_scheduled_entries_means_no_next_due(config):
    assert build_catalog([entry("a", NOW - DAY)], config, NOW).next_due is None


def test_scheduled_entry_is_published_once_due(config):
    es = [entry("past", NOW - DAY), entry("soon", NOW + DAY)]
    later = build_catalog(es, config, NOW + DAY)
    assert slugs(later.entries) == ["soon", "past"]
    assert later.next_due is None and later.scheduled == ()


def test_drafts_are_excluded_and_counted(config):
    es = [entry("pub", NOW - DAY), entry("draft-old", NOW - DAY, draft=True),
          entry("draft-future", NOW + DAY, draft=True)]
    catalog = build_catalog(es, config, NOW)
    assert slugs(catalog.entries) == ["pub"]
    assert catalog.drafts == 2
    assert catalog.scheduled == () and catalog.next_due is None, "a future draft is not scheduled"
    assert "draft-old" not in catalog.by_slug


def test_empty_input_gives_an_empty_catalog(config):
    catalog = build_catalog([], config, NOW)
    assert (catalog.entries, catalog.categories, catalog.next_due, catalog.problems, catalog.drafts) == \
        ((), (), None, (), 0)


def test_same_inputs_give_an_equal_catalog(config):
    es = [entry("a", NOW - DAY, "AI"), entry("b", NOW + DAY, "World"), entry("c", NOW - 2 * DAY, "AI", "World")]
    assert build_catalog(es, config, NOW) == build_catalog(list(es), config, NOW)


# -- categories ------------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "slug"),
    [("World & U.S. News", "world-us-news"), ("Artificial Intelligence", "artificial-intelligence"),
     ("人工智能", "ren-gong-zhi-neng")],
)
def test_category_slug_is_made_from_its_name(config, name, slug):
    catalog = build_catalog([entry("a", NOW - DAY, name)], config, NOW)
    (c,) = catalog.categories
    assert (c.name, c.slug) == (name, slug)
    assert catalog.slug_of[name] == slug
    assert catalog.category_by_slug[slug] is c


def test_category_holds_its_published_entries_newest_first(config):
    es = [entry("old", NOW - 3 * DAY, "AI"), entry("other", NOW - 2 * DAY, "World"),
          entry("new", NOW - DAY, "AI", "World"), entry("future", NOW + DAY, "AI")]
    catalog = build_catalog(es, config, NOW)
    assert slugs(cat(catalog, "ai").entries) == ["new", "old"]
    assert slugs(cat(catalog, "world").entries) == ["new", "other"]


def test_categories_are_sorted_by_name_ignoring_case(config):
    es = [entry("a", NOW - DAY, "zebra", "Apple", "mango", "Banana")]
    assert [c.name for c in build_catalog(es, config, NOW).categories] == ["Apple", "Banana", "mango", "zebra"]


def test_category_title_and_description_default_from_the_site(config):
    (c,) = build_catalog([entry("a", NOW - DAY, "AI")], config, NOW).categories
    assert c.title == "The Test Review: AI"
    assert c.description == "AI, from The Test Review"


def test_config_overrides_category_slug_title_and_description(make_config):
    config = make_config(categories={"World & U.S. News": {"slug": "world", "title": "World desk",
                                                           "description": "Diplomacy and politics"}})
    catalog = build_catalog([entry("a", NOW - DAY, "World & U.S. News")], config, NOW)
    (c,) = catalog.categories
    assert (c.name, c.slug, c.title, c.description) == ("World & U.S. News", "world", "World desk",
                                                        "Diplomacy and politics")
    assert slugs(c.entries) == ["a"]
    assert "world-us-news" not in catalog.category_by_slug


def test_config_override_of_description_only_keeps_the_made_slug(make_config):
    config = make_config(categories={"Artificial Intelligence": {"description": "Machines that learn"}})
    (c,) = build_catalog([entry("a", NOW - DAY, "Artificial Intelligence")], config, NOW).categories
    assert (c.slug, c.title, c.description) == ("artificial-intelligence", "The Test Review: Artificial Intelligence",
                                                "Machines that learn")


def test_two_names_with_one_slug_are_reported_naming_both_and_merged_under_the_first(config):
    es = [entry("a", NOW - 2 * DAY, "World & U.S. News", path="2025/a.md"),
          entry("b", NOW - DAY, "World & US News", path="2025/b.md")]
    catalog = build_catalog(es, config, NOW)
    (p,) = catalog.problems
    assert p.path == "2025/b.md" and p.field == "categories"
    assert "'World & U.S. News'" in p.message and "'World & US News'" in p.message
    assert "2025/a.md" in p.message
    (c,) = catalog.categories
    assert (c.name, c.slug) == ("World & U.S. News", "world-us-news")
    assert slugs(c.entries) == ["b", "a"]
    assert catalog.entry_categories(es[1]) == (c,)


def test_first_name_in_path_order_wins_a_slug_collision(config):
    # Input order is path order; the loser is the later file even when it is the newer entry.
    es = [entry("z", NOW - 5 * DAY, "AI-News", path="a.md"), entry("y", NOW - DAY, "AI News", path="b.md")]
    (c,) = build_catalog(es, config, NOW).categories
    assert c.name == "AI-News"


@pytest.mark.parametrize("unpublished", [dict(draft=True), dict(when=NOW + DAY)], ids=["draft", "scheduled"])
def test_a_draft_or_scheduled_entry_never_relabels_a_published_category(config, unpublished):
    hidden = entry("a-hidden", unpublished.get("when", NOW - DAY), "markets", draft=unpublished.get("draft", False),
                   path="a.md")
    live = entry("z-live", NOW - DAY, "Markets", path="z.md")
    (c,) = build_catalog([hidden, live], config, NOW).categories
    assert (c.name, slugs(c.entries)) == ("Markets", ["z-live"])


def test_an_entry_published_or_withdrawn_with_a_name_sharing_a_slug_is_not_patched_in(config):
    import dataclasses

    from feedsvc.catalog import patch_catalog
    hidden = entry("a-hidden", NOW - DAY, "markets", draft=True, path="a.md")
    live = entry("z-live", NOW - DAY, "Markets", path="z.md")
    before = build_catalog([hidden, live], config, NOW)
    shown = dataclasses.replace(hidden, draft=False)
    patched = patch_catalog(before, [(hidden, shown)], NOW)
    rebuilt = build_catalog([shown, live], config, NOW)
    assert patched is None or [c.name for c in patched.categories] == [c.name for c in rebuilt.categories]


def test_configured_slug_colliding_with_an_entry_category_is_reported(make_config):
    config = make_config(categories={"World & U.S. News": {"slug": "world"}})
    es = [entry("a", NOW - DAY, "World & U.S. News"), entry("b", NOW - DAY, "World", path="b.md")]
    catalog = build_catalog(es, config, NOW)
    (p,) = catalog.problems
    assert "'World & U.S. News'" in p.message and "'World'" in p.message and p.path == "b.md"
    (c,) = catalog.categories
    assert c.name == "World & U.S. News" and slugs(c.entries) == ["a", "b"]


def test_a_case_variant_of_a_configured_name_joins_its_category_under_the_configured_slug(make_config):
    config = make_config(categories={"World & U.S. News": {"slug": "world"}})
    es = [entry("a", NOW - DAY, "World & U.S. News"), entry("b", NOW - DAY, "world & u.s. news", path="b.md")]
    catalog = build_catalog(es, config, NOW)
    (c,) = catalog.categories
    assert (c.name, c.slug, slugs(c.entries)) == ("World & U.S. News", "world", ["a", "b"])
    (p,) = catalog.problems
    assert p.path == "b.md" and "'world & u.s. news'" in p.message


def test_a_configured_name_is_its_own_category_whatever_another_configured_name_folds_to(make_config):
    config = make_config(categories={"World": {"slug": "w"}, "WORLD": {"title": "Caps desk"}})
    es = [entry("a", NOW - DAY, "World"), entry("b", NOW - DAY, "WORLD", path="b.md"),
          entry("c", NOW - DAY, "world", path="c.md")]
    catalog = build_catalog(es, config, NOW)
    got = {c.name: (c.slug, c.title, slugs(c.entries)) for c in catalog.categories}
    assert got["World"][0] == "w" and got["WORLD"] == ("world", "Caps desk", ["b", "c"])
    # "world" folds to two configured names: it is not given the configured slug "w".
    assert "c" not in got["World"][2]


def test_entry_listing_two_merged_names_appears_once_in_the_category(config):
    e = entry("a", NOW - DAY, "AI News", "AI-News")
    catalog = build_catalog([e], config, NOW)
    (c,) = catalog.categories
    assert slugs(c.entries) == ["a"]
    assert catalog.entry_categories(e) == (c,)


def test_a_category_named_by_symbols_alone_has_a_feed_under_its_code_points(config):
    catalog = build_catalog([entry("a", NOW - DAY, "🚀", "AI", path="x.md")], config, NOW)
    assert catalog.problems == ()
    assert [(c.slug, c.name) for c in catalog.categories] == [("ai", "AI"), ("u1f680", "🚀")]
    assert slugs(cat(catalog, "u1f680").entries) == ["a"]


def test_configured_category_without_entries_is_present_and_empty(make_config):
    config = make_config(categories={"Science": {"description": "Papers and labs"}})
    catalog = build_catalog([entry("a", NOW - DAY, "AI")], config, NOW)
    science = cat(catalog, "science")
    assert science.entries == ()
    assert science.description == "Papers and labs"
    assert [c.slug for c in catalog.categories] == ["ai", "science"]


def test_category_of_only_scheduled_entries_is_absent_until_due(config):
    es = [entry("now", NOW - DAY, "AI"), entry("later", NOW + DAY, "Space")]
    before = build_catalog(es, config, NOW)
    assert [c.slug for c in before.categories] == ["ai"]
    assert "space" not in before.category_by_slug
    after = build_catalog(es, config, NOW + DAY)
    assert slugs(cat(after, "space").entries) == ["later"]


def test_category_of_only_drafts_is_absent(config):
    catalog = build_catalog([entry("d", NOW - DAY, "Secret", draft=True)], config, NOW)
    assert catalog.categories == ()


def test_entry_categories_lists_published_categories_in_entry_order(config):
    e = entry("a", NOW - DAY, "World", "AI")
    catalog = build_catalog([e], config, NOW)
    assert [c.slug for c in catalog.entry_categories(e)] == ["world", "ai"]


# -- with real files -------------------------------------------------------------

def test_catalog_from_loaded_files(write_entry, config: Config):
    write_entry("2025/07/old.md", {"title": "Old", "date": "2025-07-01", "categories": ["AI"]})
    write_entry("2025/11/new.md", {"title": "New", "date": "2025-11-30T10:00:00+08:00",
                                   "categories": "World & U.S. News"})
    write_entry("2025/12/next.md", {"title": "Next", "date": "2025-12-24", "categories": ["Holidays"]})
    write_entry("2025/11/wip.md", {"title": "WIP", "date": "2025-11-01", "draft": True})
    loaded = load_entries(config.entries_path, config.site)
    catalog = build_catalog(loaded.entries, config, NOW)
    assert slugs(catalog.entries) == ["new", "old"]
    assert [c.slug for c in catalog.categories] == ["ai", "world-us-news"]
    assert catalog.next_due == dt.datetime(2025, 12, 23, 16, 0, tzinfo=dt.timezone.utc)
    assert catalog.drafts == 1


def test_a_name_spelled_with_composed_or_combining_accents_is_one_category(write_entry, make_config):
    composed, combining = "Caf\u00e9 Soci\u00e9t\u00e9", "Cafe\u0301 Socie\u0301te\u0301"
    write_entry("a.md", {"title": "A", "date": "2025-07-01T00:00:00Z", "categories": [composed]})
    write_entry("b.md", {"title": "B", "date": "2025-07-02T00:00:00Z", "categories": [combining]})
    config = make_config(categories={combining: {"title": "Society desk"}})
    loaded = load_entries(config.entries_path, config.site)
    catalog = build_catalog(loaded.entries, config, NOW)
    assert catalog.problems == () and loaded.problems == ()
    (c,) = catalog.categories
    assert (c.name, c.slug, c.title) == (composed, "cafe-societe", "Society desk")
    assert slugs(c.entries) == ["b", "a"]


def test_two_category_tables_for_one_name_in_two_spellings_are_refused(make_config):
    from feedsvc.errors import ConfigError
    with pytest.raises(ConfigError, match="other Unicode code points"):
        make_config(categories={"Caf\u00e9": {"title": "One"}, "Cafe\u0301": {"title": "Two"}})


def test_an_edit_of_a_scheduled_entry_is_patched_in(config):
    from feedsvc.catalog import patch_catalog
    import dataclasses
    later = entry("later", NOW + DAY, "Science")
    catalog = build_catalog([entry("a", NOW - DAY, "Science"), later], config, NOW)
    edited = dataclasses.replace(later, title="Later, revised", digest="other")
    patched = patch_catalog(catalog, [(later, edited)], NOW)
    assert patched is not None and patched.scheduled == (edited,)


def test_patching_arrivals_departures_and_edits_gives_what_a_new_selection_gives(make_config):
    """Random changes to a random site: whenever ``patch_catalog`` takes them, its
    catalog equals the one ``build_catalog`` makes of the changed entries."""
    import dataclasses
    import random
    from feedsvc.catalog import patch_catalog

    config = make_config(categories={"Configured": {"title": "Set up by hand"}})
    names = ["Science", "Politics", "Arts", "Sport", "Configured"]
    rng = random.Random(7)

    def make(i: int) -> Entry:
        when = NOW + rng.choice([-1, -1, -1, 1]) * rng.randint(1, 400) * dt.timedelta(hours=1)
        e = entry(f"e{i}", when, *rng.sample(names, rng.randint(0, 2)), draft=rng.random() < 0.1,
                  id=f"tag:x,2025:{i}", path=f"{i:04d}.md")
        return dataclasses.replace(e, updated=when + rng.choice([0, 0, 2]) * dt.timedelta(hours=1))

    def fields(c: Catalog):
        return (c.entries, [(k.name, k.slug, k.title, k.entries) for k in c.categories], c.scheduled, c.drafts,
                dict(c.by_slug), c.newest, c.next_due, dict(c.slug_of), {n: u for n, u in c.name_uses.items() if u},
                c.problems, c.ahead)

    patched_count = 0
    for trial in range(60):
        current = {i: make(i) for i in range(rng.randint(1, 25))}
        catalog = build_catalog(sorted(current.values(), key=lambda e: e.path), config, NOW)
        changes = []
        for _ in range(rng.randint(1, 3)):
            kind = rng.choice(["add", "remove", "edit", "move"])
            if kind == "add" or not current:
                i = max(current, default=0) + 1 + rng.randint(0, 5)
                if i not in current:
                    current[i] = make(i)
                    changes.append((None, current[i]))
            else:
                i = rng.choice(sorted(current))
                if any(c[0] is current[i] or c[1] is current[i] for c in changes):
                    continue
                old = current[i]
                if kind == "remove":
                    del current[i]
                    changes.append((old, None))
                else:
                    new = dataclasses.replace(old, title=old.title + "!", digest=f"d{trial}") if kind == "edit" \
                        else dataclasses.replace(make(i), id=old.id, slug=old.slug, path=old.path)
                    current[i] = new
                    changes.append((old, new))
        patched = patch_catalog(catalog, changes, NOW)
        rebuilt = build_catalog(sorted(current.values(), key=lambda e: e.path), config, NOW)
        if patched is not None:
            patched_count += 1
            assert fields(patched) == fields(rebuilt), (trial, changes)
    assert patched_count >= 30   # most random changes are patched, not refused
