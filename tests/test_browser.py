"""The pages and the styled feed view in a real headless browser.

Debian's Chromium (/usr/bin/chromium) driven by Playwright, against the real
service started as a subprocess. Playwright never downloads a browser here.
Screenshots go to $FEEDSVC_SCREENSHOTS when it is set (else a temporary folder).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
HOW = "apt-get install chromium; pip install playwright"
try:
    from playwright.sync_api import sync_playwright
except ImportError:
    pytest.skip(f"browser tests need Playwright and Chromium: {HOW}", allow_module_level=True)
if not CHROMIUM.exists():
    pytest.skip(f"browser tests need {CHROMIUM}: {HOW}", allow_module_level=True)

from .servers import Server, feedsvc, free_port  # noqa: E402
from .test_server import write, write_config  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
FORMATS = [("rss", "application/rss+xml"), ("atom", "application/atom+xml"), ("json", "application/feed+json")]
WORLD = "/categories/world-us-news/"
# newest first, as the pages list them
WORLD_TITLES = ["Shanghai proposes a global AI cooperation body", "Chip export rules tighten again"]
ARTICLE_BODY = """
Officials said the proposal, published at
https://www.example.org/news/2025/07/26/shanghai-world-artificial-intelligence-conference-global-cooperation-organisation-proposal.html,
would be discussed at the next summit.

