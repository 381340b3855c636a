"""Moments and spans as people read them: "3 days ago", "in 30 days", the exact UTC time,
"7 days", and a day in words.

Plain Python, no Flask; the templates use these as filters.
"""

import math
from datetime import UTC, date, datetime, timedelta

from markupsafe import Markup, escape

# (seconds in the unit, singular name, the count from which the next unit says it),
# smallest first. Hours run to 48 and days to 100, so the spans people pick read as
# they picked them: a 24-hour grace "in 24 hours" (not "tomorrow", which can be a few
# hours away), a 30- or 90-day token "in 30 days", "in 90 days" (a month is no fixed
# span, and every period the token forms offer is in days).
UNITS = [
    (60, "minute", 60),
    (3600, "hour", 48),
    (86400, "day", 100),
    (30 * 86400, "month", 12),
    (365 * 86400, "year", None),
]
DAY = 86400


def rounded(seconds: float) -> tuple[int, str]:
    """``seconds`` (not negative) as a count of the unit a person would say it in,
    rounded to the nearest (a half rounds up): a 7-day token a second after it was
    made still has 7 days, not 6; 59 minutes 40 seconds is 1 hour."""
    for size, name, next_from in UNITS:
        count = math.floor(seconds / size + 0.5)
        if next_from is None or count < next_from:
            return count, name
    raise AssertionError("the last unit has no limit")


def relative(moment: datetime, now: datetime | None = None) -> str:
    """``moment`` relative to now, in the unit a person would say it in, rounded."""
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    if abs(seconds) < 60:
        return "just now"
    count, name = rounded(abs(seconds))
    amount = f"{count} {name}{'' if count == 1 else 's'}"
    return f"{amount} ago" if seconds > 0 else f"in {amount}"


def duration(span: timedelta) -> str:
    """A span as a sentence says it: ``7 days``, ``1 hour``, ``90 minutes``, in the
    largest unit that counts it exactly (days at most: a month is no fixed span). A
    minute or more is first rounded to the minute, so a span measured a moment late
    (6 days, 23 hours and 59 minutes 50 seconds) still reads as the 7 days it was."""
    seconds = span.total_seconds()
    seconds = math.floor(seconds / 60 + 0.5) * 60 if seconds >= 60 else round(seconds)
    size, name = next(
        ((size, name) for size, name, _ in reversed(UNITS) if size <= DAY and seconds % size == 0),
        (1, "second"),
    )
    count = seconds // size
    return f"{count} {name}{'' if count == 1 else 's'}"


def day(moment: date) -> str:
    """``31 Jan 2027``: a day in words, which no reader takes for another (a date
    picker shows 01/31/2027 or 31/01/2027, by the browser's language)."""
    return f"{moment.day} {moment:%b %Y}"


def exact(moment: datetime) -> str:
    """``28 Nov 2026, 10:02 UTC``."""
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


def iso(moment: datetime) -> str:
    """``2026-11-28T10:02:00Z``, for a ``<time datetime>``."""
    return f"{moment:%Y-%m-%dT%H:%M:%S}Z"


def time_tag(moment: datetime, now: datetime | None = None) -> Markup:
    """``<time datetime=… title="exact">3 days ago</time>``, the templates' ``time_tag``:
    in Python, not a macro, for rows drawn a hundred to a page."""
    # An f-string, not Markup.format (which runs every field through string.Formatter
    # and escapes it, on every row): iso and exact are digits and month names, and only
    # the relative text is escaped, as any text would be.
    return Markup(
        f'<time datetime="{iso(moment)}" title="{exact(moment)}">'
        f"{escape(relative(moment, now))}</time>"
    )
