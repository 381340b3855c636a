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

from sqlalchemy import and_, case, func, or_, select

from .. import abilities as ability
from .. import token_format
from ..extensions import db
from ..models import LEAK_REPORT_ACTOR, ApiToken, AuditEvent, AuditKind, Project, User
from ..validation import Invalid
from . import leak_notices, leaks, locking, rows
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


def unused(project: Project, now: datetime) -> list[ApiToken]:
    """Active tokens unused for longer than the project's ``revoke_unused_after_days``
    (counted from creation when never used), oldest use first; none without that
    policy. A token made less than that long ago is never among them."""
    days = project.revoke_unused_after_days
    if days is None:
        return []
    cutoff = now - timedelta(days=days)
    last_use = func.coalesce(ApiToken.last_used_at, ApiToken.created_at)
    return list(
        db.session.scalars(
            select(ApiToken)
            .where(
                ApiToken.project_id == project.id,
                is_active_sql(now),
                ApiToken.created_at < cutoff,
                last_use < cutoff,
            )
            .order_by(last_use, ApiToken.id)
        )
    )


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
    can move to the new value; with no grace it is revoked at once. Raises ``Invalid``
    unless the old token is active and not already rotated. ``actor_label`` names who
    rotates when no person does (``rotate_itself``).
    """
    if token.replaced_by_id is not None:
        raise Invalid(
            f'"{token.name}" was already rotated; its replacement is '
            f"{token_format.display_hint(token.replaced_by.hint)}."
        )
    stopped_as = stopped(token, now)
    if stopped_as is not None:
        raise Invalid(
            f'"{token.name}" is {stopped_as.value}, so there is nothing to rotate. '
            "Create a new token instead."
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


# Self-rotation: a token with the ``rotate`` ability replaces itself, with no person
# involved (POST /api/v1/token/rotate). The old value keeps working for the grace asked,
# so the app can move to the new one; a day at most, as an app that asks for a new
# value is ready for it at once (a person rotating on the dashboard may give 7 days).
SELF_ROTATION_GRACE_DEFAULT = timedelta(hours=1)
SELF_ROTATION_GRACE_LONGEST = timedelta(hours=24)


class AlreadyRotated(Conflict):
    """The token was rotated already: its replacement exists, and only that one may
    rotate again."""

    code = "token_already_rotated"

    def __init__(self, token: ApiToken):
        super().__init__(
            message=f"This token was rotated already; its replacement "
            f"{token_format.display_hint(token.replaced_by.hint)} exists. Rotate with the "
            "replacement's value instead.",
            replacement_hint=token.replaced_by.hint,
        )


class StoppedWorking(Conflict):
    """The token stopped working (revoked or expired) before it could rotate."""

    def __init__(self, why: TokenState):
        super().__init__(why.value, message=f"This token is {why.value}.", state=why)


def self_rotation_label(token: ApiToken) -> str:
    """The audit log's actor for a token rotating itself: ``token 12 “CI” (self-rotation)``."""
    return f"{label(token)} (self-rotation)"


def replacement_expiry(token: ApiToken, now: datetime) -> datetime | None:
    """When a self-rotation's replacement stops: as long after ``now`` as the old token
    was made to last (never, if it never expires), cut to the project's maximum
    lifetime when the policy has tightened since. Nobody is there to choose, so the
    policy's longest is taken rather than refusing the app."""
    made_to_last = lifetime(token)
    expires_at = None if made_to_last is None else now + made_to_last
    longest = longest_expiry(token.project, now)
    if longest is not None and (expires_at is None or expires_at > longest):
        return longest
    return expires_at


