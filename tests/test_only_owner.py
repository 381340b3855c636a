"""The only owner's controls: changing their role and leaving cannot succeed (a project
always keeps an owner), so they are shown disabled with the reason beside them, and
they come back as soon as there is a second owner."""

from flagpal_dash.core.projects import change_role, membership_of
from flagpal_dash.extensions import db
from flagpal_dash.permissions import Role

from .support import HTMX, page, text_of


def row_of(shown, membership):
    return shown.find("tr", id=f"member-{membership.id}")


def reason_for(shown, control) -> str:
    """The text a screen reader reads as ``control``'s description."""
    return " ".join(text_of(shown.find(id=part)) for part in control["aria-describedby"].split())


def controls(row) -> dict[str, bool]:
    """Each role control and Remove/Leave of ``row``: whether a person can use it."""
    select = row.find("select", attrs={"name": "role"})
    change = row.find("form").find("button", type="submit")
    remove = row.find(["a", "button"], class_="danger")
    return {
        "role": not select.has_attr("disabled"),
        "change role": not change.has_attr("disabled"),
        "remove": remove.name == "a" and not remove.has_attr("disabled"),
    }


def test_the_only_owner_sees_why_they_cannot_change_their_role_or_leave(client, team, sign_in):
    sign_in(team.owner)
    response = client.get("/projects/shop/members")
    assert response.status_code == 200
    shown = page(response)
    mine = row_of(shown, membership_of(team.owner, team.project))
    assert controls(mine) == {"role": False, "change role": False, "remove": False}
    leave = mine.find("button", class_="danger")
    assert text_of(leave) == "Leave project"
    why = "You are the only owner: make someone else an owner before you change your role or leave."
    assert reason_for(shown, leave) == why
    assert reason_for(shown, mine.find("select", attrs={"name": "role"})) == why
    assert why in text_of(mine), "the reason is shown beside the controls, not only read out"
    assert mine.find("a", href=True) is None, "no link to a removal that cannot succeed"
    for who in (team.developer, team.viewer):
        row = row_of(shown, membership_of(who, team.project))
        assert controls(row) == {"role": True, "change role": True, "remove": True}

    # With a second owner, either may step down.
    change_role(membership_of(team.developer, team.project), Role.OWNER, actor=None)
    db.session.commit()
    shown = page(client.get("/projects/shop/members"))
    for who in (team.owner, team.developer):
        row = row_of(shown, membership_of(who, team.project))
        assert controls(row) == {"role": True, "change role": True, "remove": True}
        assert row.select_one(".only-owner") is None


def test_the_remove_dialog_of_the_only_owner_cannot_be_confirmed(client, team, sign_in):
    sign_in(team.owner)
    mine = membership_of(team.owner, team.project)
    for headers in (HTMX, {}):
        shown = page(client.get(f"/projects/shop/members/{mine.id}/remove", headers=headers))
        leave = shown.find("button", string="Leave project")
        assert leave.has_attr("disabled")
        assert reason_for(shown, leave) == (
            "Olivia Owner is the only owner. A project always keeps at least one owner: "
            "make someone else an owner first."
        )


def test_a_second_owner_arriving_or_leaving_redraws_the_other_owner_s_row(client, team, sign_in):
    """htmx swaps only the changed row; whether the other owner is the only one changed
    with it, so their row comes along out of band."""
    sign_in(team.owner)
    mine, dana, vic = (
        membership_of(who, team.project) for who in (team.owner, team.developer, team.viewer)
    )
    # A change that touches no owner redraws only its row.
    response = client.post(
        f"/projects/shop/members/{vic.id}/role", data={"role": "developer"}, headers=HTMX
    )
    assert response.status_code == 200
    assert [row["id"] for row in page(response).find_all("tr")] == [f"member-{vic.id}"]

    url = f"/projects/shop/members/{dana.id}/role"

    response = client.post(url, data={"role": "owner"}, headers=HTMX)
    assert response.status_code == 200
    mine_now = page(response).find("tr", id=f"member-{mine.id}")
    assert mine_now["hx-swap-oob"] == "true"
    assert controls(mine_now) == {"role": True, "change role": True, "remove": True}

    response = client.post(url, data={"role": "developer"}, headers=HTMX)
    assert response.status_code == 200
    mine_now = page(response).find("tr", id=f"member-{mine.id}")
    assert controls(mine_now) == {"role": False, "change role": False, "remove": False}

    client.post(url, data={"role": "owner"}, headers=HTMX)
    response = client.post(f"/projects/shop/members/{dana.id}/remove", headers=HTMX)
    assert response.status_code == 200
    assert page(response).find("tr", id=f"member-{dana.id}") is None
    mine_now = page(response).find("tr", id=f"member-{mine.id}")
    assert controls(mine_now) == {"role": False, "change role": False, "remove": False}


def test_a_refused_leave_redraws_the_row_behind_the_dialog(client, team, sign_in):
    sign_in(team.owner)
    mine = membership_of(team.owner, team.project)
    dialog_header = {"FlagPal-Dialog": "true"}
    response = client.post(f"/projects/shop/members/{mine.id}/remove", headers=HTMX | dialog_header)
    assert response.status_code == 409
    assert response.headers["HX-Retarget"] == "#dialog-content"
    behind = page(response).find("template").find("tr", id=f"member-{mine.id}")
    assert behind["hx-swap-oob"] == "true"
    assert controls(behind) == {"role": False, "change role": False, "remove": False}
