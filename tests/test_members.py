"""The Members page: who is on a project, roles, removal, and the last owner rule."""

import pytest

from flagpal_dash.core.projects import membership_of
from flagpal_dash.extensions import db
from flagpal_dash.models import AuditEvent, Membership
from flagpal_dash.permissions import Role

from .support import HTMX, PASSWORD, page, text_of


def member_rows(response) -> dict[str, str]:
    return {
        text_of(row.select_one(".member-name")): text_of(row.select_one(".badge"))
        for row in page(response).select("table.members tbody tr")
    }


def membership(team, who: str) -> Membership:
    return membership_of(team.member(who), team.project)


@pytest.mark.parametrize("role", ["viewer", "developer"])
def test_every_member_sees_who_is_on_the_project_read_only(client, team, sign_in, role):
    sign_in(team.member(role))
    response = client.get("/projects/shop/members")
    assert response.status_code == 200
    assert member_rows(response) == {
        "Olivia Owner": "Owner",
        "Dana Developer": "Developer",
        "Vic Viewer": "Viewer",
    }
    members = page(response).select_one("table.members")
    assert members.find("form") is None and members.find("a") is None
    assert team.owner.email not in response.text, "emails are for owners"
    assert page(response).find(string="Invite someone") is None
    assert page(response).find(id="invitations") is None


def test_owners_see_emails_controls_and_invitations(client, team, sign_in):
    sign_in(team.owner)
    response = client.get("/projects/shop/members")
    row = page(response).find(id=f"member-{membership(team, 'developer').id}")
    assert team.developer.email in text_of(row)
    assert row.find("select", attrs={"name": "role"}).find("option", selected=True)["value"] == (
        "developer"
    )
    options = row.find("select", attrs={"name": "role"}).find_all("option")
    assert [(option["value"], text_of(option)) for option in options] == [
        (role.value, role.label) for role in Role
    ], "every role permissions.py knows, least trusted first"
    assert text_of(row.find("a")) == "Remove Dana Developer"
    assert page(response).find("a", string="Invite someone")["href"] == (
        "/projects/shop/invitations/new"
    )
    assert "Pending invitations" in text_of(page(response).find(id="invitations"))


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_an_owner_changes_a_role(client, team, sign_in, htmx):
    sign_in(team.owner)
    dev = membership(team, "developer")
    response = client.post(
        f"/projects/shop/members/{dev.id}/role",
        data={"role": "viewer"},
        headers=HTMX if htmx else {},
    )
    if htmx:
        assert response.status_code == 200
        row = page(response).find("tr")
        assert text_of(row.select_one(".badge")) == "Viewer"
        assert text_of(page(response).find(id="flash")) == "Dana Developer is now viewer."
    else:
        assert response.status_code == 302
        assert "Dana Developer is now viewer." in client.get(response.headers["Location"]).text
    db.session.refresh(dev)
    assert dev.role is Role.VIEWER
    event = db.session.scalars(db.select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert event.kind == "member.role_changed"
    assert event.details == {"role": "viewer", "previous_role": "developer"}


def test_a_lowered_role_takes_effect_on_the_next_request(client, team, sign_in, app):
    developer_client = app.test_client()
    developer_client.post("/sign-in", data={"email": team.developer.email, "password": PASSWORD})
    assert developer_client.get("/projects/shop/tokens/new").status_code == 200
    sign_in(team.owner)
    client.post(
        f"/projects/shop/members/{membership(team, 'developer').id}/role", data={"role": "viewer"}
    )
    assert developer_client.get("/projects/shop/tokens/new").status_code == 403


@pytest.mark.parametrize("role", ["admin", "", "Owner", "superuser"])
def test_a_forged_role_is_refused(client, team, sign_in, role):
    sign_in(team.owner)
    dev = membership(team, "developer")
    response = client.post(
        f"/projects/shop/members/{dev.id}/role", data={"role": role}, headers=HTMX
    )
    assert response.status_code == 422
    assert text_of(page(response).find(id="flash")) == "Choose a role from the list."
    db.session.refresh(dev)
    assert dev.role is Role.DEVELOPER


def test_the_last_owner_can_be_neither_demoted_nor_removed(client, team, sign_in):
    sign_in(team.owner)
    mine = membership(team, "owner")
    for url, data in [
        (f"/projects/shop/members/{mine.id}/role", {"role": "developer"}),
        (f"/projects/shop/members/{mine.id}/remove", {}),
    ]:
        response = client.post(url, data=data, headers=HTMX)
        assert response.status_code == 409
        assert "always keeps at least one owner" in text_of(page(response).find(id="flash"))
    db.session.refresh(mine)
    assert mine.role is Role.OWNER
    confirm = page(client.get(f"/projects/shop/members/{mine.id}/remove"))
    assert "is the only owner" in text_of(confirm.select_one(".form-errors"))


def test_with_a_second_owner_the_first_may_step_down(client, team, sign_in):
    sign_in(team.owner)
    client.post(
        f"/projects/shop/members/{membership(team, 'developer').id}/role", data={"role": "owner"}
    )
    response = client.post(
        f"/projects/shop/members/{membership(team, 'owner').id}/role", data={"role": "developer"}
    )
    assert response.status_code == 302
    assert membership(team, "owner").role is Role.DEVELOPER


def test_removing_a_member_asks_first_then_ends_their_access_at_once(client, team, sign_in, app):
    viewer_client = app.test_client()
    viewer_client.post("/sign-in", data={"email": team.viewer.email, "password": PASSWORD})
    assert viewer_client.get("/projects/shop/tokens").status_code == 200
    sign_in(team.owner)
    vic = membership(team, "viewer")
    confirm = page(client.get(f"/projects/shop/members/{vic.id}/remove", headers=HTMX))
    assert text_of(confirm.find(id="dialog-title")) == "Remove Vic Viewer?"
    assert "will lose access to Shop at once" in text_of(confirm.select_one(".warning"))

    response = client.post(f"/projects/shop/members/{vic.id}/remove", headers=HTMX)
    assert response.status_code == 200
    assert page(response).find("tr") is None, "the row goes"
    assert text_of(page(response).find(id="flash")) == "Vic Viewer was removed from Shop."
    assert membership_of(team.viewer, team.project) is None
    assert viewer_client.get("/projects/shop/tokens").status_code == 404


def test_leaving_a_project_yourself(client, team, sign_in):
    sign_in(team.developer)
    client.post("/sign-out")
    sign_in(team.owner)
    client.post(
        f"/projects/shop/members/{membership(team, 'developer').id}/role", data={"role": "owner"}
    )
    client.post("/sign-out")
    sign_in(team.developer)
    mine = membership(team, "developer")
    response = client.post(f"/projects/shop/members/{mine.id}/remove", headers=HTMX)
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/"
    assert client.get("/projects/shop/members").status_code == 404


def test_another_project_s_members_cannot_be_changed_by_id(client, team, sign_in):
    theirs = membership_of(team.outsider, team.other_project)
    sign_in(team.owner)
    for url in [
        f"/projects/shop/members/{theirs.id}/role",
        f"/projects/shop/members/{theirs.id}/remove",
    ]:
        assert client.post(url, data={"role": "viewer"}).status_code == 404
    assert client.get(f"/projects/shop/members/{theirs.id}/remove").status_code == 404
    db.session.refresh(theirs)
    assert theirs.role is Role.OWNER
