"""Loading entry files: every front-matter key, every kind of bad input, the folder and the cache."""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
from pathlib import Path
from typing import Any, Callable

import pytest

from feedsvc.catalog import build_catalog
from feedsvc.config import Config
from feedsvc.errors import ConfigError
from feedsvc.entries import EntryCache, LoadResult, load_entries, parse_entry
from feedsvc.model import Author, Entry, Problem
from feedsvc.text import clean_utf8, unclean

from .conftest import BASE_URL, NOW, entry_text

UTC = dt.timezone.utc
GOOD = {"title": "Good entry", "date": "2025-07-20T08:00:00+08:00"}
DOMAIN = "news.example.org"


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def load(config: Config, cache: EntryCache | None = None) -> LoadResult:
    return load_entries(config.entries_path, config.site, cache)


def front(**extra: Any) -> dict[str, Any]:
    """A minimal valid front matter plus ``extra`` (a None value removes the key)."""
    data: dict[str, Any] = {"title": "A title", "date": "2025-07-26T09:30:00+08:00"}
    for k, v in extra.items():
        if v is None:
            data.pop(k, None)
        else:
            data[k] = v
    return data


@pytest.fixture
def load_one(write_entry: Callable[..., Path], config: Config) -> Callable[..., Entry]:
    """Write one file, load the folder, insist there is no error and return the entry."""

    def run(fm: dict[str, Any] | str | bytes, body: str = "A first paragraph.\n", name: str = "post.md") -> Entry:
        write_entry(name, fm, body)
        result = load(config)
        assert result.errors == (), [str(p) for p in result.errors]
        (entry,) = result.entries
        return entry

    return run


@pytest.fixture
def load_bad(write_entry: Callable[..., Path], config: Config) -> Callable[..., Problem]:
    """Write a good file and a bad one; insist the good one is still published; return the bad one's error."""

    def run(fm: dict[str, Any] | str | bytes, body: str = "A first paragraph.\n", name: str = "bad.md") -> Problem:
        write_entry("good.md", GOOD)
        write_entry(name, fm, body)
        result = load(config)
        assert [e.slug for e in result.entries] == ["good"], "the good entry must still be loaded"
        errors = [p for p in result.errors if p.path == name]
        assert len(errors) == 1, [str(p) for p in result.problems]
        assert all(p.path == name for p in result.errors), "only the bad file is reported"
        return errors[0]

    return run


# -- title -----------------------------------------------------------------------

def test_title_markup_is_kept_as_plain_text(load_one):
    e = load_one(front(title="<b>Bold</b> & <i>brave</i>"))
    assert e.title == "<b>Bold</b> & <i>brave</i>"


def test_title_whitespace_is_collapsed_to_one_line(load_one):
    e = load_one('title: "  Two\\n   lines\\tand  tabs "\ndate: 2025-07-26')
    assert e.title == "Two lines and tabs"


def test_numeric_title_becomes_text(load_one):
    e = load_one("title: 1984\ndate: 2025-07-26")
    assert e.title == "1984"


# -- date ------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("written", "instant"),
    [
        ("2025-07-26T09:30:00+08:00", utc(2025, 7, 26, 1, 30)),
        ("2025-07-26T09:30:00-04:00", utc(2025, 7, 26, 13, 30)),
        ("2025-07-26T01:30:00Z", utc(2025, 7, 26, 1, 30)),
        ("Sat, 26 Jul 2025 09:30:00 +0800", utc(2025, 7, 26, 1, 30)),
        ("Sat, 26 Jul 2025 01:30:00 GMT", utc(2025, 7, 26, 1, 30)),
    ],
    ids=["iso-offset", "iso-negative-offset", "iso-z", "rfc2822-offset", "rfc2822-gmt"],
)
def test_date_with_zone_is_converted_to_utc(load_one, written, instant):
    e = load_one(front(date=written))
    assert e.date == instant
    assert e.date.utcoffset() == dt.timedelta(0)


def test_long_english_date_with_am_pm_takes_site_timezone(load_one):
    e = load_one(front(date="July 26, 2025 9:30 AM"))
    assert e.date == utc(2025, 7, 26, 1, 30)  # 09:30 in Asia/Shanghai


def test_date_without_zone_takes_site_timezone(load_one):
    e = load_one(front(date="2025-07-26 09:30"))
    assert e.date == utc(2025, 7, 26, 1, 30)


def test_date_only_is_midnight_in_site_timezone(load_one):
    e = load_one(front(date="2025-07-26"))
    assert e.date == utc(2025, 7, 25, 16, 0)


def test_yaml_datetime_with_offset_keeps_its_offset(load_one):
    e = load_one("title: T\ndate: 2025-07-26T09:30:00-05:00")  # unquoted: YAML gives a datetime
    assert e.date == utc(2025, 7, 26, 14, 30)


def test_yaml_naive_datetime_takes_site_timezone(load_one):
    e = load_one("title: T\ndate: 2025-07-26 09:30:00")
    assert e.date == utc(2025, 7, 26, 1, 30)


def test_yaml_date_is_midnight_in_site_timezone(load_one):
    e = load_one("title: T\ndate: 2025-07-26")
    assert e.date == utc(2025, 7, 25, 16, 0)


def test_site_timezone_setting_decides_naive_dates(make_config, write_entry):
    config = make_config(site={"timezone": "Europe/Paris"})
    write_entry("post.md", front(date="2025-07-26 09:30"))
    (e,) = load(config).entries
    assert e.date == utc(2025, 7, 26, 7, 30)  # CEST is UTC+2 in July


# -- updated ---------------------------------------------------------------------

def test_updated_defaults_to_date(load_one):
    e = load_one(front())
    assert e.updated == e.date == utc(2025, 7, 26, 1, 30)


def test_updated_is_read_like_date(load_one):
    e = load_one(front(updated="2025-07-27 10:00"))
    assert e.updated == utc(2025, 7, 27, 2, 0)
    assert e.date == utc(2025, 7, 26, 1, 30)


def test_updated_before_date_is_raised_to_date_with_a_warning(write_entry, config):
    write_entry("post.md", front(updated="2025-07-01"))
    result = load(config)
    (e,) = result.entries
    assert e.updated == e.date
    assert [(p.field, p.severity) for p in result.problems] == [("updated", "warning")]


def test_a_date_people_read_in_different_orders_is_published_with_a_warning(write_entry, config):
    write_entry("post.md", front(date="07/08/2025 09:30"))
    result = load(config)
    (e,) = result.entries
    assert e.date.month == 7 and e.date.day == 8          # as python-dateutil reads it: the contract
    (p,) = result.problems
    assert (p.path, p.field, p.severity) == ("post.md", "date", "warning") and "2025-08-07" in p.message


def test_unreadable_updated_is_an_error_naming_updated(load_bad):
    p = load_bad(front(updated="last tuesday-ish"))
    assert p.field == "updated"


# -- categories and tags ---------------------------------------------------------

def test_categories_list_is_kept_in_order(load_one):
    e = load_one(front(categories=["World & U.S. News", "Artificial Intelligence"]))
    assert e.categories == ("World & U.S. News", "Artificial Intelligence")


def test_single_string_category_is_one_name(load_one):
    e = load_one(front(categories="Artificial Intelligence, and more"))
    assert e.categories == ("Artificial Intelligence, and more",)


def test_repeated_category_names_appear_once(load_one):
    e = load_one(front(categories=["AI", "Science", "AI"]))
    assert e.categories == ("AI", "Science")


def test_no_categories_gives_empty_tuple(load_one):
    e = load_one(front())
    assert e.categories == ()
    assert e.tags == ()


def test_tags_are_read_as_a_list_or_a_single_name(load_one, write_entry, config):
    e = load_one(front(tags=["policy", "china"]))
    assert e.tags == ("policy", "china")
    write_entry("post.md", front(tags="policy"))
    (e,) = load(config).entries
    assert e.tags == ("policy",)


def test_tag_that_repeats_a_category_is_dropped(load_one):
    e = load_one(front(categories=["Science"], tags=["Science", "lab", "lab"]))
    assert e.categories == ("Science",)
    assert e.tags == ("lab",)


def test_tag_that_repeats_a_category_but_for_case_is_dropped_too(load_one):
    e = load_one(front(categories=["Ai", "World"], tags=["AI", "WORLD", "ai policy"]))
    assert (e.categories, e.tags) == (("Ai", "World"), ("ai policy",))


