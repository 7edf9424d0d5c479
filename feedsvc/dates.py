"""Entry dates in every form people write them, resolved to aware UTC datetimes."""
from __future__ import annotations

import datetime as dt
import email.utils
import re
import warnings
from zoneinfo import ZoneInfo

from dateutil import parser as _parser
from dateutil import tz as _tz

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
# Zone names that mean one offset everywhere; ambiguous abbreviations such as
# "EST" or "IST" are refused rather than guessed.
_TZINFOS = {"Z": UTC, "UTC": UTC, "GMT": UTC, "UT": UTC}
# Two different defaults: a field the text leaves out shows up as a difference.
_DEFAULT_A = dt.datetime(2001, 1, 1)
_DEFAULT_B = dt.datetime(2002, 2, 2)
# dateutil reads "UTC+8" the POSIX way, as eight hours *west* of UTC; a person
# who writes it means +08:00, so the name goes and the offset stays.
_NAMED_OFFSET = re.compile(r"\b(?:UTC|GMT|UT)\s*(?=[+-]\d)", re.I)


def parse_when(value: object, zone: ZoneInfo) -> tuple[dt.datetime, dt.date]:
    """Return (the instant in UTC, the calendar day as written).

    Accepts what YAML gives (``datetime``, ``date``) and strings python-dateutil
    reads. A time without a zone is in ``zone``; a bare date is midnight there.
    Raises ``ValueError`` with a reason a person can act on.
    """
    instant, day, _ = parse_when_noted(value, zone)
    return instant, day


def parse_when_noted(value: object, zone: ZoneInfo) -> tuple[dt.datetime, dt.date, str | None]:
    """``parse_when``, and a note for a local time the zone skips or repeats
    (a daylight-saving change): what it was read as, for a warning."""
    if isinstance(value, dt.datetime):
        local = value
    elif isinstance(value, dt.date):
        local = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        local = _parse_text(value.strip())
    else:
        raise ValueError(f"expected a date, got {type(value).__name__} {value!r}")
    note = None
    try:
        offset = local.utcoffset()
    except ValueError:   # dateutil reads "+24:00" into a zone that refuses to give its offset
        shown = f"'{value}'" if isinstance(value, str) else "its offset"
        raise ValueError(f"{shown}: an offset from UTC must be less than 24 hours (real zones run from "
                         f"-12:00 to +14:00)") from None
    if offset is None:
        local = local.replace(tzinfo=zone)
        note = _dst_note(local)
    try:
        instant = local.astimezone(UTC)
        instant.astimezone(zone)   # pages show it in the site's zone
    except OverflowError:  # year 1 east of UTC or of the site, year 9999 west of them
        raise ValueError(f"'{value}' is out of the range of dates a feed can carry") from None
    if instant.year < 1000 or local.year < 1000:
        # RSS dates are RFC 822 with a four-digit year: "Sat, 15 Jun 999" is none.
        raise ValueError(f"'{value}' is before the year 1000, which an RSS date cannot carry")
    return instant, local.date(), note


def _dst_note(local: dt.datetime) -> str | None:
    """For a zoned wall time that its zone skips or shows twice, what it is read as."""
    other = local.replace(fold=1)
    if local.utcoffset() == other.utcoffset():   # the common case: one reading
        return None
    zone = getattr(local.tzinfo, "key", str(local.tzinfo))
    shown = local.astimezone(UTC).astimezone(local.tzinfo)
    if shown.replace(tzinfo=None) != local.replace(tzinfo=None):
        return (f"{local:%Y-%m-%d %H:%M} does not exist in {zone} (the clocks went forward): "
                f"read as {shown:%H:%M} ({shown:%z})")
    return (f"{local:%Y-%m-%d %H:%M} happens twice in {zone} (the clocks went back): read as the first, "
            f"{local:%z}; write the offset to choose")


# Numbers only, in an order people disagree on: 07/08/2025, 25-11-21, 8.7.25
# (a four-digit year first, as ISO 8601 writes it, leaves one reading).
_NUMERIC = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{1,4})(?![/.\d-])")


