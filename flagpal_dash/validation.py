"""Rules for what people type, shared by the web forms and the command line.

Each rule returns the cleaned value or raises ``Invalid`` with a message written for
the person who typed it. Forms wrap them with ``FormRule``; the CLI prints the message.
"""

import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from email_validator import EmailNotValidError, validate_email
from wtforms.validators import ValidationError

from . import abilities as ability
from . import dates

MAX_LIFETIME_DAYS = 3650
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1000
# The password rule as a form states it under the field, before anyone breaks it.
PASSWORD_RULE = f"At least {MIN_PASSWORD_LENGTH} characters."
SLUG_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAX_SLUG_LENGTH = 50
MAX_TOKEN_NAME_LENGTH = 100


class Invalid(ValueError):
    """Input that cannot be used; ``str()`` is the message to show."""


def text(value: str | None, *, label: str, max_length: int) -> str:
    """A required one-line text: trimmed, not blank, not too long, no control characters."""
    cleaned = (value or "").strip()
    if not cleaned:
        raise Invalid(f"{label} is required.")
    if len(cleaned) > max_length:
        raise Invalid(f"{label} must be at most {max_length} characters (it has {len(cleaned)}).")
    if any(unicodedata.category(char) == "Cc" for char in cleaned):
        raise Invalid(f"{label} cannot contain line breaks, tabs or other control characters.")
    return cleaned


def token_name(value: str | None) -> str:
    return text(value, label="Name", max_length=MAX_TOKEN_NAME_LENGTH)


def person_name(value: str | None) -> str:
    return text(value, label="Name", max_length=100)


def project_name(value: str | None) -> str:
    return text(value, label="Project name", max_length=100)


def email(value: str | None) -> str:
    cleaned = text(value, label="Email", max_length=254)
    try:
        checked = validate_email(cleaned, check_deliverability=False)
    except EmailNotValidError:
        raise Invalid("Enter an email address like name@example.com.") from None
    return checked.normalized.lower()


def password(value: str | None) -> str:
    value = value or ""
    if len(value) < MIN_PASSWORD_LENGTH:
        raise Invalid(f"Use at least {MIN_PASSWORD_LENGTH} characters for the password.")
    if len(value) > MAX_PASSWORD_LENGTH:
        raise Invalid(f"Use at most {MAX_PASSWORD_LENGTH} characters for the password.")
    return value


def slug(value: str | None) -> str:
    cleaned = (value or "").strip()
    if not SLUG_PATTERN.fullmatch(cleaned) or len(cleaned) > MAX_SLUG_LENGTH:
        raise Invalid(
            f"A slug is 1 to {MAX_SLUG_LENGTH} lower-case letters, digits and single "
            "hyphens, like 'shop-backend'."
        )
    return cleaned


def slug_from_name(name: str) -> str:
    """A slug suggested by a project name: 'Shop Backend!' gives 'shop-backend'."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_name.lower())
    return "-".join(words)[:MAX_SLUG_LENGTH].strip("-") or "project"


def abilities(values: list[str] | None) -> frozenset[str]:
    chosen = frozenset(values or ())  # None: a form post without the field
    if not chosen:
        raise Invalid("Choose at least one ability.")
    unknown = chosen - ability.ALL
    if unknown:
        offered = ", ".join(ability.LABELS[a] for a in ability.LABELS)
        raise Invalid(f"Choose abilities from the list: {offered}.")
    return ability.normalize(chosen)


def lifetime_days(days: int) -> int:
    if not 1 <= days <= MAX_LIFETIME_DAYS:
        raise Invalid(f"A token can be valid for 1 to {MAX_LIFETIME_DAYS} days.")
    return days


def expiry_time(moment: datetime, now: datetime) -> datetime:
    """An exact time a token made at ``now`` stops working, as a script gives it (the
    management API): after now, and no further than ``MAX_LIFETIME_DAYS`` ahead. The
    project's maximum lifetime is the project's to check."""
    if moment <= now:
        raise Invalid(
            f"Choose a time after now ({dates.iso(now)}): a token cannot expire before it is made."
        )
    latest = now + timedelta(days=MAX_LIFETIME_DAYS)
    if moment > latest:
        raise Invalid(
            f"A token can be valid for at most {MAX_LIFETIME_DAYS} days: choose "
            f"{dates.iso(latest)} or earlier, or no expiry."
        )
    return moment


def earliest_expiry_day(now: datetime) -> date:
    """The first day a token made at ``now`` may be chosen to expire on: tomorrow (UTC),
    as a token chosen for today would last only until midnight."""
    return now.date() + timedelta(days=1)


def latest_expiry_day(now: datetime, longest: datetime | None = None) -> date:
    """The last day a token made at ``now`` may be chosen to expire on, when it may
    last until ``longest`` at most (the project's maximum lifetime) and never beyond
    ``MAX_LIFETIME_DAYS``. A date picker's ``max`` and the check of a submit both ask."""
    limit = now + timedelta(days=MAX_LIFETIME_DAYS)
    if longest is not None and longest < limit:
        limit = longest
    # The token stops at the end of the day chosen: that midnight must not pass the limit.
    return limit.date() - timedelta(days=1)


def expiry_date(day: date, now: datetime) -> datetime:
    """When a token chosen to expire "on" ``day`` stops working: the end of that day, UTC.
    The project's maximum lifetime is the project's to check."""
    earliest = earliest_expiry_day(now)
    if day < earliest:
        raise Invalid(f"Choose {dates.day(earliest)} or later (a date after today, UTC).")
    latest = latest_expiry_day(now)
    if day > latest:
        raise Invalid(f"Choose {dates.day(latest)} or earlier, or No expiration.")
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=now.tzinfo)


def last_day(expires_at: datetime) -> date:
    """The last day a token expiring at ``expires_at`` works on: for one chosen to
    expire "on" a day (stopping at the midnight that ends it), that day. The inverse
    of ``expiry_date``: a form showing a stored expiry as a date asks here, so the
    date it shows is the one chosen, not the day after."""
    return (expires_at - timedelta(microseconds=1)).date()


def is_end_of_day(moment: datetime) -> bool:
    """Whether ``moment`` is a midnight, UTC: where a token chosen to expire on a
    day stops."""
    return moment.time() == time()


class FormRule:
    """A WTForms validator running one of the rules above and keeping its cleaned value."""

    def __init__(self, rule: Callable):
        self.rule = rule

    def __call__(self, form, field) -> None:
        try:
            field.data = self.rule(field.data)
        except Invalid as error:
            raise ValidationError(str(error)) from None
