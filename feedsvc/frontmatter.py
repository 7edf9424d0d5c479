"""Front matter text -> the mapping YAML gives for it.

PyYAML's C loader still builds every value in Python, which made YAML the
largest part of parsing an entry. Most front matter is one ``key: value`` line
per known key, with plain or simply quoted values and one-line flow lists; such
text is read here line by line, and every value gets the very tag and Python
object PyYAML would give it (its own resolver and constructors decide). Any
line this reader is not sure of, however ordinary, hands the whole text to
PyYAML, so the result never depends on which of the two read it.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, ScalarNode
from yaml.resolver import Resolver

try:  # the C loader is ten times faster; fall back where libyaml is missing
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Error = yaml.YAMLError

# The keys an entry may have (see ``entries``): all plain lowercase words, which
# YAML reads as text. Any other key is PyYAML's to read (and the loader's to warn about).
KEYS = frozenset({"title", "date", "updated", "categories", "tags", "author", "summary", "slug", "id", "link",
                  "image", "draft"})


class Stamp(datetime):
    """A plain scalar YAML reads as a timestamp with a time: the datetime a
    ``date`` needs, which ``str`` gives back as written. As a datetime, a title,
    tag or slug ``2025-07-26T09:30:00Z`` became "2025-07-26 09:30:00+00:00"."""

    written: str

    def __str__(self) -> str:
        return self.written


def _timestamp_or_text(constructor: Any, node: Any) -> Any:
    """A timestamp YAML cannot build stays text: ``date: 2025-02-30`` would make
    its constructor raise a bare ValueError; as text it reaches ``parse_when``,
    which reports it against the right field."""
    try:
        value = constructor.construct_yaml_timestamp(node)
    except (ValueError, OverflowError):
        return constructor.construct_scalar(node)
    if not isinstance(value, datetime):
        return value   # a bare date, which str() writes as YAML requires it written
    stamp = Stamp(value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond,
                  value.tzinfo)
    stamp.written = node.value
    return stamp


class Numeral(str):
    """A plain scalar YAML 1.1 reads as a number (``12:30``, ``0x1F``, ``3.10``,
    ``1_000``), kept as written: no entry field is a number, and as numbers
    these became "750", "31", "3.1" and "1000" in titles, slugs and tags."""

    __slots__ = ()


def _numeral(constructor: Any, node: Any) -> Numeral:
    return Numeral(constructor.construct_scalar(node))


class _EntryLoader(_Loader):  # type: ignore[misc,valid-type]
    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        # YAML wants the keys of a mapping unique; PyYAML keeps the last of two
        # silently, so "title:" written twice would publish whichever came last.
        if isinstance(node, MappingNode):
            seen: dict[tuple[str, str], Any] = {}
            for key_node, _ in node.value:
                if isinstance(key_node, ScalarNode) and key_node.tag != _MERGE:
                    key = (key_node.tag, key_node.value)
                    if key in seen:
                        raise ConstructorError(
                            "while reading the front matter", seen[key],
                            f"found {key_node.value!r} a second time; give each key once",
                            key_node.start_mark)
                    seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


class _Values(SafeConstructor):
    """The same constructors as ``_EntryLoader``, for one scalar at a time."""


_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"
_STR = "tag:yaml.org,2002:str"
for _tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
    _EntryLoader.add_constructor(_tag, _numeral)
    _Values.add_constructor(_tag, _numeral)
_EntryLoader.add_constructor(_TIMESTAMP, _timestamp_or_text)
_Values.add_constructor(_TIMESTAMP, _timestamp_or_text)
_RESOLVER = Resolver()
_VALUES = _Values()

# What makes a line one this reader leaves to PyYAML: any character Python
# does not call printable (which covers tabs, controls, the BOM and what YAML
# takes for line breaks: U+0085, U+2028, U+2029); a plain scalar's first
# character being an indicator; a ': ' or ' #' inside one (a mapping or a
# comment); in a flow list, see ``_PLAIN_ITEM``.
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")


def load(text: str) -> Any:
    """What ``yaml.load`` with the entry loader gives for ``text``; raises ``Error`` as it does."""
    fast = _read_simple(text)
    if fast is not None:
        return fast
    return yaml.load(text, Loader=_EntryLoader)


def _read_simple(text: str) -> dict[str, Any] | None:
    """The mapping, if every line is ``key: value`` of the simple kinds; else None
    (and for a text with no such line, which PyYAML reads as null)."""
    out: dict[str, Any] = {}
    for line in text.split("\n"):
        if not line:
            continue   # a blank line ends nothing that this reader takes
        key, colon, rest = line.partition(":")
        if not colon or key not in KEYS or (rest and rest[0] != " ") or not line.isprintable():
            return None
        value = _value(rest.strip(" "))
        if value is _NO or key in out:   # a key given twice: PyYAML's to report
            return None
        out[key] = value
    return out or None


_NO = object()


def _value(v: str) -> Any:
    if not v:
        return None   # "key:" alone is null, as PyYAML reads it
    first = v[0]
    if first == "[":
        return _flow_list(v)
    if first == '"' or first == "'":
        return _quoted(v)
    return _plain(v)


def _quoted(v: str) -> Any:
    """A one-line quoted scalar with nothing to unescape: its text as written."""
    q = v[0]
    inner = v[1:-1]
    if len(v) < 2 or v[-1] != q or q in inner or "\\" in inner:
        return _NO
    return inner


def _plain(v: str) -> Any:
    if v[0] in _INDICATORS or ": " in v or " #" in v or v.endswith(":"):
        return _NO
    tag = _RESOLVER.resolve(ScalarNode, v, (True, False))
    if tag == _STR:
        return v
    construct = _VALUES.yaml_constructors.get(tag)
    if construct is None:   # "=" or "<<": PyYAML refuses them, with its own message
        return _NO
    try:
        return construct(_VALUES, ScalarNode(tag, v))
    except Exception:   # whatever it is, PyYAML raises it again, where the loader reports it
        return _NO


def _flow_list(v: str) -> Any:
    """A one-line flow list of plain items or quoted ones with nothing to unescape."""
    if v[-1] != "]":
        return _NO
    inner = v[1:-1]
    if not inner.strip(" "):
        return []
    if _FLOW.fullmatch(inner) is None:
        return _NO
    items = []
    for quoted, single, plain in _ITEMS.findall(inner):
        if plain:
            value = _plain(plain.rstrip(" "))
            if value is _NO:
                return _NO
            items.append(value)
        else:
            items.append(quoted or single)
    return items


# A plain item in a flow list: no indicator first, nothing after that could
# quote, nest, comment, map or end it early.
_PLAIN_ITEM = r"[^ \"'\[\]{}#:?,\-&*!|>%@`][^\"'\[\]{}#:?,]*"
_ITEM = rf"\"[^\"\\]*\"|'[^']*'|{_PLAIN_ITEM}"
_FLOW = re.compile(rf" *(?:{_ITEM}) *(?:, *(?:{_ITEM}) *)*")
_ITEMS = re.compile(rf"\"([^\"\\]*)\"|'([^']*)'|({_PLAIN_ITEM})")
