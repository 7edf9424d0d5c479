"""dates.parse_when: every form an entry date is written in, and the ones refused."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from feedsvc.dates import UTC, ambiguity, parse_when, parse_when_noted, rfc3339

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "instant", "day"),
    [
        ("2025-07-26T09:30:00+08:00", utc(2025, 7, 26, 1, 30), dt.date(2025, 7, 26)),
        ("2025-07-26T09:30:00.250+08:00", utc(2025, 7, 26, 1, 30, 0, 250000), dt.date(2025, 7, 26)),
        ("2025-07-26T23:30:00-05:00", utc(2025, 7, 27, 4, 30), dt.date(2025, 7, 26)),
        ("2025-07-26T01:30:00Z", utc(2025, 7, 26, 1, 30), dt.date(2025, 7, 26)),
        ("Sat, 26 Jul 2025 09:30:00 +0800", utc(2025, 7, 26, 1, 30), dt.date(2025, 7, 26)),
        ("Sat, 26 Jul 2025 01:30:00 GMT", utc(2025, 7, 26, 1, 30), dt.date(2025, 7, 26)),
        ("26 Jul 2025 01:30 UTC", utc(2025, 7, 26, 1, 30), dt.date(2025, 7, 26)),
    ],
)
def test_date_with_a_zone_keeps_its_instant_and_its_written_day(text, instant, day):
    assert parse_when(text, SHANGHAI) == (instant, day)
    assert parse_when(text, NEW_YORK) == (instant, day), "the site zone must not matter when a zone is given"


@pytest.mark.parametrize(
    "text",
    ["2025-07-26 09:30", "2025-07-26T09:30:00", "July 26, 2025 9:30 AM", "26 July 2025 09:30", "2025/07/26 9:30"],
)
def test_date_without_zone_takes_site_timezone(text):
    assert parse_when(text, SHANGHAI) == (utc(2025, 7, 26, 1, 30), dt.date(2025, 7, 26))
    assert parse_when(text, NEW_YORK) == (utc(2025, 7, 26, 13, 30), dt.date(2025, 7, 26))


@pytest.mark.parametrize("text", ["2025-07-26", "July 26, 2025", "26 Jul 2025"])
def test_date_only_is_midnight_in_site_timezone(text):
    assert parse_when(text, SHANGHAI) == (utc(2025, 7, 25, 16, 0), dt.date(2025, 7, 26))


def test_surrounding_whitespace_is_ignored():
    assert parse_when("  2025-07-26T01:30:00Z \n", SHANGHAI)[0] == utc(2025, 7, 26, 1, 30)


def test_yaml_date_object_is_midnight_in_site_timezone():
    assert parse_when(dt.date(2025, 7, 26), SHANGHAI) == (utc(2025, 7, 25, 16, 0), dt.date(2025, 7, 26))


def test_yaml_naive_datetime_takes_site_timezone():
    assert parse_when(dt.datetime(2025, 7, 26, 9, 30), SHANGHAI) == (utc(2025, 7, 26, 1, 30), dt.date(2025, 7, 26))


def test_yaml_aware_datetime_keeps_its_offset():
    plus8 = dt.timezone(dt.timedelta(hours=8))
    got = parse_when(dt.datetime(2025, 7, 26, 9, 30, tzinfo=plus8), NEW_YORK)
    assert got == (utc(2025, 7, 26, 1, 30), dt.date(2025, 7, 26))


def test_result_is_always_utc():
    for value in ["2025-07-26T09:30:00+08:00", "2025-07-26", dt.date(2025, 7, 26), dt.datetime(2025, 7, 26)]:
        instant, _ = parse_when(value, SHANGHAI)
        assert instant.tzinfo is UTC


def test_naive_time_in_summer_uses_summer_offset():
    # New York is UTC-4 in July and UTC-5 in January: the zone's rules apply, not a fixed offset.
    assert parse_when("2025-07-01 12:00", NEW_YORK)[0] == utc(2025, 7, 1, 16, 0)
    assert parse_when("2025-01-01 12:00", NEW_YORK)[0] == utc(2025, 1, 1, 17, 0)


@pytest.mark.parametrize("text", ["July 2025", "2025", "9:30", "March"])
def test_incomplete_date_is_refused(text):
    with pytest.raises(ValueError, match="whole date|cannot read"):
        parse_when(text, SHANGHAI)


def test_month_and_year_only_says_a_whole_date_is_needed():
    with pytest.raises(ValueError, match="whole date"):
        parse_when("July 2025", SHANGHAI)


@pytest.mark.parametrize("text", ["2025-07-26 09:30 EST", "Sat, 26 Jul 2025 09:30:00 IST", "2025-07-26 09:30 CST"])
def test_ambiguous_zone_name_is_refused_and_asks_for_an_offset(text):
    with pytest.raises(ValueError, match="offset") as info:
        parse_when(text, SHANGHAI)
    assert text in str(info.value)
    assert "tzinfos" not in str(info.value), "no programmer's advice in a message for an editor"


@pytest.mark.parametrize("text", ["soon", "the day after the summit", "2025-02-30", "2025-13-01"])
def test_unreadable_date_is_refused_quoting_the_text(text):
    with pytest.raises(ValueError) as info:
        parse_when(text, SHANGHAI)
    assert repr(text) in str(info.value)


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_date_is_refused(text):
    with pytest.raises(ValueError, match="empty"):
        parse_when(text, SHANGHAI)


@pytest.mark.parametrize("value", [20250726, 1.5, True, ["2025-07-26"], {"y": 2025}])
def test_non_date_values_are_refused_naming_the_type(value):
    with pytest.raises(ValueError, match=type(value).__name__):
        parse_when(value, SHANGHAI)


def test_rfc3339_writes_utc_with_z():
    plus8 = dt.timezone(dt.timedelta(hours=8))
    assert rfc3339(dt.datetime(2025, 7, 26, 9, 30, tzinfo=plus8)) == "2025-07-26T01:30:00Z"


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2025-07-26 09:30 UTC+8", utc(2025, 7, 26, 1, 30)),
        ("2025-07-26 09:30 GMT+8", utc(2025, 7, 26, 1, 30)),
        ("2025-07-26 09:30 utc +08:00", utc(2025, 7, 26, 1, 30)),
        ("Sat, 26 Jul 2025 09:30:00 GMT-0500", utc(2025, 7, 26, 14, 30)),
    ],
)
def test_named_utc_offset_means_east_of_utc_as_people_write_it(text, instant):
    # dateutil alone reads "UTC+8" the POSIX way (8 hours *west*): an entry would land 16 hours late.
    assert parse_when(text, NEW_YORK)[0] == instant


@pytest.mark.parametrize("value", ["0001-01-01", dt.date(1, 1, 1), "9999-12-31T23:00:00-05:00"])
def test_date_beyond_the_calendar_range_is_refused_not_crashed(value):
    with pytest.raises(ValueError, match="out of the range"):
        parse_when(value, SHANGHAI)


def test_an_instant_the_sites_zone_cannot_show_is_refused_not_crashed():
    # Fine in UTC, but year 0 in New York, where pages show it.
    with pytest.raises(ValueError, match="out of the range"):
        parse_when("0001-01-01T00:00:00Z", NEW_YORK)


@pytest.mark.parametrize("text", ["2025-07-26T09:30:00+24:00", "2025-07-26 09:30 +2400",
                                  "Sat, 26 Jul 2025 09:30:00 +2500", "2025-07-26T09:30:00-25:00"])
def test_an_offset_of_a_day_or_more_is_refused_with_the_value_and_the_range(text):
    with pytest.raises(ValueError) as e:
        parse_when(text, SHANGHAI)
    assert str(e.value) == (f"'{text}': an offset from UTC must be less than 24 hours "
                            f"(real zones run from -12:00 to +14:00)")


@pytest.mark.parametrize("text, read, other", [
    ("07/08/2025", "2025-07-08", "2025-08-07"),
    ("25-11-21", "2021-11-25", "2025-11-21"),
    ("8.7.25 10:00", "2025-08-07", "2025-07-08"),
])
def test_a_date_people_read_in_different_orders_is_read_as_dateutil_does_with_a_warning(text, read, other):
    assert parse_when(text, NEW_YORK)[1].isoformat() == read
    note = ambiguity(text)
    assert note is not None and f"read as {read}" in note and other in note and f"write {read}" in note


@pytest.mark.parametrize("text", ["Mon, 26 Jul 2025 09:30:00 GMT", "Monday, July 26, 2025", "Thu 26 Jul 2025"])
def test_a_weekday_the_date_does_not_fall_on_is_read_by_the_date_with_a_warning(text):
    assert parse_when(text, NEW_YORK)[1] == dt.date(2025, 7, 26)
    note = ambiguity(text)
    assert note is not None and "is a Saturday" in note and "read as 2025-07-26" in note


@pytest.mark.parametrize("value", ["07/26/2025", "2025-07-08", "2025/07/08", "July 8, 2025", "12/12/2025",
                                   "Sat, 26 Jul 2025 09:30:00 GMT", "Saturday, July 26, 2025", "sat 26 jul 2025",
                                   "Sunday", dt.date(2025, 7, 8), None])
def test_a_date_with_one_reading_gets_no_warning(value):
    assert ambiguity(value) is None


@pytest.mark.parametrize(("text", "zone", "instant", "said"), [
    ("2025-03-09 02:30", "America/New_York", utc(2025, 3, 9, 7, 30), "does not exist"),   # clocks went forward
    ("2025-11-02 01:30", "America/New_York", utc(2025, 11, 2, 5, 30), "happens twice"),    # clocks went back
    ("2025-09-07", "America/Santiago", utc(2025, 9, 7, 4, 0), "does not exist"),          # no midnight that day
])
def test_a_local_time_the_zone_skips_or_repeats_is_read_one_way_and_noted(text, zone, instant, said):
    got, _, note = parse_when_noted(text, ZoneInfo(zone))
    assert got == instant and note is not None and said in note and zone in note


@pytest.mark.parametrize("text", ["2025-07-01 12:00", "2025-11-02T01:30:00-05:00", "2025-03-09"])
def test_an_ordinary_or_offset_time_has_no_note(text):
    assert parse_when_noted(text, ZoneInfo("America/New_York"))[2] is None
