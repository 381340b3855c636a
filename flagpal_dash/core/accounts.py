"""Accounts: creating one, its password, signing in with it, deactivating and
reactivating it (never the last active admin), the first run of a fresh install, and
proven addresses (below).

Who acts and when are arguments, settings (bcrypt rounds, the secret key) are passed
in by the door that read them; nothing here reads the request. Refusals are
``Conflict`` errors with a code; the door words them. (Hashing and checking a
password stay on ``User``: plain methods of the row, given the rounds.)
"""

import base64
import hashlib
import hmac
from datetime import datetime

from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError

from .. import validation
from ..extensions import db
from ..models import AuditEvent, AuditKind, Invitation, User, UserSession
from ..sign_in_settings import PASSWORD_SIGN_IN_ADMINS, PASSWORD_SIGN_IN_ON
from ..validation import Invalid
from . import sessions
from .errors import Conflict

# The codes of this module's refusals.
LAST_ADMIN = "last_admin"
ADDRESS_TAKEN = "address_taken"
UNPROVEN = "address_unproven"
ACCOUNT_EXISTS = "account_exists"
ACCOUNT_DEACTIVATED = "account_deactivated"


def create_user(
    email: str,
    name: str,
    password: str | None,
    *,
    actor: User | None,
    rounds: int,
    admin: bool = False,
    by_themselves: bool = False,
    proven_at: datetime | None = None,
    **details,
) -> User:
    """A new account (email and name already checked by the caller's rules), made by
    ``actor``, or ``by_themselves`` (first run, an invitation, single sign-on: the new
    account is the actor). Its address is proven at ``proven_at``; None leaves it
    unproven (see proven addresses, below). No ``password``: one nobody knows (single
    sign-on's accounts). ``details`` add to the audit record."""
    user = User(email=email, name=name, is_admin=admin, email_proven_at=proven_at)
    if password is None:
        user.set_unknown_password(rounds=rounds)
    else:
        user.set_password(password, rounds=rounds)
    db.session.add(user)
    db.session.flush()
    AuditEvent.record(
        AuditKind.USER_CREATED,
        target=user.label,
        actor=user if by_themselves else actor,
        admin=admin,
        **details,
    )
    return user


def change_password(
    user: User,
    password: str,
    *,
    rounds: int,
    actor: User | None,
    keeping: UserSession | None = None,
    **details,
) -> int:
    """``user``'s new password, set by ``actor`` (None: the command line). Every session
    of the account ends but ``keeping`` (the browser the person changed it in): whoever
    knew the old password, or holds a session made with it, is out. ``details`` add to
    the audit record (how it was changed); returns how many sessions ended."""
    user.set_password(password, rounds=rounds)
    ended = sessions.end_all(user, but=keeping)
    AuditEvent.record(
        AuditKind.PASSWORD_CHANGED, target=user.label, actor=actor, sessions_ended=ended, **details
    )
    return ended


def password_sign_in_allowed(user: User | None, setting: str) -> bool:
    """Whether ``user`` may sign in with a password here, under FLAGPAL_PASSWORD_SIGN_IN
    ``setting`` (read by the door): ``on``, everyone; ``admins``, instance admins only;
    ``off``, nobody. None is someone without an account yet, who is no admin.

    The one rule behind every door a password opens: the sign-in page, an invitation's
    page, "Forgot your password?" and the Account page's password form. (A reset link
    from the command line or an admin still works: the way back in.)"""
    if setting == PASSWORD_SIGN_IN_ON:
        return True
    if setting == PASSWORD_SIGN_IN_ADMINS:
        return user is not None and user.is_admin
    return False


# Why a right password still does not sign in (FLAGPAL_PASSWORD_SIGN_IN admins or off).
ADMINS_ONLY = "password sign-in is for instance admins only"
PASSWORDS_OFF = "password sign-in is turned off"


