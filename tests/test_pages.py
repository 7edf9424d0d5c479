"""HTML pages and OPML: autodiscovery, listings, escaping, import into an OPML reader."""
from __future__ import annotations

import listparser
import pytest
from lxml import html as lhtml

from .conftest import BASE_URL


@pytest.fixture
def site(write_entry):
    write_entry("a.md", {"title": "Alpha <script>alert(1)</script> & co", "date": "2025-07-26T09:30:00+08:00",
                         "categories": ["World & U.S. News", "Artificial Intelligence"], "summary": "Sum <i>A</i>",
                         "tags": ["diplomacy"]},
                "Alpha body with [a link](/x/).\n\n<script>alert('x')</script>\n")
    write_entry("b.md", {"title": "Beta", "date": "2025-07-20T00:00:00Z", "categories": ["Science"]}, "Beta.\n")
    write_entry("c.md", {"title": "Gamma", "date": "2025-06-20T00:00:00Z", "categories": ["Science"]}, "Gamma.\n")


def page(client, path):
    r = client.get(path)
    assert r.status_code == 200, path
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    return lhtml.fromstring(r.data)


def alternates(doc):
    return [(l.get("type"), l.get("href"), l.get("title")) for l in doc.xpath("//head/link[@rel='alternate']")]


def site_feeds(title="The Test Review"):
    return [("application/rss+xml", f"{BASE_URL}/feed.rss", f"{title} (RSS)"),
            ("application/atom+xml", f"{BASE_URL}/feed.atom", f"{title} (Atom)"),
            ("application/feed+json", f"{BASE_URL}/feed.json", f"{title} (JSON Feed)")]


def cat_feeds(slug, name):
    t = f"The Test Review: {name}"
    return [("application/rss+xml", f"{BASE_URL}/categories/{slug}/feed.rss", f"{t} (RSS)"),
            ("application/atom+xml", f"{BASE_URL}/categories/{slug}/feed.atom", f"{t} (Atom)"),
            ("application/feed+json", f"{BASE_URL}/categories/{slug}/feed.json", f"{t} (JSON Feed)")]


def test_index_autodiscovers_the_site_feeds(site, client):
    assert alternates(page(client, "/")) == site_feeds()


def test_category_page_autodiscovers_its_own_feeds_then_the_sites(site, client):
    assert alternates(page(client, "/categories/science/")) == cat_feeds("science", "Science") + site_feeds()


def test_article_page_autodiscovers_the_site_and_its_categories(site, client):
    doc = page(client, "/articles/a/")
    # categories in the order the entry names them
    assert alternates(doc) == (site_feeds() + cat_feeds("world-us-news", "World & U.S. News")
                               + cat_feeds("artificial-intelligence", "Artificial Intelligence"))


def test_index_lists_every_category_with_count_and_newest_date(site, client):
    doc = page(client, "/")
    rows = doc.xpath("//table[@class='categories']/tbody/tr")
    got = [(r.xpath("td[1]/a")[0].text, r.xpath("td[1]/a/@href")[0], r.xpath("td[2]")[0].text,
            r.xpath("td[3]/time/@datetime")[0]) for r in rows]
    assert got == [
        ("Artificial Intelligence", "/categories/artificial-intelligence/", "1", "2025-07-26T01:30:00Z"),
        ("Science", "/categories/science/", "2", "2025-07-20T00:00:00Z"),
        ("World & U.S. News", "/categories/world-us-news/", "1", "2025-07-26T01:30:00Z"),
    ]


def test_category_page_lists_entries_with_copy_buttons_for_each_feed(site, client):
    doc = page(client, "/categories/science/")
    assert [a.text for a in doc.xpath("//ol[@class='entries']/li/h3/a")] == ["Beta", "Gamma"]
    assert [a.get("href") for a in doc.xpath("//ol[@class='entries']/li/h3/a")] == [
        f"{BASE_URL}/articles/b/", f"{BASE_URL}/articles/c/"]
    assert doc.xpath("//button[@data-copy]/@data-copy") == [f for _, f, _ in cat_feeds("science", "Science")]