def test_categories_mapping_is_an_error(load_bad):
    p = load_bad(front(categories={"AI": 1}))
    assert p.field == "categories"
    assert "list" in p.message


def test_nested_list_in_categories_is_an_error(load_bad):
    p = load_bad(front(categories=["AI", ["nested"]]))
    assert p.field == "categories"


# -- author ----------------------------------------------------------------------

def test_author_string_is_the_name(load_one):
    e = load_one(front(author="Jane Doe"))
    assert e.author == Author("Jane Doe")


def test_author_mapping_gives_name_email_and_uri(load_one):
    e = load_one(front(author={"name": "Jane Doe", "email": "jane@example.org", "uri": "https://jane.example.org/"}))
    assert e.author == Author("Jane Doe", "jane@example.org", "https://jane.example.org/")


def test_author_defaults_to_site_author(load_one):
    e = load_one(front())
    assert e.author == Author("Newsroom")


def test_author_mapping_without_name_is_an_error(load_bad):
    p = load_bad(front(author={"email": "jane@example.org"}))
    assert p.field == "author"


def test_author_email_without_at_sign_is_an_error(load_bad):
    p = load_bad(front(author={"name": "Jane", "email": "not-an-address"}))
    assert p.field == "author.email"


def test_author_uri_must_be_absolute(load_bad):
    p = load_bad(front(author={"name": "Jane", "uri": "/people/jane"}))
    assert p.field == "author.uri"


# -- summary ---------------------------------------------------------------------

def test_given_summary_is_used_on_one_line(load_one):
    e = load_one(front(summary="A short\n  summary <b>as text</b>."))
    assert e.summary == "A short summary <b>as text</b>."


def test_summary_defaults_to_first_paragraph_as_plain_text(load_one):
    body = "# A heading\n\nFirst *para* with [a link](x/) &amp; `code`.\nSame paragraph.\n\nSecond paragraph.\n"
    e = load_one(front(), body)
    assert e.summary == "First para with a link & code. Same paragraph."


def test_long_first_paragraph_is_shortened_with_an_ellipsis(load_one):
    words = [f"word{i}" for i in range(120)]
    e = load_one(front(), " ".join(words) + "\n")
    assert e.summary.endswith("\u2026")
    assert len(e.summary) <= 280
    kept = e.summary.removesuffix("\u2026").split(" ")
    assert kept == words[: len(kept)], "cut at a word boundary, nothing reordered"
    assert len(kept) > 20


def test_summary_falls_back_to_the_body_text_when_it_has_no_prose_paragraph(load_one):
    e = load_one(front(), "# Only a heading\n\n- and a list\n")
    assert e.summary == "Only a heading and a list"


def test_summary_of_an_empty_body_is_the_title(load_one):
    assert load_one(front(title="Just a title"), "").summary == "Just a title"


def test_a_summary_is_derived_when_first_used_and_with_the_html_from_one_parse(load_one, monkeypatch):
    import feedsvc.markdown as md

    calls = []
    real = md.render_entry
    monkeypatch.setattr(md, "render_entry", lambda *a: calls.append(a) or real(*a))
    e = load_one(front(), "Derived from this paragraph.\n\nNot this one.\n")
    assert calls == []                                  # loading derives nothing
    assert e.summary == "Derived from this paragraph." and e.summary == "Derived from this paragraph."
    assert "<p>Not this one.</p>" in e.content_html
    assert len(calls) == 1


def test_the_summary_and_the_html_of_an_entry_read_its_file_once(load_one, monkeypatch):
    import feedsvc.entries as entries

    reads = []
    real = entries.read_body
    monkeypatch.setattr(entries, "read_body", lambda *a: reads.append(a) or real(*a))
    e = load_one(front(), "Derived from this paragraph.\n\nNot this one.\n")
    assert e.summary == "Derived from this paragraph." and "Not this one." in e.content_html
    assert len(reads) == 1


def test_what_is_derived_from_a_file_changed_since_its_parse_is_not_kept(load_one, config):
    original = "The paragraph that was parsed.\n"
    e = load_one(front(), original)
    path = config.entries_path / "post.md"
    raw = path.read_bytes()
    path.write_bytes(raw.replace(b"that was parsed", b"written since"))   # no refresh yet
    assert e.summary == "The paragraph written since." and "written since" in e.content_html
    path.write_bytes(raw)                                                  # back as it was parsed
    assert e.summary == "The paragraph that was parsed." and "that was parsed" in e.content_html


def test_a_body_the_summary_cannot_be_derived_from_gives_the_title(load_one, monkeypatch, caplog):
    import feedsvc.markdown as md

    def choke(body, base):
        raise ValueError("the renderer choked")

    monkeypatch.setattr(md, "render_entry", choke)
    e = load_one(front(title="Still described"), "An unusual body.\n")
    assert e.summary == "Still described" and "the renderer choked" in caplog.text
    assert e.content_html == "<pre>An unusual body.\n</pre>"


# -- slug, id, link, image -------------------------------------------------------

def test_slug_defaults_to_file_stem(load_one):
    e = load_one(front(), name="2025/07/shanghai-ai-body.md")
    assert e.slug == "shanghai-ai-body"
    assert e.path == "2025/07/shanghai-ai-body.md"


def test_slug_from_front_matter_replaces_file_stem(load_one):
    e = load_one(front(slug="custom-slug"), name="post.md")
    assert e.slug == "custom-slug"
    assert e.link == f"{BASE_URL}/articles/custom-slug/"


def test_slug_written_as_a_yaml_block_loses_its_newline(load_one):
    e = load_one("title: T\ndate: 2025-07-26\nslug: |\n  block-slug")
    assert e.slug == "block-slug"
    assert e.link == f"{BASE_URL}/articles/block-slug/"


def test_file_stem_that_is_not_a_slug_is_slugified(load_one):
    e = load_one(front(), name="Hello World.md")
    assert e.slug == "hello-world"


def test_default_id_is_tag_uri_of_domain_day_and_slug(load_one):
    e = load_one(front(date="2025-07-26T09:30:00+08:00"), name="2025/ai-body.md")
    assert e.id == f"tag:{DOMAIN},2025-07-26:/articles/ai-body/"


@pytest.mark.parametrize("written", ["2025-07-26T02:00:00+08:00", "2025-07-26T23:30:00-05:00", "2025-07-26"])
def test_default_id_uses_the_day_as_written_not_the_utc_day(load_one, written):
    e = load_one(front(date=written))
    assert e.date.date() != dt.date(2025, 7, 26), "the UTC day differs from the day as written"
    assert e.id == f"tag:{DOMAIN},2025-07-26:/articles/post/"


def test_default_id_unchanged_when_title_body_or_folder_change(write_entry, config, entries_dir):
    first = write_entry("2025/07/ai-body.md", front(title="First title"), "First body.\n")
    (before,) = load(config).entries
    first.unlink()
    write_entry("archive/old/ai-body.md", front(title="A better title"), "Rewritten body.\n")
    (after,) = load(config).entries
    assert after.title != before.title and after.path != before.path
    assert after.id == before.id == f"tag:{DOMAIN},2025-07-26:/articles/ai-body/"


def test_explicit_id_is_kept(load_one):
    e = load_one(front(id="urn:uuid:0b9c7d4e-1111-2222-3333-444455556666"))
    assert e.id == "urn:uuid:0b9c7d4e-1111-2222-3333-444455556666"


@pytest.mark.parametrize("written", ["post 42", "tag:example.org,2025:my post"])
def test_explicit_id_with_white_space_is_an_error(load_bad, written):
    p = load_bad(front(id=written))
    assert p.field == "id" and "white space" in p.message


def test_explicit_id_without_a_scheme_is_an_error(load_bad):
    # Atom needs an absolute IRI, and one id serves every format, so it is refused rather than rewritten.
    p = load_bad(front(id="post-42"))
    assert p.field == "id" and "absolute URI" in p.message


def test_explicit_id_with_a_character_a_uri_cannot_carry_is_an_error(load_bad):
    p = load_bad(front(id="tag:example.org,2025:a<b>"))
    assert p.field == "id" and "<" in p.message


