"""Render floor: one 50-entry feed through feedsvc.render.render against feedgen alone on the same items.

    python -m bench.render_floor ENTRIES_DIR [--reps 30]

Prints one JSON object. Runs in its own process, so the corpus it loads never
weighs on the harness, and a changed feedsvc API shows up as one error.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Callable

from feedgen.feed import FeedGenerator

from feedsvc.catalog import build_catalog
from feedsvc.config import config_from_mapping
from feedsvc.entries import load_entries
from feedsvc.refresher import utcnow
from feedsvc.render import categories_of, feed_specs, render


def largest_full_feed(entries_dir: Path):  # type: ignore[no-untyped-def]
    """The feed spec with max_entries entries and the most Markdown, and its item-category function."""
    config = config_from_mapping({"site": {"title": "Bench", "base_url": "https://bench.example.org"},
                                  "entries": {"path": str(entries_dir)}})
    loaded = load_entries(config.entries_path, config.site)
    catalog = build_catalog(loaded.entries, config, utcnow())
    full = [s for s in feed_specs(catalog, config) if len(s.entries) == config.max_entries]
    spec = max(full, key=lambda s: sum(len(e.body) for e in s.entries))
    cats = categories_of(catalog.slug_of, {c.slug: c.name for c in catalog.categories}, config.site.base_url)
    for e in spec.entries:
        e.content_html  # noqa: B018 - computed once, as a refresh does; both sides reuse it
    return spec, cats


def feedgen_alone(spec, cats, fmt: str) -> bytes:  # type: ignore[no-untyped-def]
    """The same items with plain feedgen: id, title, link, dates, summary, HTML content, categories, author."""
    fg = FeedGenerator()
    fg.id(spec.id)
    fg.title(spec.title)
    fg.description(spec.description or spec.title)
    fg.link(href=spec.html_url, rel="alternate")
    fg.language(spec.language)
    for e in spec.entries:
        fe = fg.add_entry(order="append")
        fe.id(e.id)
        fe.title(e.title)
        fe.link(href=e.link)
        fe.published(e.date)
        fe.updated(e.updated)
        fe.summary(e.summary)
        fe.content(e.content_html, type="html")
        fe.author({"name": e.author.name})
        fe.category([{"term": c.term, "label": c.label, "scheme": c.scheme} for c in cats(e)])
    return fg.rss_str() if fmt == "rss" else fg.atom_str()


def median_pair(a: Callable[[], bytes], b: Callable[[], bytes], reps: int) -> tuple[float, float, int, int]:
    """Median seconds of ``a`` and ``b``, run alternately (so drift hits both), and their output sizes."""
    sa, sb = [], []
    size_a, size_b = len(a()), len(b())   # warm-up
    for _ in range(reps):
        for fn, samples in ((a, sa), (b, sb)):
            t = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t)
    return statistics.median(sa), statistics.median(sb), size_a, size_b


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("entries", type=Path)
    p.add_argument("--reps", type=int, default=30)
    args = p.parse_args()
    spec, cats = largest_full_feed(args.entries)
    out: dict[str, object] = {"feed": (f"/categories/{spec.key}" if spec.key else "") + "/feed",
                              "entries": len(spec.entries)}
    for fmt in ("rss", "atom"):
        ours, plain, size_ours, size_plain = median_pair(lambda: render(spec, fmt, cats),
                                                         lambda: feedgen_alone(spec, cats, fmt), args.reps)
        out[fmt] = {"feedsvc": ours, "feedgen": plain, "bytes_feedsvc": size_ours, "bytes_feedgen": size_plain}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
