"""Shared fixtures: a config on a temporary entries folder, entry files, a fixed clock."""
from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from feedsvc.config import Config, config_from_mapping

NOW = dt.datetime(2025, 12, 1, 12, 0, tzinfo=dt.timezone.utc)
BASE_URL = "https://news.example.org"


def site_mapping(entries: Path, **sections: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "site": {"title": "The Test Review", "base_url": BASE_URL, "description": "Tests of the feed publisher",
                 "language": "en", "timezone": "Asia/Shanghai", "author": "Newsroom"},
        "entries": {"path": str(entries)},
        "feeds": {"max_entries": 50},
        "refresh": {"interval_seconds": 300},
    }
    for name, body in sections.items():
        data.setdefault(name, {}).update(body)
    return data


@pytest.fixture
def entries_dir(tmp_path: Path) -> Path:
    d = tmp_path / "entries"
    d.mkdir()
    return d


@pytest.fixture
def make_config(entries_dir: Path) -> Callable[..., Config]:
    """make_config(feeds={"max_entries": 3}, categories={...}) -> Config without a scheduler."""
    import dataclasses

    def make(**sections: dict[str, Any]) -> Config:
        cfg = config_from_mapping(site_mapping(entries_dir, **sections), {}, base_dir=entries_dir.parent)
        return dataclasses.replace(cfg, scheduler_enabled=False)

    return make


@pytest.fixture
def config(make_config: Callable[..., Config]) -> Config:
    return make_config()


def entry_text(front: dict[str, Any] | str, body: str = "A first paragraph.\n") -> str:
    fm = front if isinstance(front, str) else yaml.safe_dump(front, allow_unicode=True, sort_keys=False)
    return f"---\n{textwrap.dedent(fm).strip()}\n---\n{textwrap.dedent(body)}"


@pytest.fixture
def write_entry(entries_dir: Path) -> Callable[..., Path]:
    """write_entry("2025/07/slug.md", {"title": ..., "date": ...}, body) -> path; bytes are written as given."""

    def write(rel: str, front: dict[str, Any] | str | bytes, body: str = "A first paragraph.\n") -> Path:
        p = entries_dir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(front, bytes):
            p.write_bytes(front)
        else:
            p.write_text(entry_text(front, body), encoding="utf-8")
        return p

    return write


class Clock:
    """A settable clock for the service: tests move time instead of sleeping."""

    def __init__(self, now: dt.datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_app(make_config, clock):
    """make_app(**config sections) -> a Flask app (no scheduler) on the temp entries folder."""
    from feedsvc.app import create_app

    def make(**sections: dict[str, Any]):
        app = create_app(make_config(**sections), clock=clock)
        app.testing = True
        return app

    return make


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(autouse=True)
def fresh_render_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bodies read back, rendered HTML and derived summaries are kept per process by file digest:
    each test starts without what an earlier one left there."""
    from feedsvc import model
    from feedsvc.resources import LRU

    monkeypatch.setattr(model, "_HTML", LRU(model._HTML.budget, len))
    monkeypatch.setattr(model, "_SUMMARIES", LRU(model._SUMMARIES.budget, len))
    monkeypatch.setattr(model, "_BODIES", LRU(model._BODIES.budget, len))
