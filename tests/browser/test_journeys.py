"""The dashboard's journeys in a real browser: keyboard only, with and without JavaScript."""

import re
from datetime import timedelta

from flagpal_dash import token_format
from flagpal_dash.core.projects import membership_of
from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken, utcnow
from flagpal_dash.permissions import Role

from ..support import issue_token
from .conftest import check_accessibility, new_page
from .live import sign_in

TOKEN = re.compile(token_format.PATTERN)


def active_element(page) -> dict:
    return page.evaluate(
        "() => ({id: document.activeElement.id, tag: document.activeElement.tagName,"
        " text: document.activeElement.textContent.trim(),"
        " inDialog: !!document.activeElement.closest('dialog')})"
    )


def dialog_is_open(page) -> bool:
    return page.locator("#dialog").evaluate("dialog => dialog.open")


def test_sign_in(page, team):
    page.goto("/")
    assert page.url.endswith("/sign-in?next=/")
    check_accessibility(page, "sign-in")
    sign_in(page, team.developer)
    assert page.get_by_role("heading", name="Your projects").is_visible()
    page.get_by_role("link", name="Shop").click()
    page.get_by_role("link", name="API Tokens", exact=True).click()
    assert page.get_by_role("heading", name="API Tokens", exact=True).is_visible()


def test_create_a_token_with_the_keyboard_alone(page, team):
    sign_in(page, team.developer)
    page.goto("/projects/shop/tokens")
    page.get_by_role("link", name="New API Token").focus()

    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="New API Token")
    dialog.wait_for()
    assert active_element(page)["id"] == "name", "focus moved into the dialog"
    page.keyboard.type("Checkout (production)")
    for expected, check in [
        ("abilities-0", False),
        ("abilities-1", True),
        ("abilities-2", False),
        ("abilities-3", True),
        ("abilities-4", False),
    ]:
        page.keyboard.press("Tab")
        assert active_element(page)["id"] == expected
        if check:
            page.keyboard.press("Space")
    page.keyboard.press("Tab")
    assert active_element(page)["id"] == "expiration-2", "into the radio group at 30 days"
    page.keyboard.press("ArrowRight")
    assert active_element(page)["id"] == "expiration-3"
    for _ in range(10):
        page.keyboard.press("Tab")
        if active_element(page)["text"] == "Create":
            break
        assert active_element(page)["inDialog"], "Tab stays in the dialog"
    page.keyboard.press("Enter")

    page.get_by_role("dialog", name="Token created").wait_for()
    value = page.locator("#new-token-value").input_value()
    assert TOKEN.fullmatch(value)
    assert page.get_by_text("It will not be shown again.").is_visible()
    assert active_element(page)["inDialog"]
    page.get_by_role("button", name="Copy").focus()
    page.keyboard.press("Space")
    copy_button = page.locator("[data-copy-target]")
    copy_button.filter(has_text="Copied").wait_for(timeout=5000)
    assert page.evaluate("() => navigator.clipboard.readText()") == value
    page.get_by_role("button", name="Done").focus()
    page.keyboard.press("Enter")

    assert not dialog_is_open(page)
    assert active_element(page)["text"] == "New API Token", "focus back on the opener"
    row = page.locator("#token-list tbody tr").first
    assert row.locator(".token-name").inner_text() == "Checkout (production)"
    assert value not in page.content(), "closing the dialog drops the value from the page"
    page.reload()
    assert value not in page.content()
    assert page.locator("#token-list .token-name").all_inner_texts() == ["Checkout (production)"]

    token = db.session.scalars(db.select(ApiToken)).one()
    assert token.abilities == frozenset({"read", "metrics"})
    assert abs(token.expires_at - (utcnow() + timedelta(days=60))) < timedelta(minutes=5)


def test_revoke_asks_first_and_escape_or_cancel_change_nothing(page, team):
    token, _ = issue_token(team.project, "Old phone app")
    sign_in(page, team.owner)
    page.goto("/projects/shop/tokens")
    revoke = page.get_by_role("link", name="Revoke Old phone app")

    revoke.click()
    confirm = page.get_by_role("dialog", name="Revoke “Old phone app”?")
    confirm.wait_for()
    assert "Apps using this token stop working at once." in confirm.inner_text()
    assert active_element(page)["text"] == "Cancel", "the safe choice has focus"
    page.keyboard.press("Escape")
    assert not dialog_is_open(page)
    assert active_element(page)["text"] == "Revoke Old phone app"

    revoke.click()
    confirm.wait_for()
    page.get_by_role("button", name="Cancel").click()
    assert not dialog_is_open(page)
    db.session.refresh(token)
    assert token.revoked_at is None, "Escape and Cancel revoke nothing"

    revoke.click()
    page.get_by_role("button", name="Revoke token").click()
    row = page.locator(f"#token-{token.id}")
    row.locator(".badge", has_text="Revoked").wait_for()
    assert not dialog_is_open(page)
    assert "is revoked" in page.locator("#flash").inner_text()
    assert active_element(page)["id"] == f"token-{token.id}", "focus lands on the row"
    db.session.refresh(token)
    assert token.revoked_at is not None


