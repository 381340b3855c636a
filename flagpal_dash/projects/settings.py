"""A project's token policy, set by its owners: the longest a new token may last, and
how long an unused token may stay active before ``flask --app wsgi tokens prune``
revokes it. The rules themselves live in core/ (setting the policy in core/projects.py,
what it allows a new token in core/tokens.py); this is the page."""

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField
from wtforms.validators import ValidationError

from ..access import ProjectAccess, project_route
from ..core import projects
from ..core.projects import TOKEN_LIFETIME_CHOICES, UNUSED_TOKEN_CHOICES
from ..extensions import db
from ..models import Project
from ..permissions import Permission

bp = Blueprint("settings", __name__, url_prefix="/projects/<slug>/settings")


class DaysField(SelectField):
    """A number of days from a fixed list, or None (the first choice). Anything else (a
    forged value) gets a plain message, never echoed back."""

    def __init__(self, label, *, none: tuple[str, str], days, noun: str, **kwargs):
        self.none_value = none[0]
        self.noun = noun
        choices = [SelectChoice(*none), *(SelectChoice(str(d), f"{d} days") for d in days)]
        super().__init__(label, choices=choices, validate_choice=False, **kwargs)

    def pre_validate(self, form) -> None:
        # Not sent at all counts as forged: the form always sends one.
        if not self.raw_data or self.data not in {choice.value for choice in self.choices}:
            raise ValidationError(f"Choose one of the listed {self.noun}.")

    @property
    def days(self) -> int | None:
        return None if self.data == self.none_value else int(self.data)

    def choice_for(self, days: int | None) -> str:
        return self.none_value if days is None else str(days)


class PolicyForm(FlaskForm):
    max_token_lifetime_days = DaysField(
        "Maximum token lifetime",
        none=("none", "No maximum"),
        days=TOKEN_LIFETIME_CHOICES,
        noun="lifetimes",
        description="New and rotated tokens must expire within this many days: No "
        "expiration and longer periods are not offered. Tokens that exist keep their expiry.",
    )
    revoke_unused_after_days = DaysField(
        "Revoke tokens unused for",
        none=("never", "Never"),
        days=UNUSED_TOKEN_CHOICES,
        noun="periods",
        description="An active token not used for this long (counted from its creation "
        "when never used) is revoked when the server runs flask --app wsgi tokens prune, "
        "usually daily from cron. The audit log records each one.",
    )

    @classmethod
    def of(cls, project: Project) -> "PolicyForm":
        """The form showing the project's policy as it is."""
        form = cls(formdata=None)
        form.max_token_lifetime_days.data = form.max_token_lifetime_days.choice_for(
            project.max_token_lifetime_days
        )
        form.revoke_unused_after_days.data = form.revoke_unused_after_days.choice_for(
            project.revoke_unused_after_days
        )
        return form


def policy_page(access: ProjectAccess, form: PolicyForm, status: int = 200):
    return render_template("projects/settings.html", access=access, form=form), status


@bp.get("")
@project_route(Permission.MANAGE_MEMBERS)
def policy(access: ProjectAccess):
    """The project's token policy, with the form to change it."""
    return policy_page(access, PolicyForm.of(access.project))


@bp.post("")
@project_route(Permission.MANAGE_MEMBERS)
def save_policy(access: ProjectAccess):
    """Save the policy; the audit log records what changed, from what to what."""
    form = PolicyForm()
    if not form.validate_on_submit():
        return policy_page(access, form, 422)
    changed = projects.set_token_policy(
        access.project,
        form.max_token_lifetime_days.days,
        form.revoke_unused_after_days.days,
        actor=current_user._get_current_object(),
    )
    if changed:
        db.session.commit()
        flash("Token policy saved.", "success")
    else:
        flash("The token policy was already so; nothing changed.", "info")
    return redirect(url_for("settings.policy", slug=access.project.slug))
