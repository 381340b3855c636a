"""Project API tokens: their lifecycle, the rules for issuing, rotating and revoking
them, and the queries that find them.

The lifecycle (active, expiring, rotated-in-grace, expired, revoked) is defined once,
in ``RULES``: each rule says in Python and in SQL, side by side, when a token is in
that state. The token check, the API Tokens page (its rows, filter and counts), the
command line, prune and leak reports all ask here, so "is this token still good" has
one answer everywhere. tests/test_token_lifecycle.py proves both spellings agree.

What the project's token policy allows a new token (its longest lifetime) is checked
here too, by every way of issuing one; owners set the policy (core/projects.py).

The actor and the clock are arguments: nothing here reads the request.
"""

import enum
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import and_, case, or_, select

from .. import abilities as ability
from .. import token_format
from ..extensions import db
from ..models import ApiToken, AuditEvent, AuditKind, Project, User
from ..validation import Invalid
from . import rows
from .errors import Conflict

# An active token this close to its expiry is "expiring": flagged on its row, offered by
# the list's filter and reported by `flask tokens expiring`.
EXPIRES_SOON = timedelta(days=7)


class TokenState(enum.StrEnum):
    ACTIVE = "active"
    # Still works, and stops within EXPIRES_SOON unless someone acts.
    EXPIRING = "expiring"
    # Still works for the rest of a rotation's grace period; its replacement exists.
    ROTATED = "rotated"
    EXPIRED = "expired"
    REVOKED = "revoked"

    @property
    def works(self) -> bool:
        return self not in STOPPED

    @property
    def status(self) -> "TokenState":
        """The three-way status a list shows and filters by: active (any state that
        works), expired or revoked."""
        return TokenState.ACTIVE if self.works else self


STOPPED = frozenset({TokenState.EXPIRED, TokenState.REVOKED})


class Rule(NamedTuple):
    """A token is in ``state`` when ``holds`` (Python, on anything with the token's
    columns as attributes: a model or a row) and ``where`` (SQL) say so, and no earlier
    rule does."""

    state: TokenState
    holds: Callable[[Any, datetime, timedelta], bool]
    where: Callable[[datetime, timedelta], Any]


def is_revoked(token, now: datetime, soon: timedelta) -> bool:
    return token.revoked_at is not None


def has_expired(token, now: datetime, soon: timedelta) -> bool:
    return token.expires_at is not None and token.expires_at <= now


# In order: the first rule that holds decides. A NULL expires_at never expires: in SQL
# the comparison is NULL, which no CASE branch takes.
RULES = (
    Rule(
        TokenState.REVOKED,
        is_revoked,
        lambda now, soon: ApiToken.revoked_at.is_not(None),
    ),
    Rule(
        TokenState.EXPIRED,
        has_expired,
        lambda now, soon: ApiToken.expires_at <= now,
    ),
    Rule(
        TokenState.ROTATED,
        lambda token, now, soon: token.rotated_at is not None,
        lambda now, soon: ApiToken.rotated_at.is_not(None),
    ),
    Rule(
        TokenState.EXPIRING,
        lambda token, now, soon: token.expires_at is not None and token.expires_at <= now + soon,
        lambda now, soon: ApiToken.expires_at <= now + soon,
    ),
)
# The rules that stop a token: the first two.
STOPPING_RULES = RULES[:2]


def state(token, now: datetime, soon: timedelta | None = None) -> TokenState:
    """Where ``token`` (a model or a row with its columns) is in its lifecycle at ``now``.
    (``soon`` defaults to EXPIRES_SOON as it is when called, like every span here.)"""
    soon = EXPIRES_SOON if soon is None else soon
    for rule in RULES:
        if rule.holds(token, now, soon):
            return rule.state
    return TokenState.ACTIVE


def state_expression(now: datetime, soon: timedelta | None = None):
    """``state`` in SQL: a token's ``TokenState`` value at ``now``."""
    soon = EXPIRES_SOON if soon is None else soon
    return case(
        *((rule.where(now, soon), rule.state.value) for rule in RULES),
        else_=TokenState.ACTIVE.value,
    )


def stopped(token, now: datetime) -> TokenState | None:
    """Why ``token`` no longer works at ``now`` (revoked or expired); None while it does.
    The token check asks on every request: the two stopping rules' tests, called
    directly rather than looked up in ``RULES``."""
    if is_revoked(token, now, EXPIRES_SOON):
        return TokenState.REVOKED
    if has_expired(token, now, EXPIRES_SOON):
        return TokenState.EXPIRED
    return None


def status(token, now: datetime) -> TokenState:
    """Active, expired or revoked at ``now``: see ``TokenState.status``."""
    return stopped(token, now) or TokenState.ACTIVE


def status_expression(now: datetime):
    """``status`` in SQL, which the API Tokens page filters by."""
    return case(
        *((rule.where(now, EXPIRES_SOON), rule.state.value) for rule in STOPPING_RULES),
        else_=TokenState.ACTIVE.value,
    )