def test_explicit_id_with_non_ascii_letters_is_written_as_its_uri_form(load_one):
    assert load_one(front(id="tag:example.org,2025:文章-1")).id == "tag:example.org,2025:%E6%96%87%E7%AB%A0-1"
    assert load_one(front(id="tag:example.org,2025:%E6%96%87")).id == "tag:example.org,2025:%E6%96%87"


def test_link_defaults_to_article_url(load_one):
    e = load_one(front(), name="ai-body.md")
    assert e.link == f"{BASE_URL}/articles/ai-body/"


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("/news/2025/ai.html", f"{BASE_URL}/news/2025/ai.html"),
        ("news/ai.html", f"{BASE_URL}/news/ai.html"),
        ("https://elsewhere.example.com/ai", "https://elsewhere.example.com/ai"),
    ],
)
def test_link_relative_is_made_absolute_and_absolute_is_kept(load_one, written, expected):
    e = load_one(front(link=written))
    assert e.link == expected


@pytest.mark.parametrize(
    ("key", "written", "expected"),
    [
        ("link", "https://example.org/文章/1", "https://example.org/%E6%96%87%E7%AB%A0/1"),
        ("link", "https://例子.测试/a?q=é#sé", "https://xn--fsqu00a.xn--0zwm56d/a?q=%C3%A9#s%C3%A9"),
        ("link", "https://example.org/a|b", "https://example.org/a%7Cb"),
        ("link", "https://example.org/a%20b/%E6%96%87", "https://example.org/a%20b/%E6%96%87"),
        ("image", "images/café-東京.jpg", f"{BASE_URL}/articles/post/images/caf%C3%A9-%E6%9D%B1%E4%BA%AC.jpg"),
        ("image", "/images/lead photo.jpg", f"{BASE_URL}/images/lead%20photo.jpg"),
        ("link", "https://example.org/a b?q=c d", "https://example.org/a%20b?q=c%20d"),
        ("link", "/deals/50%-off", f"{BASE_URL}/deals/50%25-off"),          # a '%' that starts no escape
        ("image", "/img/100%.jpg?x=%zz#%", f"{BASE_URL}/img/100%25.jpg?x=%25zz#%25"),
    ],
)
def test_urls_are_written_as_ascii_uris(load_one, key, written, expected):
    # RSS <link> and <enclosure> must be URIs; encoding twice would change an already encoded URL.
    assert getattr(load_one(front(**{key: written})), key) == expected


def test_author_uri_is_written_as_an_ascii_uri(load_one):
    e = load_one(front(author={"name": "Jürgen", "uri": "https://example.org/über"}))
    assert e.author == Author("Jürgen", None, "https://example.org/%C3%BCber")


@pytest.mark.parametrize("written", ["https://exa mple.org/a", "/images/a\tb.jpg"])
def test_a_space_in_a_host_or_a_tab_in_a_url_is_an_error(load_bad, written):
    p = load_bad(front(image=written))
    assert p.field == "image" and repr(written) in p.message


def test_link_with_a_script_scheme_is_an_error(load_bad):
    p = load_bad(front(link="javascript:alert(1)"))
    assert p.field == "link"


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("cover.jpg", f"{BASE_URL}/articles/post/cover.jpg"),
        ("/img/cover.png", f"{BASE_URL}/img/cover.png"),
        ("https://cdn.example.com/c.webp", "https://cdn.example.com/c.webp"),
    ],
)
def test_image_is_made_absolute_against_the_article_link(load_one, written, expected):
    e = load_one(front(image=written))
    assert e.image == expected


def test_no_image_gives_none(load_one):
    assert load_one(front()).image is None


# -- draft -----------------------------------------------------------------------

def test_draft_true_is_loaded_flagged_and_kept_out_of_the_catalog(write_entry, config):
    write_entry("a.md", front(draft=True))
    write_entry("b.md", front(draft=False))
    result = load(config)
    assert {e.slug: e.draft for e in result.entries} == {"a": True, "b": False}
    catalog = build_catalog(result.entries, config, NOW)
    assert [e.slug for e in catalog.entries] == ["b"]
    assert catalog.drafts == 1


def test_draft_that_is_not_a_bool_is_an_error(load_bad):
    p = load_bad(front(draft="maybe"))
    assert p.field == "draft"


def test_unknown_front_matter_key_is_a_warning_and_entry_is_published(write_entry, config):
    write_entry("post.md", front(subtitle="nope"))
    result = load(config)
    assert len(result.entries) == 1
    (p,) = result.problems
    assert p.severity == "warning" and "subtitle" in p.message


def test_unknown_author_field_is_a_warning_and_the_rest_of_the_author_is_kept(write_entry, config):
    write_entry("post.md", front(author={"name": "Ana Ruiz", "twitter": "@ana", "email": "ana@example.org"}))
    result = load(config)
    (e,) = result.entries
    assert (e.author.name, e.author.email) == ("Ana Ruiz", "ana@example.org")
    assert [(p.field, p.severity) for p in result.problems] == [("author", "warning")]
    assert "twitter" in result.problems[0].message


@pytest.mark.parametrize("value", ["false", "no", "False"])
def test_published_false_holds_the_article_back_as_a_draft_with_a_warning(write_entry, config, value):
    write_entry("post.md", f"title: Held\ndate: 2025-07-26\npublished: {value}")
    result = load(config)
    (e,) = result.entries
    assert e.draft is True
    assert [(p.field, p.severity) for p in result.problems] == [("published", "warning")]


def test_published_false_beside_an_empty_draft_holds_the_article_back(write_entry, config):
    write_entry("post.md", "title: Held\ndate: 2025-07-26\npublished: false\ndraft:")
    (e,) = load(config).entries
    assert e.draft is True


@pytest.mark.parametrize("extra", ["published: true", "published: 2025-07-26", "draft: false\npublished: false"])
def test_published_other_than_false_alone_is_an_unknown_key_and_the_article_is_published(write_entry, config,
                                                                                          extra):
    write_entry("post.md", f"title: Out\ndate: 2025-07-26\n{extra}")
    result = load(config)
    (e,) = result.entries
    assert e.draft is False
    (p,) = result.problems
    assert p.severity == "warning" and "unknown key(s) ignored: published" in p.message


# -- bad input: one file never costs another ------------------------------------

def test_broken_yaml_is_reported_with_its_line_number(load_bad):
    p = load_bad("title: fine\ndate: 2025-07-26\n  indented: wrongly")
    assert p.field == "front matter"
    assert "invalid YAML" in p.message
    assert p.line == 4  # line 1 is '---'
    assert str(p).startswith("bad.md:4: error: front matter:")


@pytest.mark.parametrize("fm", ["title: First\ndate: 2025-07-26\ntitle: Second",
                                "title: First\ndate: 2025-07-26\ntitle: \"Second, quoted\"\ncategories:\n  - AI"])
def test_a_key_given_twice_is_reported_at_its_second_line_not_published_as_the_last(load_bad, fm):
    p = load_bad(fm)
    assert p.field == "front matter" and p.line == 4      # line 1 is '---'
    assert "'title' a second time" in p.message


def test_a_title_yaml_reads_as_a_truth_value_is_an_error_that_says_to_quote_it(load_bad):
    p = load_bad("title: No\ndate: 2025-07-26")
    assert p.field == "title" and "truth value False" in p.message and 'title: "..."' in p.message


def test_text_fields_yaml_reads_as_numbers_are_published_as_written(load_one):
    e = load_one("title: 12:30\ndate: 2025-07-26\nslug: 0x1F\ncategories: [12:30, 0o17]\n"
                 "tags: [1_000, 3.10]\nsummary: 1e3\nauthor: 42")
    assert (e.title, e.slug, e.categories, e.tags, e.given_summary, e.author.name) == \
        ("12:30", "0x1f", ("12:30", "0o17"), ("1_000", "3.10"), "1e3", "42")
    # What is kept (and pickled to and from helpers, and stored) is plain text.
    assert {type(v) for v in (e.title, e.slug, *e.categories, *e.tags, e.given_summary, e.author.name)} == {str}


@pytest.mark.parametrize("field", ["date", "updated"])
def test_a_date_yaml_reads_as_a_number_is_an_error_not_a_guess(load_bad, field):
    fm = "title: T\ndate: 2025-07-26\n" if field == "updated" else "title: T\n"
    p = load_bad(fm + f"{field}: 20250727")
    assert p.field == field and "number 20250727" in p.message


