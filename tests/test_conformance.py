"""The served feeds pass the conformance checker (conformance/check.py) on a varied, generated site.

The checker stands in for the outsiders who check feedsvc: the W3C feed
validator's rules, the Atom RELAX NG schema, the JSON Feed schema and
feedparser. The entries are generated here, deterministically, to hit what real
authors write: curly quotes, markup-like and CJK/emoji titles, every date form
the loader reads, categories that need transliteration, relative URLs, hostile
raw HTML and characters XML cannot carry.
"""
from __future__ import annotations

import datetime as dt
import json
import sys
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Callable, Mapping

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `conformance` lives beside `feedsvc`, at the repo root
    sys.path.insert(0, str(ROOT))

from conformance.check import Finding, check_site, main  # noqa: E402
from feedsvc.app import create_app  # noqa: E402

BASE_URL = "https://news.example.org"        # conftest's site
NOW = dt.datetime(2025, 12, 1, 12, 0, tzinfo=dt.timezone.utc)
SHANGHAI = dt.timezone(dt.timedelta(hours=8))  # the site's zone (Asia/Shanghai has no DST)
MAX_ENTRIES = 20

# -- a deterministic generator of entries ---------------------------------------------

TITLES = [
    "“Curly” quotes, ‘single’ ones — and an en–dash",
    "Tom & Jerry: <b>bold</b> is text here, not markup",
    "When a < b && c > d, who wins?",
    "上海提议成立世界人工智能合作组织",
    "Launch day 🚀🔥 for the new rocket 🎉",
    "Façade, naïve café and the Ünïcödé test",
    "<script>alert('title')</script> is just words",
    "R&D spending rises 5% in Q3; AT&T disagrees",
    'Quotes "double" and \'single\' in one title',
    "東京とソウルの会談 · Tokyo–Seoul talks",
    "A plain title",
    "Entities like &amp; and &lt; stay literal",
]
CATEGORY_SETS: list[Any] = [
    ["World & U.S. News", "人工智能"],
    "C++ / Rust",                                   # a single string is one name
    ["Artificial Intelligence"],
    ["World & U.S. News"],
    None,
    ["人工智能", "C++ / Rust", "World & U.S. News"],
    "World & U.S. News",
    ["Climate & Energy", "World & U.S. News"],
    ["world & u.s. news"],                          # same slug as an earlier name: merged under it
    ["Science"],
]
TAG_SETS: list[Any] = [None, ["python", "open source"], ["AI/ML", "東京"], "single-tag", ["c#", "Science"]]
AUTHORS: list[Any] = [
    None,                                           # the site's author
    "Jane Doe",
    {"name": "Li Wei 李伟", "email": "li.wei@example.org"},
    {"name": "Sam O'Neil", "uri": "https://example.org/sam"},
    "Zoë “Z” Müller",
]
IMAGES = [None, "images/pic.png", "/static/hero.jpg", "https://cdn.example.org/photo.webp",
          "https://cdn.example.org/photo?id=7", None]
SUMMARIES = [None, "Markets & money: a < b, “quoted”.", None, "短い要約。😀", None, "Uses <em> & &amp; literally."]

