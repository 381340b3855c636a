"""Leak notices: when a leak report revokes a token (core/tokens.py's
``revoke_as_leaked``), each active owner of its project is mailed: which token, when,
where it was found, and what to do now.

Owners only: they answer for the project, and a leak asks them to decide (where the
value was published, who must clean it up); developers see the revoked token on the
page. The mail is queued in the revoke's transaction (core/outbox.py), so it goes
exactly when the revoke holds, and the report never waits on SMTP.

What the mail says of the report is what was kept of it (the URL and labels, with any
token value already cut out by the leak report endpoint): never the token's value.
Its own module, apart from core/notices.py, because core/tokens.py calls it and
core/notices.py reads core/tokens.py's rules.
"""

from datetime import datetime

from .. import abilities as ability
from .. import dates, links, token_format
from ..models import ApiToken, PersonalToken, User
from . import outbox, projects


def queue(
    token: ApiToken, url: str | None, source: str | None, secret_type: str | None, now: datetime
) -> int:
    """Queue the leak notice of ``token`` (revoked at ``now``) to each active owner of
    its project; how many. The caller commits, with the revoke."""
    owners = projects.owners_of(token.project, active=True)
    for owner in owners:
        subject, body = leak_mail(token, url, source, secret_type, owner, now)
        outbox.queue(owner.email, subject, body, now=now)
    return len(owners)


def leak_mail(
    token: ApiToken,
    url: str | None,
    source: str | None,
    secret_type: str | None,
    owner: User,
    now: datetime,
) -> tuple[str, str]:
    """The subject and body of ``owner``'s mail about ``token``, reported as leaked."""
    project = token.project
    abilities = ", ".join(ability.LABELS[name] for name in ability.ordered(token.abilities))
    where = where_found(url, source, secret_type)
    last_used = last_use(token)
    page = links.on_this_server(links.external_url("tokens.list_tokens", slug=project.slug))
    body = f"""Hello {owner.name},

Someone reported the FlagPal token “{token.name}” of the project {project.name} as \
found in public, and it was revoked at once, {dates.exact(now)}. It no longer works: \
apps that still use it are refused.

The token: “{token.name}” (token {token.id}, {token_format.display_hint(token.hint)}), \
abilities: {abilities}. {last_used}

{where}

What to do now:
1. Make a new token on the project's API Tokens page (the same abilities if it does \
the same work) and put it in the apps that used the revoked one.
2. Remove the revoked value from where it was found, so it is not reported again, and \
keep the new one out of public places (a code repository keeps old versions of files).
3. On the API Tokens page, see when the revoked token was last used and its use over \
the last 30 days: use since it was published that you do not recognise may have been \
someone else's. The project's audit log shows what was done in the project.

The project's API Tokens page:
{page}

You get this mail because you are an owner of {project.name}.
"""
    subject = f"The FlagPal token “{token.name}” in {project.name} was found in public and revoked"
    return subject, body


def queue_personal(
    token: PersonalToken,
    url: str | None,
    source: str | None,
    secret_type: str | None,
    now: datetime,
) -> None:
    """Queue the leak notice of a personal access token (revoked at ``now``) to its
    person. The caller commits, with the revoke."""
    subject, body = personal_leak_mail(token, url, source, secret_type, now)
    outbox.queue(token.user.email, subject, body, now=now)


def personal_leak_mail(
    token: PersonalToken,
    url: str | None,
    source: str | None,
    secret_type: str | None,
    now: datetime,
) -> tuple[str, str]:
    """The subject and body of the mail to the person whose personal access token was
    reported as leaked."""
    person = token.user
    where = where_found(url, source, secret_type)
    last_used = last_use(token)
    page = links.on_this_server(links.external_url("account.index"))
    body = f"""Hello {person.name},

Someone reported your FlagPal personal access token “{token.name}” as found in \
public, and it was revoked at once, {dates.exact(now)}. It no longer works: scripts \
that still use it are refused.

The token: “{token.name}” ({token_format.display_personal_hint(token.hint)}). {last_used}

{where}

What to do now:
1. Make a new personal access token on your Account page and put it in the scripts \
that used the revoked one.
2. Remove the revoked value from where it was found, and keep the new one out of \
public places (a code repository keeps old versions of files).
3. The audit logs of your projects show what was done in them: anything done "via \
API" with this token that you do not recognise may have been someone else's.

Your Account page:
{page}
"""
    subject = f"Your FlagPal personal access token “{token.name}” was found in public and revoked"
    return subject, body


def where_found(url: str | None, source: str | None, secret_type: str | None) -> str:
    """What a leak notice says of where the token was found: the report's address, and
    what else it said (GitHub's secret scanning names where in a repository, "commit"
    or "content", and which of its patterns matched)."""
    where = (
        f"Where it was found: {url}"
        if url
        else "The report did not say where it was found (or gave no web address)."
    )
    reported = [
        f"{name}: {value}" for name, value in (("source", source), ("type", secret_type)) if value
    ]
    if reported:
        where += f"\nThe report also said: {'; '.join(reported)}."
    return where


def last_use(token) -> str:
    """A leaked token's last use, in a sentence of the notice."""
    if token.last_used_at:
        return f"It was last used {dates.exact(token.last_used_at)}."
    return "It was never used."