def is_active(token, now: datetime) -> bool:
    """Whether ``token`` still works at ``now`` (whatever its state among those that do)."""
    return stopped(token, now) is None


def active_ranges(now: datetime) -> tuple:
    """``is_active_sql`` as two conditions, each one range of the (project, revoked,
    expires) index: never expiring, and expiring after ``now``. Counting each apart and
    adding is far quicker than judging every token's state on a long list."""
    return (
        and_(ApiToken.revoked_at.is_(None), ApiToken.expires_at.is_(None)),
        and_(ApiToken.revoked_at.is_(None), ApiToken.expires_at > now),
    )


def is_active_sql(now: datetime):
    """``is_active`` in SQL: neither stopping rule holds."""
    return or_(*active_ranges(now))


def expiring_sql(now: datetime, within: timedelta | None = None):
    """Tokens in the EXPIRING state at ``now`` (for ``within``), in SQL an index can
    answer: active, not rotated, expiring by ``now + within``."""
    within = EXPIRES_SOON if within is None else within
    return and_(
        ApiToken.revoked_at.is_(None),
        ApiToken.rotated_at.is_(None),
        ApiToken.expires_at > now,
        ApiToken.expires_at <= now + within,
    )


# Queries.


def token_by_id(project: Project, token_id: int) -> ApiToken | None:
    """The project's token ``token_id``; None for another project's."""
    return rows.of_project(ApiToken, project, token_id)


