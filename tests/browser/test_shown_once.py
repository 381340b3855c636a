"""The one time a token's value (or an invitation's link) is shown, in Chromium.
Without JavaScript, reload and Back after it make nothing and show no error: reload
lands on a page saying what was made, Back on a fresh form. With JavaScript, the value
is selected as the dialog opens, closing it before copying asks once, and Copy keeps its
width."""

import re

from flagpal_dash import token_format
from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken, Invitation

from ..support import issue_token
from .conftest import PHONE, assert_fits, check_accessibility, new_page
from .live import sign_in

TOKEN = re.compile(token_format.PATTERN)
CANNOT = "Its value was shown once and cannot be shown again"


def all_tokens() -> list[ApiToken]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(ApiToken).order_by(ApiToken.id)))


def submission_key(page) -> str:
    return page.locator("input[name=submission]").input_value()


def selection(page) -> dict:
    return page.evaluate(
        "() => ({id: document.activeElement.id, start: document.activeElement.selectionStart,"
        " end: document.activeElement.selectionEnd, selected: String(window.getSelection()),"
        " length: (document.activeElement.value || '').length})"
    )


def dialog_is_open(page) -> bool:
    return page.locator("#dialog").evaluate("dialog => dialog.open")


# Without JavaScript ---------------------------------------------------------------------


def test_reload_and_back_after_creating_without_javascript(plain_page, team):
    page = plain_page
    sign_in(page, team.developer)
    page.goto("/projects/shop/tokens/new")
    first_key = submission_key(page)
    page.get_by_label("Name").fill("Cron job")
    page.get_by_label("Read", exact=True).check()
    page.get_by_role("button", name="Create").click()
    value = page.locator("#new-token-value").input_value()
    assert TOKEN.fullmatch(value)
    assert page.locator("[data-copy-target]").is_hidden(), "no Copy button that cannot work"
    [token] = all_tokens()

    page.reload()
    page.wait_for_url(f"**/projects/shop/tokens/{token.id}/created")
    main = page.locator("main")
    assert main.get_by_role("heading", name="Token created").is_visible()
    assert "Token “Cron job” was created just now." in main.inner_text()
    assert CANNOT in main.inner_text()
    assert "already named" not in main.inner_text() and "is required" not in main.inner_text()
    assert page.locator(".field-errors, .form-errors").count() == 0
    assert value not in page.content()
    assert all_tokens() == [token], "no second token"

    page.go_back()
    page.wait_for_url("**/projects/shop/tokens/new")
    assert page.get_by_role("heading", name="New API Token").is_visible()
    assert page.locator(".field-errors, .form-errors").count() == 0
    assert submission_key(page) != first_key, "a fresh form"
    assert page.get_by_label("Name").input_value() == ""
    assert value not in page.content()

    page.get_by_role("link", name="Cancel").click()
    page.wait_for_url("**/projects/shop/tokens")
    assert page.locator("#token-list .token-name").all_inner_texts() == ["Cron job"]


def test_reload_and_back_after_rotating_without_javascript(plain_page, team):
    old, _ = issue_token(team.project, "Shop backend")
    page = plain_page
    sign_in(page, team.developer)
    page.goto("/projects/shop/tokens")
    page.get_by_role("link", name="Rotate Shop backend").click()
    page.wait_for_url(f"**/tokens/{old.id}/rotate")
    first_key = submission_key(page)
    page.get_by_role("button", name="Rotate").click()
    value = page.locator("#new-token-value").input_value()
    assert TOKEN.fullmatch(value)
    [_, new] = all_tokens()

    page.reload()
    page.wait_for_url(f"**/projects/shop/tokens/{new.id}/rotated")
    main = page.locator("main")
    assert main.get_by_role("heading", name="Token rotated").is_visible()
    assert "“Shop backend” was rotated just now." in main.inner_text()
    assert CANNOT in main.inner_text()
    assert "already" not in main.inner_text()
    assert value not in page.content()
    assert len(all_tokens()) == 2, "no second replacement"

    page.go_back()
    page.wait_for_url(f"**/tokens/{old.id}/rotate")
    assert page.get_by_role("heading", name="Rotate “Shop backend”").is_visible()
    assert submission_key(page) != first_key, "a fresh form"
    assert value not in page.content()


