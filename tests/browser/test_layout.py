"""What the pages look like when they are full: ten tokens on a laptop's screen, a
token's card on a phone, and names of 100 characters without a space, which must wrap
or be cut, never push a page or a dialog wider than the window."""

from datetime import timedelta

import pytest

from flagpal_dash.extensions import db
from flagpal_dash.models import utcnow

from ..support import issue_token
from .live import sign_in

LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# The longest name the forms take, with nowhere to break a line.
LONG = "Integration" + "x" * 89
# Names a real project has, of every length, and one of the longest.
NAMES = [
    "Checkout backend (production)",
    "Checkout backend (staging)",
    "Search indexer",
    "Metrics exporter",
    "iOS app",
    "Android app",
    "Nightly data warehouse export job",
    "Load test",
    "Support tools",
    LONG,
]


@pytest.fixture
def full_list(team):
    """Ten tokens of every state and length of name, made by the developer."""
    now = utcnow()
    for index, name in enumerate(NAMES):
        fields = {}
        if index == 3:
            fields["expires_at"] = now + timedelta(days=4)
        if index == 7:
            fields |= {"revoked_at": now - timedelta(days=12), "revoked_by": team.owner}
        issue_token(
            team.project,
            name,
            abilities=frozenset({"read", "write", "metrics"}),
            created_by=team.developer,
            created_at=now - timedelta(days=40 + index),
            last_used_at=now - timedelta(minutes=3),
            **fields,
        )
    return team


def row_heights(page) -> list[float]:
    return [row.bounding_box()["height"] for row in page.locator("tr.token-row").all()]


def test_ten_tokens_fit_a_laptop_screen(page, full_list):
    """The table's heading and its ten rows are no taller than a 1280×800 screen."""
    page.set_viewport_size(LAPTOP)
    sign_in(page, full_list.developer)
    page.goto("/projects/shop/tokens")
    heights = row_heights(page)
    assert len(heights) == 10
    table = page.locator("table.tokens").bounding_box()
    assert table["height"] <= LAPTOP["height"], f"rows of {heights}"
    assert table["width"] <= page.locator(".project-content").bounding_box()["width"]


@pytest.mark.parametrize("role", ["developer", "viewer"])
def test_a_phone_shows_a_token_in_under_200_pixels(page, full_list, role):
    page.set_viewport_size(PHONE)
    sign_in(page, full_list.member(role))
    page.goto("/projects/shop/tokens")
    heights = row_heights(page)
    assert len(heights) == 10
    assert max(heights) < 200, f"cards of {heights}"


def no_overflow(page, state: str) -> None:
    """Neither the page nor an open dialog scrolls sideways."""
    width = page.evaluate("() => document.scrollingElement.scrollWidth")
    window = page.evaluate("() => window.innerWidth")
    assert width <= window, f"{state}: the page is {width}px wide in a {window}px window"
    dialogs = page.evaluate(
        "() => [...document.querySelectorAll('dialog[open]')]"
        ".map(d => [d.scrollWidth, d.clientWidth])"
    )
    for scroll, client in dialogs:
        assert scroll <= client, f"{state}: the dialog scrolls sideways ({scroll} > {client})"


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["1280", "390"])
def test_a_100_character_name_never_widens_a_page_or_dialog(page, team, viewport):
    """The token's, the person's and the project's names all of the longest kind."""
    team.developer.name = "Dana" + "d" * 96
    team.developer.is_admin = True
    team.project.name = "Shop" + "s" * 96
    db.session.commit()
    page.set_viewport_size(viewport)
    sign_in(page, team.developer)
    no_overflow(page, "the projects page")
    page.goto("/projects/shop/tokens")
    page.get_by_role("link", name="New API Token").click()
    page.get_by_label("Name").fill(LONG)
    page.get_by_label("Read", exact=True).check()
    page.get_by_role("button", name="Create").click()
    page.get_by_role("dialog", name="Token created").wait_for()
    no_overflow(page, "the created dialog")
    page.get_by_role("button", name="Done").click()
    no_overflow(page, "the token list")
    page.get_by_role("link", name=f"Revoke {LONG}").click()
    page.get_by_role("dialog", name=f"Revoke “{LONG}”?").wait_for()
    no_overflow(page, "the revoke dialog")
    page.get_by_role("button", name="Revoke token").click()
    page.get_by_role("dialog").wait_for(state="hidden")
    page.goto("/projects/shop/members")
    no_overflow(page, "the members page")
    page.goto("/projects/shop/audit")
    assert page.get_by_text(LONG).count() >= 2, "created and revoked"
    no_overflow(page, "the audit log")
    page.goto("/admin/users")
    no_overflow(page, "the admin's users")
    page.goto("/account")
    no_overflow(page, "the account page")


def test_every_danger_button_looks_the_same(page, team):
    """The token list's Revoke (a link), the dialog's Revoke token and an invitation's
    Revoke (form buttons) share one look."""
    issue_token(team.project, "Shop backend", created_by=team.developer)
    sign_in(page, team.owner)
    page.goto("/projects/shop/members")
    page.get_by_role("link", name="Invite someone").click()
    dialog = page.get_by_role("dialog", name="Invite someone to Shop")
    dialog.get_by_label("Email").fill("sam@example.com")
    dialog.get_by_role("button", name="Create invitation").click()
    page.get_by_role("dialog", name="Invitation created").wait_for()
    page.get_by_role("button", name="Done").click()
    looks = {"invitation": look(page.locator("#invitations .button.danger"))}
    page.goto("/projects/shop/tokens")
    looks["list"] = look(page.get_by_role("link", name="Revoke Shop backend"))
    page.get_by_role("link", name="Revoke Shop backend").click()
    looks["dialog"] = look(page.get_by_role("button", name="Revoke token"))
    assert looks["list"] == looks["dialog"] == looks["invitation"], looks
    background, _, _ = looks["list"]
    assert background not in ("rgba(0, 0, 0, 0)", "transparent"), "solid, not outlined"


def look(locator) -> tuple[str, str, str]:
    return locator.evaluate(
        "b => { const s = getComputedStyle(b);"
        " return [s.backgroundColor, s.color, s.borderTopColor]; }"
    )


def test_the_instance_admin_checkbox_sits_beside_its_label(page, team):
    team.owner.is_admin = True
    db.session.commit()
    sign_in(page, team.owner)
    page.goto("/admin/users")
    box = page.get_by_label("Instance admin").bounding_box()
    label = page.locator("label[for=admin]").bounding_box()
    assert label["x"] >= box["x"] + box["width"], "to its right"
    assert label["y"] < box["y"] + box["height"] and box["y"] < label["y"] + label["height"]


def test_the_copy_button_keeps_its_width_when_it_says_copied(page, team):
    sign_in(page, team.developer)
    page.goto("/projects/shop/tokens")
    page.get_by_role("link", name="New API Token").click()
    page.get_by_label("Name").fill("Checkout")
    page.get_by_label("Read", exact=True).check()
    page.get_by_role("button", name="Create").click()
    copy = page.get_by_role("button", name="Copy")
    before = copy.bounding_box()["width"]
    copy.click()
    page.get_by_role("button", name="Copied").wait_for()
    assert page.get_by_role("button", name="Copied").bounding_box()["width"] == before