BODIES = [
    # relative links and images, every flavour
    "Markets & <em>money</em> moved; x < y and “quotes”.\n\n"
    "See [the next post](../other-post/), [about](/about/), [a section](#section-2), "
    "[page two](?page=2) and [a sibling](sibling.html).\n\n"
    "![a photo](img/photo.jpg \"Photo\")\n\n"
    "<a href=\"relative.html\">raw link</a> <a href=\"//cdn.example.org/x\">protocol-relative</a>\n\n"
    "<blockquote cite=\"quote.html\"><p>quoted</p></blockquote>\n",
    # hostile raw HTML
    "An opening paragraph.\n\n"
    "<script>alert('xss')</script>\n\n"
    "<iframe src=\"https://evil.example/\"></iframe>\n\n"
    "<img src=\"raw.png\" onerror=\"alert(1)\" alt=\"x\">\n\n"
    "<p onclick=\"steal()\">click me</p> [js](javascript:alert(1)) "
    "<a href=\"data:text/html,<script>alert(1)</script>\">data</a>\n\n"
    "<svg onload=\"alert(1)\"><circle r=\"1\"/></svg><object data=\"x.swf\"></object>"
    "<style>body{display:none}</style>\n",
    # CDATA terminator and characters XML cannot carry
    "A body with ]]> in it, and controls \x01 and \x0b here.\n\n"
    "Also <![CDATA[ raw ]]> and a lone ]]> again.\n",
    # fenced code with markup inside
    "Code first paragraph.\n\n```html\n<script>alert(\"in code\")</script>\n]]> & <b>\n```\n\n"
    "    indented <code> & stuff\n",
    # CJK and emoji prose, a table
    "人工智能正在改变世界。😀 これは日本語です。\n\n| a | b |\n|---|:-:|\n| 1 | <2 |\n",
    # no prose paragraph at all: no derived summary
    "```\nonly code\n```\n",
    # empty body
    "",
    # long first paragraph: a shortened summary
    " ".join(["Lorem ipsum dolor sit amet, “consectetur” & adipiscing <elit>."] * 12) + "\n",
]


def _date_forms(local: dt.datetime) -> list[str]:
    """Every way of writing ``local`` (a naive time in the site's zone) that the loader reads."""
    aware = local.replace(tzinfo=SHANGHAI)
    utc = aware.astimezone(dt.timezone.utc)
    return [
        aware.isoformat(),                                    # ISO with offset, unquoted (a YAML timestamp)
        '"' + utc.strftime("%Y-%m-%dT%H:%M:%SZ") + '"',        # "Z", quoted (a string)
        '"' + format_datetime(aware) + '"',                    # RFC 2822
        '"' + local.strftime("%B %d, %Y %I:%M %p") + '"',     # July 26, 2025 09:30 AM
        '"' + local.strftime("%Y-%m-%d %H:%M") + '"',          # naive, no seconds, quoted
        local.strftime("%Y-%m-%d %H:%M:%S"),                   # naive, unquoted (a YAML timestamp)
        local.strftime("%Y-%m-%d"),                           # date only: midnight in the site's zone
    ]


def _yaml_line(key: str, value: Any) -> str:
    return yaml.safe_dump({key: value}, allow_unicode=True, default_flow_style=True, width=10_000).strip()[1:-1]


def generate_entries(n: int = 60) -> list[tuple[str, str, str]]:
    """[(relative path, front matter, body)], the same every run."""
    out = []
    start = dt.datetime(2025, 1, 3, 9, 30)
    for k in range(n):
        local = start + dt.timedelta(days=4 * k, hours=k % 7, minutes=(k * 13) % 60)
        if k == 2:
            local = start + dt.timedelta(days=4, hours=1, minutes=13)  # the same instant as entry 1: a tie
        forms = _date_forms(local)
        date = forms[k % len(forms)]
        lines = [_yaml_line("title", f"{TITLES[k % len(TITLES)]} #{k}"), f"date: {date}"]
        if k % 5 == 2:
            lines.append(f"updated: {(local + dt.timedelta(days=2)).replace(tzinfo=SHANGHAI).isoformat()}")
        if k == 11:
            lines.append(f"updated: {(local - dt.timedelta(days=1)).strftime('%Y-%m-%d')}")  # before date
        for key, pool in (("categories", CATEGORY_SETS), ("tags", TAG_SETS), ("author", AUTHORS),
                          ("image", IMAGES), ("summary", SUMMARIES)):
            v = pool[k % len(pool)]
            if v is not None:
                lines.append(_yaml_line(key, v))
        if k == 13:
            lines.append(_yaml_line("id", "urn:uuid:2f1f3c1e-8d0b-4d38-9a55-6f0c2a1b9e13"))
        if k == 17:
            lines.append(_yaml_line("link", "https://elsewhere.example.com/stories/17?ref=feed"))
        if k == 19:
            lines.append(_yaml_line("slug", "Custom Slug: Ünïcödé!"))
        folder = f"{local.year}/{local.month:02d}"
        out.append((f"{folder}/entry-{k:02d}.md", "\n".join(lines), BODIES[k % len(BODIES)]))
    # kept out of every feed
    out.append(("2025/12/draft.md", "title: A draft\ndate: 2025-06-01\ndraft: true", "Not yet.\n"))
    out.append(("2030/01/scheduled.md", "title: From the future\ndate: 2030-01-01T00:00:00Z\n"
                                        "categories: [Scheduled Only]", "Later.\n"))
    return out


