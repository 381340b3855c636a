"""Signing in with the team's OpenID Connect provider: the button's first step, the
provider's answer, and the pages that say why a sign-in did not go ahead.

The protocol is Authlib's (auth/provider.py); who the person is here, and whether
they may come in, is core/sso.py's. Authlib, requests and joserfc are imported in the
views, once single sign-on is known to be set up (auth/provider.py says why).
"""

import re

from flask import (
    Blueprint,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from .. import links
from ..core import sso
from ..extensions import db
from ..models import utcnow
from . import is_local_path, sign_in_as
from .provider import SIGNED_IN_KEY, IssuerMismatch, client, provider_metadata

bp = Blueprint("sso", __name__)

# Where to go after signing in, kept in the session between the two steps.
NEXT_KEY = "sso_next"
# An error code as OAuth writes them; anything else the provider sent is not shown.
ERROR_CODE = re.compile(r"[a-z_]{1,40}")


def callback_url() -> str:
    """The address the provider sends people back to, as registered there: at the
    dashboard's public address when known."""
    if links.public_address():
        return links.external_url("sso.callback")
    return url_for("sso.callback", _external=True)


@bp.get("/sign-in/sso")
def start():
    """Send the person to the provider to sign in (the sign-in page's button)."""
    provider = client()
    import requests

    if current_user.is_authenticated:
        return redirect(url_for("projects.index"))
    target = request.args.get("next")
    session[NEXT_KEY] = target if is_local_path(target) else None
    try:
        provider_metadata(provider)
        return provider.authorize_redirect(callback_url())
    except (requests.RequestException, ValueError, IssuerMismatch) as error:
        return refused(sso.PROVIDER_UNREACHABLE, detail=type(error).__name__)


@bp.get("/sign-in/sso/callback")
def callback():
    """The provider's answer: a code to exchange for an ID token, or an error.

    A GET from the provider's page, so no CSRF token: ``state`` is its protection. It
    must match one this browser's session holds from the first step (authlib forgets it
    once used), or nothing is exchanged."""
    provider = client()
    import requests
    from authlib.integrations.base_client import OAuthError
    from joserfc.errors import JoseError

    error = request.args.get("error")
    if error:
        code = error if ERROR_CODE.fullmatch(error) else "unknown"
        return refused(
            sso.CANCELLED if error == "access_denied" else sso.PROVIDER_ERROR, error=code
        )
    state = request.args.get("state")
    if not state or provider.framework.get_state_data(session, state) is None:
        return refused(sso.STATE_MISMATCH)
    if not request.args.get("code"):
        return refused(sso.PROVIDER_ERROR, error="no code")
    try:
        provider_metadata(provider)
        token = provider.authorize_access_token()
    except (requests.RequestException, IssuerMismatch) as error:
        return refused(sso.PROVIDER_UNREACHABLE, detail=type(error).__name__)
    except OAuthError as error:
        # The provider refused the code (used already, expired, not this client's).
        code = error.error if ERROR_CODE.fullmatch(error.error or "") else "unknown"
        return refused(sso.TOKEN_INVALID, error=code)
    except (JoseError, ValueError) as error:
        return refused(sso.TOKEN_INVALID, error=getattr(error, "error", type(error).__name__))
    if "userinfo" not in token:  # no ID token: an OAuth server that is not OpenID Connect
        return refused(sso.TOKEN_INVALID, error="no ID token")
    claims = sso.Claims.from_id_token(dict(token["userinfo"]))
    target = session.get(NEXT_KEY)
    try:
        outcome = sso.sign_in(
            claims,
            allowed_domains=current_app.config["OIDC_ALLOWED_DOMAINS"],
            admin_group=current_app.config["OIDC_ADMIN_GROUP"],
            now=utcnow(),
            rounds=current_app.config["BCRYPT_ROUNDS"],
        )
        sign_in_as(outcome.user)
        session[SIGNED_IN_KEY] = True
        db.session.commit()
    except sso.Refused as refusal:
        db.session.commit()  # the refusal's audit record
        return refusal_page(refusal.code, email=sso.checked_email(claims.email))
    except IntegrityError:
        # The same first sign-in finished a moment ago in another tab (the identity or
        # the account exists now): start again, and the provider, still signed in,
        # sends the browser straight back to the identity it has now.
        db.session.rollback()
        session.clear()
        return redirect(url_for("sso.start", next=target))
    return redirect(target if is_local_path(target) else url_for("projects.index"))


def refused(reason: str, **details):
    """Record a refusal that happened here, before any account was in question."""
    sso.refuse(reason, target=None, issuer=current_app.config["OIDC_ISSUER"], **details)
    db.session.commit()
    return refusal_page(reason)


# Each refusal's status, title and what to do, in the provider's name ({name}).
PAGES = {
    sso.CANCELLED: (
        403,
        "Sign-in cancelled",
        "Signing in with {name} was cancelled, so you are not signed in. To sign in, start again.",
    ),
    sso.PROVIDER_ERROR: (
        502,
        "{name} did not sign you in",
        "{name} answered with an error ({error}). Try again in a moment; if it keeps "
        "happening, ask an instance admin to check the single sign-on settings.",
    ),
    sso.PROVIDER_UNREACHABLE: (
        502,
        "{name} cannot be reached",
        "FlagPal Dash could not reach {name} to sign you in. Try again in a few minutes.",
    ),
    sso.STATE_MISMATCH: (
        400,
        "This sign-in did not start here",
        "The answer from {name} does not belong to a sign-in started in this browser: it "
        "was used already, opened in another browser, or the sign-in was started long "
        "ago. Start again.",
    ),
    sso.TOKEN_INVALID: (
        400,
        "{name}'s answer could not be trusted",
        "The proof of who you are that {name} sent failed its checks (its signature, "
        "issuer, audience, expiry or one-time code), so you are not signed in. Start "
        "again; if it keeps happening, ask an instance admin to check the single sign-on "
        "settings.",
    ),
    sso.NO_EMAIL: (
        403,
        "{name} did not send your email address",
        "FlagPal Dash needs your email address to know who you are. Ask an instance admin "
        "to let the dashboard read it at {name} (the email scope).",
    ),
    sso.UNVERIFIED: (
        403,
        "Your email address is not verified",
        "{name} has not verified {email}, so it cannot stand for an account here. Verify "
        "it at {name}, then start again, or ask an admin.",
    ),
    sso.DOMAIN_NOT_ALLOWED: (
        403,
        "You don't have an account here yet",
        "There is no account for {email} here, and new accounts are made only for "
        "addresses at {domains}. Ask an admin to invite you.",
    ),
    sso.DEACTIVATED: (
        403,
        "This account is deactivated",
        "An instance admin has deactivated the account of {email}, so it cannot sign in. "
        "Ask an admin to reactivate it.",
    ),
}


# Without FLAGPAL_OIDC_ALLOWED_DOMAINS, every new account comes from an invitation.
NOBODY_NEW = (
    "There is no account for {email} here, and new accounts are made only for invited "
    "addresses. Ask an admin to invite you."
)


def refusal_page(reason: str, *, email: str | None = None, error: str | None = None):
    config = current_app.config
    status, title, message = PAGES[reason]
    domains = config["OIDC_ALLOWED_DOMAINS"]
    if reason == sso.DOMAIN_NOT_ALLOWED and not domains:
        message = NOBODY_NEW
    words = {
        "name": config["OIDC_NAME"],
        "email": email or "your address",
        "error": error or request.args.get("error", "unknown"),
        "domains": ", ".join(domains),
    }
    if reason == sso.PROVIDER_ERROR:
        words["error"] = words["error"] if ERROR_CODE.fullmatch(words["error"]) else "unknown"
    page = render_template(
        "auth/sso_refused.html",
        title=title.format(**words),
        message=message.format(**words),
        reason=reason,
        password_sign_in=config["PASSWORD_SIGN_IN"],
    )
    return page, status
