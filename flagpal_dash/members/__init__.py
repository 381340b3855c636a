"""A project's members and invitations.

Every member sees who is on the project and in which role; owners also see email
addresses and pending invitations, change roles, remove members and invite people.
A project always keeps at least one owner. Like the token pages, each action answers
htmx with a fragment and a plain form POST with a page.
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

from .. import dates, limits, links, mail
from ..access import ProjectAccess, project_route
from ..auth import sign_in_as
from ..core import accounts, invitations, projects
from ..core.errors import Conflict
from ..core.invitations import InvitationStatus
from ..extensions import db
from ..htmx import (
    changed,
    dialog,
    error_answer,
    from_dialog,
    is_htmx_request,
    redirect_page,
    retarget,
)
from ..models import Invitation, Membership, User, utcnow
from ..permissions import Permission, Role
from .forms import (
    CreateAccountToJoinForm,
    InviteForm,
    JoinForm,
    RoleForm,
    SignInToJoinForm,
)

bp = Blueprint("members", __name__, url_prefix="/projects/<slug>")

# The heading of a members dialog's own page (no JavaScript).
SECTION = "Members"

LAST_OWNER = "A project always keeps at least one owner. Make someone else an owner first."


def signed_in() -> User:
    """The owner acting, as the core records them (not Flask-Login's proxy)."""
    return current_user._get_current_object()


def last_owners(members: list[Membership]) -> set[int]:
    """The rows whose role and Remove could not change (the last-owner rule): their
    controls are shown disabled, with the reason beside them."""
    return {member.id for member in members if projects.is_last_owner(member)}


def page_context(access: ProjectAccess) -> dict:
    sees_addresses = access.can(Permission.SEE_ADDRESSES)
    members = projects.members_of(access.project)
    return {
        "access": access,
        "members": members,
        "last_owners": last_owners(members),
        "invitations": invitations.pending(access.project, utcnow()) if sees_addresses else [],
    }


@bp.get("/members")
@project_route(Permission.VIEW_MEMBERS)
def list_members(access: ProjectAccess):
    """Who is on the project, owners first."""
    return render_template("members/list.html", **page_context(access))


def project_membership(access: ProjectAccess, membership_id: int) -> Membership:
    membership = projects.membership_by_id(access.project, membership_id)
    if membership is None:
        abort(404)
    return membership


def after_change(
    access: ProjectAccess,
    membership: Membership | None,
    message: str,
    status=200,
    owners_changed=False,
):
    """htmx gets the member's row (none once removed) and the message; a plain POST is
    redirected to the members page, where the message waits. A refusal asked from the
    remove dialog is answered in the dialog, and the row behind it is redrawn out of
    band; from the row's role form, the row is put back as it is. Either way the row
    now shows what can be done with it. When an owner came or went
    (``owners_changed``), the other owners' rows come too: whether one of them is now
    the only owner, whose controls are disabled, may have changed."""
    members = projects.members_of(access.project) if is_htmx_request() else []
    if status != 200 and from_dialog():
        response = error_answer(status, "Nothing was changed", message)
        row = render_template(
            "members/_member_row_behind.html",
            access=access,
            member=membership,
            last_owners=last_owners(members),
            oob=True,
        )
        response.set_data(response.get_data(as_text=True) + row)
        return response
    others = [other for other in members if membership is None or other.id != membership.id]
    response = changed(
        "members/_member_changed.html",
        url_for("members.list_members", slug=access.project.slug),
        message,
        "success" if status == 200 else "error",
        status,
        access=access,
        member=membership,
        last_owners=last_owners(members),
        other_owners=[other for other in others if owners_changed and other.role is Role.OWNER],
    )
    if status != 200:
        return retarget(response, f"#member-{membership.id}", "outerHTML")
    return response


@bp.post("/members/<int:membership_id>/role")
@project_route(Permission.MANAGE_MEMBERS)
def change_role(access: ProjectAccess, membership_id: int):
    """Give a member another role; the last owner keeps theirs."""
    membership = project_membership(access, membership_id)
    form = RoleForm()
    if not form.validate_on_submit():
        return after_change(access, membership, " ".join(form.role.errors), 422)
    owners_changed = Role.OWNER in (membership.role, form.role.role)
    try:
        role_changed = projects.change_role(membership, form.role.role, actor=signed_in())
    except Conflict:  # the last owner
        return after_change(access, membership, LAST_OWNER, 409)
    db.session.commit()
    name = membership.user.name
    if not role_changed:
        return after_change(access, membership, f"{name} already is {form.role.role.value}.")
    return after_change(
        access, membership, f"{name} is now {form.role.role.value}.", owners_changed=owners_changed
    )


@bp.get("/members/<int:membership_id>/remove")
@project_route(Permission.MANAGE_MEMBERS)
def confirm_remove(access: ProjectAccess, membership_id: int):
    """Ask before removing someone, and say what they lose."""
    membership = project_membership(access, membership_id)
    return dialog(
        "members/_remove_confirm.html",
        f"Remove {membership.user.name}",
        SECTION,
        access=access,
        member=membership,
        last_owner=projects.is_last_owner(membership),
    )


@bp.post("/members/<int:membership_id>/remove")
@project_route(Permission.MANAGE_MEMBERS)
def remove_member(access: ProjectAccess, membership_id: int):
    """Take someone off the project; they lose access on their next request."""
    membership = project_membership(access, membership_id)
    user, was_owner = membership.user, membership.role is Role.OWNER
    try:
        projects.remove_member(membership, actor=signed_in())
    except Conflict:  # the last owner
        return after_change(access, membership, LAST_OWNER, 409)
    db.session.commit()
    if user.id == current_user.id:
        flash(f"You left {access.project.name}.", "success")
        return redirect_page(url_for("projects.index"))
    return after_change(
        access,
        None,
        f"{user.name} was removed from {access.project.name}.",
        owners_changed=was_owner,
    )


@bp.get("/invitations/new")
@project_route(Permission.MANAGE_MEMBERS)
def new_invitation(access: ProjectAccess):
    """The invite form: a dialog for htmx, a page without JavaScript."""
    return dialog(
        "members/_invite_form.html",
        "Invite",
        SECTION,
        access=access,
        form=InviteForm(access.project),
    )


@bp.post("/invitations")
@project_route(Permission.MANAGE_MEMBERS)
def create_invitation(access: ProjectAccess):
    """Invite someone. With mail set up the link is mailed and not shown, so opening it
    proves the address (core/accounts.py); without mail, or when sending fails, it is shown
    once to pass on."""
    form = InviteForm(access.project)
    if not form.validate_on_submit():
        return dialog(
            "members/_invite_form.html",
            "Invite",
            SECTION,
            422,
            access=access,
            form=form,
        )
    # Marked mailed before sending, so a crash between the two never leaves a link
    # that counts as mailed after the owner saw it; a failed send clears the mark.
    by_mail = mail.configured()
    invitation, secret = invitations.create_invitation(
        access.project,
        form.email.data,
        form.role.role,
        by=signed_in(),
        now=utcnow(),
        by_mail=by_mail,
    )
    db.session.commit()
    link = links.external_url("invitations.accept", secret=secret)
    if by_mail and not mail.send(
        invitation.email,
        f"You are invited to {access.project.name} on FlagPal Dash",
        f"{current_user.name} invited you to join {access.project.name} as a "
        f"{invitation.role.value}.\n\nOpen this link within "
        f"{dates.duration(Invitation.LIFETIME)} to accept:\n{link}\n",
    ):
        invitation.delivered_by_mail = False
        db.session.commit()
    response = dialog(
        "members/_invited.html",
        "Invitation created",
        SECTION,
        201,
        invitation=invitation,
        # A mailed link is not shown: the owner holding it would prove nothing.
        link=None if invitation.delivered_by_mail else link,
        **page_context(access),
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/invitations/<int:invitation_id>/revoke")
@project_route(Permission.MANAGE_MEMBERS)
def revoke_invitation(access: ProjectAccess, invitation_id: int):
    """Withdraw a pending invitation: its link stops working."""
    invitation = invitations.invitation_by_id(access.project, invitation_id)
    if invitation is None:
        abort(404)
    if invitations.revoke_invitation(invitation, by=signed_in(), now=utcnow()):
        db.session.commit()
        flash(
            f"The invitation for {invitation.email} is revoked; its link no longer works.",
            "success",
        )
    else:
        flash(
            f"The invitation for {invitation.email} could not be used anyway; nothing changed.",
            "info",
        )
    return redirect(url_for("members.list_members", slug=access.project.slug))


invitations_bp = Blueprint("invitations", __name__)


def invitation_or_explain(secret: str) -> Invitation:
    """The pending invitation behind a link, or a page saying why it cannot be used."""
    invitation = invitations.invitation_by_secret(secret) if len(secret) <= 100 else None
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


@invitations_bp.route("/invitations/<secret>", methods=["GET", "POST"])
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
    if request.method == "POST" and "name" in request.form:
        if new_form.validate_on_submit():
            return join_as_new(invitation, sign_in_form, new_form)
        status = 422
    elif sign_in_form.validate_on_submit():
        user, refusal = accounts.check_password(
            invitation.email,
            sign_in_form.password.data,
            rounds=current_app.config["BCRYPT_ROUNDS"],
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
            else f"That password does not match an account for {invitation.email}."
        )
        status = 422
    elif request.method == "POST":
        status = 422
    return accept_page(invitation, sign_in_form, new_form, status)


def accept_page(invitation: Invitation, sign_in_form, new_form, status: int):
    return render_template(
        "members/accept.html",
        invitation=invitation,
        sign_in_form=sign_in_form,
        new_form=new_form,
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