def test_unclosed_flow_list_in_yaml_is_reported(load_bad):
    p = load_bad("title: fine\ncategories: [AI, World\ndate: 2025-07-26")
    assert p.field == "front matter" and p.line is not None and p.line >= 3


def test_missing_title_is_an_error(load_bad):
    p = load_bad(front(title=None))
    assert (p.field, p.message) == ("title", "required")


@pytest.mark.parametrize("title", ["", "   ", "\u3000"])
def test_empty_title_is_an_error(load_bad, title):
    p = load_bad(front(title=title))
    assert p.field == "title"


@pytest.mark.parametrize("title", ["\u200b", "\u200b \u200d", "\ufeff\u2060", "\u00ad", "\u3164", "\U000e0041",
                                   "\U0001bca0"])
def test_title_of_only_characters_that_show_nothing_is_an_error_naming_them(load_bad, title):
    p = load_bad(front(title=title))
    assert p.field == "title" and f"U+{ord(title[0]):04X}" in p.message


@pytest.mark.parametrize("title", ["A\u200bB", "\u200bAI", "\u0600", "\U0001f600"])
def test_title_with_one_visible_character_is_published_as_written(load_one, title):
    assert load_one(front(title=title)).title == title


@pytest.mark.parametrize("author", ["\u200b", {"name": "\u2060\u200d"}, {"name": "\x01"}])
def test_author_of_only_characters_that_show_nothing_is_an_error(load_bad, author):
    p = load_bad(front(author=author))
    assert p.field == "author"


def test_names_and_summary_that_show_nothing_count_as_not_given(load_one):
    e = load_one(front(categories=["\u200b", "AI", "\u00ad"], tags=["\ufeff", "chips"], summary="\u200b \u200c"),
                 body="The body's first paragraph.\n")
    assert (e.categories, e.tags, e.given_summary) == (("AI",), ("chips",), "")
    assert e.summary == "The body's first paragraph."


def test_title_that_is_a_list_is_an_error(load_bad):
    p = load_bad(front(title=["a", "b"]))
    assert p.field == "title"


def test_missing_date_is_an_error(load_bad):
    p = load_bad(front(date=None))
    assert p.field == "date" and "required" in p.message


def test_unreadable_date_is_an_error_naming_date(load_bad):
    p = load_bad(front(date="the day after the summit"))
    assert p.field == "date"
    assert "the day after the summit" in p.message


def test_incomplete_date_is_an_error(load_bad):
    p = load_bad(front(date="July 2025"))
    assert p.field == "date"
    assert "whole date" in p.message


def test_ambiguous_zone_name_is_an_error_asking_for_an_offset(load_bad):
    p = load_bad(front(date="2025-07-26 09:30 EST"))
    assert p.field == "date"
    assert "offset" in p.message


def test_impossible_calendar_date_is_an_error(load_bad):
    p = load_bad(front(date="2025-02-30"))
    assert p.field == "date"


def test_impossible_unquoted_yaml_timestamp_is_a_date_error(load_bad):
    # YAML's own timestamp constructor raises a bare ValueError for this; it must not escape the loader.
    p = load_bad("title: T\ndate: 2025-02-30")
    assert p.field == "date"
    assert "2025-02-30" in p.message


def test_impossible_unquoted_yaml_time_is_a_date_error(load_bad):
    p = load_bad("title: T\ndate: 2025-07-26T25:00:00")
    assert p.field == "date"


def test_a_date_in_a_daylight_saving_gap_is_published_with_a_warning(write_entry, make_config):
    config = make_config(site={"timezone": "America/New_York"})
    write_entry("gap.md", {"title": "Gap", "date": "2025-03-09 02:30"})
    result = load(config)
    assert [e.date for e in result.entries] == [dt.datetime(2025, 3, 9, 7, 30, tzinfo=dt.timezone.utc)]
    (w,) = result.problems
    assert (w.severity, w.field) == ("warning", "date") and "does not exist" in w.message


@pytest.mark.parametrize("when", ["0999-06-15T12:00:00Z", "0999-12-31", "Sat, 15 Jun 0999 12:00:00 +0000"])
def test_a_date_before_the_year_1000_is_an_error_rss_could_not_carry_it(load_bad, when):
    p = load_bad(f"title: T\ndate: \"{when}\"")
    assert p.field == "date" and "year 1000" in p.message


@pytest.mark.parametrize("field", ["date", "updated"])
def test_date_outside_the_calendar_range_is_an_error_not_a_crash(load_bad, field):
    fm = "title: T\ndate: 2025-07-26\n" if field == "updated" else "title: T\n"
    p = load_bad(fm + f"{field}: 0001-01-01")
    assert p.field == field
    assert "range" in p.message


@pytest.mark.parametrize(
    ("key", "value"),
    [("link", "http://[oops"), ("image", "https://[broken/x.png"), ("link", "https://news.example.org:99999/x"),
     ("link", "https://exa mple.org/x"), ("image", "ftp://files.example.org/x.png")],
)
def test_malformed_url_is_an_error_naming_the_field(load_bad, key, value):
    p = load_bad(front(**{key: value}))
    assert p.field == key
    assert value.strip() in p.message


def test_malformed_author_uri_is_an_error_not_a_crash(load_bad):
    p = load_bad(front(author={"name": "Jane", "uri": "http://[x"}))
    assert p.field == "author.uri"


def test_a_library_failing_on_one_file_costs_only_that_file(write_entry, config, monkeypatch):
    import feedsvc.entries as entries_module

    real = entries_module.slugify

    def fragile(text: str) -> str:
        if "Poison" in text:
            raise ValueError("the slug library choked")
        return real(text)

    monkeypatch.setattr(entries_module, "slugify", fragile)
    write_entry("a.md", front(slug="Fine Slug"), "Fine.\n")
    write_entry("b.md", front(slug="Poison Pill"), "Fine too.\n")
    result = load(config)
    assert [e.slug for e in result.entries] == ["fine-slug"]
    (p,) = result.errors
    assert (p.path, p.field) == ("b.md", "file") and "the slug library choked" in p.message


def test_non_utf8_bytes_are_reported_with_offset_and_line(load_bad):
    raw = b"---\ntitle: ok\ndate: 2025-07-26\n---\nline\n\xff\xfe\n"
    p = load_bad(raw)
    assert p.field == "file"
    assert "UTF-8" in p.message
    assert "offset 40" in p.message and raw[40:41] == b"\xff"
    assert p.line == 6


def test_control_characters_are_removed_with_a_warning_and_entry_published(write_entry, config):
    raw = "---\ntitle: Bell\x07 and\x1b escape\ndate: 2025-07-26\n---\nBody\x00 with\x0b controls\x85.\n"
    write_entry("post.md", raw.encode("utf-8"))
    result = load(config)
    (e,) = result.entries
    assert e.title == "Bell and escape"
    assert e.markdown == "Body with controls.\n"
    assert result.errors == ()
    (w,) = result.problems
    assert w.severity == "warning" and w.path == "post.md"
    assert "5 control character" in w.message
    assert w.line == 2


def test_control_characters_only_in_body_warn_about_the_body(write_entry, config):
    write_entry("post.md", b"---\ntitle: T\ndate: 2025-07-26\n---\n\nBody\x01.\n")
    result = load(config)
    assert len(result.entries) == 1
    (w,) = result.problems
    assert (w.field, w.line, w.severity) == ("body", 6, "warning")
    assert result.entries[0].summary == "Body."


def test_duplicate_slug_reports_the_second_file_naming_the_first(write_entry, config):
    write_entry("a/post.md", front(title="First"))
    write_entry("b/post.md", front(title="Second"))
    result = load(config)
    assert [(e.path, e.title) for e in result.entries] == [("a/post.md", "First")]
    (p,) = result.errors
    assert (p.path, p.field) == ("b/post.md", "slug")
    assert "a/post.md" in p.message


def test_duplicate_slug_from_front_matter_is_reported(write_entry, config):
    write_entry("one.md", front(slug="same"))
    write_entry("two.md", front(slug="same"))
    result = load(config)
    assert [e.path for e in result.entries] == ["one.md"]
    (p,) = result.errors
    assert (p.path, p.field) == ("two.md", "slug") and "one.md" in p.message


