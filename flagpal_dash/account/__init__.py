"""Your account: your name, your password (which signs out your other sessions), whether
you are mailed before your projects' tokens expire, your personal access tokens (for
scripts using the management API: made, shown once, revoked here), and the browsers
where you are signed in, each of which you can sign out."""

from datetime import date

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    session,
    url_for,
)
from flask_login import current_user, login_required, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, PasswordField, StringField
from wtforms.validators import EqualTo, InputRequired, ValidationError

from .. import dates, limits, mail, submissions, token_format, validation
from ..core import accounts, personal_tokens, rows, sessions
from ..extensions import db
from ..htmx import changed, redirect_page, vary
from ..models import AuditEvent, AuditKind, PersonalToken, utcnow
from ..validation import FormRule, Invalid

bp = Blueprint("account", __name__, url_prefix="/account")

WRONG_CURRENT_PASSWORD = "That is not your current password."
# The Password section when FLAGPAL_PASSWORD_SIGN_IN leaves none to this person.
PASSWORDS_OFF_FOR_YOU = (
    "You sign in with {name}. Signing in with a password is turned off for you on this server."
)
# An account single sign-on made has a password nobody was told: the form's "current
# password" is one they never had.
NO_PASSWORD_YET = "You sign in with {name}, so you have no password here yet."
SET_ONE_BY_MAIL = (
    "To also sign in with a password, use “Forgot your password?” on the sign-in page to set one."
)
SET_ONE_BY_ADMIN = (
    "To also sign in with a password, ask an instance admin for a password reset link to set one."
)


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


class PersonalTokenForm(FlaskForm):
    # Posting the same form twice (a reload of the answer showing the value) is
    # recognised by this key, as for project tokens: flagpal_dash/submissions.py.
    submission = HiddenField(filters=[submissions.key_or_new])
    name = StringField(
        "Name",
        description=(
            'What uses it, like "Release script" or "Terraform (CI)". '
            f"At most {validation.MAX_TOKEN_NAME_LENGTH} characters."
        ),
        validators=[FormRule(validation.token_name)],
    )
    expires_on = DateField(
        "Expires at the end of (UTC)",
        description="Personal access tokens always expire, within a year.",
    )

    def __init__(self, *args, **kwargs):
        self.now = utcnow()
        kwargs.setdefault("expires_on", (self.now + personal_tokens.DEFAULT_LIFETIME).date())
        super().__init__(*args, **kwargs)

    @property
    def earliest_day(self) -> date:
        return validation.earliest_expiry_day(self.now)

    @property
    def latest_day(self) -> date:
        return validation.latest_expiry_day(self.now, personal_tokens.latest_expiry(self.now))

    def validate_expires_on(self, field) -> None:
        if field.data is None:
            field.errors[:] = []  # DateField's own "Not a valid date value."
            raise ValidationError("Pick the date the token should expire, like 2027-01-31.")
        if field.data > self.latest_day:
            raise ValidationError(
                f"Choose {dates.day(self.latest_day)} or earlier: personal access tokens "
                f"last at most {personal_tokens.LONGEST_LIFETIME.days} days."
            )
        try:
            personal_tokens.check_expiry(self.expires_at(), self.now)
        except Invalid as error:
            raise ValidationError(str(error)) from None

    def expires_at(self):
        """When the token chosen here stops: the end of the chosen day, UTC. Raises
        ``Invalid`` for a day before tomorrow."""
        return validation.expiry_date(self.expires_on.data, self.now)


class RevokeForm(FlaskForm):
    """Only the CSRF token: the confirm page's button."""


def sessions_context() -> dict:
    return {
        "user_sessions": sessions.of(current_user, utcnow()),
        "current_session": current_user.current_session,
    }


def passwords_off_for_you() -> str | None:
    """Why this person may not use a password here (FLAGPAL_PASSWORD_SIGN_IN), or None."""
    config = current_app.config
    if accounts.password_sign_in_allowed(current_user, config["PASSWORD_SIGN_IN"]):
        return None
    return PASSWORDS_OFF_FOR_YOU.format(name=config["OIDC_NAME"])


