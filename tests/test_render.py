"""Rendered feeds, parsed back and compared with the entries they came from."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json

import feedparser
import pytest
from lxml import etree

from feedsvc.catalog import build_catalog
from feedsvc.entries import load_entries
from feedsvc.render import categories_of, feed_specs, render
from feedsvc.site import build_site

from .conftest import BASE_URL, NOW

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
DC = "{http://purl.org/dc/elements/1.1/}"
SY = "{http://purl.org/rss/1.0/modules/syndication/}"


@pytest.fixture
def sample(write_entry):
    write_entry("2025/07/shanghai-body.md", {
        "title": "Shanghai proposes a “world” AI body & <b>more</b>",
        "date": "2025-07-26T09:30:00+08:00",
        "categories": ["Artificial Intelligence", "World & U.S. News"],
        "tags": ["governance"],
        "author": {"name": "Jane Doe", "email": "jane@example.org"},
        "summary": "A plain summary.",
        "image": "/images/hall.jpg",
    }, "Intro with a [relative link](/articles/other/) and ![chart](img/c.png).\n\n## Sub\n\n1. one\n2. two\n\n"
       "> “A quote.”\n")
    write_entry("2025/07/chips.md", {"title": "Chips", "date": "2025-07-20T01:30:00Z",
                                     "updated": "2025-07-21T00:00:00Z", "categories": "World & U.S. News"},
                "Chip export rules tighten.\n")
    write_entry("2025/06/older.md", {"title": "Older", "date": "2025-06-01", "categories": ["Science"]},
                "Old news.\n")
    write_entry("2027/01/future.md", {"title": "Future", "date": "2027-01-01T00:00:00Z",
                                      "categories": ["Science"]})
    write_entry("2025/07/draft.md", {"title": "Draft", "date": "2025-07-01", "draft": True})


def _site(config):
    loaded = load_entries(config.entries_path, config.site)
    catalog = build_catalog(loaded.entries, config, NOW)
    return loaded, catalog, build_site(catalog, config)[0]


def test_every_format_carries_the_same_items_ids_dates_and_categories(sample, config):
    loaded, catalog, snap = _site(config)
    by_id = {e.id: e for e in loaded.entries}
    rss = feedparser.parse(snap.get("/feed.rss").body)
    atom = feedparser.parse(snap.get("/feed.atom").body)
    js = json.loads(snap.get("/feed.json").body)
    assert rss.bozo == 0 and atom.bozo == 0
    assert rss.version == "rss20" and atom.version == "atom10"
    expected = [e.id for e in catalog.entries]
    assert [i.id for i in rss.entries] == expected
    assert [i.id for i in atom.entries] == expected
    assert [i["id"] for i in js["items"]] == expected
    for r, a, j in zip(rss.entries, atom.entries, js["items"]):
        e = by_id[r.id]
        assert r.title == a.title == j["title"] == e.title
        assert r.link == a.link == j["url"] == e.link
        assert dt.datetime(*r.published_parsed[:6], tzinfo=dt.timezone.utc) == e.date
        assert dt.datetime(*a.published_parsed[:6], tzinfo=dt.timezone.utc) == e.date
        assert dt.datetime(*a.updated_parsed[:6], tzinfo=dt.timezone.utc) == e.updated
        assert dt.datetime.fromisoformat(j["date_published"]) == e.date
        assert dt.datetime.fromisoformat(j["date_modified"]) == e.updated
        assert [t.term for t in r.get("tags", [])] == [t.label for t in a.get("tags", [])] == j.get("tags", [])


def test_drafts_and_future_entries_are_in_no_feed(sample, config):
    _, _, snap = _site(config)
    for path in snap.feed_paths:
        body = snap.get(path).body
        assert b"Draft" not in body and b"Future" not in body or path.endswith(".css")
    titles = [i.title for i in feedparser.parse(snap.get("/feed.atom").body).entries]
    assert titles == ["Shanghai proposes a “world” AI body & <b>more</b>", "Chips", "Older"]


def test_title_markup_is_text_not_html(sample, config):
    _, _, snap = _site(config)
    root = etree.fromstring(snap.get("/feed.rss").body)
    assert root.find("channel/item/title").text == "Shanghai proposes a “world” AI body & <b>more</b>"
    atom = etree.fromstring(snap.get("/feed.atom").body)
    title = atom.find(f"{ATOM}entry/{ATOM}title")
    assert title.text == "Shanghai proposes a “world” AI body & <b>more</b>" and title.get("type") in (None, "text")


def test_rss_channel_link_is_the_html_page_and_self_link_is_the_feed(sample, config):
    _, _, snap = _site(config)
    ch = etree.fromstring(snap.get("/categories/world-us-news/feed.rss").body).find("channel")
    assert ch.find("link").text == f"{BASE_URL}/categories/world-us-news/"
    self_link = ch.find(f"{ATOM}link")
    assert self_link.get("rel") == "self"
    assert self_link.get("href") == f"{BASE_URL}/categories/world-us-news/feed.rss"
    assert ch.find("language").text == "en"
    assert ch.find("generator").text == "feedsvc"
    assert ch.find("ttl").text == "5"
    assert ch.find(f"{SY}updatePeriod").text == "hourly"
    assert ch.find(f"{SY}updateFrequency").text == "12"


def test_rss_item_has_guid_not_permalink_summary_content_creator_and_enclosure(sample, config):
    loaded, _, snap = _site(config)
    e = next(x for x in loaded.entries if x.slug == "shanghai-body")
    item = etree.fromstring(snap.get("/feed.rss").body).find("channel/item")
    guid = item.find("guid")
    assert guid.text == e.id and guid.get("isPermaLink") == "false"
    assert e.id == "tag:news.example.org,2025-07-26:/articles/shanghai-body/"
    assert item.find("description").text == "A plain summary."
    assert item.find(f"{CONTENT}encoded").text == e.content_html
    assert item.find(f"{DC}creator").text == "Jane Doe"
    enc = item.find("enclosure")
    assert enc.get("url") == f"{BASE_URL}/images/hall.jpg" and enc.get("type") == "image/jpeg"
    assert [c.text for c in item.findall("category")] == ["Artificial Intelligence", "World & U.S. News",
                                                          "governance"]


def test_atom_entry_categories_use_slug_as_term_and_name_as_label(sample, config):
    _, _, snap = _site(config)
    entry = etree.fromstring(snap.get("/feed.atom").body).find(f"{ATOM}entry")
    cats = [(c.get("term"), c.get("label"), c.get("scheme")) for c in entry.findall(f"{ATOM}category")]
    assert cats == [
        ("artificial-intelligence", "Artificial Intelligence", f"{BASE_URL}/categories/"),
        ("world-us-news", "World & U.S. News", f"{BASE_URL}/categories/"),
        ("governance", "governance", f"{BASE_URL}/tags/"),
    ]
    content = entry.find(f"{ATOM}content")
    assert content.get("type") == "html"
    assert entry.find(f"{ATOM}summary").text == "A plain summary."


def test_content_links_and_images_are_absolute_against_the_article_url(sample, config):
    _, _, snap = _site(config)
    item = json.loads(snap.get("/feed.json").body)["items"][0]
    doc = etree.fromstring(f"<div>{item['content_html']}</div>", etree.HTMLParser())
    hrefs = [a.get("href") for a in doc.iter("a")]
    srcs = [i.get("src") for i in doc.iter("img")]
    assert hrefs == [f"{BASE_URL}/articles/other/"]
    assert srcs == [f"{BASE_URL}/articles/shanghai-body/img/c.png"]
    assert [li.text for li in doc.iter("li")] == ["one", "two"]


def test_feed_updated_is_the_newest_entry_update_not_the_clock(sample, config):
    loaded, catalog, snap = _site(config)
    newest = max(e.updated for e in catalog.entries)
    atom = feedparser.parse(snap.get("/feed.atom").body)
    assert dt.datetime(*atom.feed.updated_parsed[:6], tzinfo=dt.timezone.utc) == newest
    rss = etree.fromstring(snap.get("/feed.rss").body)
    from email.utils import parsedate_to_datetime
    assert parsedate_to_datetime(rss.find("channel/lastBuildDate").text) == newest
    assert snap.get("/feed.atom").last_modified == newest


def test_rendering_twice_gives_identical_bytes(sample, config):
    _, _, a = _site(config)
    _, _, b = _site(config)
    assert a.resources.keys() == b.resources.keys()
    for path in a.resources:
        assert a.resources[path].body == b.resources[path].body, path
        assert a.resources[path].etag == b.resources[path].etag
        assert a.resources[path].gzip_body == b.resources[path].gzip_body


def test_max_entries_cuts_each_feed_to_the_newest(sample, make_config):
    config = make_config(feeds={"max_entries": 2})
    _, catalog, snap = _site(config)
    ids = [i["id"] for i in json.loads(snap.get("/feed.json").body)["items"]]
    assert ids == [e.id for e in catalog.entries[:2]]


def test_summaries_only_when_full_content_is_off(sample, make_config):
    config = make_config(feeds={"full_content": False})
    _, _, snap = _site(config)
    assert etree.fromstring(snap.get("/feed.rss").body).find(f"channel/item/{CONTENT}encoded") is None
    assert etree.fromstring(snap.get("/feed.atom").body).find(f"{ATOM}entry/{ATOM}content") is None
    item = json.loads(snap.get("/feed.json").body)["items"][0]
    assert "content_html" not in item and item["content_text"] == "A plain summary."


@pytest.mark.parametrize("full_content", [True, False])
def test_atom_entry_links_are_one_typed_alternate_and_the_image_as_enclosure(sample, make_config, full_content):
    config = make_config(feeds={"full_content": full_content})
    loaded, _, snap = _site(config)
    feed = etree.fromstring(snap.get("/feed.atom").body)
    for entry in feed.findall(f"{ATOM}entry"):
        e = next(x for x in loaded.entries if x.id == entry.find(f"{ATOM}id").text)
        links = [(link.get("rel"), link.get("type"), link.get("href")) for link in entry.findall(f"{ATOM}link")]
        want = [("alternate", "text/html", e.link)]
        if e.image:
            want.append(("enclosure", "image/jpeg", e.image))
        assert links == want
    assert any(len(entry.findall(f"{ATOM}link")) == 2 for entry in feed.findall(f"{ATOM}entry"))


def test_only_configured_formats_are_rendered(sample, make_config):
    config = make_config(feeds={"formats": ["atom"]})
    _, _, snap = _site(config)
    assert snap.get("/feed.atom") is not None
    assert snap.get("/feed.rss") is None and snap.get("/feed.json") is None


def test_json_feed_top_level_fields(sample, config):
    _, _, snap = _site(config)
    js = json.loads(snap.get("/categories/science/feed.json").body)
    assert js["version"] == "https://jsonfeed.org/version/1.1"
    assert js["feed_url"] == f"{BASE_URL}/categories/science/feed.json"
    assert js["home_page_url"] == f"{BASE_URL}/categories/science/"
    assert js["language"] == "en" and js["authors"] == [{"name": "Newsroom"}]
    assert [i["title"] for i in js["items"]] == ["Older"]


def test_empty_site_renders_valid_empty_feeds(config):
    _, catalog, snap = _site(config)
    assert catalog.entries == ()
    atom = feedparser.parse(snap.get("/feed.atom").body)
    rss = feedparser.parse(snap.get("/feed.rss").body)
    assert atom.bozo == 0 and rss.bozo == 0 and atom.entries == [] and rss.entries == []
    assert json.loads(snap.get("/feed.json").body)["items"] == []


def test_feed_specs_list_the_site_then_each_category(sample, config):
    _, catalog, _ = _site(config)
    specs = feed_specs(catalog, config)
    assert [s.key for s in specs] == ["", "artificial-intelligence", "science", "world-us-news"]
    cats = categories_of(catalog.slug_of, {c.slug: c.name for c in catalog.categories}, BASE_URL)
    assert render(specs[0], "atom", cats) == render(dataclasses.replace(specs[0]), "atom", cats)


def test_tags_sharing_a_term_keep_their_labels_and_case_variants_are_one(write_entry, config):
    write_entry("langs.md", {"title": "Languages", "date": "2025-07-01T00:00:00Z",
                             "tags": ["C++", "c++", "C#", ".NET", "Governance", " governance "]}, "Body.\n")
    _, _, snap = _site(config)
    entry = etree.fromstring(snap.get("/feed.atom").body).find(f"{ATOM}entry")
    assert [(c.get("term"), c.get("label")) for c in entry.findall(f"{ATOM}category")] == [
        ("c", "C++"), ("c", "C#"), ("net", ".NET"), ("governance", "Governance")]
    assert json.loads(snap.get("/feed.json").body)["items"][0]["tags"] == ["C++", "C#", ".NET", "Governance"]
    item = etree.fromstring(snap.get("/feed.rss").body).find("channel/item")
    assert [c.text for c in item.findall("category")] == ["C++", "C#", ".NET", "Governance"]


def test_an_entry_with_an_empty_body_has_no_blank_content_in_any_format(write_entry, config):
    write_entry("empty.md", {"title": "Headline only", "date": "2025-07-01T00:00:00Z"}, "")
    _, _, snap = _site(config)
    entry = etree.fromstring(snap.get("/feed.atom").body).find(f"{ATOM}entry")
    assert entry.find(f"{ATOM}content") is None and entry.find(f"{ATOM}summary").text == "Headline only"
    item = etree.fromstring(snap.get("/feed.rss").body).find("channel/item")
    assert item.find(f"{CONTENT}encoded") is None and item.find("description").text == "Headline only"
    (j,) = json.loads(snap.get("/feed.json").body)["items"]
    assert "content_html" not in j and j["content_text"] == "Headline only"
