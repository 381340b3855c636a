from datetime import UTC, datetime, timedelta

import pytest

from flagpal_dash.dates import exact, iso, relative

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
