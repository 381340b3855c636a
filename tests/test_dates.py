from datetime import UTC, datetime, timedelta

import pytest

from flagpal_dash.dates import day, duration, exact, iso, relative

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "offset, expected",
    [
        (timedelta(seconds=-30), "just now"),
        (timedelta(seconds=30), "just now"),
        (timedelta(minutes=-1), "1 minute ago"),
        (timedelta(minutes=-59, seconds=-29), "59 minutes ago"),
        (timedelta(minutes=-59, seconds=-59), "1 hour ago"),
        (timedelta(hours=-3), "3 hours ago"),
        (timedelta(days=-1), "24 hours ago"),
        (timedelta(days=1, minutes=1), "in 24 hours"),
        (timedelta(days=-3, hours=-5), "3 days ago"),
        (timedelta(days=29, hours=23), "in 30 days"),
        (timedelta(days=-45), "45 days ago"),
        (timedelta(days=90), "in 90 days"),
        (timedelta(days=-100), "3 months ago"),
        (timedelta(days=-800), "2 years ago"),
    ],
)
def test_relative(offset, expected):
    assert relative(NOW + offset, NOW) == expected


# What a person picked, and what the page says of it a moment later: rounded to the
# nearest, never one unit short. (offset from the start, what it reads then.)
PICKED = {
    "7-day token": (timedelta(days=7), "7 days"),
    "30-day token": (timedelta(days=30), "30 days"),
    "60-day token": (timedelta(days=60), "60 days"),
    "90-day token": (timedelta(days=90), "90 days"),
    "24-hour grace": (timedelta(hours=24), "24 hours"),
    "1-hour grace": (timedelta(hours=1), "1 hour"),
    "7-day invitation": (timedelta(days=7), "7 days"),
}


@pytest.mark.parametrize("span, reads", PICKED.values(), ids=PICKED.keys())
@pytest.mark.parametrize("late", [timedelta(0), timedelta(seconds=1), timedelta(seconds=29)])
def test_just_after_it_was_made_a_span_reads_as_it_was_picked(span, reads, late):
    made = NOW - late
    assert relative(made + span, NOW) == f"in {reads}"
    assert relative(NOW - span, NOW + late) == f"{reads} ago"


@pytest.mark.parametrize(
    "offset, expected",
    [
        # half-way through a unit rounds up, just before half-way down
        (timedelta(days=3, hours=12), "4 days"),
        (timedelta(days=3, hours=11, minutes=59), "3 days"),
        (timedelta(hours=2, minutes=30), "3 hours"),
        (timedelta(hours=2, minutes=29), "2 hours"),
        (timedelta(minutes=1, seconds=30), "2 minutes"),
        (timedelta(minutes=1, seconds=29), "1 minute"),
        # a unit's last moments read as the next unit
        (timedelta(minutes=59, seconds=30), "1 hour"),
        (timedelta(hours=47, minutes=30), "2 days"),
        (timedelta(hours=47, minutes=29), "47 hours"),
        (timedelta(days=99, hours=12), "3 months"),
        (timedelta(days=99, hours=11), "99 days"),
        (timedelta(days=360), "1 year"),
        # exactly, and a minute before the moment itself
        (timedelta(minutes=1), "1 minute"),
        (timedelta(seconds=59), None),
        (timedelta(0), None),
    ],
)
@pytest.mark.parametrize("direction", ["future", "past"])
def test_relative_rounds_to_the_nearest_unit_both_ways(offset, expected, direction):
    if direction == "future":
        said = relative(NOW + offset, NOW)
        assert said == (f"in {expected}" if expected else "just now")
    else:
        said = relative(NOW - offset, NOW)
        assert said == (f"{expected} ago" if expected else "just now")


@pytest.mark.parametrize(
    "picked, left, expected",
    [
        (timedelta(days=30), timedelta(days=30), "in 30 days"),
        (timedelta(days=30), timedelta(days=15), "in 15 days"),
        (timedelta(days=30), timedelta(minutes=1), "in 1 minute"),
        (timedelta(days=30), timedelta(0), "just now"),
        (timedelta(days=7), timedelta(days=7) - timedelta(seconds=1), "in 7 days"),
        (timedelta(days=7), timedelta(days=3, hours=12), "in 4 days"),
        (timedelta(days=7), timedelta(minutes=1), "in 1 minute"),
        (timedelta(hours=24), timedelta(hours=24) - timedelta(seconds=1), "in 24 hours"),
        (timedelta(hours=24), timedelta(hours=12), "in 12 hours"),
        (timedelta(hours=24), timedelta(minutes=1), "in 1 minute"),
    ],
)
def test_a_period_counts_down_from_what_was_picked(picked, left, expected):
    made = NOW - (picked - left)
    assert relative(made + picked, NOW) == expected


def test_a_day_is_written_in_words_no_picker_format_can_be_mistaken_for():
    assert day(datetime(2027, 1, 31).date()) == "31 Jan 2027"
    assert day(datetime(2026, 12, 5).date()) == "5 Dec 2026"


def test_exact_and_iso():
    moment = datetime(2026, 1, 5, 9, 7, 3, 999, tzinfo=UTC)
    assert exact(moment) == "5 Jan 2026, 09:07 UTC"
    assert iso(moment) == "2026-01-05T09:07:03Z"


@pytest.mark.parametrize(
    "span, expected",
    [
        (timedelta(days=7), "7 days"),
        (timedelta(days=1), "1 day"),
        (timedelta(hours=24), "1 day"),
        (timedelta(days=30), "30 days"),
        (timedelta(days=365), "365 days"),
        (timedelta(hours=1), "1 hour"),
        (timedelta(hours=36), "36 hours"),
        (timedelta(minutes=90), "90 minutes"),
        (timedelta(seconds=45), "45 seconds"),
    ],
)
def test_duration_names_a_span_exactly_in_its_largest_unit(span, expected):
    assert duration(span) == expected


@pytest.mark.parametrize(
    "span, expected",
    [
        (timedelta(days=7) - timedelta(seconds=10), "7 days"),
        (timedelta(days=7) + timedelta(seconds=29), "7 days"),
        (timedelta(hours=24) - timedelta(seconds=1), "1 day"),
        (timedelta(hours=1) - timedelta(seconds=30), "1 hour"),
        (timedelta(minutes=90, seconds=20), "90 minutes"),
        (timedelta(seconds=44.6), "45 seconds"),
    ],
)
def test_duration_of_a_span_measured_a_moment_off_is_the_span_picked(span, expected):
    assert duration(span) == expected
