"""The way back into an account whose password is lost: "Forgot your password?" on the
sign-in page (with mail set up), and the page behind a password reset link, wherever
the link came from (the command line, an instance admin, that page's mail).

The rules (a link works once, for an hour; a deactivated account gets none) are
core/password_resets.py's; this is their web door.
"""

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from .. import dates, limits, mail
from ..core import accounts, outbox, password_resets
from ..core.errors import Conflict
from ..core.password_resets import ResetStatus
from ..extensions import db
from ..models import PasswordReset, User, utcnow
from ..sign_in_settings import anyone_signs_in_with_a_password
from . import sign_in_as
from .forms import ForgotPasswordForm, NewPasswordForm

bp = Blueprint("recovery", __name__)

# One answer whether or not the address has an account, so the page tells nobody which
# addresses have one.
SENT = (
    "If an account exists for that address, we've sent it a link to choose a new "
    "password. The link works for {lifetime}."
)


def mail_reset_link(user: User, secret: str) -> bool:
    """Mail ``user`` the link carrying ``secret`` now (an admin waits to be shown it when
    mail fails); False when it could not be sent."""
    link = password_resets.link(secret)
    return mail.send(user.email, password_resets.SUBJECT, password_resets.mail_body(user, link))


@bp.route("/forgot-password", methods=["GET", "POST"])
@limits.reset_requests_per_address
@limits.reset_requests_per_account
def forgot_password():
    """Ask for a password reset link by mail. Without mail set up there is nothing to
    send: the page says to ask an instance admin."""
    if current_user.is_authenticated:
        return redirect(url_for("projects.index"))
    passwords = current_app.config["PASSWORD_SIGN_IN"]
    if not anyone_signs_in_with_a_password(passwords):
        # Nobody signs in with a password: a mailed link would be a way around that.
        # (A link from the command line or an admin still works: the way back in.)
        abort(404)
    if not mail.configured():
        if request.method == "POST":
            abort(404)  # no form was shown to post
        form = None
    else:
        form = ForgotPasswordForm()
        if form.validate_on_submit():
            limits.count_reset_request()
            user = User.by_email(form.email.data)
            # Nothing to a deactivated account: it was shut out on purpose, and its
            # link would be refused anyway. The answer is the same. Nor to someone who
            # may not sign in with a password (FLAGPAL_PASSWORD_SIGN_IN=admins).
            # The mail is queued, its link made as the delivery thread sends it: waiting
            # on SMTP here would answer an address with an account more slowly.
            if (
                user is not None
                and user.active
                and accounts.password_sign_in_allowed(user, passwords)
            ):
                now = utcnow()
                # (The secret made here is never told: the link works once mailed.)
                reset, _ = password_resets.create_reset(
                    user, by=None, now=now, how="asked for on the sign-in page, mailed"
                )
                outbox.queue(
                    user.email,
                    password_resets.SUBJECT,
                    password_resets.mail_body(user, password_resets.LINK_MARK),
                    now=now,
                    password_reset=reset.id,
                )
                db.session.commit()
            flash(SENT.format(lifetime=dates.duration(PasswordReset.LIFETIME)), "info")
            return redirect(url_for("auth.sign_in"))
    status = 422 if form is not None and form.errors else 200
    return render_template("auth/forgot_password.html", form=form), status


def why_gone(status: ResetStatus) -> str:
    """Why a link cannot be used, for its 410 page."""
    match status:
        case ResetStatus.USED:
            return (
                "This password reset link has already been used. Sign in with the new "
                "password, or ask for another link."
            )
        case ResetStatus.EXPIRED:
            return (
                f"This password reset link has expired (links last "
                f"{dates.duration(PasswordReset.LIFETIME)}). Ask for another one."
            )
    raise ValueError(f"a link that is {status.value} is not gone")


DEACTIVATED = "This account is deactivated, so its password cannot be reset. Ask an admin."


def reset_or_explain(secret: str) -> PasswordReset:
    """The usable link behind ``secret``, or a page saying why it cannot be used."""
    reset = password_resets.reset_by_secret(secret)
    if reset is None:
        abort(404)
    status = password_resets.status(reset, utcnow())
    if status is not ResetStatus.PENDING:
        abort(410, why_gone(status))
    if not reset.user.active:
        abort(410, DEACTIVATED)
    return reset


@bp.route("/password-reset/<secret>", methods=["GET", "POST"])
def reset_password(secret: str):
    """Choose a new password from a reset link. It sets the password and nothing else,
    signs out every session of the account, and signs this browser in."""
    reset = reset_or_explain(secret)
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            user = password_resets.use_reset(
                reset, form.password.data, utcnow(), rounds=current_app.config["BCRYPT_ROUNDS"]
            )
        except password_resets.Gone as gone:
            db.session.rollback()
            abort(410, why_gone(gone.status))
        except Conflict:
            db.session.rollback()
            abort(410, DEACTIVATED)
        sign_in_as(user)
        db.session.commit()
        flash(
            "Your new password is set, and every other session of your account is signed out.",
            "success",
        )
        return redirect(url_for("projects.index"))
    status = 422 if form.errors else 200
    return render_template("auth/reset_password.html", form=form, reset=reset), status
