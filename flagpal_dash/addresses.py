"""Proven addresses: when an account's email address is trusted as its person's.

An address is proven when its account is made by an instance admin (Admin → Users),
from the command line (``users create``) or by first-run setup, or from an invitation
link that was delivered only by mail; or later, when an admin confirms it, or its
person accepts an invitation delivered by mail. An account made from a link the owner
saw and passed on proves only that someone held that link: the owner could have
invited any address and opened the link themselves.

So nothing is granted to an unproven account because of its address: an admin naming
it a project's owner, ``members add``, and joining another project by signing in
are refused, with a message saying how to prove it. Rules only, callable without a
request; the moment is an argument and the actor is whoever is signed in, if anyone.
"""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from . import sessions
from .extensions import db
from .models import AuditEvent, AuditKind, Invitation, User
from .validation import Invalid

HOW_TO_PROVE = (
    "An instance admin can confirm it (Confirm address on Admin → Users, or "
    "`users confirm-email EMAIL` on the command line), or a project's owner can invite "
    "it with mail set up: opening the emailed link proves it."
)
ACCOUNT_EXISTS = (
    "An account for this address already exists: sign in with its password above, "
    "or ask an instance admin."
)


def is_proven(user: User) -> bool:
    return user.email_proven_at is not None


def unproven(user: User) -> str:
    """Why nothing is granted to ``user`` by address, and how to change that."""
    return (
        f"The address {user.email} is not proven yet: its account was made from an "
        f"invitation link that was not sent by mail, so nothing is granted to it by "
        f"email. {HOW_TO_PROVE}"
    )


def require_proven(user: User) -> None:
    """Before granting anything to ``user`` by their address. Raises ``Invalid``."""
    if not is_proven(user):
        raise Invalid(unproven(user))


def address_taken(user: User) -> str:
    """What creating an account for an address ``user`` holds is told."""
    if is_proven(user):
        return f"An account with the email {user.email} already exists."
    return (
        f"An account with the email {user.email} already exists, made from an invitation "
        "link; its address is not proven. If it is this person's, confirm its address "
        "instead; if not, deactivate it."
    )


def prove(user: User, now: datetime, how: str, *, actor: User | None = None) -> bool:
    """Mark the address proven (recorded with ``how``, as done by ``actor``, else by
    whoever is signed in); False if it already was."""
    if is_proven(user):
        return False
    user.email_proven_at = now
    AuditEvent.record(AuditKind.USER_ADDRESS_PROVEN, target=user.label, actor=actor, how=how)
    return True


def confirm(user: User, now: datetime) -> str:
    """An instance admin vouches for the address (on the web or the command line)."""
    if not prove(user, now, "confirmed by an admin"):
        return f"The address {user.email} is already proven."
    return f"The address {user.email} is confirmed."


def origin_project_id(user: User) -> int | None:
    """The project whose invitation made the account: the first it accepted."""
    return db.session.scalar(
        select(Invitation.project_id)
        .where(Invitation.accepted_by_id == user.id)
        .order_by(Invitation.accepted_at, Invitation.id)
        .limit(1)
    )


def may_join(user: User, invitation: Invitation) -> str | None:
    """Why ``user`` (who proved their password) may not accept ``invitation``, or None.

    An unproven account may rejoin the project that invited it, since that owner chose
    it; any other project would be granting by address. A mailed invitation is fine:
    its link proves the address (the caller marks it proven)."""
    if invitation.delivered_by_mail or is_proven(user):
        return None
    if origin_project_id(user) in (None, invitation.project_id):
        return None
    return unproven(user)


def account_for(invitation: Invitation, name: str, password: str, now: datetime) -> User:
    """The account "I'm new" makes for the invited address, or claims.

    New: proven if the link went by mail only. Existing and unproven with a mailed link:
    the mailbox is the person's, so they claim the account (new name and password, its
    sessions ended). Otherwise raises ``Invalid(ACCOUNT_EXISTS)``: the caller holds the
    project's lock, so the account it reads cannot appear or change meanwhile, except
    one made by another project's invitation at the same moment (a unique-email clash,
    rolled back here).
    """
    account = User.by_email(invitation.email)
    if account is None:
        try:
            return User.create(
                invitation.email,
                name,
                password,
                by_themselves=True,
                proven_at=now if invitation.delivered_by_mail else None,
            )
        except IntegrityError:
            db.session.rollback()
            if User.by_email(invitation.email) is None:
                raise  # not the race: a real fault, reported as one
            raise Invalid(ACCOUNT_EXISTS) from None
    if not invitation.delivered_by_mail or is_proven(account):
        raise Invalid(ACCOUNT_EXISTS)
    if not account.active:
        raise Invalid("An account for this address exists and is deactivated. Ask an admin.")
    claim(account, name, password, now)
    return account


def claim(account: User, name: str, password: str, now: datetime) -> None:
    """The address's person takes over an unproven account made in their name."""
    before = account.label
    account.name = name
    account.set_password(password)
    account.email_proven_at = now
    sessions.end_all(account)  # the squatter's, wherever they are signed in
    AuditEvent.record(
        AuditKind.USER_CLAIMED,
        target=account.label,
        actor=account,
        how="address proven by an emailed invitation; account claimed",
        previous=before,
    )