def test_article_page_shows_sanitised_content_and_escaped_title(site, client):
    r = client.get("/articles/a/")
    doc = lhtml.fromstring(r.data)
    assert doc.xpath("//article/header/h1")[0].text_content() == "Alpha <script>alert(1)</script> & co"
    assert doc.xpath("//article//div[@class='content']//a/@href") == [f"{BASE_URL}/x/"]
    # the only script on the page is the site's own copy-button helper
    scripts = doc.xpath("//script")
    assert len(scripts) == 1 and "alert" not in scripts[0].text
    assert [a.text for a in doc.xpath("//article/header/p[@class='tags']/a")] == [
        "World & U.S. News", "Artificial Intelligence"]


def test_pages_carry_etags_and_answer_304(site, client):
    r = client.get("/categories/science/")
    assert client.get("/categories/science/", headers={"If-None-Match": r.headers["ETag"]}).status_code == 304


def test_category_path_without_slash_redirects(site, client):
    r = client.get("/categories/science")
    assert r.status_code in (301, 308) and r.headers["Location"].endswith("/categories/science/")


def test_opml_imports_into_a_reader_with_every_feed(site, client):
    r = client.get("/opml.xml")
    assert r.headers["Content-Type"] == "text/x-opml; charset=utf-8"
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    parsed = listparser.parse(r.data)
    assert parsed.bozo == 0, parsed.bozo_exception
    got = sorted((f.url, f.title) for f in parsed.feeds)
    assert got == sorted([
        (f"{BASE_URL}/feed.rss", "The Test Review"),
        (f"{BASE_URL}/categories/artificial-intelligence/feed.rss", "The Test Review: Artificial Intelligence"),
        (f"{BASE_URL}/categories/science/feed.rss", "The Test Review: Science"),
        (f"{BASE_URL}/categories/world-us-news/feed.rss", "The Test Review: World & U.S. News"),
    ])


def test_opml_outlines_have_every_attribute_readers_use(site, client):
    from lxml import etree
    root = etree.fromstring(client.get("/opml.xml").data)
    assert root.get("version") == "2.0"
    outlines = root.xpath("//outline[@xmlUrl]")
    for o in outlines:
        assert o.get("type") == "rss" and o.get("text") and o.get("title") and o.get("htmlUrl")
    assert outlines[0].get("htmlUrl") == f"{BASE_URL}/"
    # A folder has a text and nothing else, which no validator asks a type of.
    folders = root.xpath("//outline[not(@type)]")
    assert folders and [dict(f.attrib) for f in folders] == [{"text": "Categories"}]
    assert all(o.getparent() is folders[0] for o in outlines[1:])


def test_opml_uses_the_first_configured_format(site, make_app):
    client = make_app(feeds={"formats": ["atom", "rss"]}).test_client()
    feeds = listparser.parse(client.get("/opml.xml").data).feeds
    assert all(f.url.endswith("/feed.atom") for f in feeds) and len(feeds) == 4


@pytest.mark.parametrize(("language", "direction"), [("en", "ltr"), ("ar", "rtl"), ("he-IL", "rtl"), ("fa", "rtl"),
                                                     ("az-Arab", "rtl"), ("ku-Latn", "ltr"), ("zh-Hans", "ltr"),
                                                     ("mzn", "rtl"), ("pnb", "rtl"), ("nqo", "rtl")])
def test_pages_are_written_in_the_direction_of_the_sites_language(site, make_app, language, direction):
    client = make_app(site={"language": language}).test_client()
    for path in ("/", "/categories/science/", "/articles/a/"):
        root = page(client, path)
        assert (root.get("lang"), root.get("dir")) == (language, direction), path


def test_titles_and_summaries_take_the_direction_of_their_own_text(site, client):
    # An Arabic title on an English site, or the reverse, is laid out by its own script.
    for path, xpath in (("/", "//ol[@class='entries']/li/h3"), ("/categories/science/", "//ol/li/h3"),
                        ("/articles/a/", "//h1")):
        assert {h.get("dir") for h in page(client, path).xpath(xpath)} == {"auto"}, path


@pytest.mark.parametrize(("tag", "direction"), [("ar-u-nu-latn", "rtl"), ("fa-u-nu-latn", "rtl"), ("he-x-abcd", "rtl"),
                                                ("en-x-arab", "ltr"), ("zh-yue-Hant", "ltr"), ("ar-Latn", "ltr")])
def test_only_the_script_subtag_right_after_the_language_says_the_direction(tag, direction):
    from feedsvc.pages import direction as of
    assert of(tag) == direction
