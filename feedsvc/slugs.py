"""Slugs: lower case, ASCII, words joined by '-'.

"World & U.S. News" -> "world-us-news": dots and apostrophes vanish so that
abbreviations and contractions stay one word; other scripts are transliterated
("人工智能" -> "ren-gong-zhi-neng"). A name with nothing to transliterate (an
emoji, a symbol) is spelled by its code points ("🚀" -> "u1f680"): every name
has a slug, so no category is left without a feed for want of letters.
"""
from __future__ import annotations

import functools
import re

from slugify import slugify as _slugify

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_JOINERS = [[".", ""], ["'", ""], ["\u2019", ""], ["\u02bc", ""]]


# Characters: an export writes each slug as a folder name, which holds 255 bytes.
MAX_SLUG = 200


@functools.lru_cache(maxsize=65536)
def slugify(name: str) -> str:
    slug = _slugify(name, replacements=_JOINERS) or "-".join(f"u{ord(c):x}" for c in name if not c.isspace())
    return cut_slug(slug)


def cut_slug(slug: str) -> str:
    """``slug`` cut to MAX_SLUG characters, at a word boundary where one is near."""
    if len(slug) <= MAX_SLUG:
        return slug
    cut = slug[:MAX_SLUG + 1]
    return cut[:cut.rfind("-")] if "-" in cut[MAX_SLUG // 2:] else slug[:MAX_SLUG]


def is_slug(s: str) -> bool:
    # fullmatch: '$' alone would also accept a trailing newline ("post\n").
    return bool(_SLUG.fullmatch(s))
