"""HTTP behaviour through the Flask test client: routes, types, caching headers, errors."""
from __future__ import annotations

import gzip
import json

import feedparser
import pytest
from lxml import etree

from feedsvc.app import get_app_service

from .conftest import BASE_URL

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
READER_ACCEPT = "application/rss+xml, application/atom+xml;q=0.9, application/xml;q=0.8, */*;q=0.5"


@pytest.fixture
def site(write_entry):
    write_entry("a.md", {"title": "Alpha", "date": "2025-07-26T09:30:00+08:00",
                         "categories": ["World & U.S. News", "Artificial Intelligence"]}, "Alpha body.\n")
    write_entry("b.md", {"title": "Beta", "date": "2025-07-20T00:00:00Z", "updated": "2025-08-01T00:00:00Z",
                         "categories": ["Science"]}, "Beta body.\n")


FEEDS = ["/feed.rss", "/feed.atom", "/feed.json", "/categories/world-us-news/feed.rss",
         "/categories/world-us-news/feed.atom", "/categories/world-us-news/feed.json"]
TYPES = {"rss": "application/rss+xml; charset=utf-8", "atom": "application/atom+xml; charset=utf-8",
         "json": "application/feed+json; charset=utf-8"}


@pytest.mark.parametrize("path", FEEDS)
def test_feeds_are_served_with_their_content_type(site, client, path):
    r = client.get(path)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == TYPES[path.rsplit(".", 1)[1]]
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["Cache-Control"] == "public, max-age=300"
    assert r.headers["ETag"].startswith('"') and r.headers["Last-Modified"]


def test_category_feed_holds_only_that_categorys_entries(site, client):
    parsed = feedparser.parse(client.get("/categories/science/feed.atom").data)
    assert [e.title for e in parsed.entries] == ["Beta"]
    js = json.loads(client.get("/categories/world-us-news/feed.json").data)
    assert [i["title"] for i in js["items"]] == ["Alpha"]


def test_unknown_category_is_a_404_with_a_helpful_body(site, client):
    for path in ("/categories/nope/feed.rss", "/categories/nope/"):
        r = client.get(path)
        assert r.status_code == 404
        text = r.get_data(as_text=True)
        assert "nope" in text and "world-us-news" in text and "Traceback" not in text
        assert r.headers["Content-Type"].startswith("text/plain")


def test_unknown_format_path_and_method_are_404_and_405(site, client):
    assert client.get("/feed.xml").status_code == 404
    assert client.get("/no/such/page").status_code == 404
    assert client.get("/articles/nope/").status_code == 404
    r = client.post("/feed.rss")
    assert r.status_code == 405 and "GET" in r.headers["Allow"]
    assert client.delete("/categories/science/feed.atom").status_code == 405


def test_odd_and_oversized_urls_never_500(site, client):
    for path in ("/categories/%00/feed.rss", "/categories/" + "x" * 5000 + "/feed.rss", "/articles/..%2f..%2f/",
                 "/feed.rss%00", "/categories/%E2%98%83/", "/%ff%fe", "/categories//feed.rss"):
        r = client.get(path)
        assert r.status_code in (404, 405), (path, r.status_code)
        assert b"Traceback" not in r.data


def test_etag_is_a_hash_of_the_bytes_and_304_on_match(site, client):
    r = client.get("/feed.atom")
    etag = r.headers["ETag"]
    r2 = client.get("/feed.atom", headers={"If-None-Match": etag})
    assert r2.status_code == 304 and r2.data == b""
    assert r2.headers["ETag"] == etag and r2.headers["Cache-Control"] == "public, max-age=300"
    assert client.get("/feed.atom", headers={"If-None-Match": f'"other", {etag}'}).status_code == 304
    assert client.get("/feed.atom", headers={"If-None-Match": "*"}).status_code == 304
    assert client.get("/feed.atom", headers={"If-None-Match": f"W/{etag}"}).status_code == 304
    assert client.get("/feed.atom", headers={"If-None-Match": '"stale"'}).status_code == 200


