"""The pages and the feed view in a real headless browser (Debian's Chromium, driven by Playwright)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .servers import Server, feedsvc
from .test_server import write, write_config

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the test extra) to run")
if not os.path.exists(CHROMIUM):
    pytest.skip("no Chromium: apt-get install chromium (.ci/run does this)", allow_module_level=True)

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    cfg = write_config(tmp)
    cfg.write_text(cfg.read_text().replace('base_url = "https://news.example.org"', 'base_url = "http://127.0.0.1:{port}"'))
    write(tmp, "a.md", "Shanghai proposes an AI body", "2025-07-26T09:30:00+08:00",
          cats="[Artificial Intelligence, World & U.S. News]")
    write(tmp, "b.md", "Chip export rules tighten", "2025-07-20T01:30:00Z", cats="[World & U.S. News]")
    write(tmp, "c.md", "Ocean heat sets a record", "2025-07-01", cats="Science")
    from .servers import free_port
    port = free_port()
    cfg.write_text(cfg.read_text().replace("{port}", str(port)))
    server = Server(feedsvc("serve", "--config", str(cfg), "--port", str(port), "--workers", "1"), port=port)
    server.wait_ready()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    pg = context.new_page()
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("console", lambda m: m.type == "error" and pg.errors.append(m.text))
    yield pg
    context.close()


def shot(pg, name: str, tmp_path: Path, full_page: bool = True) -> Path:
    folder = Path(os.environ.get("FEEDSVC_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    pg.screenshot(path=str(path), full_page=full_page, timeout=10000)
    assert path.stat().st_size > 1000
    return path


def alternates(pg):
    return pg.eval_on_selector_all("head link[rel=alternate]", "ls => ls.map(l => [l.type, l.href])")


def test_index_renders_with_autodiscovery_and_categories(site, page, tmp_path):
    page.goto(site.base + "/")
    assert page.title() == "Server Test"
    assert alternates(page) == [["application/rss+xml", f"{site.base}/feed.rss"],
                                ["application/atom+xml", f"{site.base}/feed.atom"],
                                ["application/feed+json", f"{site.base}/feed.json"]]
    rows = page.eval_on_selector_all("table.categories tbody tr",
                                     "rs => rs.map(r => [r.cells[0].innerText, r.cells[1].innerText])")
    assert rows == [["Artificial Intelligence", "1"], ["Science", "1"], ["World & U.S. News", "2"]]
    assert page.errors == []
    shot(page, "index", tmp_path)


def test_category_page_lists_entries_and_copies_a_feed_url(site, page, tmp_path):
    page.goto(site.base + "/categories/world-us-news/")
    feeds = [h for _, h in alternates(page)]
    assert feeds[:3] == [f"{site.base}/categories/world-us-news/feed.{f}" for f in ("rss", "atom", "json")]
    assert feeds[3:] == [f"{site.base}/feed.{f}" for f in ("rss", "atom", "json")]
    assert page.eval_on_selector_all("ol.entries h3 a", "as => as.map(a => a.innerText)") == [
        "Shanghai proposes an AI body", "Chip export rules tighten"]
    button = page.locator("button[data-copy]").first
    button.click()
    page.wait_for_function("() => document.querySelector('button[data-copy]').textContent === 'Copied'")
    assert page.evaluate("navigator.clipboard.readText()") == f"{site.base}/categories/world-us-news/feed.rss"
    assert page.errors == []
    shot(page, "category", tmp_path)


@pytest.mark.parametrize("path", ["/", "/categories/world-us-news/", "/articles/a/"])
def test_pages_fit_a_phone_screen(site, browser, path):
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    try:
        pg = context.new_page()
        pg.goto(site.base + path)
        assert pg.evaluate("document.documentElement.scrollWidth") <= 375
    finally:
        context.close()


@pytest.mark.parametrize("path", ["/feed.rss", "/feed.atom"])
def test_a_feed_opened_in_the_browser_shows_the_styled_view(site, page, path, tmp_path):
    downloads = []
    page.on("download", lambda d: downloads.append(d))
    response = page.goto(site.base + path)
    assert downloads == []
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    # the CSS from the xml-stylesheet instruction applies: titles are blocks, the
    # feed's own title larger than an item's, and the banner explains what this is
    title_sel = "channel > title" if path.endswith(".rss") else "feed > title"
    item_sel = "item > title" if path.endswith(".rss") else "entry > title"
    styles = page.evaluate(f"""() => {{
        const t = document.querySelector('{title_sel}'), i = document.querySelector('{item_sel}');
        return [getComputedStyle(t).display, parseFloat(getComputedStyle(t).fontSize),
                parseFloat(getComputedStyle(i).fontSize),
                getComputedStyle(document.documentElement, '::before').content];
    }}""")
    assert styles[0] == "block"
    assert styles[1] > styles[2]
    assert "news feed" in styles[3]
    # (a full-page capture of an XML document never settles in headless Chromium)
    shot(page, "feed-" + path.rsplit(".", 1)[1], tmp_path, full_page=False)
