"""Copies of a corpus in the forms the peers read: Hugo (YAML front matter) and Pelican (its own metadata lines).

Dates are rewritten as ISO 8601 with an offset in both copies: the corpus uses
forms (``July 26, 2025 9:30 AM``, RFC 2822, a bare date) that Hugo does not
read; times without a zone are UTC, as in the feedsvc config the benchmark
writes. Entries whose date cannot be read at all are skipped and counted.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import yaml
from dateutil import parser as dateparser

_FENCE = re.compile(r"^---[ \t]*$", re.M)
try:
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader


@dataclass
class Converted:
    entries: int = 0
    skipped: int = 0
    multi_category: int = 0   # entries with more than one category (Pelican keeps the first)


def split(text: str) -> tuple[dict[str, Any], str]:
    """(front matter, body) of an entry file."""
    fences = list(_FENCE.finditer(text, 0, 1 << 20))
    if len(fences) < 2 or fences[0].start() != 0:
        raise ValueError("no front matter")
    meta = yaml.load(text[fences[0].end():fences[1].start()], Loader=_Loader) or {}
    return meta, text[fences[1].end():].lstrip("\n")


def iso(value: Any) -> str:
    if isinstance(value, dt.datetime):
        when = value
    elif isinstance(value, dt.date):
        when = dt.datetime(value.year, value.month, value.day)
    else:
        when = dateparser.parse(str(value))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.isoformat()


def names(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(value)] if isinstance(value, str) else [str(v) for v in value]


def author_name(value: Any) -> str | None:
    return str(value.get("name")) if isinstance(value, dict) else (str(value) if value else None)


def hugo_entry(meta: dict[str, Any], body: str) -> str:
    out: dict[str, Any] = {"title": str(meta["title"]), "date": iso(meta["date"])}
    if meta.get("updated") is not None:
        out["lastmod"] = iso(meta["updated"])
    out["categories"] = names(meta.get("categories"))
    for key in ("summary", "slug", "image"):
        if meta.get(key):
            out[key] = str(meta[key])
    if author_name(meta.get("author")):
        out["author"] = author_name(meta.get("author"))
    if meta.get("draft"):
        out["draft"] = True
    return "---\n" + yaml.safe_dump(out, allow_unicode=True, sort_keys=False) + "---\n" + body


def _line(s: Any) -> str:
    return " ".join(str(s).split())


def pelican_entry(meta: dict[str, Any], body: str) -> str:
    lines = [f"Title: {_line(meta['title'])}", f"Date: {iso(meta['date'])}"]
    if meta.get("updated") is not None:
        lines.append(f"Modified: {iso(meta['updated'])}")
    cats = names(meta.get("categories"))
    if cats:
        lines.append(f"Category: {_line(cats[0])}")   # Pelican has one category per article
    tags = [_line(t).replace(",", " ") for t in names(meta.get("tags"))]
    if tags:
        lines.append("Tags: " + ", ".join(tags))
    if author_name(meta.get("author")):
        lines.append(f"Author: {_line(author_name(meta.get('author')))}")
    if meta.get("summary"):
        lines.append(f"Summary: {_line(meta['summary'])}")
    if meta.get("slug"):
        lines.append(f"Slug: {_line(meta['slug'])}")
    if meta.get("draft"):
        lines.append("Status: draft")
    return "\n".join(lines) + "\n\n" + body


def convert(entries: Path, out: Path, render: Callable[[dict[str, Any], str], str]) -> Converted:
    """Write every entry of ``entries`` to ``out`` (flat, same file names) with ``render``; cached by a marker."""
    marker = out / ".converted.json"
    if marker.exists():
        return Converted(**json.loads(marker.read_text()))
    out.mkdir(parents=True, exist_ok=True)
    stats = Converted()
    for f in sorted(entries.rglob("*.md")):
        try:
            meta, body = split(f.read_text(encoding="utf-8"))
            text = render(meta, body)
        except (ValueError, KeyError, TypeError, OverflowError, yaml.YAMLError):
            stats.skipped += 1
            continue
        stats.entries += 1
        stats.multi_category += len(names(meta.get("categories"))) > 1
        (out / f.name).write_text(text, encoding="utf-8")
    marker.write_text(json.dumps(asdict(stats)))
    return stats