def test_if_none_match_takes_precedence_over_if_modified_since(site, client):
    r = client.get("/feed.rss")
    lm = r.headers["Last-Modified"]
    assert client.get("/feed.rss", headers={"If-Modified-Since": lm}).status_code == 304
    both = client.get("/feed.rss", headers={"If-Modified-Since": lm, "If-None-Match": '"stale"'})
    assert both.status_code == 200


def test_malformed_if_modified_since_is_ignored(site, client):
    r = client.get("/feed.rss", headers={"If-Modified-Since": "yesterday, around noon"})
    assert r.status_code == 200 and r.data


def test_a_feed_first_published_is_dated_by_that_refresh(site, client, clock):
    from email.utils import format_datetime
    first = format_datetime(clock.now, usegmt=True)
    assert client.get("/feed.rss").headers["Last-Modified"] == first
    assert client.get("/categories/world-us-news/feed.rss").headers["Last-Modified"] == first


def test_a_newer_update_dates_the_feeds_showing_it_by_that_update(site, app, client, clock, write_entry):
    import datetime as dt
    from email.utils import format_datetime
    first = client.get("/categories/world-us-news/feed.rss").headers["Last-Modified"]
    clock.now += dt.timedelta(days=1)
    written = clock.now - dt.timedelta(hours=1)
    write_entry("n.md", {"title": "New", "date": written.isoformat(), "categories": ["Science"]}, "New body.\n")
    assert get_app_service(app).refresh().ok
    assert client.get("/feed.rss").headers["Last-Modified"] == format_datetime(written, usegmt=True)
    assert client.get("/categories/science/feed.rss").headers["Last-Modified"] == format_datetime(written, usegmt=True)
    assert client.get("/categories/world-us-news/feed.rss").headers["Last-Modified"] == first


def test_a_lost_cache_folder_never_dates_a_feed_back_behind_what_pollers_hold(site, make_app, clock, write_entry):
    import datetime as dt
    import shutil
    app = make_app()
    client = app.test_client()
    clock.now += dt.timedelta(hours=1)
    # Edited without a new `updated`: dated by the refresh that published it, which a poller keeps.
    write_entry("b.md", {"title": "Beta", "date": "2025-07-20T00:00:00Z", "updated": "2025-08-01T00:00:00Z",
                         "categories": ["Science"]}, "Beta body, corrected.\n")
    assert get_app_service(app).refresh().ok
    held = client.get("/feed.rss").headers["Last-Modified"]
    get_app_service(app).shutdown()
    # Edited again while down, and the cache folder is gone (a new deployment, a cleaned disk).
    write_entry("b.md", {"title": "Beta", "date": "2025-07-20T00:00:00Z", "updated": "2025-08-01T00:00:00Z",
                         "categories": ["Science"]}, "Beta body, corrected twice.\n")
    shutil.rmtree(get_app_service(app).config.cache_path)
    clock.now += dt.timedelta(hours=1)
    r = make_app().test_client().get("/feed.rss", headers={"If-Modified-Since": held})
    assert r.status_code == 200 and "corrected twice" in feedparser.parse(r.data).entries[1].description


def test_bytes_that_change_without_a_newer_update_get_a_newer_last_modified(site, app, client, clock, write_entry):
    import datetime as dt
    from email.utils import format_datetime
    before = client.get("/feed.rss")
    clock.now += dt.timedelta(hours=1)
    # Beta edited without a new `updated`: the newest update among the feed's entries stays the same.
    write_entry("b.md", {"title": "Beta", "date": "2025-07-20T00:00:00Z", "updated": "2025-08-01T00:00:00Z",
                         "categories": ["Science"]}, "Beta body, corrected.\n")
    assert get_app_service(app).refresh().ok
    after = client.get("/feed.rss", headers={"If-Modified-Since": before.headers["Last-Modified"]})
    assert after.status_code == 200 and after.headers["ETag"] != before.headers["ETag"]
    assert after.headers["Last-Modified"] == format_datetime(clock.now, usegmt=True)
    # Feeds whose bytes did not change keep their date, and a refresh that changes nothing keeps every one.
    world = "/categories/world-us-news/feed.rss"
    assert client.get(world).headers["Last-Modified"] == format_datetime(clock.now - dt.timedelta(hours=1),
                                                                         usegmt=True)
    clock.now += dt.timedelta(hours=1)
    assert get_app_service(app).refresh().ok
    assert client.get("/feed.rss").headers["Last-Modified"] == after.headers["Last-Modified"]
    assert client.get("/feed.rss", headers={"If-Modified-Since": after.headers["Last-Modified"]}).status_code == 304