@pytest.mark.parametrize("key", ["slug", "id"])
def test_a_draft_never_takes_a_slug_or_id_from_a_published_file(write_entry, config, key):
    same = {"slug": "year-end"} if key == "slug" else {"id": "tag:example.org,2025:same"}
    write_entry("a/draft-copy.md", front(title="Draft copy", draft=True, **same))
    write_entry("b/live.md", front(title="Live", **same))
    write_entry("c/other.md", front(title="Other"))
    result = load(config)
    assert [e.title for e in result.entries] == ["Live", "Other"]        # still in path order
    (p,) = result.errors
    assert (p.path, p.field) == ("a/draft-copy.md", key) and "b/live.md" in p.message


def test_duplicate_id_reports_the_second_file_naming_the_first(write_entry, config):
    write_entry("x.md", front(id="tag:example.org,2025:same"))
    write_entry("y.md", front(id="tag:example.org,2025:same"))
    write_entry("z.md", front())
    result = load(config)
    assert [e.slug for e in result.entries] == ["x", "z"]
    (p,) = result.errors
    assert (p.path, p.field) == ("y.md", "id")
    assert "x.md" in p.message


def test_missing_front_matter_is_an_error(load_bad):
    p = load_bad(b"# Just markdown\n\nNo front matter here.\n")
    assert (p.field, p.line) == ("front matter", 1)


def test_unclosed_front_matter_is_an_error(load_bad):
    p = load_bad(b"---\ntitle: T\ndate: 2025-07-26\n\nBody without a closing fence.\n")
    assert p.field == "front matter"
    assert "closing" in p.message


def test_front_matter_that_is_not_a_mapping_is_an_error(load_bad):
    p = load_bad("- title\n- date")
    assert p.field == "front matter"
    assert "mapping" in p.message


def test_empty_front_matter_is_missing_title(load_bad):
    p = load_bad(b"---\n---\nBody.\n")
    assert (p.field, p.message) == ("title", "required")


def test_every_problem_names_path_field_and_reason(write_entry, config):
    write_entry("2025/bad.md", front(date="never"))
    (p,) = load(config).errors
    assert p.as_dict() == {"path": "2025/bad.md", "line": None, "field": "date", "message": p.message,
                           "severity": "error"}
    assert p.message and str(p).startswith("2025/bad.md: error: date: ")


def test_many_bad_files_each_reported_and_good_ones_still_loaded(write_entry, config):
    write_entry("a-good.md", front())
    write_entry("b-bad.md", front(title=None))
    write_entry("c-bad.md", b"\xff")
    write_entry("d-good.md", front())
    write_entry("e-bad.md", front(draft="yes please"))
    result = load(config)
    assert [e.slug for e in result.entries] == ["a-good", "d-good"]
    assert [p.path for p in result.errors] == ["b-bad.md", "c-bad.md", "e-bad.md"]
    assert result.files == 5


# -- bytes-level details --------------------------------------------------------

def test_bom_and_crlf_line_endings_are_accepted(config):
    raw = "\ufeff---\r\ntitle: Windows\r\ndate: 2025-07-26\r\n---\r\nBody line.\r\n".encode("utf-8")
    parsed = parse_entry(raw, "win.md", config.site)
    assert parsed.problems == ()
    assert parsed.entry is not None
    assert parsed.entry.title == "Windows"
    assert parsed.entry.markdown == "Body line.\n"


def test_digest_changes_with_the_bytes(config):
    a = parse_entry(b"---\ntitle: T\ndate: 2025-07-26\n---\nA\n", "p.md", config.site).entry
    b = parse_entry(b"---\ntitle: T\ndate: 2025-07-26\n---\nB\n", "p.md", config.site).entry
    assert a is not None and b is not None
    assert a.digest != b.digest and len(a.digest) == 32


# -- the folder ------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda p: None, lambda p: p.write_text("a file, not a folder")])
def test_a_missing_entries_folder_is_a_config_error_not_an_empty_site(make_config, tmp_path, make):
    config = dataclasses.replace(make_config(), entries_path=tmp_path / "nowhere")
    make(config.entries_path)
    with pytest.raises(ConfigError) as e:
        load(config)
    assert e.value.key == "entries.path" and str(config.entries_path) in e.value.message


def test_empty_entries_folder_gives_no_entries_and_a_warning(config):
    result = load(config)
    assert result.entries == () and result.files == 0
    assert result.errors == ()
    (w,) = result.problems
    assert w.severity == "warning" and "no entry files" in w.message


def test_hidden_files_and_folders_are_skipped(write_entry, config):
    write_entry("visible.md", front())
    write_entry(".hidden.md", front())
    write_entry(".git/inside.md", front())
    write_entry("2025/.cache/deep.md", front())
    result = load(config)
    assert [e.path for e in result.entries] == ["visible.md"]
    assert result.files == 1
    assert result.problems == ()


def test_underscore_names_are_entries_like_any_other(write_entry, config):
    write_entry("_index.md", front(title="Index", slug="index-post"))
    write_entry("_drafts/x.md", front(title="X", slug="x"))
    assert sorted(e.path for e in load(config).entries) == ["_drafts/x.md", "_index.md"]


def test_only_md_files_are_entries(write_entry, config, entries_dir):
    write_entry("post.md", front())
    (entries_dir / "notes.txt").write_text("not an entry")
    (entries_dir / "post.md.bak").write_text("---\ntitle: x\n---\n")
    (entries_dir / "image.png").write_bytes(b"\x89PNG")
    result = load(config)
    assert [e.path for e in result.entries] == ["post.md"]
    assert result.files == 1


def test_entries_in_subfolders_are_loaded_in_path_order(write_entry, config):
    for rel in ["b/z.md", "a.md", "b/a/y.md", "a/x.md"]:
        write_entry(rel, front())
    result = load(config)
    assert [e.path for e in result.entries] == sorted(["b/z.md", "a.md", "b/a/y.md", "a/x.md"])


def test_symlink_leading_outside_the_folder_is_reported_and_never_read(write_entry, config, entries_dir, tmp_path):
    outside = tmp_path / "secret.md"
    outside.write_text("---\ntitle: Secret\ndate: 2025-07-26\n---\nx\n")
    write_entry("inside.md", front())
    try:
        os.symlink(outside, entries_dir / "link.md")
        os.symlink(tmp_path / "gone.md", entries_dir / "dangling.md")   # outside, and to nothing
    except OSError:  # pragma: no cover - platforms without symlinks
        pytest.skip("symlinks not available")
    result = load(config)
    assert [e.slug for e in result.entries] == ["inside"]
    assert [(p.path, p.field, p.severity) for p in result.problems] == \
        [("dangling.md", "file", "error"), ("link.md", "file", "error")]
    assert all("outside the entries folder" in p.message for p in result.problems)
    # A change reported under the link (as a watch names it) lists it the same way.
    from feedsvc.entries import rescan, scan_entry_files
    walked = scan_entry_files(entries_dir)
    without = [t for t in walked if t[0] == "inside.md"]
    assert [(rel, str(st)) for rel, _, st in rescan(entries_dir, without, {"link.md", "dangling.md"})] == \
        [(rel, str(st)) for rel, _, st in walked]


def test_a_link_out_of_the_folder_costs_refreshes_nothing_while_it_stays_so(write_entry, config, entries_dir,
                                                                            tmp_path):
    (tmp_path / "elsewhere.md").write_text("---\ntitle: Elsewhere\ndate: 2025-07-26\n---\nx\n")
    a = write_entry("a.md", front(title="A"))
    write_entry("b.md", front(title="B"))
    try:
        os.symlink(tmp_path / "elsewhere.md", entries_dir / "link.md")
    except OSError:  # pragma: no cover - platforms without symlinks
        pytest.skip("symlinks not available")
    cache = EntryCache(config.site)
    first = load_entries(entries_dir, config.site, cache)
    # Nothing changed, walked again: the last load as it was, not a new one.
    again = load_entries(entries_dir, config.site, cache)
    assert again.entries is first.entries and again.unchanged
    # An edit told by a watch is patched in, and the link is still reported.
    _rewrite(a, entry_text(front(title="A2")))
    patched = load_entries(entries_dir, config.site, cache, {"a.md"})
    assert patched.replaced is not None and [e.title for e in patched.entries] == ["A2", "B"]
    assert [p.path for p in patched.problems] == ["link.md"] and patched.files == 3
    # Told of the link itself, still leading out: no change either.
    assert load_entries(entries_dir, config.site, cache, {"link.md"}).unchanged
    # The link made a file of the folder: read and published.
    os.unlink(entries_dir / "link.md")
    write_entry("link.md", front(title="Now inside"))
    now = load_entries(entries_dir, config.site, cache, {"link.md"})
    full = load_entries(entries_dir, config.site, EntryCache(config.site))
    assert (now.entries, now.problems, now.files) == (full.entries, full.problems, full.files)
    assert [e.title for e in now.entries] == ["A2", "B", "Now inside"] and now.problems == ()


