"""Plain-text hygiene shared by the loader and the renderers."""
from __future__ import annotations

import re

# Characters XML 1.0 forbids (C0 controls except tab/newline/CR, surrogates,
# U+FFFE/U+FFFF). lxml refuses them, and a reader would reject the whole feed.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# C1 controls are legal XML but are never meant as text in an article.
_C1 = re.compile("[\x7f-\x9f]")


def clean_text(s: str) -> str:
    return _C1.sub("", _NOT_XML.sub("", s))


def count_unclean(s: str) -> int:
    return len(_NOT_XML.findall(s)) + len(_C1.findall(s))


def first_unclean_line(s: str) -> int | None:
    """1-based line of the first character ``clean_text`` would remove, or None."""
    starts = [m.start() for m in (_NOT_XML.search(s), _C1.search(s)) if m]
    return s.count("\n", 0, min(starts)) + 1 if starts else None