def test_an_update_dated_ahead_shows_from_its_time_on_and_no_date_is_in_the_future(site, app, client, clock,
                                                                                    write_entry):
    import datetime as dt
    from email.utils import parsedate_to_datetime
    write_entry("c.md", {"title": "Gamma", "date": "2025-07-21T00:00:00Z", "updated": "2030-01-01T00:00:00Z",
                         "categories": ["Science"]}, "Gamma body.\n")
    service = get_app_service(app)
    report = service.refresh()
    assert report.ok and [(p.path, p.field, p.severity) for p in report.problems] == [("c.md", "updated", "warning")]
    assert report.next_due == dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)   # the scheduler wakes then
    r = client.get("/categories/science/feed.atom")
    feed = feedparser.parse(r.data)
    gamma = next(e for e in feed.entries if e.title == "Gamma")
    assert gamma.updated_parsed[:3] == (2025, 7, 21)                  # as of its date, until then
    assert feed.feed.updated_parsed[:3] == (2025, 8, 1)               # Beta's: the newest update so far
    assert parsedate_to_datetime(r.headers["Last-Modified"]) <= clock.now
    clock.now = dt.datetime(2030, 1, 2, tzinfo=dt.timezone.utc)
    assert service.refresh().ok                                       # no file changed; the date came
    later = client.get("/categories/science/feed.atom")
    feed = feedparser.parse(later.data)
    assert later.headers["ETag"] != r.headers["ETag"]
    assert next(e for e in feed.entries if e.title == "Gamma").updated_parsed[:3] == (2030, 1, 1)
    assert feed.feed.updated_parsed[:3] == (2030, 1, 1)


def test_gzip_is_served_when_accepted_with_its_own_etag(site, client):
    plain = client.get("/feed.json")
    gz = client.get("/feed.json", headers={"Accept-Encoding": "gzip, deflate"})
    assert gz.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in gz.headers["Vary"]
    assert gzip.decompress(gz.data) == plain.data
    assert gz.headers["ETag"] != plain.headers["ETag"]
    assert client.get("/feed.json", headers={"Accept-Encoding": "gzip;q=0"}).headers.get("Content-Encoding") is None
    again = client.get("/feed.json", headers={"Accept-Encoding": "gzip", "If-None-Match": gz.headers["ETag"]})
    assert again.status_code == 304


def test_head_returns_get_headers_without_body(site, client):
    g = client.get("/feed.rss")
    h = client.head("/feed.rss")
    assert h.status_code == 200 and h.data == b""
    for k in ("Content-Type", "ETag", "Last-Modified", "Cache-Control", "Content-Length"):
        assert h.headers[k] == g.headers[k]


def test_browser_navigation_gets_a_displayable_type_and_readers_the_feed_type(site, client):
    b = client.get("/feed.rss", headers={"Accept": BROWSER_ACCEPT})
    assert b.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert "Accept" in b.headers["Vary"]
    r = client.get("/feed.rss", headers={"Accept": READER_ACCEPT})
    assert r.headers["Content-Type"] == "application/rss+xml; charset=utf-8"
    assert client.get("/feed.rss", headers={"Accept": "*/*"}).headers["Content-Type"].startswith("application/rss")
    assert b.data == r.data and b.headers["ETag"] != r.headers["ETag"]
    # JSON is never re-labelled.
    assert client.get("/feed.json", headers={"Accept": BROWSER_ACCEPT}).headers["Content-Type"].startswith(
        "application/feed+json")