def test_links_to_folders_are_not_followed_so_no_loop_or_alias_publishes_twice(write_entry, config, entries_dir):
    write_entry("b/e1.md", front())
    try:
        os.symlink(".", entries_dir / "b" / "loop")        # b/loop/loop/... without end
        os.symlink("..", entries_dir / "b" / "up")
        os.symlink("b", entries_dir / "alias")             # another name for b
    except OSError:  # pragma: no cover - platforms without symlinks
        pytest.skip("symlinks not available")
    result = load(config)
    assert [e.path for e in result.entries] == ["b/e1.md"] and result.problems == ()
    # Nor does a change reported under such a link (as a watch could name it) add it.
    from feedsvc.entries import rescan, scan_entry_files
    walked = scan_entry_files(entries_dir)
    assert rescan(entries_dir, walked, {"alias/e1.md", "b/loop/e1.md"}) == walked


# -- the cache -------------------------------------------------------------------

def _rewrite(path: Path, text: str) -> None:
    """Change a file so its stamp surely differs (size and mtime), without sleeping."""
    st = path.stat()
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_cache_reparses_only_changed_files(write_entry, config):
    cache = EntryCache(config.site)
    paths = [write_entry(f"{n}.md", front(title=n.upper())) for n in ("a", "b", "c")]
    first = load(config, cache)
    assert (first.reparsed, first.files) == (3, 3)

    again = load(config, cache)
    assert again.reparsed == 0
    assert again.entries == first.entries

    _rewrite(paths[1], "---\ntitle: B changed\ndate: 2025-07-26\n---\nNew body.\n")
    changed = load(config, cache)
    assert changed.reparsed == 1
    assert [e.title for e in changed.entries] == ["A", "B changed", "C"]

    write_entry("d.md", front(title="D"))
    added = load(config, cache)
    assert added.reparsed == 1 and added.files == 4

    paths[0].unlink()
    removed = load(config, cache)
    assert removed.reparsed == 0
    assert [e.slug for e in removed.entries] == ["b", "c", "d"]
    assert set(cache.parsed) == {"b.md", "c.md", "d.md"}


@pytest.mark.parametrize("kind", ["fifo", "link to nothing", "link in a loop", "name not UTF-8", "read refused"])
def test_a_load_for_a_change_elsewhere_gives_what_a_full_load_does_beside_an_unreadable_file(
        write_entry, config, entries_dir, monkeypatch, kind):
    import errno
    from feedsvc import parsejob
    write_entry("a.md", front(title="A"))
    write_entry("b.md", front(title="B"))
    if kind == "fifo":
        os.mkfifo(entries_dir / "c.md")
    elif kind == "link to nothing":
        os.symlink("missing.md", entries_dir / "c.md")
    elif kind == "link in a loop":
        os.symlink("c.md", entries_dir / "c.md")
    elif kind == "name not UTF-8":
        try:
            with open(os.path.join(os.fsencode(entries_dir), b"c\xff.md"), "wb") as fh:
                fh.write(b"---\ntitle: C\ndate: 2025-07-26\n---\n")
        except OSError:  # pragma: no cover - file systems that only take UTF-8 names
            pytest.skip("this file system refuses such a name")
    else:
        write_entry("c.md", front(title="C"))
        real = parsejob.read_entry_file
        refused = [True]

        def read(full):
            if full.endswith("c.md") and refused[0]:   # what a file of another user's gives a service
                raise PermissionError(errno.EACCES, "Permission denied")
            return real(full)

        monkeypatch.setattr(parsejob, "read_entry_file", read)
    cache = EntryCache(config.site)
    first = load(config, cache)
    assert len(first.errors) == 1 and first.files == 3
    _rewrite(entries_dir / "a.md", "---\ntitle: A changed\ndate: 2025-07-26\n---\nNew.\n")
    got = load_entries(config.entries_path, config.site, cache, {"a.md"})
    full = load(config)
    assert (got.entries, got.problems, got.files) == (full.entries, full.problems, full.files)
    assert [e.title for e in got.entries] == ["A changed", "B"] and len(got.errors) == 1
    if kind == "read refused":   # readable now, with no change a watch would see: published
        refused[0] = False
        again = load_entries(config.entries_path, config.site, cache, set())
        assert [e.title for e in again.entries] == ["A changed", "B", "C"] and not again.errors


@pytest.mark.parametrize("case", ["bad name created", "bad name deleted", "its namesake edited"])
def test_a_load_told_of_a_name_that_is_not_utf8_or_its_namesake_gives_what_a_full_load_does(
        config, entries_dir, case):
    # "c\xff.md" is shown as "c\ufffd.md", another file's name: told of either, a
    # load that looked the name up in its last walk took one file for the other.
    text = "---\ntitle: {}\ndate: 2025-07-26T09:00:00Z\n---\nBody.\n"
    for stem in "cdefghij":   # folders list their files in an order of their own: try a few
        root = entries_dir / stem
        root.mkdir()
        real, bad = root / f"{stem}\ufffd.md", os.path.join(os.fsencode(root), stem.encode() + b"\xff.md")
        real.write_text(text.format("Real"), encoding="utf-8")
        try:
            if case != "bad name created":
                with open(bad, "wb") as fh:
                    fh.write(text.format("Bad").encode())
        except OSError:  # pragma: no cover - file systems that only take UTF-8 names
            pytest.skip("this file system refuses such a name")
        cache = EntryCache(config.site)
        load_entries(root, config.site, cache)
        if case == "bad name created":
            with open(bad, "wb") as fh:
                fh.write(text.format("Bad").encode())
            told = os.fsdecode(os.path.basename(bad))
        elif case == "bad name deleted":
            os.unlink(bad)
            told = os.fsdecode(os.path.basename(bad))
        else:
            _rewrite(real, text.format("Real, edited"))
            told = real.name
        got = load_entries(root, config.site, cache, {told})
        fresh = EntryCache(config.site)
        full = load_entries(root, config.site, fresh)
        assert (got.entries, got.problems, got.files) == (full.entries, full.problems, full.files), stem
        assert set(cache.parsed) == set(fresh.parsed), stem


def test_a_first_load_stats_each_file_once_and_keeps_the_stamp_of_what_it_read(write_entry, config, monkeypatch):
    # The first walk of a load stats no file: each is read anyway, and its read's
    # stat is its stamp (a stat per file was most of a large folder's walk).
    import feedsvc.entries as entries_module
    checked = []
    real = entries_module.checked_stat
    monkeypatch.setattr(entries_module, "checked_stat", lambda st: checked.append(st) or real(st))
    cache = EntryCache(config.site)
    paths = [write_entry(f"{n}.md", front(title=n.upper())) for n in ("a", "b", "c")]
    assert load(config, cache).reparsed == 3
    assert len(checked) == 3                                   # by the reads alone
    for path in paths:
        st = path.stat()
        assert cache.parsed[path.name][0] == (st.st_mtime_ns, st.st_size, st.st_ino)
    checked.clear()
    assert load(config, cache).reparsed == 0                   # the walk's stats match what was read
    assert len(checked) == 3                                   # by the walk alone


def test_cache_forgets_a_deleted_file_when_another_turns_unreadable_in_the_same_load(write_entry, config,
                                                                                    entries_dir):
    # As many files gone as turned unreadable: the cache holds as many entries
    # as files were seen, and still one of them is a file that is no more.
    cache = EntryCache(config.site)
    paths = [write_entry(f"{n}.md", front(title=n.upper())) for n in ("a", "b", "c")]
    load(config, cache)
    paths[0].unlink()
    paths[1].unlink()
    os.mkfifo(entries_dir / "b.md")
    result = load(config, cache)
    assert [e.slug for e in result.entries] == ["c"]
    assert [p.path for p in result.errors] == ["b.md"]
    assert result.removed == 2   # a.md gone, and b.md's entry with it: the load is not "unchanged"
    assert set(cache.parsed) == {"c.md"}


