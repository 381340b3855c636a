"""Your account: your name, and your password (which signs out your other sessions)."""

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user, login_required, login_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import EqualTo, InputRequired, ValidationError

from .. import validation
from ..extensions import db
from ..validation import FormRule

bp = Blueprint("account", __name__, url_prefix="/account")


class NameForm(FlaskForm):
    name = StringField("Your name", validators=[FormRule(validation.person_name)])


class PasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password", validators=[InputRequired("Enter your current password.")]
    )
    new_password = PasswordField("New password", validators=[FormRule(validation.password)])
    confirm_password = PasswordField(
        "Repeat the new password",
        validators=[EqualTo("new_password", "The two new passwords differ.")],
    )

    def validate_current_password(self, field) -> None:
        if not current_user.check_password(field.data):
            raise ValidationError("That is not your current password.")


def account_page(name_form=None, password_form=None, status=200):
    return render_template(
        "account/index.html",
        name_form=name_form or NameForm(name=current_user.name, formdata=None),
        password_form=password_form or PasswordForm(formdata=None),
    ), status


@bp.get("")
@login_required
def index():
    """Your name and email, and the forms to change your name and password."""
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


@bp.post("/password")
@login_required
def change_password():
    """Change the password; every other session of the account is signed out."""
    form = PasswordForm()
    if not form.validate_on_submit():
        return account_page(password_form=form, status=422)
    current_user.change_password(form.new_password.data)
    db.session.commit()
    login_user(current_user._get_current_object())  # this session carries the new version
    flash("Your password is changed. Every other session of your account is signed out.", "success")
    return redirect(url_for("account.index"))
