"""Refusals in a real browser: each says the server's own sentence where the person
acted, with and without JavaScript, and a form sent back twice stays within the
Content-Security-Policy."""

import pytest

from flagpal_dash.core import sessions
from flagpal_dash.core.projects import add_member, change_role, membership_of
from flagpal_dash.extensions import db
from flagpal_dash.members import LAST_OWNER
from flagpal_dash.models import UserSession
from flagpal_dash.permissions import Role

from ..support import add_user, issue_token
from .conftest import new_page
from .live import sign_in

GENERIC = "Something went wrong"

# Chromium reports every 4xx answer in the console; the tests below expect exactly those.
REFUSED = ("Failed to load resource: the server responded with a status of 4",)


def other_problems(watched) -> list[str]:
    return [p for p in watched.problems if not any(what in p for what in REFUSED)]


def watched_page(chromium, live_server, request, javascript=True):
    return new_page(
        chromium,
        live_server,
        request,
        viewport={"width": 1280, "height": 900},
        java_script_enabled=javascript,
    )


def with_a_second_owner(team):
    """Ada is a second owner of Shop, so Olivia's page offers her every control."""
    ada = add_user("ada@example.com", "Ada Admin")
    add_member(team.project, ada, Role.OWNER, actor=None)
    db.session.commit()
    return membership_of(ada, team.project)


def meanwhile_no_longer_owner(membership) -> None:
    """Another owner's change lands between the page being shown and the click."""
    change_role(membership, Role.DEVELOPER, actor=None)
    db.session.commit()


def flash_text(page) -> str:
    return page.locator("#flash").inner_text().strip()


@pytest.mark.parametrize("javascript", [True, False], ids=["htmx", "plain"])
def test_the_last_owner_changing_their_role_is_told_why_in_the_row(
    chromium, live_server, request, app, team, javascript
):
    watched = watched_page(chromium, live_server, request, javascript)
    page = watched.page
    ada = with_a_second_owner(team)
    sign_in(page, team.owner)
    page.goto("/projects/shop/members")
    row = page.locator(f"#member-{membership_of(team.owner, team.project).id}")
    row.get_by_label("Role of Olivia Owner").select_option("developer")
    meanwhile_no_longer_owner(ada)

    row.get_by_role("button", name="Change role of Olivia Owner").click()
    page.locator("#flash", has_text=LAST_OWNER).wait_for()
    assert flash_text(page) == LAST_OWNER
    assert row.locator(".badge").inner_text() == "Owner"
    # The row now says why its controls cannot be used, beside them.
    assert row.get_by_label("Role of Olivia Owner").is_disabled()
    assert row.get_by_role("button", name="Leave project").is_disabled()
    assert "You are the only owner" in row.locator(".only-owner").inner_text()
    assert other_problems(watched) == []


@pytest.mark.parametrize("javascript", [True, False], ids=["htmx", "plain"])
def test_the_last_owner_leaving_is_told_why_where_they_pressed_leave(
    chromium, live_server, request, app, team, javascript
):
    watched = watched_page(chromium, live_server, request, javascript)
    page = watched.page
    ada = with_a_second_owner(team)
    sign_in(page, team.owner)
    page.goto("/projects/shop/members")
    page.get_by_role("link", name="Remove Olivia Owner").click()
    if javascript:
        page.get_by_role("dialog", name="Leave Shop?").wait_for()
    meanwhile_no_longer_owner(ada)

    page.get_by_role("button", name="Leave project").click()
    if javascript:
        refusal = page.get_by_role("dialog", name="Nothing was changed")
        refusal.wait_for()
        assert LAST_OWNER in refusal.inner_text()
        refusal.get_by_role("button", name="Close").click()
    else:
        page.wait_for_url("**/projects/shop/members")
        assert flash_text(page) == LAST_OWNER
    assert GENERIC not in page.content()
    # Back on the list, Olivia's row says why Leave cannot be used.
    row = page.locator(f"#member-{membership_of(team.owner, team.project).id}")
    assert row.get_by_role("button", name="Leave project").is_disabled()
    assert "You are the only owner" in row.locator(".only-owner").inner_text()
    assert membership_of(team.owner, team.project).role is Role.OWNER
    assert other_problems(watched) == []


