"""The team pages in a real browser: inviting someone who then joins, changing a role,
removing with a confirm, and axe-core plus the 390 px layout on every new page."""

from datetime import timedelta

from flagpal_dash.core import webhooks
from flagpal_dash.core.invitations import create_invitation
from flagpal_dash.core.password_resets import create_reset
from flagpal_dash.core.projects import add_member
from flagpal_dash.extensions import db
from flagpal_dash.models import utcnow
from flagpal_dash.permissions import Role

from ..support import PASSWORD, add_user, issue_token
from .conftest import PHONE, check_accessibility, checks_of_each_state, new_page
from .live import sign_in


def test_invite_someone_who_then_joins(page, team, chromium, live_server, request):
    sign_in(page, team.owner)
    page.goto("/projects/shop/members")
    page.get_by_role("link", name="Invite someone").click()
    dialog = page.get_by_role("dialog", name="Invite someone to Shop")
    dialog.wait_for()
    check_accessibility(page, "invite dialog")
    dialog.get_by_label("Email").fill("newcomer@example.com")
    dialog.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_role("button", name="Create invitation").click()
    page.get_by_role("dialog", name="Invitation created").wait_for()
    check_accessibility(page, "invitation link")
    link = page.get_by_label("Invitation link").input_value()
    page.get_by_role("button", name="Copy").click()
    page.get_by_role("button", name="Copied").wait_for(timeout=5000)
    assert page.evaluate("() => navigator.clipboard.readText()") == link
    page.get_by_role("button", name="Done").click()
    pending = page.locator("#invitations")
    assert "newcomer@example.com as viewer" in pending.inner_text()

    # The newcomer opens the link in their own browser and creates their account.
    newcomer = new_page(chromium, live_server, request, viewport=PHONE)
    newcomer.page.goto(link)
    check_accessibility(newcomer.page, "accept invitation")
    new = newcomer.page.locator("form", has_text="I'm new: create my account")
    new.get_by_label("Your name").fill("Nia Newcomer")
    new.get_by_label("Password", exact=True).fill(PASSWORD)
    new.get_by_label("Repeat the password").fill(PASSWORD)
    new.get_by_role("button", name="Create my account and join Shop").click()
    newcomer.page.wait_for_url("**/projects/shop")
    welcome = newcomer.page.locator("#flash").inner_text()
    assert "Welcome to Shop: you are a viewer." in welcome
    assert newcomer.problems == []

    page.reload()
    assert link not in page.content(), "the link is shown once"
    assert page.get_by_role("row", name="Nia Newcomer").locator(".badge").inner_text() == "Viewer"
    assert "newcomer@example.com" not in page.locator("#invitations").inner_text()


def test_change_a_role_and_remove_a_member(page, team):
    sign_in(page, team.owner)
    page.goto("/projects/shop/members")
    row = page.locator("tr", has_text="Vic Viewer")
    row.get_by_label("Role of Vic Viewer").select_option("developer")
    row.get_by_role("button", name="Change role of Vic Viewer").click()
    page.locator("#flash", has_text="Vic Viewer is now developer.").wait_for()
    assert row.locator(".badge").inner_text() == "Developer"

    remove = page.get_by_role("link", name="Remove Dana Developer")
    remove.click()
    page.get_by_role("dialog", name="Remove Dana Developer?").wait_for()
    check_accessibility(page, "remove confirm")
    page.keyboard.press("Escape")
    page.get_by_role("dialog").wait_for(state="hidden")
    assert page.evaluate("() => document.activeElement.textContent.trim()").startswith("Remove")
    assert page.locator("tr", has_text="Dana Developer").count() == 1, "Escape removes nothing"

    remove.click()
    page.get_by_role("button", name="Remove member").click()
    page.locator("#flash", has_text="Dana Developer was removed from Shop.").wait_for()
    assert page.locator("tr", has_text="Dana Developer").count() == 0


def test_removing_a_member_without_javascript(plain_page, team):
    sign_in(plain_page, team.owner)
    plain_page.goto("/projects/shop/members")
    plain_page.get_by_role("link", name="Remove Vic Viewer").click()
    plain_page.get_by_role("button", name="Remove member").click()
    assert "Vic Viewer was removed from Shop." in plain_page.locator("#flash").inner_text()
    assert plain_page.locator("tr", has_text="Vic Viewer").count() == 0


def open_state(page, team, state: str) -> None:
    """Bring ``page`` to one of the team pages, signed in as the right person."""
    admin = add_user("ada@example.com", "Ada Admin", admin=True)
    add_member(team.project, admin, Role.OWNER, actor=None)
    create_invitation(
        team.project, "pending@example.com", Role.DEVELOPER, by=None, now=utcnow(), by_mail=False
    )
    db.session.commit()
    if state == "token policy":  # with the banner about tokens expiring soon
        issue_token(team.project, "Shop backend (production)", expires_at=utcnow() + timedelta(3))
    if state == "forgot password":  # without mail: ask an admin
        page.goto("/forgot-password")
        return
    if state == "reset password":
        _, secret = create_reset(team.developer, by=None, now=utcnow(), how="test")
        db.session.commit()
        page.goto(f"/password-reset/{secret}")
        return
    if state in ("webhooks", "webhook"):
        # A public address: nothing is sent (the live server's deliveries are off).
        hook, _ = webhooks.create(
            team.project,
            "https://93.184.215.14/hooks/flagpal",
            ["token.created", "token.revoked"],
            "json",
            actor=admin,
            now=utcnow(),
            settings=webhooks.WebhookSettings(secret_key="x"),
        )
        db.session.commit()
        issue_token(team.project, "Shop backend")  # a delivery, waiting
    who = {"members (viewer)": team.viewer, "audit log": team.developer}.get(state, admin)
    sign_in(page, who)
    path = {
        "members (owner)": "/projects/shop/members",
        "members (viewer)": "/projects/shop/members",
        "account": "/account",
        "admin users": "/admin/users",
        "admin reset link": "/admin/users",
        "admin new project": "/admin/projects/new",
        "audit log": "/projects/shop/audit",
        "instance audit log": "/admin/audit",
        "token policy": "/projects/shop/settings",
        "webhooks": "/projects/shop/settings/webhooks",
        "webhook": "/projects/shop/settings/webhooks/1",
        "webhook secret": "/projects/shop/settings/webhooks",
    }[state]
    if state == "webhook":
        path = f"/projects/shop/settings/webhooks/{hook.id}"
    page.goto(path)
    if state == "admin reset link":
        page.get_by_role("button", name=f"Make a reset link for {team.developer.email}").click()
        page.get_by_label("Password reset link").wait_for()
    if state == "webhook secret":
        page.get_by_label("Address (URL)").fill("https://93.184.215.14/hooks/flagpal")
        page.get_by_role("button", name="Add webhook").click()
        page.get_by_role("heading", name="Webhook added").wait_for()


STATES = [
    "members (owner)",
    "members (viewer)",
    "account",
    "admin users",
    "admin reset link",
    "admin new project",
    "audit log",
    "instance audit log",
    "token policy",
    "webhooks",
    "webhook",
    "webhook secret",
    "forgot password",
    "reset password",
]


# Each state of STATES is checked for accessibility and for fitting a phone.
test_no_serious_accessibility_problems, test_the_layout_fits_a_390_pixel_phone = (
    checks_of_each_state(STATES, open_state)
)
