"""Single sign-on: who a person an OpenID Connect provider vouches for is here.

The provider names a person by its issuer and a subject that never changes; that pair,
an ``SsoIdentity``, is joined to one account, never an email address alone. On a first
sign-in:
- an account with the same address is joined only when the provider says the address
  is verified (an unproven account, made from an invitation link someone passed on, is
  claimed: its password and sessions are voided, as a mailed invitation would);
- otherwise a new account is made only for an address in one of the allowed domains,
  or one a project has invited, proven by the provider; anyone else is told to ask an
  admin for an invitation.
A deactivated account is refused. Roles stay here: the provider decides who someone is,
projects decide what they may do; only the optional admin group makes or unmakes
instance admins, at each sign-in (never the last active admin).

Every sign-in, join, new account and refusal is in the audit log. The door passes the
claims it checked (the ID token's signature, issuer, audience, expiry and nonce), the
settings and the clock; nothing here reads the request.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from .. import validation
from ..extensions import db
from ..models import AuditEvent, AuditKind, SsoIdentity, User
from ..validation import Invalid
from . import accounts, invitations, sessions
from .errors import DomainError

# Why a sign-in was refused: the codes of ``Refused``, and the audit log's reason.
CANCELLED = "cancelled"
PROVIDER_ERROR = "provider_error"
PROVIDER_UNREACHABLE = "provider_unreachable"
STATE_MISMATCH = "state_mismatch"
TOKEN_INVALID = "token_invalid"
NO_EMAIL = "no_email"
UNVERIFIED = "email_unverified"
DOMAIN_NOT_ALLOWED = "domain_not_allowed"
DEACTIVATED = "account_deactivated"

# Audit reasons in plain words.
REASONS = {
    CANCELLED: "cancelled at the provider",
    PROVIDER_ERROR: "the provider answered with an error",
    PROVIDER_UNREACHABLE: "the provider could not be reached",
    STATE_MISMATCH: "the sign-in did not start in this browser (state mismatch)",
    TOKEN_INVALID: "the provider's ID token failed its checks",
    NO_EMAIL: "the provider sent no email address",
    UNVERIFIED: "the provider has not verified the email address",
    DOMAIN_NOT_ALLOWED: "no account, and the address's domain is not allowed",
    DEACTIVATED: "account deactivated",
}


class Refused(DomainError):
    """A sign-in that does not go ahead; ``code`` is one of the reasons above, and it
    is recorded already. The door words it and says what to do."""

    code = "sso_refused"


@dataclass(frozen=True)
class Claims:
    """What a checked ID token says about the person."""

    issuer: str
    subject: str
    email: str | None = None
    email_verified: bool = False
    name: str | None = None
    # None: the provider sent no groups claim.
    groups: tuple[str, ...] | None = None

    @classmethod
    def from_id_token(cls, claims: dict) -> "Claims":
        """Read a checked ID token's claims, whatever shape the provider gives them.

        ``email_verified`` must be true itself (some providers send the string "true").
        Entra ID sends none; its optional claim ``xms_edov`` (the address's domain is
        verified by its owner) stands in."""
        verified = claims.get("email_verified")
        if verified is None:
            verified = claims.get("xms_edov")
        groups = claims.get("groups")
        if isinstance(groups, str):
            groups = [groups]
        return cls(
            issuer=str(claims["iss"]),
            subject=str(claims["sub"]),
            email=claims.get("email") if isinstance(claims.get("email"), str) else None,
            email_verified=verified is True or verified == "true",
            name=claims.get("name") if isinstance(claims.get("name"), str) else None,
            groups=tuple(str(group) for group in groups) if isinstance(groups, list) else None,
        )

    @property
    def label(self) -> str:
        """Whom an attempt was for, in the audit log: the address, or the subject."""
        address = checked_email(self.email)
        return address or f"subject {self.subject[:200]} at {self.issuer[:150]}"


@dataclass(frozen=True)
class SignedIn:
    user: User
    created: bool = False
    linked: bool = False


def checked_email(email: str | None) -> str | None:
    """``email`` as accounts store it, or None when it is not an address."""
    if not email:
        return None
    try:
        return validation.email(email)
    except Invalid:
        return None


def refuse(reason: str, *, target: str | None, issuer: str, **details) -> Refused:
    """Record a refused sign-in and return the error to raise (the caller commits the
    record: nothing else changed)."""
    AuditEvent.record(
        AuditKind.SSO_SIGN_IN_REFUSED,
        target=target,
        actor=None,
        reason=REASONS[reason],
        provider=issuer,
        **details,
    )
    return Refused(reason)


def identity_of(issuer: str, subject: str) -> SsoIdentity | None:
    return db.session.scalar(
        select(SsoIdentity).where(SsoIdentity.issuer == issuer, SsoIdentity.subject == subject)
    )


def sign_in(
    claims: Claims,
    *,
    allowed_domains: Iterable[str],
    admin_group: str,
    now: datetime,
    rounds: int,
) -> SignedIn:
    """The account ``claims`` sign in to, joined or made on a first sign-in; raises
    ``Refused`` (recorded) otherwise. The caller signs the browser in and commits."""
    identity = identity_of(claims.issuer, claims.subject)
    if identity is not None:
        user = identity.user
        require_active(user, claims)
        identity.last_sign_in_at = now
        outcome = SignedIn(user)
    else:
        outcome = first_sign_in(claims, allowed_domains=allowed_domains, now=now, rounds=rounds)
    if admin_group:
        follow_admin_group(outcome.user, claims, admin_group)
    AuditEvent.record(
        AuditKind.SSO_SIGN_IN_SUCCEEDED,
        target=outcome.user.label,
        actor=outcome.user,
        provider=claims.issuer,
    )
    return outcome


def require_active(user: User, claims: Claims) -> None:
    if not user.active:
        raise refuse(DEACTIVATED, target=user.label, issuer=claims.issuer)


def first_sign_in(
    claims: Claims, *, allowed_domains: Iterable[str], now: datetime, rounds: int
) -> SignedIn:
    """Join the identity to the account of its verified address, or make one."""
    email = checked_email(claims.email)
    if email is None:
        raise refuse(NO_EMAIL, target=claims.label, issuer=claims.issuer)
    if not claims.email_verified:
        raise refuse(UNVERIFIED, target=email, issuer=claims.issuer)
    user = User.by_email(email)
    created = False
    if user is not None:
        require_active(user, claims)
        if not accounts.is_proven(user):
            claim_unproven(user, claims, now, rounds=rounds)
    elif email.rpartition("@")[2] in set(allowed_domains) or invitations.is_invited(email, now):
        # An invitation is an owner's word that this address should have an account;
        # the provider has proven the address, so it may accept it as a mailed link would.
        user = accounts.create_user(
            email,
            person_name(claims, email),
            None,  # a password nobody knows: signing in is the provider's
            actor=None,
            rounds=rounds,
            by_themselves=True,
            proven_at=now,
            how="single sign-on",
            provider=claims.issuer,
        )
        created = True
    else:
        raise refuse(DOMAIN_NOT_ALLOWED, target=email, issuer=claims.issuer)
    db.session.add(
        SsoIdentity(
            user=user,
            issuer=claims.issuer,
            subject=claims.subject,
            created_at=now,
            last_sign_in_at=now,
        )
    )
    AuditEvent.record(
        AuditKind.USER_SSO_LINKED,
        target=user.label,
        actor=user,
        provider=claims.issuer,
        subject=claims.subject[:255],
    )
    return SignedIn(user, created=created, linked=not created)


def claim_unproven(user: User, claims: Claims, now: datetime, *, rounds: int) -> None:
    """The provider proves the address is this person's: an unproven account made in
    their name (from an invitation link someone passed on) becomes theirs, and whoever
    made it loses it: its password is replaced by one nobody knows, its sessions end."""
    user.set_unknown_password(rounds=rounds)
    user.email_proven_at = now
    sessions.end_all(user)
    AuditEvent.record(
        AuditKind.USER_CLAIMED,
        target=user.label,
        actor=user,
        how="address proven by single sign-on; account claimed",
        provider=claims.issuer,
    )


def person_name(claims: Claims, email: str) -> str:
    """The new account's name: the provider's, or the address's local part."""
    try:
        return validation.person_name(claims.name)
    except Invalid:
        return email.partition("@")[0][:100]


def follow_admin_group(user: User, claims: Claims, admin_group: str) -> None:
    """Make ``user`` an instance admin when the provider lists them in ``admin_group``,
    and no longer one when it does not. The only active admin stays one: the instance
    would have nobody to run it (a provider that stopped sending groups, say)."""
    in_group = admin_group in (claims.groups or ())
    if in_group and not user.is_admin:
        user.is_admin = True
        AuditEvent.record(
            AuditKind.USER_ADMIN_GRANTED,
            target=user.label,
            actor=None,
            actor_label="single sign-on",
            group=admin_group,
        )
    elif not in_group and user.is_admin:
        if other_active_admins(user) == 0:
            return
        user.is_admin = False
        AuditEvent.record(
            AuditKind.USER_ADMIN_REMOVED,
            target=user.label,
            actor=None,
            actor_label="single sign-on",
            group=admin_group,
        )


def other_active_admins(user: User) -> int:
    return db.session.scalar(
        select(func.count(User.id)).where(User.is_admin, User.active, User.id != user.id)
    )
