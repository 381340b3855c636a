"""axe-core in every state of the dashboard, dialogs that behave, a layout that fits a
phone, and dark mode that follows the system."""

from ..support import issue_token
from .conftest import assert_fits, check_accessibility, checks_of_each_state
from .live import sign_in


def open_state(page, team, state: str) -> None:
    """Bring ``page`` to one of the dashboard's states, signed in as the right person."""
    if state == "sign-in":
        page.goto("/sign-in")
        return
    if state != "empty list":
        issue_token(
            team.project,
            "Shop backend",
            abilities=frozenset({"read", "write"}),
            created_by=team.developer,
        )
    sign_in(page, team.viewer if state == "viewer" else team.developer)
    page.goto("/projects/shop/tokens")
    if state in ("create dialog", "reveal"):
        page.get_by_role("link", name="New API Token").click()
        page.get_by_role("dialog", name="New API Token").wait_for()
    if state == "reveal":
        page.get_by_label("Name").fill("Checkout")
        page.get_by_label("Read", exact=True).check()
        page.get_by_role("button", name="Create").click()
        page.get_by_role("dialog", name="Token created").wait_for()
    if state == "rotate dialog":
        page.get_by_role("link", name="Rotate Shop backend").click()
        page.get_by_role("dialog", name="Rotate “Shop backend”").wait_for()
    if state == "revoke confirm":
        page.get_by_role("link", name="Revoke Shop backend").click()
        page.get_by_role("dialog", name="Revoke “Shop backend”?").wait_for()


STATES = [
    "list",
    "empty list",
    "create dialog",
    "reveal",
    "rotate dialog",
    "revoke confirm",
    "viewer",
    "sign-in",
]


# Each state of STATES is checked for accessibility and for fitting a phone.
test_no_serious_accessibility_problems, test_the_layout_fits_a_390_pixel_phone = (
    checks_of_each_state(STATES, open_state)
)


def test_dialogs_are_real_dialogs_with_names(page, team):
    open_state(page, team, "create dialog")
    dialog = page.locator("dialog[open]")
    assert dialog.get_attribute("aria-labelledby") == "dialog-title"
    assert page.get_by_role("dialog", name="New API Token").is_visible()
    assert dialog.evaluate("d => d.matches(':modal')"), "opened with showModal()"


def background(page) -> str:
    return page.evaluate("() => getComputedStyle(document.body).backgroundColor")


def test_dark_mode_follows_the_system_setting(page, team):
    page.emulate_media(color_scheme="light")
    page.goto("/sign-in")
    light = background(page)
    page.emulate_media(color_scheme="dark")
    dark = background(page)
    assert light != dark
    # Dark means dark: the sum of the channels is low.
    assert sum(int(part) for part in dark[4:-1].split(",")) < 150
    check_accessibility(page, "sign-in, dark")


def test_the_token_list_fits_a_1024_pixel_screen(page, team):
    """The widest page, with every column a manager sees, scrolls in its own box."""
    page.set_viewport_size({"width": 1024, "height": 768})
    open_state(page, team, "list")
    assert_fits(page, 1024, "the token list")
