"""Any entry an author can write: generated at random, loaded, rendered and read back.

The other tests pin down behaviour on inputs chosen by hand. These let
hypothesis pick titles, names, dates and bodies from all of Unicode (control
characters, markup characters, right-to-left and invisible ones, emoji) and
Markdown fragments that interact, and check what must hold for every one:

- each file is either published (or a draft, or scheduled) or reported with
  its path as an error, and loading never raises;
- every feed passes the conformance checker (the Atom RELAX NG schema, the
  JSON Feed schema, RSS 2.0 rules, feedparser, the three formats agreeing);
- what a reader gets back is what the author wrote: the title as text (only
  the characters XML cannot carry removed and white space collapsed), every
  category (under the name that owns its slug) and tag once, in each format.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from lxml import etree

from feedsvc.app import create_app
from feedsvc.catalog import build_catalog
from feedsvc.config import config_from_mapping
from feedsvc.entries import load_entries
from feedsvc.text import clean_text

from .conftest import BASE_URL, NOW, entry_text, site_mapping

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `conformance` lives beside `feedsvc`, at the repo root
    sys.path.insert(0, str(ROOT))

from conformance.check import check_site  # noqa: E402

ATOM = "{http://www.w3.org/2005/Atom}"

# All of Unicode a UTF-8 file can hold (no surrogates), weighted towards what
# breaks feeds: markup characters, quotes, controls, invisible and bidi marks.
_TRICKY = "<>&\"'`*_[]()#!|\\ \t\n\r\x00\x01\x0b\x1f\x7f\x85\xa0“”‘’—–…\u200b\u200e\u202e\ufeff\ufffe\uffff"
any_char = st.characters(blacklist_categories=("Cs",))
text = st.text(st.one_of(any_char, st.sampled_from(_TRICKY), st.sampled_from("中文ع🚀é")), max_size=60)
# What authors mostly write, so that most examples publish something.
words = st.lists(st.sampled_from(["Markets", "“rally”", "AT&T", "<b>bold</b>", "x < y", "人工智能", "عربي", "🚀",
                                  "—", "R&amp;D", "C++", "naïve", "\u202eevil"]), min_size=1, max_size=6).map(" ".join)
title = st.one_of(words, text)
names = st.one_of(st.none(), title, st.lists(title, max_size=4))

FRAGMENTS = [
    "## A subheading\n", "1. first\n2. second\n   - nested\n", "> “A quote,” she said.\n",
    "| a | b |\n|---|---|\n| 1 | 2 |\n", "```python\nx = '<b>'\n\n```\n", "    indented code\n",
    "[a link](../other/?q=1&r=2#frag) and ![img](img/p.png \"t\")\n", "<https://example.com/a?b=c>\n",
    "<div>raw <b>html</b> block</div>\n", "<script>alert(1)</script>\n", "text <span onclick=x>hi</span>\n",
    "&amp; &lt; &#1; &#xFFFE; &#128512; &nbsp;\n", "***\n", "Setext\n======\n", "- [ ] task\n",
    "~~struck~~ **bold** _em_ `code`\n", "<!-- a comment -->\n", "[ref]: /x\n\n[ref]\n",
    "www.example.com and mail@example.com\n", "<a href=\"javascript:alert(1)\">x</a>\n",
]
bodies = st.lists(st.one_of(st.sampled_from(FRAGMENTS), text), max_size=8).map("\n".join)
offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
when = st.one_of(
    st.datetimes(dt.datetime(1000, 1, 2), dt.datetime(2100, 1, 1), timezones=offsets).map(
        lambda d: d.replace(microsecond=0).isoformat()),
    st.dates(dt.date(1000, 1, 2), dt.date(2100, 1, 1)).map(dt.date.isoformat),
)


@st.composite
def entries(draw: st.DrawFn) -> dict[str, Any]:
    front: dict[str, Any] = {"title": draw(title), "date": draw(when)}
    for key, values in (("categories", names), ("tags", names), ("summary", title), ("author", title),
                        ("updated", when), ("draft", st.booleans())):
        if draw(st.booleans()):
            front[key] = draw(values)
    return front


def _yaml_keeps(front: dict[str, Any]) -> bool:
    """Whether PyYAML reads back what it wrote: what it cannot carry is its limit, not ours."""
    try:
        return yaml.safe_load(yaml.safe_dump(front, allow_unicode=True)) == front
    except yaml.YAMLError:
        return False


def _site(folder: Path) -> Any:
    cfg = config_from_mapping(site_mapping(folder / "entries", feeds={"max_entries": 5}), {}, base_dir=folder)
    return dataclasses.replace(cfg, scheduler_enabled=False)


def _fetch(app: Any) -> Any:
    client = app.test_client()

    def fetch(path: str) -> tuple[int, dict[str, str], bytes]:
        resp = client.get(path)
        return resp.status_code, dict(resp.headers), resp.get_data()

    return fetch


@settings(max_examples=int(__import__("os").environ.get("PROPERTY_EXAMPLES", "40")), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(entries(), bodies), min_size=1, max_size=6))
def test_any_entries_give_conforming_feeds_with_the_authors_text(drafted: list[tuple[dict[str, Any], str]]) -> None:
    assume(all(_yaml_keeps(front) for front, _ in drafted))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "entries").mkdir()
        for k, (front, body) in enumerate(drafted):
            (folder / "entries" / f"e{k}.md").write_text(entry_text(front, body), encoding="utf-8")
        config = _site(folder)

        loaded = load_entries(config.entries_path, config.site)
        by_path = {e.path: e for e in loaded.entries}
        failed = {p.path for p in loaded.errors}
        # Every file is an entry or an error naming it, never both, never neither.
        assert set(by_path) | failed == {f"e{k}.md" for k in range(len(drafted))}
        assert not set(by_path) & failed

        app = create_app(config, clock=lambda: NOW)
        fetch = _fetch(app)
        errors = [str(f) for f in check_site(fetch, base_url=BASE_URL) if f.severity == "error"]
        assert not errors, errors[:20]

        published = [e for e in by_path.values() if not e.draft and e.date <= NOW]
        catalog = build_catalog(loaded.entries, config, NOW)
        owner = {c.slug: c.name for c in catalog.categories}
        # Read with lxml, exactly: feedparser (run by the checker) "repairs" text
        # that looks like UTF-8 read as Latin-1 ("Â¡" becomes "¡"), whoever wrote it.
        rss = {i.findtext("guid"): i for i in etree.fromstring(fetch("/feed.rss")[2]).iter("item")}
        atom = {i.findtext(f"{ATOM}id"): i for i in etree.fromstring(fetch("/feed.atom")[2]).iter(f"{ATOM}entry")}
        js = {i["id"]: i for i in json.loads(fetch("/feed.json")[2])["items"]}
        assert set(rss) == set(atom) == set(js) <= {e.id for e in published}
        assert len(js) == min(len(published), 5)
        for k, (front, _) in enumerate(drafted):
            e = by_path.get(f"e{k}.md")
            if e is None or e.id not in js:
                continue
            title = " ".join(clean_text(front["title"]).split())
            assert e.title == title
            assert rss[e.id].findtext("title") == atom[e.id].findtext(f"{ATOM}title") == js[e.id]["title"] == title
            # A category name that gives no slug is reported and left out; one
            # whose slug another name owns is published under that name.
            labels = [owner[catalog.slug_of[n]] for n in e.categories if n in catalog.slug_of]
            names = list(dict.fromkeys(labels)) + list(e.tags)
            assert len({n.casefold() for n in names}) == len(names)
            assert js[e.id].get("tags", []) == names
            assert [c.text for c in rss[e.id].iter("category")] == names
            assert [c.get("label") for c in atom[e.id].iter(f"{ATOM}category")] == names