def test_reload_after_inviting_without_javascript(plain_page, team):
    page = plain_page
    sign_in(page, team.owner)
    page.goto("/projects/shop/invitations/new")
    page.get_by_label("Email").fill("newcomer@example.com")
    page.get_by_role("button", name="Create invitation").click()
    link = page.get_by_label("Invitation link").input_value()
    [invitation] = db.session.scalars(db.select(Invitation)).all()

    page.reload()
    page.wait_for_url(f"**/projects/shop/invitations/{invitation.id}/created")
    main = page.locator("main")
    assert "The invitation for newcomer@example.com was created just now." in main.inner_text()
    assert "cannot be shown again" in main.inner_text()
    assert "pending invitation" not in main.inner_text()
    assert link not in page.content()
    db.session.expire_all()
    assert db.session.scalars(db.select(Invitation)).all() == [invitation]


# With JavaScript ------------------------------------------------------------------------


def create_in_the_dialog(page, name="Checkout (production)") -> str:
    page.goto("/projects/shop/tokens")
    page.get_by_role("link", name="New API Token").click()
    page.get_by_role("dialog", name="New API Token").wait_for()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Read", exact=True).check()
    page.get_by_role("button", name="Create").click()
    page.get_by_role("dialog", name="Token created").wait_for()
    return page.locator("#new-token-value").input_value()


def test_the_value_is_selected_and_closing_before_copying_asks_once(page, team):
    sign_in(page, team.developer)
    value = create_in_the_dialog(page)
    assert selection(page) == {
        "id": "new-token-value",
        "start": 0,
        "end": len(value),
        "selected": value,
        "length": len(value),
    }, "Ctrl+C copies the whole value at once"
    question = page.get_by_role("group", name="Have you copied the token?")
    assert not question.is_visible()

    page.keyboard.press("Escape")
    assert dialog_is_open(page), "the first Escape asks"
    assert question.is_visible()
    assert "Once closed, it cannot be shown again." in question.inner_text()
    assert page.evaluate("() => document.activeElement.textContent") == "Not yet"
    check_accessibility(page, "asked whether the token was copied")
    page.keyboard.press("Enter")
    assert not question.is_visible()
    assert selection(page)["selected"] == value, "back on the value, selected"

    page.keyboard.press("Escape")
    assert not dialog_is_open(page), "asked once: the next Escape closes"
    assert value not in page.content()
    assert page.locator("#token-list .token-name").all_inner_texts() == ["Checkout (production)"]


def test_yes_close_closes_and_done_or_copying_do_not_ask(page, team):
    sign_in(page, team.developer)
    create_in_the_dialog(page, "First")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Yes, close").click()
    assert not dialog_is_open(page)

    create_in_the_dialog(page, "Second")
    page.get_by_role("button", name="Done").click()
    assert not dialog_is_open(page), "Done closes without asking"

    create_in_the_dialog(page, "Third")
    page.keyboard.press("Control+C")
    page.keyboard.press("Escape")
    assert not dialog_is_open(page), "copied with the keyboard: nothing to ask"


def test_copy_says_copied_without_changing_its_width(page, team):
    sign_in(page, team.developer)
    value = create_in_the_dialog(page)
    copy = page.get_by_role("button", name="Copy", exact=True)
    assert copy.is_visible()
    before = copy.bounding_box()
    copy.click()
    copied = page.get_by_role("button", name="Copied", exact=True)
    copied.wait_for(timeout=5000)
    assert page.evaluate("() => navigator.clipboard.readText()") == value
    after = copied.bounding_box()
    assert (after["width"], after["height"]) == (before["width"], before["height"])
    page.keyboard.press("Escape")
    assert not dialog_is_open(page), "copied: nothing to ask"


def test_without_the_clipboard_api_the_keyboard_is_offered(
    chromium, live_server, request, app, team
):
    """As on plain http away from localhost, where navigator.clipboard is undefined."""
    watched = new_page(chromium, live_server, request)
    page = watched.page
    page.context.add_init_script(
        "Object.defineProperty(Navigator.prototype, 'clipboard', {get: () => undefined})"
    )
    sign_in(page, team.developer)
    value = create_in_the_dialog(page)
    assert page.evaluate("() => navigator.clipboard") is None
    assert page.locator("[data-copy-target]").is_hidden(), "no Copy button that cannot work"
    assert page.get_by_role("status").filter(has_text="Press Ctrl+C to copy.").is_visible()
    assert selection(page)["selected"] == value
    assert watched.problems == []


def test_the_created_page_reads_well_at_both_widths(page, team):
    token, _ = issue_token(team.project, "Shop backend")
    sign_in(page, team.developer)
    page.goto(f"/projects/shop/tokens/{token.id}/created")
    assert CANNOT in page.locator("main").inner_text()
    check_accessibility(page, "created, cannot be shown again")
    page.set_viewport_size(PHONE)
    assert_fits(page, 390, "created, cannot be shown again")