def test_cache_forgets_a_deleted_file_beside_a_name_shown_like_another(write_entry, config, entries_dir):
    # "a\xff.md" is shown as "a\ufffd.md", the name of another file: two files,
    # one path, so counting paths cannot tell that a third is gone.
    cache = EntryCache(config.site)
    write_entry("a\ufffd.md", front(title="Real"))
    gone = write_entry("y.md", front(title="Gone"))
    try:
        with open(os.path.join(os.fsencode(entries_dir), b"a\xff.md"), "w") as fh:
            fh.write("---\ntitle: Odd\ndate: 2025-07-26\n---\nBody.\n")
    except OSError:  # pragma: no cover - file systems that only take UTF-8 names
        pytest.skip("this file system refuses such a name")
    load(config, cache)
    gone.unlink()
    result = load(config, cache)
    assert result.removed == 1
    assert "y.md" not in cache.parsed


def test_cache_keeps_reporting_an_unchanged_bad_file(write_entry, config):
    cache = EntryCache(config.site)
    write_entry("good.md", front())
    write_entry("bad.md", front(title=None))
    first = load(config, cache)
    second = load(config, cache)
    assert second.reparsed == 0
    assert second.errors == first.errors and [p.path for p in second.errors] == ["bad.md"]


def test_cache_still_checks_duplicates_across_cached_files(write_entry, config):
    cache = EntryCache(config.site)
    write_entry("a/post.md", front())
    load(config, cache)
    write_entry("b/post.md", front())
    result = load(config, cache)
    assert result.reparsed == 1
    assert [p.path for p in result.errors] == ["b/post.md"]


def test_cache_is_reset_when_the_site_settings_change(make_config, write_entry):
    shanghai = make_config()
    paris = make_config(site={"timezone": "Europe/Paris"})
    write_entry("post.md", front(date="2025-07-26 09:30"))
    cache = EntryCache(shanghai.site)
    assert load(shanghai, cache).entries[0].date == utc(2025, 7, 26, 1, 30)

    moved = load(paris, cache)
    assert moved.reparsed == 1
    assert moved.entries[0].date == utc(2025, 7, 26, 7, 30)
    assert load(paris, cache).reparsed == 0, "the caller's cache now serves the new site"


def test_a_loaded_entry_reads_its_body_from_its_file_instead_of_holding_it(write_entry, config):
    p = write_entry("post.md", {"title": "T", "date": "2025-07-26"}, "# Heading\n\nA \u201cquoted\u201d line.\n")
    (e,) = load(config).entries
    assert e.body == "" and e.file == str(p)
    assert e.markdown == "# Heading\n\nA \u201cquoted\u201d line.\n"
    assert "<h1>Heading</h1>" in e.content_html


def test_a_body_whose_file_vanished_after_loading_is_empty_until_the_next_refresh(write_entry, config):
    p = write_entry("gone.md", {"title": "T", "date": "2025-07-26"}, "Soon gone.\n")
    (e,) = load(config).entries
    p.unlink()
    assert e.markdown == ""
    assert load(config).entries == ()


def test_the_byte_check_for_control_characters_agrees_with_the_text_check():
    chars = [chr(c) for c in range(0x3000) if not 0xD800 <= c <= 0xDFFF] + ["\ufffd", "\ufffe", "\uffff", "\U0001F600"]
    for c in chars:
        text = f"a{c}b"
        assert clean_utf8(text.encode()) == (unclean(text)[0] == 0), hex(ord(c))


def test_a_load_patched_with_the_changed_files_equals_a_full_load(write_entry, config):
    """Random files (some broken, some claiming one slug or id) changed at random:
    a load told which files changed gives what a full load gives."""
    import random
    rng = random.Random(11)
    root = config.entries_path

    def write(i: int) -> None:
        roll = rng.random()
        meta: dict[str, Any] = {"title": f"Entry {i}", "date": f"2025-07-{rng.randint(1, 28):02d}T09:00:00Z"}
        if roll < 0.1:
            meta = {"title": f"Entry {i}"}                       # no date: an error
        elif roll < 0.2:
            meta["slug"] = f"shared-{rng.randint(0, 2)}"        # may collide
        elif roll < 0.3:
            meta["id"] = f"urn:x:{rng.randint(0, 2)}"           # may collide
        write_entry(f"{i % 3}/f{i:03d}.md", meta, f"Body {rng.random()}.\n")

    assert _patched_loads_equal_full_loads(config, rng, write, trials=25, stems=40, most=15) >= 20


def _patched_loads_equal_full_loads(config: Config, rng: Any, make: Callable[[int], None], trials: int,
                                    stems: int, most: int, extra: Callable[[], None] = lambda: None) -> int:
    """Random histories of files ``make`` writes (``f{i}.md`` in three folders; ``extra``
    adds others that stay), each load told which files changed compared with a full
    load; returns how many were patched."""
    root = config.entries_path
    patched, tick = 0, 0

    def made(i: int) -> None:
        nonlocal tick
        make(i)
        path = root / f"{i % 3}/f{i:03d}.md"
        if path.is_file() and not path.is_symlink():   # a later mtime each time: no two versions share a stamp
            tick += 1
            os.utime(path, ns=(t := 1_700_000_000_000_000_000 + tick * 1_000_000, t))

    for trial in range(trials):
        for p in [*root.rglob("*.md")]:
            p.unlink()
        alive = set(rng.sample(range(stems), rng.randint(1, most)))
        for i in alive:
            made(i)
        extra()
        cache = EntryCache(config.site)
        last = load_entries(root, config.site, cache)
        for _ in range(3):
            changed = set()
            for i in rng.sample(range(stems), rng.randint(1, 4)):
                rel = f"{i % 3}/f{i:03d}.md"
                if i in alive and rng.random() < 0.4:
                    (root / rel).unlink()
                    alive.discard(i)
                else:
                    made(i)
                    alive.add(i)
                changed.add(rel)
            got = load_entries(root, config.site, cache, changed)
            fresh = EntryCache(config.site)
            full = load_entries(root, config.site, fresh)
            patched += got.replaced is not None
            assert (got.entries, got.problems, got.files) == (full.entries, full.problems, full.files), trial
            assert set(cache.parsed) == set(fresh.parsed), trial           # nothing gone lingers
            if got.entries != last.entries:
                assert not got.unchanged, trial                          # or the refresher keeps the old feeds
            last = got
    return patched


def test_a_load_told_which_files_changed_equals_a_full_load_beside_unreadable_files(write_entry, config,
                                                                                    monkeypatch):
    """As above, with files that cannot be read among them: FIFOs, links to
    nothing, links out of the folder, and files whose read is refused (as
    another user's would be)."""
    import errno
    import random
    from feedsvc import parsejob
    rng = random.Random(1)
    root = config.entries_path
    refused: set[str] = set()
    real = parsejob.read_entry_file

    def read(full: str):  # type: ignore[no-untyped-def]
        if os.path.relpath(full, root) in refused:
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(full)

    monkeypatch.setattr(parsejob, "read_entry_file", read)

    def make(i: int) -> None:
        rel = f"{i % 3}/f{i:03d}.md"
        path = root / rel
        if os.path.lexists(path):
            path.unlink()
        refused.discard(rel)
        roll = rng.random()
        if roll < 0.15:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.mkfifo(path)
        elif roll < 0.22:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.symlink("missing.md", path)
        elif roll < 0.3:   # a link out of the folder: listed with an error, never read
            path.parent.mkdir(parents=True, exist_ok=True)
            target = root.parent / "elsewhere" / f"f{i:03d}.md"
            if roll < 0.27:
                write_entry(f"../elsewhere/f{i:03d}.md", {"title": f"Outside {i}", "date": "2025-07-01"})
            os.symlink(target, path)
        else:
            if roll < 0.45:
                refused.add(rel)
            write_entry(rel, {"title": f"Entry {i}", "date": f"2025-07-{rng.randint(1, 28):02d}T09:00:00Z"},
                        f"Body {rng.random()}.\n")

    def odd_name() -> None:   # a name that is not UTF-8, in some histories: unreadable, and never read again
        if rng.random() < 0.5:
            (root / "0").mkdir(exist_ok=True)
            with open(os.path.join(os.fsencode(root), b"0", b"odd\xff.md"), "wb") as fh:
                fh.write(b"---\ntitle: Odd\ndate: 2025-07-26\n---\n")

    _patched_loads_equal_full_loads(config, rng, make, trials=20, stems=30, most=12, extra=odd_name)