```
curl -sS https://news.example.org/categories/world-us-news/feed.atom | xmllint --format - | head -n 40
```
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The real service on a small site: three categories, one entry in two of them."""
    tmp = tmp_path_factory.mktemp("browser-site")
    port = free_port()
    cfg = write_config(tmp)
    # the pages link to the configured base URL: make it this server, so links can be followed
    cfg.write_text(cfg.read_text().replace("https://news.example.org", f"http://127.0.0.1:{port}"))
    write(tmp, "a.md", WORLD_TITLES[0], "2025-07-26T09:30:00+08:00",
          cats="[World & U.S. News, Artificial Intelligence]")
    with (tmp / "entries" / "a.md").open("a", encoding="utf-8") as f:
        f.write(ARTICLE_BODY)
    write(tmp, "b.md", WORLD_TITLES[1], "2025-07-20T01:30:00Z")
    write(tmp, "c.md", "Ocean heat sets a record", "2025-07-01T00:00:00Z", cats="[Science]")
    server = Server(feedsvc("serve", "--config", str(cfg), "--port", "{port}", "--workers", "1"), port=port)
    try:
        yield server.wait_ready()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            yield b
        finally:
            b.close()


class Page:
    """A fresh browser context and page that records console errors and uncaught exceptions."""

    def __init__(self, browser, **context_options) -> None:
        self.context = browser.new_context(**context_options)
        self.context.set_default_timeout(10_000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(
            f"console: {m.text} ({m.location.get('url')})"))
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.downloads: list = []
        self.page.on("download", lambda d: self.downloads.append(d))


@pytest.fixture
def tab(browser):
    t = Page(browser, permissions=["clipboard-read", "clipboard-write"])
    yield t
    t.context.close()


def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("FEEDSVC_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def alternates(page) -> list[list[str]]:
    return page.eval_on_selector_all('head link[rel="alternate"]', "ls => ls.map(l => [l.type, l.href, l.title])")


def feed_links(base: str, prefix: str = "") -> list[tuple[str, str]]:
    return [(t, f"{base}{prefix}/feed.{f}") for f, t in FORMATS]


def test_index_has_the_title_autodiscovery_and_every_category_with_its_count(site, tab):
    page = tab.page
    page.goto(site.base + "/")
    assert page.title() == "Server Test"
    links = alternates(page)
    assert [(t, h) for t, h, _ in links] == feed_links(site.base)
    assert all(title.startswith("Server Test (") for _, _, title in links)
    rows = page.eval_on_selector_all("table.categories tbody tr", """rs => rs.map(r => [
        r.cells[0].innerText, r.cells[1].innerText, r.cells[0].querySelector('a').href])""")
    assert sorted(rows) == [
        ["Artificial Intelligence", "1", f"{site.base}/categories/artificial-intelligence/"],
        ["Science", "1", f"{site.base}/categories/science/"],
        ["World & U.S. News", "2", f"{site.base}{WORLD}"],
    ]
    # the category link leads to that category's page
    page.get_by_role("link", name="World & U.S. News").click()
    page.wait_for_url(site.base + WORLD)
    assert page.locator("h1").inner_text() == "World & U.S. News"
    assert tab.errors == []


def test_category_page_has_its_feeds_lists_its_entries_and_copies_a_feed_url(site, tab):
    page = tab.page
    page.goto(site.base + WORLD)
    assert page.title() == "World & U.S. News · Server Test"
    # its own feeds first, then the site's
    own = feed_links(site.base, WORLD.rstrip("/"))
    assert [(t, h) for t, h, _ in alternates(page)] == own + feed_links(site.base)
    assert all("World & U.S. News" in title for _, _, title in alternates(page)[:3])
    assert page.locator("ol.entries h3 a").all_inner_texts() == WORLD_TITLES
    assert "Ocean heat" not in page.locator("main").inner_text()

    buttons = page.locator("ul.feeds button[data-copy]")
    assert buttons.count() == 3
    button = buttons.nth(1)   # the Atom one
    assert button.inner_text() == "Copy"
    button.click()
    page.wait_for_function("b => b.textContent === 'Copied'", arg=button.element_handle(), timeout=3000)
    if page.evaluate("!!(navigator.clipboard && navigator.clipboard.readText)"):
        assert page.evaluate("navigator.clipboard.readText()") == own[1][1]
    # and the label comes back, so the button can be used again
    page.wait_for_function("b => b.textContent === 'Copy'", arg=button.element_handle(), timeout=3000)
    assert tab.errors == []


FEED_ON_A_PHONE = pytest.param("/feed.rss", id="feed-view", marks=pytest.mark.xfail(strict=True, reason=(
    "an XML document has no <meta name=viewport>, so a phone lays the feed view out 980px wide and zooms "
    "it to ~38%; an XHTML-namespaced <meta name='viewport'> element in the feed would fix it in Chromium")))


@pytest.mark.parametrize("path", ["/", WORLD, "/articles/a/", FEED_ON_A_PHONE],
                         ids=["index", "category", "article", "feed-view"])
def test_pages_fit_a_phone_screen_without_horizontal_scrolling(site, browser, path, tmp_path):
    t = Page(browser, viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True,
             device_scale_factor=2)
    try:
        t.page.goto(site.base + path)
        width = t.page.evaluate("document.documentElement.scrollWidth")
        # what sticks out, not counting the inside of scrolling boxes such as <pre>
        wide = t.page.evaluate("""() => {
            const scrolled = e => {
                for (let p = e.parentElement; p && p !== document.body; p = p.parentElement)
                    if (getComputedStyle(p).overflowX !== 'visible') return true;
                return false;
            };
            return [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > 375.5 && !scrolled(e))
                .map(e => e.tagName + (e.className ? '.' + e.className : '') + ': ' + e.textContent.slice(0, 60));
        }""")
        assert width <= 375, f"{path} is {width}px wide on a 375px screen; too wide: {wide}"
        name = "phone-" + ("index" if path == "/" else path.strip("/").replace("/", "-"))
        t.page.screenshot(path=str(screenshots(tmp_path) / f"{name}.png"), full_page=True)
        assert t.errors == []
    finally:
        t.context.close()


FEED_VIEW = """() => {
    const css = (e, pseudo) => getComputedStyle(e, pseudo);
    const title = document.querySelector('title');          // the feed's own title comes first
    const items = [...document.querySelectorAll('item > title, entry > title')];
    const pi = [...document.childNodes].find(n => n.nodeType === Node.PROCESSING_INSTRUCTION_NODE);
    return {
        contentType: document.contentType,
        root: document.documentElement.localName,
        pi: pi ? pi.target + ' ' + pi.data : null,
        sheets: [...document.styleSheets].map(s => s.href),
        xmlTreeViewer: !!document.getElementById('webkit-xml-viewer-source-xml'),
        titleText: title.textContent,
        titleDisplay: css(title).display,
        titleSize: parseFloat(css(title).fontSize),
        itemTitles: items.map(e => e.textContent),
        itemDisplay: items.map(e => css(e).display),
        itemSize: items.map(e => parseFloat(css(e).fontSize)),
        banner: css(document.documentElement, '::before').content,
        hiddenLinks: [...document.querySelectorAll('link, guid, id')].every(e => css(e).display === 'none'),
    };
}"""


@pytest.mark.parametrize("fmt,root", [("rss", "rss"), ("atom", "feed")])
def test_a_feed_opened_in_the_browser_shows_the_styled_view(site, tab, fmt, root):
    page = tab.page
    url = f"{site.base}{WORLD}feed.{fmt}"
    response = page.goto(url)
    assert response.status == 200
    assert response.headers["content-type"].split(";")[0] == "text/xml"
    assert tab.downloads == []
    view = page.evaluate(FEED_VIEW)
    assert view["contentType"] == "text/xml" and view["root"] == root
    assert view["pi"] == 'xml-stylesheet type="text/css" href="/feed.css"'
    assert view["sheets"] == [f"{site.base}/feed.css"]
    assert not view["xmlTreeViewer"]   # Chromium's raw tree is only shown for unstyled XML
    assert view["titleText"] == "Server Test: World & U.S. News"
    assert view["titleDisplay"] == "block"
    assert view["itemTitles"] == WORLD_TITLES
    assert set(view["itemDisplay"]) == {"block"}
    assert all(view["titleSize"] > size for size in view["itemSize"])
    assert "news feed" in view["banner"]
    assert view["hiddenLinks"]
    # a script fetching the feed is not a person navigating to it: it gets the feed's own type
    own = dict(FORMATS)[fmt]
    assert page.evaluate("u => fetch(u).then(r => r.headers.get('content-type'))", url).startswith(own)
    # reloading revalidates the view's ETag; the styled view must survive a 304
    again = page.reload()
    assert again.status in (200, 304)
    assert page.evaluate(FEED_VIEW) == view
    assert tab.downloads == [] and tab.errors == []


def test_following_a_feed_link_from_a_page_opens_the_styled_view(site, tab):
    page = tab.page
    page.goto(site.base + "/")
    with page.expect_navigation() as nav:
        page.locator("ul.feeds a", has_text="RSS").click()
    response = nav.value
    assert response.url == f"{site.base}/feed.rss"
    assert response.headers["content-type"].startswith("text/xml")
    assert page.evaluate("getComputedStyle(document.querySelector('channel > title')).display") == "block"
    assert tab.downloads == [] and tab.errors == []


def test_screenshots_of_the_pages_and_the_feed_view(site, tab, tmp_path):
    folder = screenshots(tmp_path)
    page = tab.page
    page.set_viewport_size({"width": 1024, "height": 900})
    shots = {"index": "/", "category": WORLD, "article": "/articles/a/",
             "feed-rss": "/feed.rss", "feed-atom": WORLD + "feed.atom"}
    for name, path in shots.items():
        page.goto(site.base + path)
        out = folder / f"{name}.png"
        # a full-page capture of an XML document does not settle in headless Chromium
        page.screenshot(path=str(out), full_page=not name.startswith("feed"))
        data = out.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000, out
    assert tab.downloads == [] and tab.errors == []