def check_password(
    email: str,
    password: str,
    *,
    rounds: int,
    password_sign_in: str = PASSWORD_SIGN_IN_ON,
    **details,
) -> tuple[User | None, str | None]:
    """The active account with this email and password, or why there is none; only one
    that may sign in with a password under ``password_sign_in`` (the setting).

    Every attempt is recorded (for admins, with the reason); the caller commits. The
    sign-in page shows one message whatever the reason, so nobody learns which
    emails have accounts. ``details`` add to the record (where the attempt was made).
    """
    user = User.by_email(email)
    if user is None:
        User.spend_password_check_time(password, rounds=rounds)
        refusal = "no such account"
    elif not user.check_password(password):
        refusal = "wrong password"
    elif not user.is_active:
        refusal = "account deactivated"
    elif not password_sign_in_allowed(user, password_sign_in):
        refusal = ADMINS_ONLY if password_sign_in == PASSWORD_SIGN_IN_ADMINS else PASSWORDS_OFF
    else:
        AuditEvent.record(AuditKind.SIGN_IN_SUCCEEDED, target=user.label, actor=user, **details)
        return user, None
    AuditEvent.record(
        AuditKind.SIGN_IN_FAILED,
        target=attempted(email, user),
        reason=refusal,
        actor=None,
        **details,
    )
    return None, refusal


def attempted(email: str, user: User | None) -> str:
    """Whom a failed attempt was for. What was typed is kept only if it reads as an email
    address: a password typed into the email field must not land in the log."""
    if user is not None:
        return user.label
    try:
        return validation.email(email)
    except Invalid:
        return "(not an email address)"


def set_active(user: User, active: bool, *, actor: User | None) -> bool:
    """Deactivate (ending every session at once) or reactivate an account; False when
    it already was. Raises ``Conflict(LAST_ADMIN)`` rather than deactivate the only
    active admin, which would lock the instance out."""
    if user.active == active:
        return False
    if not active and user.is_admin:
        active_admins = db.session.scalar(
            select(func.count(User.id)).where(User.is_admin, User.active)
        )
        if active_admins == 1:
            # Worded here: the web and the command line say the same.
            raise Conflict(
                LAST_ADMIN, message="This is the only active admin; make another admin first."
            )
    user.active = active
    sessions.end_all(user)
    AuditEvent.record(
        AuditKind.USER_REACTIVATED if active else AuditKind.USER_DEACTIVATED,
        target=user.label,
        actor=actor,
    )
    return True


def set_expiry_mail(user: User, on: bool, *, actor: User | None, now: datetime) -> bool:
    """Turn ``user``'s expiry mail (core/notices.py) on or off; False when it already
    was. ``actor`` is the person themselves (the Account page) and ``now`` when.

    Not in the audit log: it is a person's own choice about their own mailbox, like
    their name, and changes no one's access; the Account page shows how it stands.
    (A project's audit events are published to its webhooks, and this is not the
    project's business.)"""
    if user.expiry_mail == on:
        return False
    user.expiry_mail = on
    return True


def has_any_account() -> bool:
    return db.session.scalar(select(exists().select_from(User)))


def first_run_code(secret_key: str) -> str:
    """The code in the one-time setup link, derived from the app's ``secret_key``.

    Every server process derives the same code without storing anything, and the
    setup page refuses it as soon as an account exists.
    """
    mac = hmac.digest(secret_key.encode(), b"flagpal-dash first-run setup", hashlib.sha256)
    return base64.urlsafe_b64encode(mac).decode()[:32]


# Proven addresses: when an account's email address is trusted as its person's.
#
# An address is proven when its account is made by an instance admin (Admin → Users),
# from the command line (``users create``) or by first-run setup, or from an invitation
# link that was delivered only by mail; or later, when an admin confirms it, or its
# person accepts an invitation delivered by mail. An account made from a link the owner
# saw and passed on proves only that someone held that link: the owner could have
# invited any address and opened the link themselves.
#
# So nothing is granted to an unproven account because of its address: an admin naming
# it a project's owner, ``members add``, and joining another project by signing in are
# refused, saying how to prove it. The refusals below carry their sentence: the web
# and the command line give the same advice.

HOW_TO_PROVE = (
    "An instance admin can confirm it (Confirm address on Admin → Users, or "
    "`users confirm-email EMAIL` on the command line), or a project's owner can invite "
    "it with mail set up: opening the emailed link proves it."
)


def is_proven(user: User) -> bool:
    return user.email_proven_at is not None