# A weekday, as RFC 2822 and people write it; dateutil reads past it unchecked.
_WEEKDAY = re.compile(r"\b(mon|tue|wed|thu|fri|sat|sun)(?:day|sday|nesday|rsday|urday|s|r|rs)?\b\.?", re.I)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def ambiguity(value: object) -> str | None:
    """For a date written in numbers whose order people read differently, or
    naming a weekday its date does not fall on, what it was read as and what
    else it could mean (for a warning); else None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not _NUMERIC.match(text):
        return _weekday_note(text)
    readings: list[dt.date] = []
    for dayfirst, yearfirst in ((False, False), (True, False), (False, True)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                d = _parser.parse(text, dayfirst=dayfirst, yearfirst=yearfirst, default=_DEFAULT_A).date()
        except (ValueError, OverflowError):
            continue
        if d not in readings:
            readings.append(d)
    if len(readings) < 2:
        return None
    others = " or ".join(d.isoformat() for d in readings[1:])
    return (f"{text!r} is ambiguous: read as {readings[0].isoformat()}, but it could mean "
            f"{others}; write {readings[0].isoformat()} to say which")


def _weekday_note(text: str) -> str | None:
    m = _WEEKDAY.search(text)
    if m is None:
        return None
    try:
        day = _parse_text(text).date()
    except (ValueError, OverflowError):
        return None   # refused with its own reason
    named = [d[:3].lower() for d in _DAYS].index(m.group(1).lower())
    if named == day.weekday():
        return None
    return (f"{text!r} says {_DAYS[named]}, but {day.isoformat()} is a {_DAYS[day.weekday()]}: read as "
            f"{day.isoformat()}; correct the day or the date")


def _parse_text(text: str) -> dt.datetime:
    if not text:
        raise ValueError("empty date")
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        pass
    quick = _fast_forms(text)
    if quick is not None:
        return quick
    readable = _NAMED_OFFSET.sub("", text)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            a = _parser.parse(readable, default=_DEFAULT_A, tzinfos=_TZINFOS)
            b = _parser.parse(readable, default=_DEFAULT_B, tzinfos=_TZINFOS)
    except _parser.UnknownTimezoneWarning:
        # dateutil's own text tells a programmer to pass `tzinfos`; the person
        # who wrote the entry needs to know what to write instead.
        raise ValueError(f"{text!r} has a zone name that is ambiguous or unknown; "
                         "write an offset instead, such as +08:00 or Z") from None
    except (ValueError, OverflowError, Warning) as e:
        raise ValueError(f"cannot read {text!r} as a date ({e})") from None
    if a.date() != b.date():
        raise ValueError(f"{text!r} is not a whole date (year, month and day are needed)")
    if isinstance(a.tzinfo, _tz.tzlocal):
        # Never let the machine's own zone leak into a published date.
        raise ValueError(f"{text!r} has a zone name that depends on the machine; give an offset")
    return a


_RFC2822 = re.compile(r"^(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{4}\s+\d{1,2}:\d{2}(?::\d{2})?\s+"
                      r"(?:[+-]\d{4}|GMT|UT|UTC|Z)$")
_US_LONG = re.compile(r"^[A-Za-z]+ \d{1,2}, \d{4}(?: \d{1,2}:\d{2} ?[AaPp][Mm])?$")


def _fast_forms(text: str) -> dt.datetime | None:
    """The two common non-ISO forms, read without dateutil (ten times faster).

    Only texts that match exactly are taken here; anything else, including a
    form these patterns get wrong, goes on to dateutil.
    """
    if _RFC2822.match(text):
        try:
            d = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        # "-0000" means UTC with no local time known (RFC 5322 3.3)
        return d if d.tzinfo is not None else d.replace(tzinfo=UTC)
    if _US_LONG.match(text):
        for fmt in ("%B %d, %Y %I:%M %p", "%B %d, %Y %I:%M%p", "%B %d, %Y", "%b %d, %Y %I:%M %p", "%b %d, %Y"):
            try:
                return dt.datetime.strptime(text, fmt)
            except ValueError:
                continue
    return None


def rfc3339(d: dt.datetime) -> str:
    return d.astimezone(UTC).isoformat().replace("+00:00", "Z")
