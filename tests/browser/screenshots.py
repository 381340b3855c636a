"""`make screenshots`: the dashboard's main states at 1280 and 390 pixels wide, rendered
into docs/screenshots/ by Debian's Chromium, from a fresh database with example tokens;
and signing in with single sign-on, against a real provider on loopback
(tests/oidc_provider.py), light and dark.

    .venv/bin/python -m tests.browser.screenshots [--out docs/screenshots] [--only sso]
"""

import argparse
import tempfile
from datetime import timedelta
from pathlib import Path

import flask_migrate
from playwright.sync_api import sync_playwright
from sqlalchemy import insert

from flagpal_dash import create_app
from flagpal_dash.core import usage
from flagpal_dash.core.invitations import create_invitation
from flagpal_dash.core.projects import add_member, create_project
from flagpal_dash.extensions import db
from flagpal_dash.models import TokenUsage, TokenUsageDay, utcnow
from flagpal_dash.permissions import Role

from ..oidc_provider import MockProvider
from ..support import add_user, issue_token
from .live import CHROMIUM, LiveServer, launch, sign_in

ROOT = Path(__file__).resolve().parents[2]
# Names as long as the forms take, without a space to break a line at: every page must
# wrap or cut them, and the pictures show how.
LONG = "nightly-warehouse-export-to-bigquery-for-the-finance-and-analytics-teams-eu-west-1-"
LONG_NAME = LONG + "production-mirror"
# Width name: viewport, and the name of the token created there (names are unique).
WIDTHS = {
    "wide": ((1280, 800), LONG + "staging-1280"),
    "phone": ((390, 844), LONG + "staging-390"),
}
# The states also taken in dark mode.
DARK = ("list", "reveal", "revoke-confirm", "audit-log")


def seed() -> dict:
    """A project with the kinds of token a real one has, and a developer and a viewer."""
    developer = add_user("dana@example.com", "Dana Developer")
    viewer = add_user("vic@example.com", "Vic Viewer")
    owner = add_user("olivia@example.com", "Olivia Owner", admin=True)
    shop = create_project("Shop", actor=None)
    add_member(shop, owner, Role.OWNER, actor=None)
    add_member(shop, developer, Role.DEVELOPER, actor=None)
    add_member(shop, viewer, Role.VIEWER, actor=None)
    empty = create_project("Newsletter", actor=None)
    add_member(empty, developer, Role.DEVELOPER, actor=None)
    db.session.commit()
    now = utcnow()
    issue_token(
        shop,
        "Old mobile app",
        created_by=owner,
        created_at=now - timedelta(days=200),
        revoked_at=now - timedelta(days=12),
        revoked_by=owner,
    )
    issue_token(
        shop,
        "Load test (staging)",
        created_by=developer,
        abilities=frozenset({"*"}),
        created_at=now - timedelta(days=95),
        expires_at=now - timedelta(days=5),
    )
    exporter, _ = issue_token(
        shop,
        "Metrics exporter",
        created_by=developer,
        abilities=frozenset({"metrics"}),
        created_at=now - timedelta(days=85),
        expires_at=now + timedelta(days=5),
        last_used_at=now - timedelta(minutes=3),
    )
    issue_token(
        shop,
        LONG_NAME,
        created_by=developer,
        abilities=frozenset({"read"}),
        created_at=now - timedelta(days=20),
    )
    checkout, _ = issue_token(
        shop,
        "Checkout backend (production)",
        created_by=owner,
        abilities=frozenset({"read", "write"}),
        created_at=now - timedelta(days=3),
        expires_at=now + timedelta(days=87),
        last_used_at=now - timedelta(seconds=20),
    )
    # Some traffic for the usage sparklines: busy on weekdays, the exporter steady.
    hour = now.replace(minute=0, second=0, microsecond=0)
    hourly = []
    for hours_ago in range(0, 30 * 24, 3):
        moment = hour - timedelta(hours=hours_ago)
        busy = 40 if moment.weekday() < 5 else 8
        hourly.append({"token_id": checkout.id, "hour": moment, "count": busy + hours_ago % 7})
        if hours_ago < 20 * 24:
            hourly.append({"token_id": exporter.id, "hour": moment, "count": 12})
    # Both tables, as a flush writes them (the sparklines read the daily sums).
    db.session.execute(insert(TokenUsage), hourly)
    db.session.execute(insert(TokenUsageDay), usage.daily_sums(hourly))
    create_invitation(shop, "sam@example.com", Role.DEVELOPER, by=None, now=utcnow())
    db.session.commit()
    return {"developer": developer, "viewer": viewer, "owner": owner}