def require_proven(user: User) -> None:
    """Before granting anything to ``user`` by their address. Raises
    ``Conflict(UNPROVEN)`` saying why nothing is granted, and how to change that."""
    if not is_proven(user):
        raise Conflict(
            UNPROVEN,
            user=user,
            message=f"The address {user.email} is not proven yet: its account was made from "
            "an invitation link that was not sent by mail, so nothing is granted to it by "
            f"email. {HOW_TO_PROVE}",
        )


def require_address_free(email: str) -> None:
    """Before creating an account for ``email``: raises ``Conflict(ADDRESS_TAKEN)`` when
    an account holds it, saying what to do instead."""
    user = User.by_email(email)
    if user is None:
        return
    if is_proven(user):
        message = f"An account with the email {user.email} already exists."
    else:
        message = (
            f"An account with the email {user.email} already exists, made from an "
            "invitation link; its address is not proven. If it is this person's, confirm "
            "its address instead; if not, deactivate it."
        )
    raise Conflict(ADDRESS_TAKEN, user=user, message=message)


def prove(user: User, now: datetime, how: str, *, actor: User | None) -> bool:
    """Mark the address proven (recorded with ``how``, as done by ``actor``); False if
    it already was."""
    if is_proven(user):
        return False
    user.email_proven_at = now
    AuditEvent.record(AuditKind.USER_ADDRESS_PROVEN, target=user.label, actor=actor, how=how)
    return True


def confirm_address(user: User, now: datetime, *, actor: User | None) -> bool:
    """An instance admin vouches for the address; False if it was proven already."""
    return prove(user, now, "confirmed by an admin", actor=actor)


def origin_project_id(user: User) -> int | None:
    """The project whose invitation made the account: the first it accepted."""
    return db.session.scalar(
        select(Invitation.project_id)
        .where(Invitation.accepted_by_id == user.id)
        .order_by(Invitation.accepted_at, Invitation.id)
        .limit(1)
    )


def require_may_join(user: User, invitation: Invitation) -> None:
    """Raises ``Conflict(UNPROVEN)`` when ``user`` (who proved their password) may not
    accept ``invitation``.

    An unproven account may rejoin the project that invited it, since that owner chose
    it; any other project would be granting by address. A mailed invitation is fine:
    its link proves the address (the caller marks it proven)."""
    if invitation.delivered_by_mail or is_proven(user):
        return
    if origin_project_id(user) in (None, invitation.project_id):
        return
    require_proven(user)


def account_for(
    invitation: Invitation, name: str, password: str, now: datetime, *, rounds: int
) -> User:
    """The account "I'm new" makes for the invited address, or claims.

    New: proven if the link went by mail only. Existing and unproven with a mailed link:
    the mailbox is the person's, so they claim the account (new name and password, its
    sessions ended). Otherwise raises ``Conflict(ACCOUNT_EXISTS)`` (or
    ``ACCOUNT_DEACTIVATED``): the caller holds the project's lock, so the account it
    reads cannot appear or change meanwhile, except one made by another project's
    invitation at the same moment (a unique-email clash, rolled back here).
    """
    account = User.by_email(invitation.email)
    if account is None:
        try:
            return create_user(
                invitation.email,
                name,
                password,
                actor=None,
                rounds=rounds,
                by_themselves=True,
                proven_at=now if invitation.delivered_by_mail else None,
            )
        except IntegrityError:
            db.session.rollback()
            if User.by_email(invitation.email) is None:
                raise  # not the race: a real fault, reported as one
            raise Conflict(ACCOUNT_EXISTS) from None
    if not invitation.delivered_by_mail or is_proven(account):
        raise Conflict(ACCOUNT_EXISTS)
    if not account.active:
        raise Conflict(ACCOUNT_DEACTIVATED)
    claim(account, name, password, now, rounds=rounds)
    return account


def claim(account: User, name: str, password: str, now: datetime, *, rounds: int) -> None:
    """The address's person takes over an unproven account made in their name."""
    before = account.label
    account.name = name
    account.set_password(password, rounds=rounds)
    account.email_proven_at = now
    sessions.end_all(account)  # the squatter's, wherever they are signed in
    AuditEvent.record(
        AuditKind.USER_CLAIMED,
        target=account.label,
        actor=account,
        how="address proven by an emailed invitation; account claimed",
        previous=before,
    )
