"""The README documents every setting and every public route."""
from __future__ import annotations

from pathlib import Path

import pytest

from feedsvc.config import SETTINGS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_every_setting_is_in_the_configuration_table(setting):
    assert f"| `{setting.name}` | `{setting.env}` |" in README


def test_every_route_is_documented(app):
    documented = {"/", "/feed.<fmt>", "/categories/<slug>/feed.<fmt>", "/categories/<slug>/", "/articles/<slug>/",
                  "/opml.xml", "/style.css", "/feed.css", "/favicon.ico", "/healthz", "/status", "/metrics", "/admin/refresh",
                  "/archive/<int:number>/feed.<fmt>", "/categories/<slug>/archive/<int:number>/feed.<fmt>"}
    rules = {r.rule for r in app.url_map.iter_rules() if r.endpoint != "static"}
    assert rules == documented
    for needle in ("`/feed.rss`", "`/categories/<slug>/feed.rss`", "`/categories/<slug>/`", "`/articles/<slug>/`",
                   "`/opml.xml`", "`/healthz`", "`/status`", "`/metrics`", "`/admin/refresh`",
                   "`/archive/<n>/feed.rss`", "`/categories/<slug>/archive/<n>/feed.rss`", "`/style.css`"):
        assert needle in README, needle