def no_password_yet() -> list[str] | None:
    """What to tell someone whose password nobody knows (made by single sign-on) about
    setting one, or None when they chose theirs."""
    if current_user.password_known:
        return None
    how = SET_ONE_BY_MAIL if mail.configured() else SET_ONE_BY_ADMIN
    return [NO_PASSWORD_YET.format(name=current_app.config["OIDC_NAME"]), how]


def account_page(name_form=None, password_form=None, status=200, token_form=None):
    passwords_off = passwords_off_for_you()
    return render_template(
        "account/index.html",
        name_form=name_form or NameForm(name=current_user.name, formdata=None),
        passwords_off=passwords_off,
        no_password_yet=None if passwords_off else no_password_yet(),
        password_form=password_form or PasswordForm(formdata=None),
        expiry_mail_form=ExpiryMailForm(expiry_mail=current_user.expiry_mail, formdata=None),
        token_form=token_form or PersonalTokenForm(formdata=None),
        personal_tokens=personal_tokens.list_of(current_user),
        token_status=lambda token: personal_tokens.status(token, utcnow()),
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
    holding a stolen session must not be able to guess the password here. Refused,
    changing nothing, to someone who may not use a password here: the page showed no
    form."""
    if (refusal := passwords_off_for_you()) is not None:
        abort(403, refusal)
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


# Personal access tokens.


@bp.app_template_filter()
def display_personal_hint(hint: str) -> str:
    """A personal token's stored last characters as shown: ``flagpal_pat_…wxyz``."""
    return token_format.display_personal_hint(hint)


@bp.post("/tokens")
@login_required
def create_personal_token():
    """Make a personal access token and show its value, this once, on the page that
    answers the POST (never stored, never shown again: Cache-Control: no-store). The
    same form posted again (a reload) is sent to a page saying the value is gone."""
    form = PersonalTokenForm()
    made = submissions.made_with(form.submission.data, "personal_token")
    if made is not None:
        return vary(redirect(url_for("account.personal_token_shown_once", token_id=made), 303))
    if not form.validate_on_submit():
        return account_page(token_form=form, status=422)
    user = current_user._get_current_object()
    try:
        token, value = personal_tokens.issue(user, form.name.data, form.expires_at(), now=form.now)
    except personal_tokens.NameTaken as error:
        db.session.rollback()
        form.name.errors.append(str(error))
        return account_page(token_form=form, status=422)
    db.session.commit()
    submissions.remember(form.submission.data, "personal_token", token.id)
    response = make_response(
        render_template("account/personal_token_created.html", token=token, value=value), 201
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def own_token(token_id: int) -> PersonalToken:
    """The signed-in person's token ``token_id``; 404 for anyone else's."""
    token = personal_tokens.token_of(current_user, token_id)
    if token is None:
        abort(404)
    return token


@bp.get("/tokens/<int:token_id>/created")
@login_required
def personal_token_shown_once(token_id: int):
    """Where the create form posted again lands: the token exists, its value is gone."""
    return render_template("account/personal_token_shown_once.html", token=own_token(token_id))


@bp.get("/tokens/<int:token_id>/revoke")
@login_required
def confirm_revoke_personal_token(token_id: int):
    """Ask before revoking: scripts using the token stop working at once."""
    return render_template(
        "account/revoke_personal_token.html", token=own_token(token_id), form=RevokeForm()
    )


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
def revoke_personal_token(token_id: int):
    """Revoke at once. Revoking a revoked token changes nothing and says so."""
    user = current_user._get_current_object()
    if not RevokeForm().validate_on_submit():
        abort(400)
    revoked = personal_tokens.revoke(user, token_id, actor=user, now=utcnow())
    if revoked is None:
        abort(404)
    token, done = revoked
    db.session.commit()
    if done:
        flash(f'"{token.name}" is revoked. Scripts using it can no longer call the API.', "success")
    else:
        flash(f'"{token.name}" was already revoked; nothing changed.', "info")
    return redirect(url_for("account.index", _anchor="personal-tokens-heading"))