def shoot(browser, base_url: str, people: dict, out: Path, width_name: str) -> list[Path]:
    """Every state at one width: tokens as a developer (and once more as a viewer),
    then members, an invitation, the audit log and the admin's users as the owner."""
    (width, height), new_name = WIDTHS[width_name]
    context = browser.new_context(
        base_url=base_url, viewport={"width": width, "height": height}, color_scheme="light"
    )
    page = context.new_page()
    shots = []

    def save(state: str) -> None:
        path = out / f"{state}-{width_name}.png"
        full_page = state in ("list", "viewer", "members", "audit-log", "admin-users")
        page.screenshot(path=str(path), full_page=full_page)
        shots.append(path)
        if state in DARK:
            page.emulate_media(color_scheme="dark")
            dark = out / f"{state}-{width_name}-dark.png"
            page.screenshot(path=str(dark), full_page=full_page)
            shots.append(dark)
            page.emulate_media(color_scheme="light")

    page.goto("/sign-in")
    save("sign-in")
    sign_in(page, people["developer"])
    page.goto("/projects/shop/tokens")
    save("list")
    page.goto("/projects/newsletter/tokens")
    save("empty-list")
    page.goto("/projects/shop/tokens")
    page.get_by_role("link", name="New API Token").click()
    page.get_by_role("dialog", name="New API Token").wait_for()
    page.get_by_label("Name").fill(new_name)
    page.get_by_label("Read", exact=True).check()
    save("create-dialog")
    page.get_by_role("button", name="Create").click()
    page.get_by_role("dialog", name="Token created").wait_for()
    save("reveal")
    page.get_by_role("button", name="Done").click()
    page.get_by_role("link", name=f"Revoke {LONG_NAME}").click()
    page.get_by_role("dialog", name=f"Revoke “{LONG_NAME}”?").wait_for()
    save("revoke-confirm")
    page.keyboard.press("Escape")
    page.get_by_role("link", name="Rotate Checkout backend (production)").click()
    page.get_by_role("dialog", name="Rotate “Checkout backend (production)”").wait_for()
    save("rotate-dialog")
    context.clear_cookies()
    sign_in(page, people["viewer"])
    page.goto("/projects/shop/tokens")
    save("viewer")
    context.clear_cookies()
    sign_in(page, people["owner"])
    page.goto("/projects/shop/members")
    page.get_by_role("link", name="Invite someone").click()
    dialog = page.get_by_role("dialog", name="Invite someone to Shop")
    dialog.get_by_label("Email").fill(f"{width_name}@example.com")
    dialog.get_by_label("Role", exact=True).select_option("viewer")
    dialog.get_by_role("button", name="Create invitation").click()
    page.get_by_role("dialog", name="Invitation created").wait_for()
    save("invitation-link")
    page.get_by_role("button", name="Done").click()
    save("members")
    page.goto("/projects/shop/audit")
    save("audit-log")
    page.goto("/admin/users")
    save("admin-users")
    context.close()
    return shots


def shoot_main(app, browser, out: Path) -> list[Path]:
    """The main states, at both widths, from the seeded database."""
    with app.app_context():
        flask_migrate.upgrade()
        people = seed()
        server = LiveServer(app)
        try:
            return [
                path
                for width_name in WIDTHS
                for path in shoot(browser, server.url, people, out, width_name)
            ]
        finally:
            server.stop()
            db.engine.dispose()


# Single sign-on's pages, each at both widths, light and dark.
SSO_PASSWORDS = {"sign-in-sso": "on", "sign-in-sso-off": "off"}


def only_loopback(route) -> None:
    """The provider's page asks a CDN for its stylesheet: nothing may leave this machine."""
    if route.request.url.startswith("http://127.0.0.1:"):
        route.continue_()
    else:
        route.fulfill(status=200, content_type="text/css", body="")


def shoot_sso(browser, folder: str, out: Path) -> list[Path]:
    """The sign-in page with the provider's button (passwords on, and off), and the page
    for someone the provider vouches for who has no account here and may not get one."""
    provider = MockProvider()
    provider.add_user(
        "sam-1", email="sam@partner-agency.example", email_verified=True, name="Sam Partner"
    )
    shots = []
    try:
        for state, passwords in SSO_PASSWORDS.items():
            app = create_app(
                {
                    "SECRET_KEY": "screenshots",
                    "BCRYPT_ROUNDS": 4,
                    "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/sso.sqlite3",
                    **provider.settings(PASSWORD_SIGN_IN=passwords),
                }
            )
            with app.app_context():
                flask_migrate.upgrade()
                if passwords == "on":
                    add_user("olivia@example.com", "Olivia Owner", admin=True)
                    db.session.commit()
                server = LiveServer(app)
                try:
                    for width_name, ((width, height), _) in WIDTHS.items():
                        context = browser.new_context(
                            base_url=server.url, viewport={"width": width, "height": height}
                        )
                        context.route("**/*", only_loopback)
                        page = context.new_page()
                        page.goto("/sign-in")
                        shots += both_schemes(page, out / f"{state}-{width_name}")
                        if passwords == "on":
                            page.get_by_role("link", name="Sign in with Acme SSO").click()
                            page.get_by_placeholder("sub").fill("sam-1")
                            page.get_by_role("button", name="Authorize").click()
                            page.get_by_role("heading", name="You don't have an account").wait_for()
                            shots += both_schemes(page, out / f"sso-refused-{width_name}")
                        context.close()
                finally:
                    server.stop()
                    db.engine.dispose()
    finally:
        provider.stop()
    return shots


def both_schemes(page, stem: Path) -> list[Path]:
    light, dark = stem.with_name(stem.name + ".png"), stem.with_name(stem.name + "-dark.png")
    page.emulate_media(color_scheme="light")
    page.screenshot(path=str(light), full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(dark), full_page=True)
    page.emulate_media(color_scheme="light")
    return [light, dark]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument(
        "--only", choices=["sso"], help="only single sign-on's pictures (sign-in, refusal)"
    )
    args = parser.parse_args()
    if not CHROMIUM.exists():
        raise SystemExit(f"No Chromium at {CHROMIUM}: apt-get install chromium")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(
            {
                "SECRET_KEY": "screenshots",
                "BCRYPT_ROUNDS": 4,
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/demo.sqlite3",
            }
        )
        with sync_playwright() as playwright:
            browser = launch(playwright)
            shots = [] if args.only else shoot_main(app, browser, args.out)
            shots += shoot_sso(browser, folder, args.out)
            browser.close()
    for path in shots:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


if __name__ == "__main__":
    main()
