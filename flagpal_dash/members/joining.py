"""Joining a project from an invitation link: the page behind the link, for someone
signed in as the invited address, someone with an account and someone new.

The rules (a link works once, under the project's lock; a project is granted only to a
proven address) are core/invitations.py's and core/accounts.py's; this is their web door.
"""

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from .. import dates, limits
from ..auth import provider, sign_in_as
from ..core import accounts, invitations
from ..core.errors import Conflict
from ..core.invitations import InvitationStatus
from ..extensions import db
from ..models import Invitation, User, utcnow
from ..sign_in_settings import anyone_signs_in_with_a_password
from .forms import CreateAccountToJoinForm, JoinForm, SignInToJoinForm

bp = Blueprint("invitations", __name__)


def invitation_or_explain(secret: str) -> Invitation:
    """The pending invitation behind a link, or a page saying why it cannot be used."""
    invitation = invitations.invitation_by_secret(secret)
    if invitation is None:
        abort(404)
    status = invitations.status(invitation, utcnow())
    if status is not InvitationStatus.PENDING:
        abort(410, why_gone(status))
    return invitation


# Why "I'm new" cannot make the account (core/accounts.account_for's refusals).
ACCOUNT_REFUSALS = {
    accounts.ACCOUNT_EXISTS: "An account for this address already exists: sign in with its "
    "password above, or ask an instance admin.",
    accounts.ACCOUNT_DEACTIVATED: "An account for this address exists and is deactivated. "
    "Ask an admin.",
}


def why_gone(status: InvitationStatus) -> str:
    """Why a link that is no longer pending cannot be used, for its 410 page."""
    match status:
        case InvitationStatus.ACCEPTED:
            return (
                "This invitation has already been used. Sign in to reach the project, "
                "or ask its owner for a new invitation."
            )
        case InvitationStatus.EXPIRED:
            return (
                f"This invitation has expired (invitations last "
                f"{dates.duration(Invitation.LIFETIME)}). Ask the project's owner for a new one."
            )
        case InvitationStatus.REVOKED:
            return (
                "This invitation was withdrawn by the project's owner. "
                "Ask them for a new one if you should still join."
            )
    raise ValueError(f"an invitation {status.value} is not gone")


@bp.route("/invitations/<secret>", methods=["GET", "POST"])
@limits.per_address
@limits.per_account
def accept(secret: str):
    """Join a project from an invitation link.

    Signed in as the invited address: one button. Not signed in: one page with two
    choices whether or not the address has an account, so the page tells nobody which
    addresses have one: "I have an account" (its password) and "I'm new" (name and
    password; a POST carrying ``name`` is this one). Signed in as someone else: an
    explanation. The link works once.
    """
    invitation = invitation_or_explain(secret)
    if current_user.is_authenticated and current_user.email != invitation.email:
        return render_template(
            "members/accept.html", invitation=invitation, wrong_account=True
        ), 403
    if current_user.is_authenticated:
        form = JoinForm()
        if form.validate_on_submit():
            return join(invitation, current_user, form)
        status = 422 if form.errors else 200
        return render_template("members/accept.html", invitation=invitation, form=form), status

    sign_in_form, new_form = SignInToJoinForm(), CreateAccountToJoinForm()
    status = 200
    passwords = current_app.config["PASSWORD_SIGN_IN"]
    if request.method == "POST" and (
        not anyone_signs_in_with_a_password(passwords)
        # A new account is no admin's.
        or ("name" in request.form and not accounts.password_sign_in_allowed(None, passwords))
    ):
        # No such form was shown: a password account, or signing in with a password,
        # is not for everyone here; single sign-on is (the page's button).
        return accept_page(invitation, sign_in_form, new_form, 403)
    if request.method == "POST" and "name" in request.form:
        if new_form.validate_on_submit():
            return join_as_new(invitation, sign_in_form, new_form)
        status = 422
    elif sign_in_form.validate_on_submit():
        user, refusal = accounts.check_password(
            invitation.email,
            sign_in_form.password.data,
            rounds=current_app.config["BCRYPT_ROUNDS"],
            password_sign_in=passwords,
            via="invitation",
        )
        if user is not None:
            return join(invitation, user, sign_in_form, new_form)
        db.session.commit()  # the failure's audit record
        sign_in_form.password.errors.append(
            # The right password proves the account is theirs: say why it cannot join.
            # Otherwise one answer, account or not.
            "This account is deactivated. Ask an admin to reactivate it."
            if refusal == "account deactivated"
            else f"Only instance admins sign in with a password here: sign in with "
            f"{current_app.config['OIDC_NAME']} above."
            if refusal == accounts.ADMINS_ONLY
            else f"That password does not match an account for {invitation.email}."
        )
        status = 422
    elif request.method == "POST":
        status = 422
    return accept_page(invitation, sign_in_form, new_form, status)


def accept_page(invitation: Invitation, sign_in_form, new_form, status: int):
    """The signed-out page: single sign-on's button when set up, then the password forms
    that FLAGPAL_PASSWORD_SIGN_IN leaves (admins: signing in only; off: none)."""
    config = current_app.config
    return render_template(
        "members/accept.html",
        invitation=invitation,
        sign_in_form=sign_in_form,
        new_form=new_form,
        sso_name=config["OIDC_NAME"] if provider.configured() else None,
        password_sign_in=anyone_signs_in_with_a_password(config["PASSWORD_SIGN_IN"]),
        new_password_accounts=accounts.password_sign_in_allowed(None, config["PASSWORD_SIGN_IN"]),
    ), status


def locked_pending(invitation: Invitation) -> None:
    """Hold the project's lock, and make sure the link is still unused (or explain)."""
    try:
        invitations.hold_pending(invitation, utcnow())
    except invitations.Gone as gone:
        abort(410, why_gone(gone.status))


def join_as_new(invitation: Invitation, sign_in_form, new_form):
    """ "I'm new": make the account (or claim it with a mailed link), then join."""
    locked_pending(invitation)
    try:
        user = accounts.account_for(
            invitation,
            new_form.name.data,
            new_form.password.data,
            utcnow(),
            rounds=current_app.config["BCRYPT_ROUNDS"],
        )
    except Conflict as refusal:
        # After a POST the answer cannot be hidden; the page before it did not tell.
        new_form.form_errors.append(ACCOUNT_REFUSALS[refusal.code])
        return accept_page(invitation, sign_in_form, new_form, 409)
    return join(invitation, user, sign_in_form, new_form)


def join(invitation: Invitation, user: User, *forms):
    """Accept ``invitation`` as ``user``, whose password or session is proven, unless
    that would grant a project to an unproven address (core/accounts.py)."""
    locked_pending(invitation)
    try:
        accounts.require_may_join(user, invitation)
    except Conflict as refusal:
        db.session.commit()  # the sign-in's audit record
        if current_user.is_authenticated:
            abort(403, str(refusal))
        forms[0].form_errors.append(str(refusal))
        return accept_page(invitation, *forms, 403)
    now = utcnow()
    if invitation.delivered_by_mail:
        accounts.prove(user, now, "opened an emailed invitation", actor=user)
    if not current_user.is_authenticated:
        sign_in_as(user)
    joined = invitations.accept_invitation(invitation, user, now)
    db.session.commit()
    flash(
        f"Welcome to {invitation.project.name}: you are a {invitation.role.value}."
        if joined
        else f"You were already a member of {invitation.project.name}; your role is unchanged.",
        "success",
    )
    return redirect(url_for("projects.overview", slug=invitation.project.slug))
