"""Slugs: lower case, ASCII, words joined by '-'; other scripts transliterated, symbols spelled."""
from __future__ import annotations

import pytest

from feedsvc.slugs import is_slug, slugify


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("World & U.S. News", "world-us-news"),
        ("Artificial Intelligence", "artificial-intelligence"),
        ("人工智能", "ren-gong-zhi-neng"),
        ("Don't Panic", "dont-panic"),
        ("Don\u2019t Panic", "dont-panic"),
        ("Ärger über Öl", "arger-uber-ol"),
        ("  Spaces   everywhere  ", "spaces-everywhere"),
        ("C++ & Rust", "c-rust"),
        ("COVID-19", "covid-19"),
        ("already-a-slug", "already-a-slug"),
        ("snake_case_name", "snake-case-name"),
    ],
)
def test_slugify_examples(name, slug):
    assert slugify(name) == slug


@pytest.mark.parametrize(("name", "slug"), [("🚀", "u1f680"), ("!!!", "u21-u21-u21"), ("¤", "ua4"),
                                          ("🚀 🔥", "u1f680-u1f525"), ("\u2026", "u2026")])
def test_a_name_with_nothing_to_transliterate_is_spelled_by_its_code_points(name, slug):
    assert slugify(name) == slug and is_slug(slug)


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
def test_only_an_empty_name_gives_an_empty_slug(name):
    assert slugify(name) == ""


@pytest.mark.parametrize("name", ["World & U.S. News", "人工智能", "Ärger", "a -- b", "Über-Größe!", "e.g. U.S.A."])
def test_slugify_output_is_always_a_slug(name):
    assert is_slug(slugify(name))


def test_slugify_is_stable_on_its_own_output():
    for name in ["World & U.S. News", "人工智能", "Artificial Intelligence"]:
        assert slugify(slugify(name)) == slugify(name)


@pytest.mark.parametrize("s", ["world", "world-us-news", "a1-b2", "2025", "x"])
def test_is_slug_accepts_lower_case_ascii_words_joined_by_dashes(s):
    assert is_slug(s)


@pytest.mark.parametrize("s", ["", "World", "world news", "world_news", "-world", "world-", "a--b", "mónde",
                               "a/b", "a.b", "world\n"])
def test_is_slug_refuses_everything_else(s):
    assert not is_slug(s)