def test_a_viewer_sees_the_list_and_no_controls(page, team):
    issue_token(team.project, "Shop backend")
    sign_in(page, team.viewer)
    page.goto("/projects/shop/tokens")
    assert page.locator("#token-list .token-name").all_inner_texts() == ["Shop backend"]
    assert page.get_by_role("link", name="New API Token").count() == 0
    assert page.locator("#token-list a, #token-list button, #token-list form").count() == 0
    # The one form a viewer gets is the search above the list, which changes nothing.
    changes = 'main form:not([role="search"]), main button:not([role="search"] button)'
    assert page.locator(changes).count() == 0
    assert page.locator("main form").count() == 1


def test_create_and_revoke_without_javascript(plain_page, team):
    page = plain_page
    sign_in(page, team.developer)
    page.goto("/projects/shop/tokens")
    page.get_by_role("link", name="New API Token").click()
    page.wait_for_url("**/tokens/new")
    page.get_by_label("Name").fill("Cron job")
    page.get_by_label("Read", exact=True).check()
    page.get_by_label("No expiration").check()
    page.get_by_role("button", name="Create").click()

    value = page.locator("#new-token-value").input_value()
    assert TOKEN.fullmatch(value)
    assert page.get_by_text("It will not be shown again.").is_visible()
    page.get_by_role("link", name="Done, back to API Tokens").click()
    page.wait_for_url("**/projects/shop/tokens")
    assert value not in page.content()
    assert page.locator("#token-list .token-name").all_inner_texts() == ["Cron job"]

    page.get_by_role("link", name="Revoke Cron job").click()
    page.wait_for_url("**/revoke")
    assert "Apps using this token stop working at once." in page.content()
    page.get_by_role("button", name="Revoke token").click()
    page.wait_for_url("**/projects/shop/tokens")
    assert page.locator("#token-list .badge").all_inner_texts() == ["Revoked"]
    assert "is revoked" in page.locator("#flash").inner_text()


def test_rotate_a_token_with_a_grace_period(page, team):
    issue_token(team.project, "Shop backend", created_by=team.developer)
    sign_in(page, team.developer)
    page.goto("/projects/shop/tokens")
    page.get_by_role("link", name="Rotate Shop backend").click()
    dialog = page.get_by_role("dialog", name="Rotate “Shop backend”")
    dialog.wait_for()
    dialog.get_by_label("In 1 hour").check()
    dialog.get_by_role("button", name="Rotate").click()
    page.get_by_role("dialog", name="Token rotated").wait_for()
    value = page.get_by_label("Token for “Shop backend”").input_value()
    assert TOKEN.fullmatch(value)
    page.get_by_role("button", name="Done").click()
    assert not dialog_is_open(page)
    badges = page.locator("#token-list tbody tr .badge").all_inner_texts()
    assert badges == ["Active", "Rotated"]
    page.reload()
    assert value not in page.content()


def test_a_refusal_in_the_dialog_is_said_in_the_dialog(chromium, live_server, request, app, team):
    """The server answers an error where the person acted (HX-Retarget); app.js only
    lets htmx swap it there."""
    watched = new_page(chromium, live_server, request)
    page = watched.page
    token, _ = issue_token(team.project, "Shop backend")
    sign_in(page, team.developer)
    page.goto("/projects/shop/tokens")
    page.get_by_role("link", name="Revoke Shop backend").click()
    page.get_by_role("dialog", name="Revoke “Shop backend”?").wait_for()
    # Meanwhile an owner makes the developer a viewer.
    membership_of(team.developer, team.project).role = Role.VIEWER
    db.session.commit()

    page.get_by_role("button", name="Revoke token").click()
    refusal = page.get_by_role("dialog", name="Not allowed")
    refusal.wait_for()
    assert "Your role in Shop is Viewer." in refusal.inner_text()
    assert active_element(page)["text"] == "Close"
    assert page.locator("#flash").inner_text().strip() == ""
    page.keyboard.press("Enter")
    assert not dialog_is_open(page)
    db.session.refresh(token)
    assert token.revoked_at is None
    # Chromium reports the refused request in the console; nothing else went wrong.
    assert [problem for problem in watched.problems if "403" not in problem] == []
