"""Expiry notices: mail to a project's owners and developers before its tokens expire.

When an active token comes within 14, 7 and then 1 day of its expiry (``THRESHOLDS``),
the project's people get a mail listing it, with the date and a link to the API Tokens
page, where Rotate is. Left out, by the lifecycle's rules (core/tokens.py): revoked
and expired tokens (they stopped), tokens rotated and in their grace period (they stop
on purpose, their replacement exists) and tokens that never expire.

Each notice is sent once per token and threshold, whoever runs the expiry-warnings job
and however often (several servers, restarts, ``jobs run --force``): the
``expiry_notices`` row for (token, days) is inserted with ON CONFLICT DO NOTHING, and
only the insert that made the row sends. A token gets at most one notice a run, for the
smallest threshold it has reached: a token made with 5 days left gets the 7-day notice
only, and once a smaller threshold's notice went, a larger one never follows.

Mail: one per project per person per run, listing that project's tokens noticed in the
run, to its active owners and developers who have expiry mail on (Account page).
Viewers are not mailed: they cannot rotate. Mails go through the outbox
(core/outbox.py), committed with the notice rows. Plain words: many readers are not
technical.
"""

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from .. import abilities as ability
from .. import dates, links, token_format
from ..extensions import db
from ..models import ApiToken, ExpiryNotice, Membership, Project, User
from ..permissions import Role
from . import outbox
from . import tokens as token_rules

# Days before expiry, largest first.
THRESHOLDS = (14, 7, 1)
NOTIFIED_ROLES = (Role.OWNER, Role.DEVELOPER)


def threshold(token: ApiToken, now: datetime) -> int | None:
    """The smallest threshold ``token`` (expiring after ``now``) has reached: 7 for a
    token with 5 days left; None when it is further than the largest."""
    reached = [days for days in THRESHOLDS if token.expires_at <= now + timedelta(days=days)]
    return min(reached, default=None)


def expiry_notices_due(now: datetime) -> list[tuple[ApiToken, int]]:
    """Each token whose notice is due at ``now`` and the threshold it is for, soonest
    expiry first: active, not rotated, expiring within the largest threshold, and not
    yet noticed for that threshold or a smaller one."""
    candidates = token_rules.expiring(now, timedelta(days=max(THRESHOLDS)))
    if not candidates:
        return []
    sent: dict[int, list[int]] = defaultdict(list)
    for token_id, days in db.session.execute(
        select(ExpiryNotice.token_id, ExpiryNotice.days).where(
            ExpiryNotice.token_id.in_([token.id for token in candidates])
        )
    ):
        sent[token_id].append(days)
    due = []
    for token in candidates:
        days = threshold(token, now)
        if not any(done <= days for done in sent[token.id]):
            due.append((token, days))
    return due


def claim(token: ApiToken, days: int, now: datetime) -> bool:
    """Record that ``token``'s ``days`` notice is sent: True for exactly one caller
    ever, however many try at once (the others' inserts do nothing). The caller
    commits, with the mails."""
    insert = sqlite.insert if db.engine.dialect.name == "sqlite" else postgresql.insert
    # RETURNING, not the row count, says whether the row was made: through the session
    # on PostgreSQL (psycopg) the count did not tell a made row from a conflict.
    made = db.session.execute(
        insert(ExpiryNotice)
        .values(token_id=token.id, days=days, noticed_at=now)
        .on_conflict_do_nothing(index_elements=[ExpiryNotice.token_id, ExpiryNotice.days])
        .returning(ExpiryNotice.token_id)
    ).first()
    return made is not None


def recipients(project: Project) -> list[User]:
    """Who gets ``project``'s expiry mail: its active owners and developers with
    expiry mail on, by name."""
    return list(
        db.session.scalars(
            select(User)
            .join(Membership)
            .where(
                Membership.project_id == project.id,
                Membership.role.in_(NOTIFIED_ROLES),
                User.active,
                User.expiry_mail,
            )
            .order_by(User.name, User.id)
        )
    )


def queue_mails(noticed: list[tuple[ApiToken, int]], now: datetime) -> int:
    """Queue the mails for the tokens ``noticed`` in one run: one per project per
    person. How many were queued; the caller commits."""
    by_project: dict[int, list[ApiToken]] = defaultdict(list)
    projects: dict[int, Project] = {}
    for token, _ in noticed:
        by_project[token.project_id].append(token)
        projects[token.project_id] = token.project
    queued = 0
    for project_id, project_tokens in by_project.items():
        project = projects[project_id]
        for person in recipients(project):
            subject, body = expiry_mail(project, project_tokens, person, now)
            outbox.queue(person.email, subject, body, now=now)
            queued += 1
    return queued


def send_expiry_notices(now: datetime) -> tuple[list[tuple[ApiToken, int]], int]:
    """Claim every notice due at ``now`` and queue its mails: the tokens noticed with
    their thresholds, and how many mails. The caller (the expiry-warnings job) records
    each token in the audit log, and commits."""
    noticed = [(token, days) for token, days in expiry_notices_due(now) if claim(token, days, now)]
    return noticed, queue_mails(noticed, now)


# The mail.


def subject_of(project: Project, project_tokens: list[ApiToken], now: datetime) -> str:
    if len(project_tokens) == 1:
        [token] = project_tokens
        when = dates.relative(token.expires_at, now)
        return f"The FlagPal token “{token.name}” in {project.name} expires {when}"
    return f"{len(project_tokens)} FlagPal tokens in {project.name} expire soon"


def describe(token: ApiToken, now: datetime) -> str:
    """A token as the mail lists it: name, hint and abilities as the list shows them,
    then when it expires, in words and in UTC."""
    abilities = ", ".join(ability.LABELS[name] for name in ability.ordered(token.abilities))
    return (
        f"- “{token.name}” ({token_format.display_hint(token.hint)}), {abilities}\n"
        f"  stops working {dates.relative(token.expires_at, now)}: "
        f"{dates.exact(token.expires_at)}"
    )


def expiry_mail(
    project: Project, project_tokens: list[ApiToken], person: User, now: datetime
) -> tuple[str, str]:
    """The subject and body of ``person``'s mail about ``project_tokens`` of
    ``project``."""
    several = len(project_tokens) > 1
    listed = "\n".join(describe(token, now) for token in project_tokens)
    page = links.on_this_server(links.external_url("tokens.list_tokens", slug=project.slug))
    account = links.on_this_server(links.external_url("account.index"))
    role = "an owner" if is_owner(person, project) else "a developer"
    body = f"""Hello {person.name},

{"These FlagPal tokens" if several else "This FlagPal token"} of the project {project.name} \
will stop working soon. Apps that still use {"them" if several else "it"} will then be \
refused.

{listed}

To keep an app working, rotate its token before it expires: on the project's API \
Tokens page, choose Rotate beside the token and put the new value in the app; the old \
one keeps working for the grace period you choose. A token no longer needed can simply \
be left to expire.

The project's API Tokens page:
{page}

You get this mail because you are {role} of {project.name}. To stop mails like it, \
untick "Email me before my projects' tokens expire" on your Account page:
{account}
"""
    return subject_of(project, project_tokens, now), body


def is_owner(person: User, project: Project) -> bool:
    return any(
        membership.project_id == project.id and membership.role == Role.OWNER
        for membership in person.memberships
    )