# -- running the checker over the Flask test client ------------------------------------

def site_fetch(app) -> Callable[[str], tuple[int, Mapping[str, str], bytes]]:  # type: ignore[no-untyped-def]
    client = app.test_client()

    def fetch(path: str) -> tuple[int, Mapping[str, str], bytes]:
        resp = client.get(path)
        return resp.status_code, dict(resp.headers), resp.get_data()

    return fetch


def errors_of(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]


def report(findings: list[Finding]) -> str:
    errors = errors_of(findings)
    lines = [str(f) for f in errors[:60]] + ([f"... and {len(errors) - 60} more"] if len(errors) > 60 else [])
    return f"{len(errors)} conformance error(s):\n" + "\n".join(lines)


@pytest.fixture
def build_site(make_config, write_entry):  # type: ignore[no-untyped-def]
    def build(n: int = 60, **feeds: Any):  # type: ignore[no-untyped-def]
        for rel, front, body in generate_entries(n) if n else []:
            write_entry(rel, front, body)
        config = make_config(feeds={"max_entries": MAX_ENTRIES, **feeds})
        return create_app(config, clock=lambda: NOW)

    return build


def test_generated_site_conforms(build_site) -> None:  # type: ignore[no-untyped-def]
    app = build_site()
    findings = check_site(site_fetch(app), base_url=BASE_URL)
    assert not errors_of(findings), report(findings)

    # The checker really walked the site: the feeds are cut, every category has its feeds.
    fetch = site_fetch(app)
    site = json.loads(fetch("/feed.json")[2])
    assert len(site["items"]) == MAX_ENTRIES
    opml = fetch("/opml.xml")[2].decode()
    for slug in ("world-us-news", "ren-gong-zhi-neng", "c-rust", "artificial-intelligence", "climate-energy"):
        assert f"/categories/{slug}/feed.rss" in opml
    assert "scheduled-only" not in opml and "A draft" not in fetch("/feed.rss")[2].decode()
    world = json.loads(fetch("/categories/world-us-news/feed.json")[2])
    assert len(world["items"]) == MAX_ENTRIES  # more than max_entries in this category: cut


def test_summaries_only_site_conforms(build_site) -> None:  # type: ignore[no-untyped-def]
    app = build_site(full_content=False)
    findings = check_site(site_fetch(app), base_url=BASE_URL)
    assert not errors_of(findings), report(findings)
    assert "content_html" not in site_fetch(app)("/feed.json")[2].decode()


def test_empty_site_has_valid_empty_feeds(build_site) -> None:  # type: ignore[no-untyped-def]
    app = build_site(0)
    findings = check_site(site_fetch(app), base_url=BASE_URL)
    assert not errors_of(findings), report(findings)
    assert json.loads(site_fetch(app)("/feed.json")[2])["items"] == []


# -- single entries that real authors write, one concern each ------------------------------