def newest_first(project: Project) -> list[ApiToken]:
    return list(
        db.session.scalars(
            select(ApiToken)
            .where(ApiToken.project_id == project.id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def has_active_named(project: Project, name: str, now: datetime) -> bool:
    """Whether a token of ``project`` that still works has this name (ignoring case)."""
    names = db.session.scalars(
        select(ApiToken.name).where(ApiToken.project_id == project.id, is_active_sql(now))
    )
    wanted = name.casefold()
    return any(existing.casefold() == wanted for existing in names)


def expiring(
    now: datetime, within: timedelta | None = None, project: Project | None = None
) -> list[ApiToken]:
    """Tokens expiring within ``within`` of ``now``, soonest first (of ``project``, or of
    every project). Rotated tokens are left out: they stop on purpose, and their
    replacement exists."""
    query = select(ApiToken).where(expiring_sql(now, within))
    if project is not None:
        query = query.where(ApiToken.project_id == project.id)
    return list(db.session.scalars(query.order_by(ApiToken.expires_at, ApiToken.id)))


# The project's policy for new tokens.


def lifetime_limit(project: Project) -> timedelta | None:
    """The longest a new token may last under the project's policy (None: no limit)."""
    days = project.max_token_lifetime_days
    return None if days is None else timedelta(days=days)


def longest_expiry(project: Project, now: datetime) -> datetime | None:
    """The latest expiry a token made at ``now`` may have (None: any, or none)."""
    limit = lifetime_limit(project)
    return None if limit is None else now + limit


def check_expiry(project: Project, expires_at: datetime | None, now: datetime) -> None:
    """Raise ``Invalid`` when a token made at ``now`` to expire at ``expires_at``
    (None: never) would outlive the project's maximum lifetime. Creating and rotating,
    on the web and the command line, all ask here."""
    longest = longest_expiry(project, now)
    if longest is None or (expires_at is not None and expires_at <= longest):
        return
    days = project.max_token_lifetime_days
    if expires_at is None:
        raise Invalid(f"Tokens in {project.name} must expire within {days} days (project policy).")
    raise Invalid(f"Tokens in {project.name} can last at most {days} days (project policy).")


# Actions. Each adds its audit event to the session; the caller commits.


class NameTaken(Conflict):
    """An active token of the project already has the name."""

    def __init__(self, name: str):
        super().__init__(
            "name_taken",
            message=f'An active token is already named "{name}". Choose another name, '
            "or revoke the old token first.",
            name=name,
        )


class CannotRotate(Invalid):
    """The token cannot be rotated (already rotated, revoked or expired): ``str()`` is
    the sentence the pages show, ``code`` says which for programs."""

    CODES = ("token_already_rotated", "token_revoked", "token_expired")

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class Grace(NamedTuple):
    """How long a rotated token keeps working, as a person chooses it (the rotate
    dialog, the management API): its short name, its words, its span."""

    value: str
    label: str
    period: timedelta


GRACE_PERIODS = (
    Grace("now", "Immediately", timedelta(0)),
    Grace("1h", "In 1 hour", timedelta(hours=1)),
    Grace("24h", "In 24 hours", timedelta(hours=24)),
    Grace("7d", "In 7 days", timedelta(days=7)),
)
# What a person gets when they do not choose.
DEFAULT_GRACE = "24h"


def grace_period(value: str) -> timedelta | None:
    """The span of the grace named ``value``; None for a name not in ``GRACE_PERIODS``."""
    return next((grace.period for grace in GRACE_PERIODS if grace.value == value), None)


def lifetime(token: ApiToken) -> timedelta | None:
    """How long ``token`` was made to last (None: no expiry); a rotation's replacement
    gets the same by default. (Rotating shortens the old one's.)"""
    if token.expires_at is None:
        return None
    return token.expires_at - token.created_at


def label(token: ApiToken) -> str:
    """How the audit log names a token (never by its value): ``token 12 “CI”``."""
    return f"token {token.id} “{token.name}”"


def issue(
    project: Project,
    name: str,
    abilities: frozenset[str],
    expires_at: datetime | None,
    *,
    actor: User | None,
    now: datetime,
    replaces: ApiToken | None = None,
    actor_label: str | None = None,
) -> tuple[ApiToken, str]:
    """A new token for ``project`` and its value, which the caller shows once.

    Raises ``NameTaken`` when an active token of the project has the name already
    (a rotation's replacement takes its old token's name), and ``Invalid`` when
    ``expires_at`` is beyond the project's maximum lifetime. Callers that must not race
    another issue of the same name hold the project's lock.
    """
    if replaces is None and has_active_named(project, name, now):
        raise NameTaken(name)
    check_expiry(project, expires_at, now)
    value = token_format.generate()
    token = ApiToken(
        project=project,
        name=name,
        abilities=ability.normalize(abilities),
        token_hash=token_format.digest(value),
        hint=token_format.hint(value),
        created_at=now,
        created_by=actor,
        expires_at=expires_at,
    )
    db.session.add(token)
    db.session.flush()
    AuditEvent.record(
        AuditKind.TOKEN_CREATED,
        project=project,
        target=label(token),
        token=token,
        actor=actor,
        actor_label=actor_label,
        abilities=ability.ordered(token.abilities),
        expires_at=token.expires_at.isoformat() if token.expires_at else None,
        **({"replaces": label(replaces)} if replaces else {}),
    )
    return token, value


def rotate(
    token: ApiToken,
    grace: timedelta,
    expires_at: datetime | None,
    *,
    actor: User | None,
    now: datetime,
    actor_label: str | None = None,
) -> tuple[ApiToken, str]:
    """Replace ``token`` with a new one of the same name and abilities.

    The old one keeps working for ``grace`` (never longer than it would have), so apps
    can move to the new value; with no grace it is revoked at once. Raises
    ``CannotRotate`` unless the old token is active and not already rotated, and
    ``Invalid`` when ``expires_at`` is beyond the project's maximum lifetime.
    ``actor_label`` names who rotates as the audit log says it (a token rotating
    itself, a person through the API).
    """
    if token.replaced_by_id is not None:
        raise CannotRotate(
            "token_already_rotated",
            f'"{token.name}" was already rotated; its replacement is '
            f"{token_format.display_hint(token.replaced_by.hint)}.",
        )
    stopped_as = stopped(token, now)
    if stopped_as is not None:
        raise CannotRotate(
            f"token_{stopped_as.value}",
            f'"{token.name}" is {stopped_as.value}, so there is nothing to rotate. '
            "Create a new token instead.",
        )
    new, value = issue(
        token.project,
        token.name,
        token.abilities,
        expires_at,
        actor=actor,
        now=now,
        replaces=token,
        actor_label=actor_label,
    )
    token.rotated_at = now
    token.replaced_by = new
    if grace:
        stops = now + grace
        if token.expires_at is None or stops < token.expires_at:
            token.expires_at = stops
    else:
        token.revoked_at, token.revoked_by = now, actor
    AuditEvent.record(
        AuditKind.TOKEN_ROTATED,
        project=token.project,
        target=label(token),
        token=token,
        actor=actor,
        actor_label=actor_label,
        replaced_by=label(new),
        stops_working_at=(token.revoked_at or token.expires_at).isoformat(),
    )
    return new, value


def replacement_expiry(token: ApiToken, now: datetime) -> datetime | None:
    """When a rotation's replacement stops when nobody chose (a self-rotation, or the
    management API's rotate without an expiry): as long after ``now`` as the old token
    was made to last (never, if it never expires), cut to the project's maximum
    lifetime when the policy has tightened since, rather than refusing the rotation."""
    made_to_last = lifetime(token)
    expires_at = None if made_to_last is None else now + made_to_last
    longest = longest_expiry(token.project, now)
    if longest is not None and (expires_at is None or expires_at > longest):
        return longest
    return expires_at


def revoke(
    token: ApiToken, *, actor: User | None, now: datetime, actor_label: str | None = None
) -> bool:
    """Mark ``token`` revoked; False when it already was (nothing changes)."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = now
    token.revoked_by = actor
    AuditEvent.record(
        AuditKind.TOKEN_REVOKED,
        project=token.project,
        target=label(token),
        token=token,
        actor=actor,
        actor_label=actor_label,
    )
    return True
