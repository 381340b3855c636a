from datetime import UTC, datetime, timedelta

import pytest

from flagpal_dash.dates import duration, exact, iso, relative

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "offset, expected",
    [
        (timedelta(seconds=-30), "just now"),
        (timedelta(seconds=30), "just now"),
        (timedelta(minutes=-1), "1 minute ago"),
        (timedelta(minutes=-59, seconds=-59), "59 minutes ago"),
        (timedelta(hours=-3), "3 hours ago"),
        (timedelta(days=-1), "yesterday"),
        (timedelta(days=1, minutes=1), "tomorrow"),
        (timedelta(days=-3, hours=-5), "3 days ago"),
        (timedelta(days=29, hours=23), "in 29 days"),
        (timedelta(days=-45), "1 month ago"),
        (timedelta(days=90), "in 3 months"),
        (timedelta(days=-800), "2 years ago"),
    ],
)
def test_relative(offset, expected):
    assert relative(NOW + offset, NOW) == expected


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
