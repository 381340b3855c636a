"""Moments and spans as people read them: "3 days ago", "in 29 days", the exact UTC time,
and "7 days".

Plain Python, no Flask; the templates use these as filters.
"""

from datetime import UTC, datetime, timedelta

from markupsafe import Markup, escape

# (seconds in the unit, singular name), largest first.
UNITS = [
    (365 * 86400, "year"),
    (30 * 86400, "month"),
    (86400, "day"),
    (3600, "hour"),
    (60, "minute"),
]


def relative(moment: datetime, now: datetime | None = None) -> str:
    """``moment`` relative to now, rounded down to its largest unit."""
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    if abs(seconds) < 60:
        return "just now"
    size, name = next((size, name) for size, name in UNITS if abs(seconds) >= size)
    count = int(abs(seconds) // size)
    if name == "day" and count == 1:
        return "yesterday" if seconds > 0 else "tomorrow"
    amount = f"{count} {name}{'' if count == 1 else 's'}"
    return f"{amount} ago" if seconds > 0 else f"in {amount}"


def duration(span: timedelta) -> str:
    """A fixed span as a sentence says it: ``7 days``, ``1 hour``, ``90 minutes``, in the
    largest unit that counts it exactly (days at most: a month is no fixed span)."""
    seconds = int(span.total_seconds())
    size, name = next(
        ((size, name) for size, name in UNITS if size <= 86400 and seconds % size == 0),
        (1, "second"),
    )
    count = seconds // size
    return f"{count} {name}{'' if count == 1 else 's'}"


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
