"""Signing in and out, and the first-run setup of a fresh install."""

import hmac
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm.attributes import set_committed_value

from .. import limits, links, security
from ..core import accounts, projects, sessions
from ..extensions import db, login_manager
from ..health import first_line
from ..htmx import client_redirect, is_htmx_request, vary
from ..models import User, utcnow
from ..permissions import Role
from ..sign_in_settings import anyone_signs_in_with_a_password
from . import provider
from .forms import SetupForm, SignInForm

bp = Blueprint("auth", __name__)

# The provider's end-session address, kept from signing out to the sign-in page.
PROVIDER_SIGN_OUT_KEY = "provider_sign_out"

login_manager.login_view = "auth.sign_in"
login_manager.login_message = "Sign in to continue."
login_manager.login_message_category = "info"


@login_manager.user_loader
def load_user(secret: str) -> User | None:
    """The account of this browser's session (the cookie carries its secret), checked on
    every request: a session ended (signed out, from the Account page, by a password
    change), idle too long, or of a deactivated account is refused at once."""
    now = utcnow()
    found = sessions.find(secret, now)
    if found is None:
        return None
    if found.due:
        try:
            sessions.mark_seen(found.session.id, request.remote_addr, now)
        except SQLAlchemyError as error:
            # Bookkeeping: a page is still served when it cannot be saved (a full disk).
            # One line, not a traceback.
            current_app.logger.warning(
                "Could not record when session %s was last seen: %s",
                found.session.id,
                first_line(error),
            )
        else:
            # What the Account page shows for this browser, without writing it twice.
            set_committed_value(found.session, "last_seen_at", now)
            set_committed_value(found.session, "address", request.remote_addr)
    user = found.user
    user.current_session, user.session_secret = found.session, secret
    security.mark_private()
    return user


def sign_in_as(user: User) -> None:
    """Sign ``user`` in to this browser with a new session (the caller commits).

    Whatever the browser's Flask session held is dropped first: its CSRF token (a page
    from before signing in cannot post after), messages, another person's sign-in."""
    session.clear()
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)
    user.current_session, user.session_secret = sessions.start(
        user, user_agent=request.user_agent.string, address=request.remote_addr, now=utcnow()
    )
    login_user(user)
    security.mark_private()


@login_manager.unauthorized_handler
def unauthorized():
    """Send the person to sign in, then back to where they were going.

    An htmx request (say, a dialog opened after the session ended) must not swap a
    sign-in page into the dialog, so it is told to load the sign-in page instead.
    """
    target = url_for("auth.sign_in", next=request.full_path.rstrip("?"))
    if is_htmx_request():
        return client_redirect(target, 401)
    flash(login_manager.login_message, "info")
    return vary(redirect(target))


def is_local_path(target: str | None) -> bool:
    """Whether ``next`` stays on this site (an absolute path, no scheme or host).

    No control characters either: URL parsers drop tabs and newlines, so the redirect
    to ``/<tab>///evil.example`` went out as ``Location: //evil.example`` (another site),
    and one with a newline could not be sent at all."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return False
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


@bp.route("/sign-in", methods=["GET", "POST"])
@limits.per_address
@limits.per_account
def sign_in():
    """Sign in with email and password; one message for any wrong pair."""
    if current_user.is_authenticated:
        return redirect(url_for("projects.index"))
    passwords = current_app.config["PASSWORD_SIGN_IN"]
    if not anyone_signs_in_with_a_password(passwords) and request.method == "POST":
        # No form was shown to post: only single sign-on signs in here.
        return sign_in_page(None, 403, refused=PASSWORDS_OFF)
    form = SignInForm() if anyone_signs_in_with_a_password(passwords) else None
    if form is not None and form.validate_on_submit():
        user, refusal = accounts.check_password(
            form.email.data,
            form.password.data,
            rounds=current_app.config["BCRYPT_ROUNDS"],
            password_sign_in=passwords,
        )
        if user is not None:
            sign_in_as(user)
            db.session.commit()
            target = request.args.get("next")
            return redirect(target if is_local_path(target) else url_for("projects.index"))
        db.session.commit()  # the failure's audit record
        # The right password proves the account is theirs: say where to sign in instead.
        form.form_errors.append(
            ADMINS_ONLY.format(name=current_app.config["OIDC_NAME"])
            if refusal == accounts.ADMINS_ONLY
            else "That email and password do not match an account."
        )
    failed = form is not None and (form.errors or form.form_errors)
    return sign_in_page(form, 422 if failed else 200)


PASSWORDS_OFF = "Signing in with a password is turned off here: sign in with {name}."
ADMINS_ONLY = "Only instance admins sign in with a password here: sign in with {name}."


def sign_in_page(form: SignInForm | None, status: int, *, refused: str | None = None):
    """The sign-in page: the single sign-on button when set up, the password form
    unless turned off, and the provider's sign-out link after signing out."""
    not_set_up = not accounts.has_any_account()
    if not_set_up:
        # Not the setup link itself: logs are kept and read more widely than the
        # console, and the redaction of every log would blank its code anyway.
        current_app.logger.warning(
            "No account exists yet at %s. To create the first one (an admin), open the "
            "one-time link that `flask --app wsgi setup-link` prints on the server.",
            links.public_address() or "this server",
        )
    config = current_app.config
    return render_template(
        "auth/sign_in.html",
        form=form,
        not_set_up=not_set_up,
        sso_name=config["OIDC_NAME"] if provider.configured() else None,
        passwords=config["PASSWORD_SIGN_IN"],
        refused=refused.format(name=config["OIDC_NAME"]) if refused else None,
        provider_sign_out=session.pop(PROVIDER_SIGN_OUT_KEY, None),
        next=request.args.get("next") if is_local_path(request.args.get("next")) else None,
    ), status


@bp.post("/sign-out")
@login_required
def sign_out():
    """Sign out: the session ends on the server, so a copy of this browser's cookie is
    refused from now on. (A POST, so no link or image on another site can do it.)"""
    by_provider = session.get(provider.SIGNED_IN_KEY, False)
    sessions.end(current_user.current_session)
    db.session.commit()
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    if by_provider and (url := provider.end_session_url()):
        # Signed out of the dashboard only: the provider's own session lives on, and
        # would sign this browser straight back in. The sign-in page offers its end.
        session[PROVIDER_SIGN_OUT_KEY] = url
    return redirect(url_for("auth.sign_in"))


@bp.route("/setup/<code>", methods=["GET", "POST"])
def setup(code: str):
    """Create the first account (an admin) and the first project.

    Only with the code from the console, and only while no account exists: anyone
    else, and everyone afterwards, gets 404.
    """
    expected = accounts.first_run_code(current_app.config["SECRET_KEY"])
    if not hmac.compare_digest(code.encode(), expected.encode()) or accounts.has_any_account():
        abort(404)
    form = SetupForm()
    if form.validate_on_submit():
        user = accounts.create_user(
            form.email.data,
            form.name.data,
            form.password.data,
            actor=None,
            rounds=current_app.config["BCRYPT_ROUNDS"],
            admin=True,
            by_themselves=True,
            proven_at=utcnow(),  # whoever holds the console's setup link runs the server
        )
        sign_in_as(user)
        project = projects.create_project(form.project_name.data, actor=user)
        projects.add_member(project, user, Role.OWNER, actor=user)
        db.session.commit()
        flash(f"Welcome, {user.name}. This is {project.name}'s API Tokens page.", "success")
        return redirect(url_for("tokens.list_tokens", slug=project.slug))
    status = 422 if form.errors else 200
    return render_template("auth/setup.html", form=form), status
