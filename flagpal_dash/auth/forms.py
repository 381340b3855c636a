from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import EqualTo, InputRequired

from .. import validation
from ..validation import FormRule


class SignInForm(FlaskForm):
    email = EmailField("Email", validators=[InputRequired("Enter your email address.")])
    password = PasswordField("Password", validators=[InputRequired("Enter your password.")])


class SetupForm(FlaskForm):
    """The first account (an admin) and the first project, made on a fresh install."""

    name = StringField("Your name", validators=[FormRule(validation.person_name)])
    email = EmailField("Email", validators=[FormRule(validation.email)])
    password = PasswordField(
        "Password", description=validation.PASSWORD_RULE, validators=[FormRule(validation.password)]
    )
    confirm_password = PasswordField(
        "Repeat the password", validators=[EqualTo("password", "The two passwords differ.")]
    )
    project_name = StringField("First project", validators=[FormRule(validation.project_name)])


class ForgotPasswordForm(FlaskForm):
    """Ask for a password reset link by mail."""

    email = EmailField("Email", validators=[FormRule(validation.email)])


class NewPasswordForm(FlaskForm):
    """The new password a reset link lets its holder choose."""

    password = PasswordField(
        "New password",
        description=validation.PASSWORD_RULE,
        validators=[FormRule(validation.password)],
    )
    confirm_password = PasswordField(
        "Repeat the new password",
        validators=[EqualTo("password", "The two passwords differ.")],
    )
