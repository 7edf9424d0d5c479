"""Front matter: the line reader gives exactly what PyYAML gives, or leaves the text to it."""
from __future__ import annotations

import datetime as dt
import random

import pytest
import yaml

from feedsvc import frontmatter


def pyyaml(text: str) -> tuple[str, object]:
    try:
        return "value", yaml.load(text, Loader=frontmatter._EntryLoader)
    except Exception as e:
        return "error", type(e).__name__


def ours(text: str) -> tuple[str, object]:
    try:
        return "value", frontmatter.load(text)
    except Exception as e:
        return "error", type(e).__name__


def typed(x: object) -> str:
    """A form in which 1, 1.0 and True (equal in Python) differ, as they do in YAML."""
    return repr(x) + type(x).__name__ + "".join(typed(v) for v in (x if isinstance(x, (list, tuple)) else ()))


WORDS = list("abcdefgh  ZYX0123456789.-é“”") * 4 + list("ab Z09:-#[]{},'\"?!&*|>%@`~.=<+_/\\é“”") + [
    "yes", "no", "null", "true", "On", "~", "2020-01-02", "12:30", "0x1F", ".inf", "1_000", "1e3", "2025-02-30",
    "2020-08-26T17:43:26+10:00", "2020-08-26 17:43:26", ": ", " #", "\t", "\u2028", "\x85", "\ufeff", "=", "<<",
]
KEYS = sorted(frontmatter.KEYS) + ["other", "Title", ""]


def generated(rnd: random.Random) -> str:
    def word(n: int) -> str:
        return "".join(rnd.choice(WORDS) for _ in range(rnd.randint(0, n)))

    lines = []
    for _ in range(rnd.randint(1, 4)):
        value = word(6)
        form = rnd.random()
        if form < 0.2:
            value = "[" + ", ".join(rnd.choice([word(3), f'"{word(3)}"', f"'{word(3)}'"])
                                    for _ in range(rnd.randint(0, 3))) + "]"
        elif form < 0.3:
            value = f'"{value}"'
        elif form < 0.35:
            value = f"'{value}'"
        lines.append(rnd.choice(KEYS) + rnd.choice([": ", ":", ":  ", " : "]) + value + rnd.choice(["", " "]))
    return "\n".join(lines) + rnd.choice(["\n", "", "\n\n"])


def test_every_generated_front_matter_reads_as_pyyaml_reads_it():
    rnd = random.Random(20261129)
    texts = [generated(rnd) for _ in range(15_000)]
    read_here = 0
    for text in texts:
        assert typed(ours(text)) == typed(pyyaml(text)), text
        read_here += frontmatter._read_simple(text) is not None
    # The comparison means something only if the line reader took a good share.
    assert read_here > 1_000


@pytest.mark.parametrize("text, expected", [
    ("title: It's 5 o'clock\n", {"title": "It's 5 o'clock"}),
    ('title: "#25: AT&T funds it"\n', {"title": "#25: AT&T funds it"}),
    ("categories: [World & U.S. News, \"Asia-Pacific: Science\", 'Q&A']\n",
     {"categories": ["World & U.S. News", "Asia-Pacific: Science", "Q&A"]}),
    ("draft: yes\nslug: 0x1F\nsummary: ~\n", {"draft": True, "slug": frontmatter.Numeral("0x1F"), "summary": None}),
    # Numbers as YAML 1.1 reads them ("750", "3.1") are no entry's text: kept as written.
    ("title: 12:30\ntags: [1_000, 3.10, .inf, 1e3]\n",
     {"title": frontmatter.Numeral("12:30"), "tags": [frontmatter.Numeral(n) for n in ("1_000", "3.10", ".inf", "1e3")]}),
    ("date: 2025-07-20T08:00:00+08:00\n",
     {"date": frontmatter.Stamp(2025, 7, 20, 8, tzinfo=dt.timezone(dt.timedelta(hours=8)))}),
    ("date: 2025-02-30\n", {"date": "2025-02-30"}),   # not a day: text, for the loader to report
    ("tags: []\ntitle:\n", {"tags": [], "title": None}),
])
def test_values_are_what_pyyaml_makes_of_them(text, expected):
    assert frontmatter._read_simple(text) is not None
    assert typed(frontmatter.load(text)) == typed(expected) == typed(pyyaml(text)[1])


@pytest.mark.parametrize("written", ["2025-07-26T09:30:00Z", "2025-07-26 09:30:00+08", "2025-7-6 1:02:03",
                                     "2025-07-26t09:30:00.50"])
def test_a_timestamp_is_an_instant_for_a_date_and_its_own_text_for_anything_else(written):
    for text in (f"title: {written}\n", f"title: {written}\nx: [a]\n"):   # the line reader, and PyYAML
        (value,) = [v for k, v in frontmatter.load(text).items() if k == "title"]
        assert isinstance(value, dt.datetime) and str(value) == written


@pytest.mark.parametrize("text", [
    "author:\n  name: Ana\n",                     # nested
    "# a comment\ntitle: A\n",
    "title: A # comment\n",
    "title: a\tb\n",
    "title: line\u2028break\n",
    "title: A:\n",
    "title: Tōkyō: a “bid” for data\n",            # ": " inside: a YAML error
    'title: "say \\"hi\\""\n',
    "title: 'It''s'\n",
    "tags: [a, [b]]\n",
    "tags: [a,]\n",
    "tags: [a,\n  b]\n",
    "title: &anchor A\n",
    "title: =\n",
    "colour: red\n",                              # not an entry key: the loader warns about it
    "title:A\n",
])
def test_anything_unusual_is_left_to_pyyaml(text):
    assert frontmatter._read_simple(text) is None
    assert typed(ours(text)) == typed(pyyaml(text))


def test_a_pyyaml_error_is_raised_as_the_loaders_error():
    with pytest.raises(frontmatter.Error):
        frontmatter.load("title: [unclosed\n")

