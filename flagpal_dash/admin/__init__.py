"""Instance admin: accounts (create, deactivate, reactivate, confirm their address) and
new projects.

Anyone who is not an admin gets 404 here, as for a project they are not on.
"""

import functools

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import ValidationError

from .. import addresses, sessions, validation
from ..extensions import db
from ..models import MAX_ROW_ID, AuditEvent, AuditKind, Project, User, utcnow
from ..permissions import Role
from ..validation import FormRule, Invalid

bp = Blueprint("admin", __name__, url_prefix="/admin")


def admin_route(view):
    @functools.wraps(view)
    @login_required
    def guarded(*args, **kwargs):
        if not current_user.is_admin:
            abort(404)
        return view(*args, **kwargs)

    return guarded


class NewUserForm(FlaskForm):
    name = StringField("Name", validators=[FormRule(validation.person_name)])
    email = EmailField("Email", validators=[FormRule(validation.email)])
    password = PasswordField(
        "First password",
        description="Pass it on privately; they can change it on their Account page.",
        validators=[FormRule(validation.password)],
    )
    admin = BooleanField("Instance admin (creates users and projects)")

    def validate_email(self, field) -> None:
        if field.errors:
            return  # not an address (maybe not sent at all): nothing to look up
        user = User.by_email(field.data)
        if user is not None:
            raise ValidationError(addresses.address_taken(user))


class NewProjectForm(FlaskForm):
    name = StringField("Project name", validators=[FormRule(validation.project_name)])
    slug = StringField(
        "Slug (optional)",
        description="Its address, like shop-backend; made from the name when empty.",
    )
    owner = EmailField("Owner's email", validators=[FormRule(validation.email)])

    def validate_slug(self, field) -> None:
        if field.data and field.data.strip():
            try:
                field.data = validation.slug(field.data)
            except Invalid as error:
                raise ValidationError(str(error)) from None
            if Project.by_slug(field.data):
                raise ValidationError(f"The slug '{field.data}' is already used.")
        else:
            field.data = None

    def validate_owner(self, field) -> None:
        if field.errors:
            return  # not an email address: one message is enough
        user = User.by_email(field.data)
        if user is None:
            raise ValidationError(f"No account has the email {field.data}. Create it first.")
        if not addresses.is_proven(user):
            raise ValidationError(addresses.unproven(user))


def users_page(form=None, status=200):
    users = list(db.session.scalars(select(User).order_by(User.name)))
    return render_template("admin/users.html", users=users, form=form or NewUserForm()), status


@bp.get("/users")
@admin_route
def users():
    """Every account, and a form to create one."""
    return users_page()


@bp.post("/users")
@admin_route
def create_user():
    form = NewUserForm()
    if not form.validate_on_submit():
        return users_page(form, 422)
    # An admin making the account vouches for its address.
    User.create(
        form.email.data,
        form.name.data,
        form.password.data,
        admin=form.admin.data,
        proven_at=utcnow(),
    )
    db.session.commit()
    flash(f"Created the account {form.email.data}.", "success")
    return redirect(url_for("admin.users"))


def set_active(user: User, active: bool) -> str:
    """Deactivate (ending every session at once) or reactivate an account; raises
    ``Invalid`` where that would lock the instance out. Returns what happened."""
    if user.active == active:
        return f"{user.email} is already {'active' if active else 'deactivated'}."
    if not active and user.is_admin:
        active_admins = db.session.scalar(
            select(func.count(User.id)).where(User.is_admin, User.active)
        )
        if active_admins == 1:
            raise Invalid("This is the only active admin; make another admin first.")
    user.active = active
    sessions.end_all(user)
    AuditEvent.record(
        AuditKind.USER_REACTIVATED if active else AuditKind.USER_DEACTIVATED, target=user.label
    )
    if active:
        return f"{user.email} can sign in again."
    return f"{user.email} is deactivated and signed out everywhere."


@bp.post("/users/<int:user_id>/<any(deactivate, reactivate):action>")
@admin_route
def change_active(user_id: int, action: str):
    user = db.session.get(User, user_id) if 0 < user_id <= MAX_ROW_ID else None
    if user is None:
        abort(404)
    if user.id == current_user.id:
        flash("You cannot deactivate your own account; nothing changed.", "error")
        return users_page(status=409)
    try:
        message = set_active(user, action == "reactivate")
    except Invalid as error:
        flash(f"{error} Nothing changed.", "error")
        return users_page(status=409)
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/confirm-email")
@admin_route
def confirm_email(user_id: int):
    """Vouch that the account's address is its person's (addresses.py): grants by
    email (project owner, ``members add``, other projects' invitations) then work."""
    user = db.session.get(User, user_id) if 0 < user_id <= MAX_ROW_ID else None
    if user is None:
        abort(404)
    message = addresses.confirm(user, utcnow())
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("admin.users"))


@bp.route("/projects/new", methods=["GET", "POST"])
@admin_route
def new_project():
    """Create a project for an existing account, who becomes its owner."""
    form = NewProjectForm()
    if form.validate_on_submit():
        project = Project.create(form.name.data, form.slug.data)
        project.add_member(User.by_email(form.owner.data), Role.OWNER)
        db.session.commit()
        flash(f"Created {project.name}; {form.owner.data} owns it.", "success")
        return redirect(url_for("admin.new_project"))
    return render_template("admin/new_project.html", form=form), 422 if form.errors else 200
