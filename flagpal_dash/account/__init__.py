"""Your account: your name, your password (which signs out your other sessions), whether
you are mailed before your projects' tokens expire, and the browsers where you are
signed in, each of which you can sign out."""

from flask import Blueprint, abort, current_app, flash, redirect, render_template, session, url_for
from flask_login import current_user, login_required, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import EqualTo, InputRequired, ValidationError

from .. import limits, validation
from ..core import accounts, rows, sessions
from ..extensions import db
from ..htmx import changed, redirect_page
from ..models import AuditEvent, AuditKind, utcnow
from ..validation import FormRule

bp = Blueprint("account", __name__, url_prefix="/account")

WRONG_CURRENT_PASSWORD = "That is not your current password."


class NameForm(FlaskForm):
    name = StringField("Your name", validators=[FormRule(validation.person_name)])


class PasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password", validators=[InputRequired("Enter your current password.")]
    )
    new_password = PasswordField(
        "New password",
        description=validation.PASSWORD_RULE,
        validators=[FormRule(validation.password)],
    )
    confirm_password = PasswordField(
        "Repeat the new password",
        validators=[EqualTo("new_password", "The two new passwords differ.")],
    )

    def validate_current_password(self, field) -> None:
        if not current_user.check_password(field.data):
            raise ValidationError(WRONG_CURRENT_PASSWORD)


class ExpiryMailForm(FlaskForm):
    # An unticked box sends nothing, which reads as False: the form is the whole choice.
    expiry_mail = BooleanField("Email me before my projects' tokens expire")


def sessions_context() -> dict:
    return {
        "user_sessions": sessions.of(current_user, utcnow()),
        "current_session": current_user.current_session,
    }


def account_page(name_form=None, password_form=None, status=200):
    return render_template(
        "account/index.html",
        name_form=name_form or NameForm(name=current_user.name, formdata=None),
        password_form=password_form or PasswordForm(formdata=None),
        expiry_mail_form=ExpiryMailForm(expiry_mail=current_user.expiry_mail, formdata=None),
        **sessions_context(),
    ), status


@bp.get("")
@login_required
def index():
    """Your name and email, the forms to change your name and password, and where you
    are signed in."""
    return account_page()


@bp.post("/name")
@login_required
def change_name():
    form = NameForm()
    if not form.validate_on_submit():
        return account_page(name_form=form, status=422)
    current_user.name = form.name.data
    db.session.commit()
    flash("Your name is changed.", "success")
    return redirect(url_for("account.index"))


@bp.post("/expiry-mail")
@login_required
def change_expiry_mail():
    """Turn on or off the mail sent before a token of your projects expires
    (core/notices.py). A plain form: the page reloads with the box as saved."""
    form = ExpiryMailForm()
    if not form.validate_on_submit():
        # Only the CSRF token can be wrong (a box is either ticked or not).
        return account_page(status=422)
    user = current_user._get_current_object()
    on = bool(form.expiry_mail.data)
    changed = accounts.set_expiry_mail(user, on, actor=user, now=utcnow())
    db.session.commit()
    if not changed:
        flash("Nothing changed.", "info")
    elif on:
        flash("You will be mailed before your projects' tokens expire.", "success")
    else:
        flash("You will no longer be mailed before your projects' tokens expire.", "success")
    return redirect(url_for("account.index", _anchor="notices-heading"))


@bp.post("/password")
@login_required
@limits.password_check_per_address
@limits.password_check_per_account
def change_password():
    """Change the password; every other session of the account is signed out.

    A wrong current password counts as a failed sign-in (limits, audit log): someone
    holding a stolen session must not be able to guess the password here."""
    form = PasswordForm()
    if not form.validate_on_submit():
        if WRONG_CURRENT_PASSWORD in form.current_password.errors:
            limits.refuse_password()
            AuditEvent.record(
                AuditKind.SIGN_IN_FAILED,
                target=current_user.label,
                actor=current_user._get_current_object(),
                reason="wrong password",
                via="password change",
            )
            db.session.commit()
        return account_page(password_form=form, status=422)
    accounts.change_password(
        current_user._get_current_object(),
        form.new_password.data,
        rounds=current_app.config["BCRYPT_ROUNDS"],
        actor=current_user._get_current_object(),
        keeping=current_user.current_session,
    )
    db.session.commit()
    flash("Your password is changed. Every other session of your account is signed out.", "success")
    return redirect(url_for("account.index"))


def sessions_changed(message: str):
    """htmx gets the refreshed list of sessions with the message; a plain POST is
    redirected to the Account page, where the message waits."""
    return changed(
        "account/_sessions.html",
        url_for("account.index", _anchor="sessions-heading"),
        message,
        **sessions_context(),
    )


@bp.post("/sessions/<int:session_id>/sign-out")
@login_required
def end_session(session_id: int):
    """Sign out one of your sessions (another browser, or a lost device); another
    person's session is not found."""
    user = current_user._get_current_object()
    ended = None
    if rows.can_name_a_row(session_id):
        ended = sessions.end_one(user, session_id, actor=user)
    if ended is None:
        abort(404)
    browser, was_this_one = ended.browser, ended.id == user.current_session.id
    db.session.commit()
    if was_this_one:
        # This browser's own session: the same as signing out.
        logout_user()
        session.clear()
        flash("You are signed out.", "info")
        return redirect_page(url_for("auth.sign_in"))
    return sessions_changed(f"Signed out {browser}.")


@bp.post("/sessions/sign-out-others")
@login_required
def end_other_sessions():
    """Sign out every session of your account but this browser's."""
    user = current_user._get_current_object()
    ended = sessions.end_others(user, user.current_session, actor=user)
    db.session.commit()
    if ended == 0:
        return sessions_changed("No other session was signed in; nothing changed.")
    return sessions_changed(
        f"Signed out {ended} other session{'' if ended == 1 else 's'}. This browser stays "
        "signed in."
    )
