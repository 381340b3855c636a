from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import EqualTo, InputRequired, ValidationError

from .. import submissions, validation
from ..core import invitations
from ..core.errors import Conflict
from ..models import Project, utcnow
from ..permissions import Role
from ..validation import FormRule

ROLE_CHOICES = [
    SelectChoice(Role.VIEWER.value, "Viewer — sees token names, dates and status"),
    SelectChoice(Role.DEVELOPER.value, "Developer — also creates, rotates and revokes tokens"),
    SelectChoice(Role.OWNER.value, "Owner — also manages members and project policy"),
]


class RoleField(SelectField):
    """A role from the list; anything else (a forged value) gets a plain message."""

    def __init__(self, label="Role", **kwargs):
        super().__init__(label, choices=ROLE_CHOICES, validate_choice=False, **kwargs)

    def pre_validate(self, form) -> None:
        # Not sent at all counts as forged: the form always sends one.
        if not self.raw_data or self.data not in {role.value for role in Role}:
            raise ValidationError("Choose a role from the list.")

    @property
    def role(self) -> Role:
        return Role(self.data)


class RoleForm(FlaskForm):
    role = RoleField()


class InviteForm(FlaskForm):
    # Posting it twice (a reload of the answer showing the link) is recognised by this
    # key: flagpal_dash/submissions.py.
    submission = HiddenField(filters=[submissions.key_or_new])
    email = EmailField("Email", validators=[FormRule(validation.email)])
    role = RoleField(default=Role.DEVELOPER.value)

    def __init__(self, project: Project, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project

    def validate_email(self, field) -> None:
        if field.errors:
            return  # not an address (maybe not sent at all): nothing to look up
        try:
            invitations.require_invitable(self.project, field.data, utcnow())
        except Conflict as refused:
            if refused.code == invitations.ALREADY_MEMBER:
                raise ValidationError(
                    f"{field.data} is already a member of {self.project.name}, as "
                    f"{refused.role.value}. Change their role on this page instead."
                ) from None
            raise ValidationError(
                f"{field.data} already has a pending invitation. Revoke it first to send a new one."
            ) from None


class JoinForm(FlaskForm):
    """Accept as the account that is signed in: only the button."""


class SignInToJoinForm(FlaskForm):
    """ "I have an account": its password."""

    password = PasswordField("Password", validators=[InputRequired("Enter your password.")])


class CreateAccountToJoinForm(FlaskForm):
    """ "I'm new": shown beside the sign-in form on one page, so its fields have ids of
    their own (the names stay: a POST with ``name`` is this form)."""

    name = StringField("Your name", validators=[FormRule(validation.person_name)])
    password = PasswordField(
        "Password",
        id="new-password",
        description=validation.PASSWORD_RULE,
        validators=[FormRule(validation.password)],
    )
    confirm_password = PasswordField(
        "Repeat the password",
        id="confirm-password",
        validators=[EqualTo("password", "The two passwords differ.")],
    )