def rotate_itself(token_id: int, grace: timedelta, *, now: datetime) -> tuple[ApiToken, str]:
    """Token ``token_id`` replaces itself (``rotate``, with the same lifetime and no
    person acting): the replacement and its value, shown once.

    Holds the project's row first, so two rotations of one token at the same moment
    make one replacement: the second raises ``AlreadyRotated``. ``StoppedWorking``
    when it was revoked or expired since its check; ``ValueError`` for a grace
    outside 0 to ``SELF_ROTATION_GRACE_LONGEST`` (the door checks it first). The
    caller commits. Who checked the token's ``rotate`` ability is the door's business.
    """
    if not timedelta(0) <= grace <= SELF_ROTATION_GRACE_LONGEST:
        raise ValueError(f"a self-rotation's grace is 0 to 24 hours, not {grace}")
    project_id = db.session.scalar(select(ApiToken.project_id).where(ApiToken.id == token_id))
    db.session.scalars(locking.locked(select(Project).where(Project.id == project_id))).one()
    token = db.session.scalars(
        select(ApiToken).where(ApiToken.id == token_id).execution_options(populate_existing=True)
    ).one()
    if token.replaced_by_id is not None:
        raise AlreadyRotated(token)
    why = stopped(token, now)
    if why is not None:
        raise StoppedWorking(why)
    new, value = rotate(
        token,
        grace,
        replacement_expiry(token, now),
        actor=None,
        now=now,
        actor_label=self_rotation_label(token),
    )
    # The person who made the credential stays answerable for its successors (the
    # list's "by …"); the audit log says the token rotated itself.
    new.created_by = token.created_by
    return new, value


def revoke(token: ApiToken, *, actor: User | None, now: datetime) -> bool:
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
    )
    return True


def prune(now: datetime, *, dry_run: bool = False, actor_label: str | None = None):
    """Revoke every token unused for longer than its project's policy allows (``unused``),
    project by project in slug order; each revoked token and its project's days, in
    that order. ``dry_run`` only finds them. ``actor_label`` names who prunes in the
    audit log (the command line when not given). The caller commits."""
    with_policy = select(Project).where(Project.revoke_unused_after_days.is_not(None))
    pruned = []
    for project in db.session.scalars(with_policy.order_by(Project.slug)):
        days = project.revoke_unused_after_days
        for token in unused(project, now):
            if not dry_run:
                revoke_as_unused(token, days, now, actor_label=actor_label)
            pruned.append((token, days))
    return pruned


def revoke_as_unused(
    token: ApiToken, days: int, now: datetime, *, actor_label: str | None = None
) -> None:
    """Revoke for the project's policy: not used for ``days`` days (``prune``)."""
    token.revoked_at = now
    token.revoked_reason = f"unused for {days} days (project policy)"
    AuditEvent.record(
        AuditKind.TOKEN_PRUNED,
        project=token.project,
        target=label(token),
        token=token,
        actor=None,
        actor_label=actor_label,
        reason=token.revoked_reason,
        last_used_at=token.last_used_at.isoformat() if token.last_used_at else "never",
    )


def revoke_as_leaked(
    token: ApiToken, url: str | None, source: str | None, secret_type: str | None, now: datetime
) -> bool:
    """Revoke a token someone reported as leaked, found at ``url`` (if known).

    False, changing nothing, when it had stopped working already: revoked (by a
    person, or by a report a moment ago) or expired. A token in a rotation's grace
    period still works, so it is revoked. ``url``, ``source`` and ``secret_type`` are
    the report's, already checked and shortened; never the token value.

    Revoking queues a mail to each active owner of the project (core/leak_notices.py),
    committed with the revoke by the caller.
    """
    if not is_active(token, now) or not leaks.revoke(token, is_active_sql(now), url, now):
        return False
    AuditEvent.record(
        AuditKind.TOKEN_REVOKED_AS_LEAKED,
        project=token.project,
        target=label(token),
        token=token,
        actor=None,
        actor_label=LEAK_REPORT_ACTOR,
        url=url,
        source=source,
        type=secret_type,
    )
    leak_notices.queue(token, url, source, secret_type, now)
    return True