EDGE_ENTRIES: dict[str, tuple[dict[str, Any], str]] = {
    "a tag that is also a category name": (
        {"categories": ["Science"], "tags": ["Science", "lab"]}, "A first paragraph.\n"),
    "a tag that repeats a category under another spelling of its name": (
        {"categories": ["world & u.s. news"], "tags": ["World & U.S. News"]}, "A first paragraph.\n"),
    "markup shown as code in the first paragraph (the derived summary)": (
        {}, "How to use the `<script>` tag and the &lt;iframe&gt; element safely.\n\nMore text.\n"),
    "an image file name with non-ASCII letters": (
        {"image": "images/café-東京.jpg"}, "A first paragraph.\n"),
    "a link with non-ASCII letters": (
        {"link": "https://example.org/文章/1"}, "A first paragraph.\n"),
    "an id that is not a URI": (
        {"id": "post 42"}, "A first paragraph.\n"),
    "a tag: id with non-ASCII letters": (
        {"id": "tag:example.org,2025-07-26:文章-1"}, "A first paragraph.\n"),
    "a body with no prose paragraph and no summary": (
        {}, "![a chart](chart.png)\n\n- one\n- two\n"),
    "audio, video, responsive images and data: images in raw HTML": (
        {}, 'Media below.\n\n<audio src="pod.mp3" controls></audio>\n\n'
            '<video src="data:image/png;base64,AAAA" poster="p.jpg">fallback</video>\n\n'
            '<picture><source srcset="data:image/webp;base64,UklGRg== 1x, w.webp 2x">'
            '<img src="data:image/png;base64,iVBORw0KGgo=" srcset="c.png 100w, d.png (weird, but) 200w, a,b.png 300w" '
            'alt="x"></picture>\n'),
}


@pytest.mark.parametrize("name", list(EDGE_ENTRIES))
def test_edge_entry_conforms(make_config, write_entry, name: str) -> None:  # type: ignore[no-untyped-def]
    extra, body = EDGE_ENTRIES[name]
    write_entry("2025/07/edge.md", {"title": f"Edge: {name}", "date": "2025-07-26T09:30:00+08:00", **extra}, body)
    write_entry("2025/01/neighbour.md", {"title": "A plain neighbour", "date": "2025-01-20",
                                          "categories": ["World & U.S. News"]})
    app = create_app(make_config(), clock=lambda: NOW)
    findings = check_site(site_fetch(app), base_url=BASE_URL)
    assert not errors_of(findings), report(findings)


# -- the checker itself: it must see what it claims to check ---------------------------

def _tamper(fetch, path: str, edit: Callable[[bytes], bytes] | None = None,  # type: ignore[no-untyped-def]
            headers: Mapping[str, str] | None = None):
    def tampered(p: str) -> tuple[int, Mapping[str, str], bytes]:
        status, h, body = fetch(p)
        if p == path:
            body = edit(body) if edit else body
            h = {**h, **(headers or {})}
        return status, h, body

    return tampered


def _swap_first_items(body: bytes) -> bytes:
    doc = json.loads(body)
    doc["items"][:2] = doc["items"][1::-1]
    return json.dumps(doc).encode()


def _entry_first(body: bytes) -> bytes:
    head, sep, rest = body.partition(b"<entry>")
    entries, end = rest.rsplit(b"</feed>", 1)
    generator_at = head.index(b"<generator")
    return head[:generator_at] + sep + entries + head[generator_at:] + b"</feed>" + end