def test_feeds_carry_a_css_stylesheet_for_browsers_that_readers_ignore(site, client):
    body = client.get("/feed.atom").data
    root = etree.fromstring(body)
    pi = root.getprevious()
    assert isinstance(pi, etree._ProcessingInstruction) and pi.target == "xml-stylesheet"
    assert pi.get("type") == "text/css" and pi.get("href") == "/feed.css"
    css = client.get("/feed.css")
    assert css.status_code == 200 and css.headers["Content-Type"] == "text/css; charset=utf-8"
    assert feedparser.parse(body).bozo == 0


def test_cors_preflight_allows_conditional_polling_from_other_sites(site, client):
    r = client.options("/categories/science/feed.json", headers={
        "Origin": "https://portal.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "if-none-match"})
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "If-None-Match" in r.headers["Access-Control-Allow-Headers"]


def test_healthz(site, client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.data == b"ok\n"


def test_unchanged_refresh_keeps_every_etag(site, app, client):
    before = {p: client.get(p).headers["ETag"] for p in FEEDS + ["/", "/opml.xml"]}
    report = get_app_service(app).refresh()
    assert report.ok and not report.changed_feeds and report.rendered == 0
    after = {p: client.get(p).headers["ETag"] for p in FEEDS + ["/", "/opml.xml"]}
    assert after == before


def test_editing_one_entry_changes_only_the_feeds_that_hold_it(site, app, client, write_entry):
    service = get_app_service(app)
    paths = service.store.current.feed_paths
    before = {p: client.get(p).headers["ETag"] for p in paths}
    write_entry("b.md", {"title": "Beta, revised", "date": "2025-07-20T00:00:00Z",
                         "updated": "2025-08-02T00:00:00Z", "categories": ["Science"]}, "Beta body v2.\n")
    report = service.refresh()
    assert report.changed == ("tag:news.example.org,2025-07-20:/articles/b/",)
    after = {p: client.get(p).headers["ETag"] for p in paths}
    changed = sorted(p for p in paths if before[p] != after[p])
    assert changed == sorted(["/feed.rss", "/feed.atom", "/feed.json", "/categories/science/feed.rss",
                              "/categories/science/feed.atom", "/categories/science/feed.json"])
    assert sorted(f.path for f in report.changed_feeds) == changed


def test_a_new_newest_entry_renders_only_the_feeds_that_show_it(site, app, client, write_entry):
    service = get_app_service(app)
    write_entry("n.md", {"title": "Newest", "date": "2025-08-03T00:00:00Z", "categories": ["Science"]}, "New.\n")
    report = service.refresh()
    assert report.added == ("tag:news.example.org,2025-08-03:/articles/n/",)
    shown = ["/feed.rss", "/feed.atom", "/feed.json", "/categories/science/feed.rss",
             "/categories/science/feed.atom", "/categories/science/feed.json"]
    assert sorted(f.path for f in report.changed_feeds) == sorted(shown)
    # Those six feeds, the category's page, the index and the OPML list (its date moved): nothing else.
    assert report.rendered == len(shown) + 3


def test_broken_entry_is_reported_and_the_rest_stays_published(site, app, client, write_entry):
    write_entry("broken.md", "title: [unclosed\ndate: 2025-07-01")
    report = get_app_service(app).refresh()
    assert report.ok
    assert [(p.path, p.field) for p in report.problems if p.severity == "error"] == [("broken.md", "front matter")]
    titles = [e.title for e in feedparser.parse(client.get("/feed.atom").data).entries]
    assert titles == ["Alpha", "Beta"]


def test_failed_refresh_keeps_serving_the_last_good_feeds(site, app, client, monkeypatch):
    service = get_app_service(app)
    before = client.get("/feed.rss").data

    def explode(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("feedsvc.refresher.load_entries", explode)
    report = service.refresh()
    assert not report.ok and "disk on fire" in report.error
    assert client.get("/feed.rss").data == before
    assert service.refresher.last_ok is not None and service.refresher.last_ok.ok


def test_scheduled_entry_appears_once_due(site, app, client, clock, write_entry):
    import datetime as dt
    write_entry("later.md", {"title": "Later", "date": (clock.now + dt.timedelta(hours=1)).isoformat()})
    service = get_app_service(app)
    report = service.refresh()
    assert report.next_due == clock.now + dt.timedelta(hours=1)
    assert "Later" not in [e.title for e in feedparser.parse(client.get("/feed.atom").data).entries]
    clock.now += dt.timedelta(hours=1)
    service.refresh()
    assert feedparser.parse(client.get("/feed.atom").data).entries[0].title == "Later"


def test_self_links_use_the_configured_base_url(site, client):
    js = json.loads(client.get("/categories/science/feed.json").data)
    assert js["feed_url"] == f"{BASE_URL}/categories/science/feed.json"


def test_a_date_the_sites_zone_cannot_show_fails_only_its_entry(site, make_app, write_entry):
    write_entry("year-one.md", {"title": "Year one", "date": "0001-01-01T00:00:00Z"}, "Old.\n")
    app = make_app(site={"timezone": "America/New_York"})
    report = get_app_service(app).refresh()
    assert report.ok
    assert [(p.path, p.field) for p in report.problems if p.severity == "error"] == [("year-one.md", "date")]
    client = app.test_client()
    assert [e.title for e in feedparser.parse(client.get("/feed.atom").data).entries] == ["Alpha", "Beta"]
    assert client.get("/").status_code == 200


def test_while_nothing_is_published_pages_and_feeds_answer_503_with_retry_after(site, make_app, monkeypatch):
    def explode(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("feedsvc.refresher.load_entries", explode)
    app = make_app()
    client = app.test_client()
    service = get_app_service(app)
    assert not service.refresh().ok
    for path in ("/", "/feed.rss", "/feed.nope", "/categories/science/feed.atom", "/categories/science/",
                 "/archive/1/feed.rss", "/categories/science/archive/1/feed.rss", "/opml.xml", "/articles/alpha/"):
        r = client.get(path)
        assert (r.status_code, r.headers.get("Retry-After")) == (503, "30"), path
        assert "first refresh" in r.get_data(as_text=True) and "/status" in r.get_data(as_text=True)
    assert client.get("/healthz").status_code == 200
    monkeypatch.undo()
    assert service.refresh().ok
    assert client.get("/feed.rss").status_code == 200 and client.get("/categories/nope/feed.rss").status_code == 404


def test_a_page_for_an_entry_updated_in_the_future_is_not_dated_after_the_response(site, client, write_entry, app):
    from email.utils import parsedate_to_datetime
    write_entry("c.md", {"title": "Gamma", "date": "2025-07-21T00:00:00Z", "updated": "2099-01-01T00:00:00Z"},
                "Gamma body.\n")
    assert get_app_service(app).refresh().ok
    r = client.get("/articles/c/")
    assert r.status_code == 200
    assert parsedate_to_datetime(r.headers["Last-Modified"]) <= parsedate_to_datetime(r.headers["Date"])


def test_last_modified_is_never_later_than_the_response():
    import datetime as dt
    from email.utils import parsedate_to_datetime
    from feedsvc.headers import feed_headers
    from feedsvc.resources import Resource
    ahead = Resource("text/html; charset=utf-8", "t", "t-gz", dt.datetime(2200, 1, 1, tzinfo=dt.timezone.utc), "page")
    _, headers = feed_headers(ahead, False, False, 300)
    assert parsedate_to_datetime(dict(headers)["Last-Modified"]) <= dt.datetime.now(dt.timezone.utc)


# Paths of every kind of answer: a feed on the lean path and on Flask's (a query
# sends it there), a page, the OPML list, a stylesheet, an archive page.
EVERY_KIND = ["/feed.rss", "/feed.rss?x=1", "/", "/opml.xml", "/style.css", "/archive/1/feed.rss"]


@pytest.mark.parametrize("value, coding", [
    ("gzip;q=0, *", None), ("*, gzip;q=0", None), ("*;q=0.5, gzip;q=0", None), ("GZIP;Q=0, *", None),
    ("x-gzip;q=0, *", None), ("identity;q=0, *", "gzip"), ("*", "gzip"), ("gzip;q=0.5, identity", None),
    ("gzip;q=0.5, br", "gzip"), ("br, *;q=0", None),
])
def test_a_star_in_accept_encoding_stands_only_for_the_codings_not_named(site, make_app, value, coding):
    client = make_app(feeds={"max_entries": 1}).test_client()
    for path in EVERY_KIND:
        r = client.get(path, headers={"Accept-Encoding": value})
        assert r.status_code == 200, path
        assert r.headers.get("Content-Encoding") == coding, path


def test_if_match_star_is_true_for_every_current_representation(site, make_app):
    client = make_app(feeds={"max_entries": 1}).test_client()
    for path in EVERY_KIND:
        assert client.get(path, headers={"If-Match": "*"}).status_code == 200, path


def test_if_match_compares_strongly_and_the_other_conditions_still_count(site, client):
    etag = client.get("/feed.rss").headers["ETag"]
    assert client.get("/feed.rss", headers={"If-Match": etag}).status_code == 200
    assert client.get("/feed.rss", headers={"If-Match": f'"stale", {etag}'}).status_code == 200
    assert client.get("/feed.rss", headers={"If-Match": '"stale"'}).status_code == 412
    assert client.get("/feed.rss", headers={"If-Match": f"W/{etag}"}).status_code == 412
    # A true If-Match hands over to If-None-Match (RFC 9110 13.2.2): a 304, not the body.
    both = client.get("/feed.rss", headers={"If-Match": etag, "If-None-Match": etag})
    assert both.status_code == 304 and both.data == b""
    assert client.get("/feed.rss", headers={"If-Match": "*", "If-None-Match": etag}).status_code == 304
    lm = client.get("/feed.rss").headers["Last-Modified"]
    assert client.get("/feed.rss", headers={"If-Match": etag, "If-Modified-Since": lm}).status_code == 304


def test_if_unmodified_since_before_the_last_modification_is_412(site, client):
    lm = client.get("/feed.rss").headers["Last-Modified"]
    old = "Sat, 01 Jan 2000 00:00:00 GMT"
    r = client.get("/feed.rss", headers={"If-Unmodified-Since": old})
    assert r.status_code == 412 and r.headers["Content-Type"].startswith("text/plain")
    assert client.get("/categories/science/", headers={"If-Unmodified-Since": old}).status_code == 412
    assert client.get("/feed.rss", headers={"If-Unmodified-Since": lm}).status_code == 200
    # If-Match, when sent, decides instead (13.1.4); an invalid date is ignored.
    assert client.get("/feed.rss", headers={"If-Unmodified-Since": old, "If-Match": "*"}).status_code == 200
    assert client.get("/feed.rss", headers={"If-Unmodified-Since": "long ago"}).status_code == 200


def test_an_unquoted_if_none_match_is_no_entity_tag_and_matches_nothing(site, client):
    for path in ("/feed.rss", "/feed.rss?x=1", "/"):
        etag = client.get(path).headers["ETag"]
        for value in (etag.strip('"'), f'"other", {etag.strip(chr(34))}'):
            r = client.get(path, headers={"If-None-Match": value})
            assert r.status_code == 200 and r.data, (path, value)
        assert client.get(path, headers={"If-None-Match": f'"a,b", {etag}'}).status_code == 304


def test_if_modified_since_holding_more_than_one_date_is_ignored(site, client):
    future, past = "Fri, 01 Jan 2100 00:00:00 GMT", "Sat, 01 Jan 2000 00:00:00 GMT"
    assert client.get("/feed.rss", headers={"If-Modified-Since": future}).status_code == 304
    assert client.get("/feed.rss", headers={"If-Modified-Since": f"{future}, {past}"}).status_code == 200
    two_lines = client.get("/feed.rss", headers=[("If-Modified-Since", future), ("If-Modified-Since", past)])
    assert two_lines.status_code == 200 and two_lines.data
    # The obsolete forms are dates all the same (RFC 9110 5.6.7).
    for obsolete in ("Friday, 01-Jan-49 00:00:00 GMT", "Fri Jan  1 00:00:00 2100"):
        assert client.get("/feed.rss", headers={"If-Modified-Since": obsolete}).status_code == 304, obsolete


def test_media_types_in_accept_are_case_insensitive(site, client):
    lower = client.get("/feed.rss", headers={"Accept": "text/html"})
    assert lower.headers["Content-Type"] == "text/xml; charset=utf-8"
    for accept in ("TEXT/HTML", "Text/Html,*/*;q=0.8"):
        r = client.get("/feed.rss", headers={"Accept": accept})
        assert r.headers["Content-Type"] == "text/xml; charset=utf-8", accept
        assert r.headers["ETag"] == lower.headers["ETag"]


def test_the_admin_challenge_sends_its_parameters_as_quoted_strings(site, make_config, clock):
    import dataclasses
    from feedsvc.app import create_app
    client = create_app(dataclasses.replace(make_config(), admin_token="s3cret"), clock=clock).test_client()
    assert client.post("/admin/refresh").headers.get_all("WWW-Authenticate") == ['Bearer realm="feedsvc"']
    wrong = client.post("/admin/refresh", headers={"Authorization": "Bearer nope"})
    assert wrong.headers.get_all("WWW-Authenticate") == ['Bearer realm="feedsvc", error="invalid_token"']


def test_every_answer_on_a_feed_url_can_be_read_by_other_sites(site, make_app, monkeypatch):
    import shutil

    def explode(*a, **k):
        raise RuntimeError("disk on fire")

    cors = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "ETag, Last-Modified, Retry-After"}

    def assert_cors(r, path):
        assert {k: r.headers.get(k) for k in cors} == cors, (path, r.status_code)

    monkeypatch.setattr("feedsvc.refresher.load_entries", explode)
    app = make_app()
    client = app.test_client()
    for path in ("/feed.rss", "/categories/science/feed.json", "/archive/1/feed.atom", "/opml.xml"):
        r = client.get(path)
        assert r.status_code == 503
        assert_cors(r, path)
    monkeypatch.undo()
    service = get_app_service(app)
    assert service.refresh().ok
    for path in ("/feed.rss", "/categories/nope/feed.rss", "/feed.nope", "/archive/9/feed.rss", "/opml.xml"):
        assert_cors(client.get(path), path)
    assert_cors(client.get("/feed.rss", headers={"If-Unmodified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}), "412")
    # Bytes gone from the cache folder: 503 until a refresh writes them again.
    monkeypatch.setattr(service, "body_lost", lambda path: None)
    res = service.store.current.get("/categories/science/feed.atom")
    shutil.rmtree(res.blobs.root / "blobs")
    r = client.get("/categories/science/feed.atom")
    assert r.status_code == 503 and r.headers["Retry-After"] == "30"
    assert_cors(r, "lost")
    for path in ("/categories/nope/", "/feed.css"):   # a page and a stylesheet are not data
        assert "Access-Control-Allow-Origin" not in client.get(path).headers, path


@pytest.mark.parametrize("base_url", ["https://news.example.org/sub/", "http://[::1]:8080"])
def test_redirects_lead_to_base_url_whatever_the_request_says(site, make_app, base_url):
    client = make_app(site={"base_url": base_url}).test_client()
    public = base_url.rstrip("/")
    for headers in ({"Host": "news.example.org"}, {"Host": "evil.example"},
                    {"Host": "news.example.org", "X-Forwarded-Proto": "http"}):
        r = client.get("/articles/a", headers=headers)
        assert (r.status_code, r.headers["Location"]) == (308, f"{public}/articles/a/"), headers
    assert client.get("/articles/a", headers={"Host": ""}).status_code == 400   # no authority: RFC 9112 3.2
    r = client.get("/categories/science?utm=x&y=%2F", headers={"Host": "evil.example"})
    assert r.headers["Location"] == f"{public}/categories/science/?utm=x&y=%2F"


def test_a_page_asked_for_while_the_entries_folder_is_gone_says_so_and_asks_no_refresh(
        site, make_app, entries_dir, tmp_path, monkeypatch):
    app = make_app()
    client = app.test_client()
    asked: list[bool] = []
    monkeypatch.setattr(get_app_service(app), "_refresh_behind", lambda: asked.append(True))
    entries_dir.rename(tmp_path / "unmounted")
    r = client.get("/articles/b/")
    assert r.status_code == 503 and r.headers["Retry-After"] == "30"
    text = r.get_data(as_text=True)
    assert "entries folder" in text and "changed since" not in text and str(tmp_path) not in text
    assert client.get("/feed.rss").status_code == 200
    assert not asked, "no refresh can publish anything while the folder is gone"
    (tmp_path / "unmounted").rename(entries_dir)
    assert client.get("/articles/b/").status_code == 200


def test_an_archive_page_number_is_named_as_it_was_asked(site, make_app):
    client = make_app(feeds={"max_entries": 1}).test_client()
    assert client.get("/archive/1/feed.rss").status_code == 200
    for path in ("/archive/01/feed.rss", "/categories/science/archive/001/feed.atom"):
        r = client.get(path)
        text = r.get_data(as_text=True)
        assert r.status_code == 404 and "page 0" in text and "leading zeros" in text and "page 1." not in text, path
    text = client.get("/archive/7/feed.rss").get_data(as_text=True)
    assert "No archive page 7." in text and "leading zeros" not in text


@pytest.mark.parametrize("change", ["edited", "removed", "broken"])
def test_a_page_rendered_on_request_never_mixes_a_file_changed_since_the_feeds_were_published(
        site, make_app, write_entry, entries_dir, change, monkeypatch):
    app = make_app(feeds={"max_entries": 1})
    client = app.test_client()
    # The refresh a stale page asks for is noted, not run behind the requests:
    # run, it could publish the change before the next request below.
    asked: list[bool] = []
    monkeypatch.setattr(get_app_service(app), "_refresh_behind", lambda: asked.append(True))
    if change == "edited":
        write_entry("b.md", {"title": "Beta, rewritten", "date": "2025-07-20T00:00:00Z"}, "New words.\n")
    elif change == "removed":
        (entries_dir / "b.md").unlink()
    else:
        (entries_dir / "b.md").write_text("---\ntitle: [broken\n---\nx\n")
    # /articles/b/ and archive page 1 (Beta, the older) are rendered from the files on request:
    # neither the page as published nor a mix, but 503 until the refresh it asks for.
    for path in ("/articles/b/", "/archive/1/feed.json"):
        r = client.get(path)
        assert r.status_code == 503 and r.headers["Retry-After"] == "5", path
    assert client.get("/articles/a/").status_code == 200              # its own file is as published
    assert client.get("/feed.json").status_code == 200                 # rendered at the refresh: as published
    assert asked, "a stale page asks for the refresh that publishes the change"
    get_app_service(app).refresh()
    after = client.get("/articles/b/")
    if change == "edited":
        assert after.status_code == 200 and "New words." in after.get_data(as_text=True)
        assert "Beta, rewritten" in client.get("/archive/1/feed.json").get_data(as_text=True)
    else:
        assert after.status_code == 404