def test_every_refusal_from_the_page_is_said_in_its_own_words(
    chromium, live_server, request, app, team
):
    """Each kind of 4xx an htmx action can get says the server's sentence where the
    person acted, never the fixed fallback."""
    watched = watched_page(chromium, live_server, request)
    page = watched.page
    other = watched_page(chromium, live_server, request)
    sign_in(other.page, team.owner)
    sign_in(page, team.owner)

    # 404: the other browser's session ended meanwhile (its row is still on the page).
    page.goto("/account")
    sessions.end_all(team.owner, but=newest_session(team.owner))
    db.session.commit()
    page.locator("#sessions form").first.get_by_role("button").click()
    page.locator("#flash", has_text="There is nothing here").wait_for()

    # 422: a role the server does not know (a tampered page).
    page.goto("/projects/shop/members")
    row = page.locator(f"#member-{membership_of(team.viewer, team.project).id}")
    row.locator("select").evaluate(
        "select => { select.add(new Option('Admin', 'admin')); select.value = 'admin'; }"
    )
    row.get_by_role("button", name="Change role of Vic Viewer").click()
    page.locator("#flash", has_text="Choose a role from the list.").wait_for()

    # 400: the form's CSRF token no longer matches (an expired session's page).
    issue_token(team.project, "Shop backend")
    page.goto("/projects/shop/tokens")
    page.get_by_role("link", name="Revoke Shop backend").click()
    page.get_by_role("dialog", name="Revoke “Shop backend”?").wait_for()
    page.evaluate(
        """() => {
             document.body.setAttribute('hx-headers', '{"X-CSRFToken": "expired"}');
             document.querySelectorAll('[name=csrf_token]').forEach(i => { i.value = 'expired'; });
           }"""
    )
    page.get_by_role("button", name="Revoke token").click()
    refusal = page.get_by_role("dialog", name="That request could not be used")
    refusal.wait_for()
    assert "This form has expired" in refusal.inner_text()

    assert GENERIC not in page.content()
    assert other_problems(watched) == []


def newest_session(user) -> UserSession:
    """The session signed in last: this test's page, after the other browser."""
    return db.session.scalars(
        db.select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.id.desc())
    ).first()


def test_an_error_page_without_a_target_still_says_its_sentence(
    chromium, live_server, request, app, team
):
    """An error answer that does not say where it goes (a proxy in front dropped the
    header, say) is not swapped, but the sentence of an error page is still said."""
    watched = watched_page(chromium, live_server, request)
    page = watched.page
    ada = with_a_second_owner(team)
    sign_in(page, team.owner)
    page.goto("/projects/shop/members")
    meanwhile_no_longer_owner(ada)

    def without_target(route):
        response = route.fetch()
        headers = {k: v for k, v in response.headers.items() if not k.startswith("hx-")}
        route.fulfill(response=response, headers=headers)

    page.route("**/members/*/role", without_target)
    row = page.locator(f"#member-{membership_of(team.owner, team.project).id}")
    row.get_by_label("Role of Olivia Owner").select_option("developer")
    row.get_by_role("button", name="Change role of Olivia Owner").click()
    page.locator("#flash", has_text=LAST_OWNER).wait_for()
    assert flash_text(page) == LAST_OWNER
    # htmx reports the error it did not swap; nothing else went wrong.
    unswapped = "Response Status Error Code 409"
    assert [p for p in other_problems(watched) if unswapped not in p] == []


def send_back(page, settled: str) -> None:
    """Press Create, and wait until the form is back with its errors, the element
    ``settled`` in it, and htmx is done settling it."""
    with page.expect_response(lambda response: response.status == 422):
        page.get_by_role("button", name="Create").click()
    page.locator(settled).wait_for()
    page.wait_for_function("() => !document.querySelector('.htmx-settling, .htmx-swapping')")


def test_a_create_form_sent_back_twice_sets_no_inline_style(
    chromium, live_server, request, app, team
):
    """htmx settles a swapped form by copying attributes from the inputs it replaces; a
    style attribute among them, left by the browser or an extension, would be refused by
    the policy once per input."""
    watched = new_page(chromium, live_server, request, viewport={"width": 1280, "height": 900})
    page = watched.page
    sign_in(page, team.developer)
    page.goto("/projects/shop/tokens")
    page.get_by_role("link", name="New API Token").click()
    dialog = page.get_by_role("dialog", name="New API Token")
    dialog.wait_for()
    send_back(page, "#dialog #name[aria-invalid]")
    # What a password manager or the inspector leaves: an empty style attribute, set
    # through the CSSOM (which the policy allows).
    page.evaluate(
        """() => document.querySelectorAll('#dialog input').forEach(input => {
             input.style.setProperty('outline', 'none');
             input.style.removeProperty('outline');
           })"""
    )
    page.get_by_label("Name").fill("Shop backend")
    # Sent back again, with a name this time: the name has no error.
    send_back(page, "#dialog #name:not([aria-invalid])")
    assert dialog.get_by_label("Name").input_value() == "Shop backend"
    assert other_problems(watched) == []