TAMPERINGS = {
    "guid without isPermaLink": ("/feed.rss", lambda b: b.replace(b' isPermaLink="false"', b"", 1), None,
                                 "needs isPermaLink"),
    "script in Atom content": ("/feed.atom", lambda b: b.replace(b"&lt;/p&gt;", b"&lt;script&gt;x()&lt;/script&gt;"
                                                                                b"&lt;/p&gt;", 1), None,
                               "<script>"),
    "relative image in JSON": ("/feed.json", lambda b: b.replace(b'src=\\"https://news.example.org/', b'src=\\"/', 1),
                               None, "not an absolute URL"),
    "wrong feed_url": ("/feed.json", lambda b: b.replace(b'"feed_url": "https://news.example.org/feed.json"',
                                                         b'"feed_url": "https://news.example.org/feed"'),
                       None, "feed_url"),
    "items reordered": ("/feed.json", _swap_first_items, None, "different order"),
    "RSS served as text/xml": ("/feed.rss", None, {"Content-Type": "text/xml"}, "Content-Type"),
    "bad pubDate": ("/feed.rss", lambda b: b.replace(b"<pubDate>", b"<pubDate>Mon, ", 1), None, "pubDate"),
    "feedgen's sy:UpdatePeriod": ("/feed.rss", lambda b: b.replace(b"sy:updatePeriod", b"sy:UpdatePeriod"), None,
                                  "namespace does not define"),
    "enclosure on a host without a dot": ("/feed.rss", lambda b: b.replace(b'<enclosure url="https://cdn.example.org/',
                                                                        b'<enclosure url="http://cdn:8080/', 1), None,
                                          "InvalidURLAttribute"),
    "2-digit year": ("/feed.rss", lambda b: b.replace(b" 2025 ", b" 25 ", 1), None, "4-digit year"),
    "channel link is the feed": ("/feed.rss", lambda b: b.replace(b"<link>https://news.example.org/</link>",
                                                                  b"<link>https://news.example.org/feed.rss</link>",
                                                                  1), None, "the feed itself"),
}


@pytest.mark.parametrize("name", list(TAMPERINGS))
def test_checker_catches_tampering(build_site, name: str) -> None:  # type: ignore[no-untyped-def]
    path, edit, headers, expected = TAMPERINGS[name]
    fetch = site_fetch(build_site(8))
    assert not errors_of(check_site(fetch, base_url=BASE_URL))
    findings = check_site(_tamper(fetch, path, edit, headers), base_url=BASE_URL)
    assert any(expected in f.message for f in errors_of(findings)), [str(f) for f in findings]


def test_rng_entry_ordering_is_only_a_warning(build_site) -> None:  # type: ignore[no-untyped-def]
    fetch = site_fetch(build_site(3))
    findings = check_site(_tamper(fetch, "/feed.atom", _entry_first), base_url=BASE_URL)
    atom = [f for f in findings if f.url.endswith("/feed.atom")]
    assert not errors_of(atom), [str(f) for f in atom]
    assert any("ordering rule" in f.message for f in atom)


# -- the command line: a static export and a running server -----------------------------

def test_cli_checks_a_static_export(build_site, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    fetch = site_fetch(build_site(8))
    served: dict[str, bytes] = {}

    def recording(path: str) -> tuple[int, Mapping[str, str], bytes]:
        status, headers, body = fetch(path)
        if status == 200:
            served[path] = body
        return status, headers, body

    assert not errors_of(check_site(recording, base_url=BASE_URL))
    out = tmp_path / "out"
    for path, body in served.items():  # the layout of `feedsvc export`
        target = out / (path.lstrip("/") + ("index.html" if path.endswith("/") else ""))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
    assert main(["--export", str(out)]) == 0, capsys.readouterr().out
    (out / "feed.atom").unlink()
    assert main(["--export", str(out)]) == 1
    assert "feed.atom: HTTP 404" in capsys.readouterr().out


def test_cli_checks_a_running_server(make_config, write_entry, capsys) -> None:  # type: ignore[no-untyped-def]
    import threading

    from werkzeug.serving import make_server

    write_entry("2025/07/one.md", {"title": "One", "date": "2025-07-26", "categories": ["World & U.S. News"]},
                "See [two](../two/).\n")
    config = make_config()
    server = make_server("127.0.0.1", 0, create_app(config, clock=lambda: NOW), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        # The site says it lives at BASE_URL: feeds fetched elsewhere must still name that URL.
        assert main([url, "--public-url", BASE_URL]) == 0, capsys.readouterr().out
        assert main([url]) == 1
        assert "is not the feed's URL" in capsys.readouterr().out
    finally:
        server.shutdown()
        thread.join(5)
