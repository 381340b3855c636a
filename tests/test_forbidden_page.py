"""The page a member gets for something their role does not allow (403): it keeps the
header every page has, and names the people to ask, not only the roles."""

from flagpal_dash.core.projects import add_member
from flagpal_dash.extensions import db
from flagpal_dash.permissions import Role

from .support import HTMX, add_user, page, text_of


def account_nav(shown):
    return shown.find("nav", attrs={"aria-label": "Account"})


def test_the_403_page_keeps_the_header_and_names_the_owner(client, team, sign_in):
    sign_in(team.viewer)
    response = client.post("/projects/shop/tokens", data={"name": "Shop backend"})
    assert response.status_code == 403
    shown = page(response)
    nav = account_nav(shown)
    assert nav is not None, "the header keeps the account"
    assert text_of(nav.find("a", href="/account")) == "Vic Viewer"
    assert nav.find("button", string="Sign out") is not None
    assert text_of(shown.find(attrs={"data-error-message": True})) == (
        "Your role in Shop is Viewer. Only developers or owners can create, rotate and "
        "revoke tokens. Nothing was changed. If you need to, ask the owner of Shop for "
        "another role: Olivia Owner."
    )


def test_with_several_owners_any_of_them_may_be_asked(client, team, sign_in):
    for email, name in [("ada@example.com", "Ada Admin"), ("bo@example.com", "Bo Boss")]:
        add_member(team.project, add_user(email, name), Role.OWNER, actor=None)
    db.session.commit()
    sign_in(team.developer)
    for headers in ({}, HTMX):
        response = client.get("/projects/shop/invitations/new", headers=headers)
        assert response.status_code == 403
        message = text_of(page(response).find(attrs={"data-error-message": True}))
        assert message.endswith(
            "If you need to, ask an owner of Shop for another role: Ada Admin, Bo Boss or "
            "Olivia Owner."
        )


def test_a_page_that_is_not_there_still_shows_no_account(client, team, sign_in):
    """Not found may come before anything was read: that page does without the database."""
    sign_in(team.viewer)
    response = client.get("/projects/nowhere/tokens")
    assert response.status_code == 404
    assert account_nav(page(response)) is None
