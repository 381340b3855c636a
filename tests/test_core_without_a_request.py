"""Each core module's rules called with plain arguments inside an app context only: no
request, nobody signed in. Who acts, when, and the settings are arguments; refusals are
domain errors with a code."""

from datetime import UTC, datetime, timedelta

import pytest
from flask import has_request_context
from sqlalchemy import select

from flagpal_dash.core import accounts, audit, invitations, projects
from flagpal_dash.core.errors import Conflict
from flagpal_dash.core.invitations import InvitationStatus
from flagpal_dash.extensions import db
from flagpal_dash.models import AuditEvent, AuditKind, Membership
from flagpal_dash.permissions import Role

from .support import PASSWORD, add_user

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_request(app):
    assert not has_request_context()


def last_event() -> AuditEvent:
    return db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()


def test_projects_keep_their_last_owner(team):
    owner = projects.membership_of(team.owner, team.project)
    with pytest.raises(Conflict) as refused:
        projects.change_role(owner, Role.DEVELOPER, actor=team.owner)
    assert refused.value.code == projects.LAST_OWNER
    with pytest.raises(Conflict):
        projects.remove_member(owner, actor=team.owner)

    developer = projects.membership_of(team.developer, team.project)
    assert projects.change_role(developer, Role.OWNER, actor=team.owner)
    event = last_event()
    assert (event.kind, event.actor, event.address) == (
        "member.role_changed",
        team.owner.label,
        None,
    )
    projects.change_role(owner, Role.VIEWER, actor=team.developer)  # another owner remains
    db.session.commit()
    assert projects.owner_count(team.project) == 1


def test_a_taken_slug_is_a_conflict_with_the_slug(team):
    with pytest.raises(Conflict) as refused:
        projects.create_project("Shop again", "shop", actor=None)
    assert (refused.value.code, refused.value.slug) == (projects.SLUG_TAKEN, "shop")


def test_the_token_policy_is_set_by_whoever_the_caller_names(team):
    assert projects.set_token_policy(team.project, 90, None, actor=team.owner)
    event = last_event()
    assert (event.kind, event.actor, event.details["max_token_lifetime"]) == (
        "project.policy_changed",
        team.owner.label,
        "90 days",
    )
    assert not projects.set_token_policy(team.project, 90, None, actor=None), "so already"
    assert projects.set_token_policy(team.project, None, 30, actor=None)
    assert last_event().actor == "command line"


def test_invitations_take_the_inviter_and_the_clock(team):
    invitation, secret = invitations.create_invitation(
        team.project, "new@example.com", Role.VIEWER, by=team.owner, now=NOW
    )
    assert invitation.created_by == team.owner and invitation.expires_at == NOW + timedelta(7)
    assert last_event().actor == team.owner.label
    assert invitations.status(invitation, NOW + timedelta(days=8)) is InvitationStatus.EXPIRED
    with pytest.raises(Conflict) as twice:
        invitations.create_invitation(
            team.project, "new@example.com", Role.OWNER, by=team.owner, now=NOW
        )
    assert twice.value.code == invitations.ALREADY_INVITED
    with pytest.raises(Conflict) as member:
        invitations.create_invitation(
            team.project, team.viewer.email, Role.OWNER, by=team.owner, now=NOW
        )
    assert (member.value.code, member.value.role) == (invitations.ALREADY_MEMBER, Role.VIEWER)

    joiner = add_user("new@example.com", "Nia New")
    invitations.hold_pending(invitation, NOW)
    membership = invitations.accept_invitation(invitation, joiner, NOW)
    assert isinstance(membership, Membership) and membership.role is Role.VIEWER
    assert invitation.accepted_at == NOW
    with pytest.raises(invitations.Gone) as gone:
        invitations.hold_pending(invitation, NOW)
    assert gone.value.status is InvitationStatus.ACCEPTED
    assert not invitations.revoke_invitation(invitation, by=team.owner, now=NOW)


def test_accounts_keep_the_last_active_admin(app, team):
    admin = add_user("ada@example.com", "Ada Admin", admin=True)
    db.session.commit()
    with pytest.raises(Conflict) as refused:
        accounts.set_active(admin, False, actor=None)
    assert refused.value.code == accounts.LAST_ADMIN
    assert str(refused.value) == "This is the only active admin; make another admin first."

    assert accounts.set_active(team.developer, False, actor=admin)
    assert not accounts.set_active(team.developer, False, actor=admin)
    user, refusal = accounts.check_password(team.developer.email, PASSWORD, rounds=4)
    assert (user, refusal) == (None, "account deactivated")
    event = last_event()
    assert (event.kind, event.actor) == ("sign_in.failed", "command line")

    made = accounts.create_user(
        "bo@example.com", "Bo", PASSWORD, actor=admin, rounds=4, proven_at=NOW
    )
    assert made.password_hash.startswith("$2b$04$"), "the rounds given, not a setting read"
    assert last_event().actor == admin.label
    assert accounts.first_run_code("one key") != accounts.first_run_code("another key")


def test_the_audit_log_is_read_with_plain_arguments(team):
    AuditEvent.record(AuditKind.PROJECT_POLICY_CHANGED, project=team.project, actor=None)
    db.session.commit()
    events, older = audit.events_page(team.project, group="project", page=1)
    assert [e.kind for e in events] == ["project.policy_changed", "project.created"]
    assert not older
    exported = list(audit.export(NOW - timedelta(days=3650), team.project))
    assert exported[-1]["actor"] == "command line" and exported[-1]["address"] is None


def test_an_event_without_its_actor_is_refused(team):
    with pytest.raises(TypeError):
        AuditEvent.record(AuditKind.PROJECT_CREATED, project=team.project)
