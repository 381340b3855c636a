"""Instance admin: accounts (create, deactivate, reactivate, confirm their address, send
a password reset link), new projects, and mail (how it is set up, the latest failures,
a test mail).

Anyone who is not an admin gets 404 here, as for a project they are not on.
"""

import functools

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    url_for,
)
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import ValidationError

from .. import links, mail, validation
from ..auth.recovery import mail_reset_link
from ..core import accounts, mail_failures, outbox, password_resets, projects, rows
from ..core.errors import Conflict
from ..extensions import db
from ..models import User, utcnow
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
        description=f"{validation.PASSWORD_RULE} Pass it on privately; they can change it"
        " on their Account page.",
        validators=[FormRule(validation.password)],
    )
    admin = BooleanField("Instance admin (creates users and projects)")

    def validate_email(self, field) -> None:
        if field.errors:
            return  # not an address (maybe not sent at all): nothing to look up
        try:
            accounts.require_address_free(field.data)
        except Conflict as taken:
            raise ValidationError(str(taken)) from None


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
            if projects.project_by_slug(field.data):
                raise ValidationError(f"The slug '{field.data}' is already used.")
        else:
            field.data = None

    def validate_owner(self, field) -> None:
        if field.errors:
            return  # not an email address: one message is enough
        user = User.by_email(field.data)
        if user is None:
            raise ValidationError(f"No account has the email {field.data}. Create it first.")
        try:
            accounts.require_proven(user)
        except Conflict as unproven:
            raise ValidationError(str(unproven)) from None


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
    accounts.create_user(
        form.email.data,
        form.name.data,
        form.password.data,
        actor=current_user._get_current_object(),
        rounds=current_app.config["BCRYPT_ROUNDS"],
        admin=form.admin.data,
        proven_at=utcnow(),
    )
    db.session.commit()
    flash(f"Created the account {form.email.data}.", "success")
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/<any(deactivate, reactivate):action>")
@admin_route
def change_active(user_id: int, action: str):
    user = db.session.get(User, user_id) if rows.can_name_a_row(user_id) else None
    if user is None:
        abort(404)
    if user.id == current_user.id:
        flash("You cannot deactivate your own account; nothing changed.", "error")
        return users_page(status=409)
    active = action == "reactivate"
    try:
        changed = accounts.set_active(user, active, actor=current_user._get_current_object())
    except Conflict as error:
        flash(f"{error} Nothing changed.", "error")
        return users_page(status=409)
    db.session.commit()
    if not changed:
        message = f"{user.email} is already {'active' if active else 'deactivated'}."
    elif active:
        message = f"{user.email} can sign in again."
    else:
        message = f"{user.email} is deactivated and signed out everywhere."
    flash(message, "success")
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/confirm-email")
@admin_route
def confirm_email(user_id: int):
    """Vouch that the account's address is its person's (core/accounts.py): grants by
    email (project owner, ``members add``, other projects' invitations) then work."""
    user = db.session.get(User, user_id) if rows.can_name_a_row(user_id) else None
    if user is None:
        abort(404)
    confirmed = accounts.confirm_address(user, utcnow(), actor=current_user._get_current_object())
    db.session.commit()
    flash(
        f"The address {user.email} is {'confirmed' if confirmed else 'already proven'}.",
        "success",
    )
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/reset-link")
@admin_route
def send_reset_link(user_id: int):
    """A password reset link for the account (core/password_resets.py): mailed to it
    when mail is set up, otherwise (or when sending fails) shown once, to pass on."""
    user = db.session.get(User, user_id) if rows.can_name_a_row(user_id) else None
    if user is None:
        abort(404)
    try:
        reset, secret = password_resets.create_reset(
            user, by=current_user._get_current_object(), now=utcnow(), how="by an admin"
        )
    except Conflict as error:
        flash(f"{error} Nothing changed.", "error")
        return users_page(status=409)
    db.session.commit()
    mailed = mail.configured() and mail_reset_link(user, secret)
    if mailed:
        flash(f"A password reset link was mailed to {user.email}.", "success")
        return redirect(url_for("admin.users"))
    link = links.external_url("recovery.reset_password", secret=secret)
    response = make_response(
        render_template("admin/reset_link.html", user=user, reset=reset, link=link), 201
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/projects/new", methods=["GET", "POST"])
@admin_route
def new_project():
    """Create a project for an existing account, who becomes its owner."""
    form = NewProjectForm()
    if form.validate_on_submit():
        admin = current_user._get_current_object()
        project = projects.create_project(form.name.data, form.slug.data, actor=admin)
        projects.add_member(project, User.by_email(form.owner.data), Role.OWNER, actor=admin)
        db.session.commit()
        flash(f"Created {project.name}; {form.owner.data} owns it.", "success")
        return redirect(url_for("admin.new_project"))
    return render_template("admin/new_project.html", form=form), 422 if form.errors else 200


def mail_page(status=200):
    return render_template(
        "admin/mail.html",
        settings=mail.MailSettings.from_config(current_app.config),
        security_words=mail.SECURITY_WORDS,
        failures=mail_failures.recent(),
        shown=mail_failures.SHOWN,
        kept_days=mail_failures.KEPT.days,
        notices_waiting=outbox.waiting(),
        notices_given_up=outbox.given_up(),
        notices_kept_days=outbox.KEEP_DAYS,
    ), status


@bp.get("/mail")
@admin_route
def mail_settings():
    """Whether mail is set up and how (never the password), the latest mail that could
    not be sent and why, and a button to send a test mail."""
    return mail_page()


@bp.post("/mail/test")
@admin_route
def send_test_mail():
    """Mail the signed-in admin a test message now and say how it went."""
    if not mail.configured():
        flash(f"{mail.NOT_CONFIGURED}.", "error")
        return mail_page(status=409)
    address = current_user.email
    try:
        settings = mail.send_test(address)
    except mail.NotSent as failure:
        flash(
            f"The test mail to {address} was not sent: {failure.reason}. {failure.check}", "error"
        )
    else:
        flash(f"Sent a test mail to {address} through {settings.describe()}.", "success")
    return redirect(url_for("admin.mail_settings"), 303)