# -- files and front matter built to hurt: each costs only its own entry ------------

def _load_within(config: Config, seconds: float = 20) -> LoadResult:
    """The load, or a failure if it does not end (a walk stuck on a FIFO, say)."""
    import threading
    box: list[LoadResult] = []
    t = threading.Thread(target=lambda: box.append(load(config)), daemon=True)
    t.start()
    t.join(seconds)
    assert box, f"the load did not end within {seconds} s"
    return box[0]


def _only_problem(result: LoadResult, path: str) -> Problem:
    assert [e.path for e in result.entries] == ["good.md"]
    (p,) = [p for p in result.problems if p.path == path]
    return p


def test_a_fifo_named_like_an_entry_is_reported_and_never_opened(write_entry, config, entries_dir):
    import threading
    write_entry("good.md", GOOD)
    os.mkfifo(entries_dir / "a.md")
    # A writer waiting for a reader: opening the FIFO, even without waiting,
    # would wake it, and its write would then fail.
    opened = threading.Event()
    writer = threading.Thread(target=lambda: (os.close(os.open(entries_dir / "a.md", os.O_WRONLY)), opened.set()),
                              daemon=True)
    writer.start()
    try:
        p = _only_problem(_load_within(config), "a.md")
        assert not opened.wait(0.2)
    finally:
        # Unblocks a reader stuck on it, were the walk to open it after all, and the writer.
        fd = os.open(entries_dir / "a.md", os.O_RDWR | os.O_NONBLOCK)
        os.close(fd)
        writer.join(5)
    assert "not a regular file" in p.message


def test_a_device_named_like_an_entry_is_not_read(write_entry, config, entries_dir):
    import stat
    write_entry("good.md", GOOD)
    try:
        os.mknod(entries_dir / "zero.md", 0o600 | stat.S_IFCHR, os.makedev(1, 5))   # what /dev/zero is
    except (PermissionError, OSError):
        pytest.skip("creating a device needs privileges this run does not have")
    assert "not a regular file" in _only_problem(_load_within(config), "zero.md").message


def test_an_entry_file_over_the_size_limit_is_reported_not_read(write_entry, config, monkeypatch):
    import feedsvc.entries as entries_module
    monkeypatch.setattr(entries_module, "MAX_ENTRY_BYTES", 2000)
    write_entry("good.md", GOOD)
    write_entry("big.md", front(), "x" * 5000 + "\n")
    assert "at most" in _only_problem(load(config), "big.md").message


def test_a_file_name_that_is_not_utf8_is_reported_and_the_rest_published(write_entry, config, entries_dir):
    from feedsvc.refresher import new_refresher
    write_entry("good.md", GOOD)
    try:
        with open(os.path.join(os.fsencode(entries_dir), b"ok\xff.md"), "w") as fh:
            fh.write("---\ntitle: Fine\ndate: 2025-07-26\n---\nBody.\n")
    except OSError:  # pragma: no cover - file systems that only take UTF-8 names
        pytest.skip("this file system refuses such a name")
    p = _only_problem(load(config), "ok\ufffd.md")
    assert "not UTF-8" in p.message
    report = new_refresher(config).refresh()      # the report, the cache folder and the entry store take it
    assert report.ok and report.entries == 1 and any(q.path == "ok\ufffd.md" for q in report.problems)


@pytest.mark.parametrize("fm", ["title: T\ndate: 2025-07-26\ndraft: !!bool maybe",
                                "title: T\ndate: !!timestamp not-a-date"])
def test_a_value_its_yaml_tag_cannot_take_is_this_files_error(load_bad, fm):
    p = load_bad(fm)
    assert p.field == "front matter" and "invalid YAML" in p.message


def test_more_than_a_hundred_categories_is_an_error_not_minutes_of_rendering(load_bad):
    p = load_bad(front(categories=[f"Desk {i}" for i in range(101)]))
    assert p.field == "categories" and "100 at most" in p.message


def test_a_yaml_alias_bomb_gives_a_short_message(load_bad):
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    p = load_bad("title: T\ndate: 2025-07-26\n" + "\n".join(levels) + "\ncategories: *a8")
    assert p.field == "categories" and len(p.message) < 500


# -- what authors and other tools write ------------------------------------------------

@pytest.mark.parametrize("stamp", ["2025-07-26T09:30:00Z", "2025-07-26 09:30:00+08", "2025-7-6 1:02:03"])
def test_text_that_looks_like_a_timestamp_is_kept_as_written(load_one, stamp):
    e = load_one(f"title: {stamp}\ndate: 2025-03-01\nsummary: {stamp}\ntags: [{stamp}]\n"
                 f"categories: [News]\nauthor: {stamp}\n")
    assert e.title == e.given_summary == e.author.name == stamp and e.tags == (stamp,)
    assert load_one(f"title: T\ndate: 2025-03-01\ncategories: {stamp}\n").categories == (stamp,)


def test_a_timestamp_date_is_still_the_instant_it_names(load_one):
    e = load_one("title: T\ndate: 2025-07-26T09:30:00+08:00\nupdated: 2025-07-27 10:00:00Z\n")
    assert e.date == dt.datetime(2025, 7, 26, 1, 30, tzinfo=dt.timezone.utc)
    assert e.updated == dt.datetime(2025, 7, 27, 10, tzinfo=dt.timezone.utc) and type(e.date) is dt.datetime


@pytest.mark.parametrize("key", ["link", "image"])
def test_a_link_or_image_of_only_spaces_is_as_if_not_given(load_one, key):
    e = load_one(front(**{key: "   "}))
    assert (e.link, e.image) == (f"{BASE_URL}/articles/post/", None)


@pytest.mark.parametrize("text", ["categories: [true]", "categories: yes", "tags: [off]", "author: yes",
                                  "author: {name: no}"])
def test_a_bare_truth_value_as_a_name_asks_for_quotes(load_bad, text):
    p = load_bad(f"title: T\ndate: 2025-03-01\n{text}\n")
    assert "quotes" in p.message and "truth value" in p.message


def test_a_title_yaml_took_for_a_comment_is_reported_as_empty_with_how_to_write_it(load_bad):
    p = load_bad("title: #hashtag news\ndate: 2025-03-01\n")
    assert p.field == "title" and "empty" in p.message and "quotes" in p.message


def test_a_quoted_truth_value_for_draft_asks_to_drop_the_quotes(load_bad):
    p = load_bad('title: T\ndate: 2025-03-01\ndraft: "false"\n')
    assert p.field == "draft" and "without quotes" in p.message


def test_a_yaml_error_says_what_usually_needs_quotes(load_bad):
    p = load_bad("title: Breaking: news here\ndate: 2025-03-01\n")
    assert p.field == "front matter" and "invalid YAML" in p.message and "in quotes" in p.message


def test_a_slug_that_is_not_one_is_published_made_into_one_with_a_warning(write_entry, config):
    write_entry("post.md", front(slug="Hello World"))
    result = load(config)
    assert [e.slug for e in result.entries] == ["hello-world"]
    (w,) = [p for p in result.problems if p.field == "slug"]
    assert w.severity == "warning" and "'hello-world'" in w.message


def test_a_slug_made_from_a_long_file_name_is_cut_at_a_word_and_a_long_written_one_refused(write_entry, config):
    from feedsvc.slugs import MAX_SLUG
    name = "上海提出建立世界人工智能合作组织" * 5 + ".md"
    write_entry(name, front())
    write_entry("b.md", front(slug="a" * 300))
    result = load(config)
    (e,) = result.entries
    assert len(e.slug) <= MAX_SLUG and not e.slug.endswith("-") and e.slug.startswith("shang-hai-ti-chu")
    (p,) = result.errors
    assert (p.path, p.field) == ("b.md", "slug") and "300 characters" in p.message


def test_a_yaml_ordered_map_is_no_list_of_names(load_bad):
    p = load_bad("title: T\ndate: 2025-03-01\ntags: !!omap [a: 1]\n")
    assert p.field == "tags"


def test_a_problem_is_printed_on_one_line_whatever_its_message_quotes():
    assert "\n" not in str(Problem("a.md", "date", "cannot read 'not a\ndate' as a date"))
