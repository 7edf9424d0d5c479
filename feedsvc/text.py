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


_UNCLEAN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def unclean(s: str) -> tuple[int, int | None]:
    """(how many characters ``clean_text`` would remove, 1-based line of the first).

    One scan for the common case of a clean text; counting only when needed.
    """
    m = _UNCLEAN.search(s)
    if m is None:
        return 0, None
    return len(_UNCLEAN.findall(s, m.start())), s.count("\n", 0, m.start()) + 1
