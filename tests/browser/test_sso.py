"""Single sign-on in Chromium: the button, the provider's own page (oidc-provider-mock on
loopback), and back; cancelling there; signing out with the provider's end-session link;
an admin's password while the provider is down. Each test serves the app with single
sign-on set up (CSRF on, as in production) against a provider of its own."""

from urllib.parse import urlsplit

import pytest

from flagpal_dash.extensions import db
from flagpal_dash.models import User

from ..conftest import make_app
from ..oidc_provider import MockProvider
from ..support import add_user
from .conftest import check_accessibility, new_page
from .live import LiveServer, sign_in

ADA = {"email": "ada@example.com", "email_verified": True, "name": "Ada Lovelace"}


class Site:
    """The provider and the app served against it."""

    def __init__(self, database_url: str, **settings):
        self.provider = MockProvider()
        self.app = make_app(
            database_url, WTF_CSRF_ENABLED=True, **self.provider.settings(**settings)
        )
        self.server = LiveServer(self.app)
        self.url = self.server.url

    def stop(self) -> None:
        self.server.stop()
        self.provider.stop()
        with self.app.app_context():
            db.engine.dispose()


@pytest.fixture
def site(database_url, app):
    made = []

    def make(**settings) -> Site:
        made.append(Site(database_url, **settings))
        return made[-1]

    yield make
    for each in made:
        each.stop()


def open_page(chromium, site: Site, request):
    """A watched page on ``site``. The provider's page asks a CDN for its stylesheet: an
    empty one is answered here, since nothing may leave this machine."""
    watched = new_page(chromium, site, request)

    def only_loopback(route):
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            route.fulfill(status=200, content_type="text/css", body="")

    watched.page.context.route("**/*", only_loopback)
    return watched


def sign_in_at_the_provider(page, subject: str) -> None:
    page.get_by_role("heading", name="Authorize Client").wait_for()
    page.get_by_placeholder("sub").fill(subject)
    page.get_by_role("button", name="Authorize").click()


def test_sign_in_with_the_provider_and_out_again(chromium, site, request):
    here = site()
    here.provider.add_user("ada-1", **ADA)
    watched = open_page(chromium, here, request)
    page = watched.page

    page.goto("/sign-in")
    check_accessibility(page, "sign-in page with single sign-on")
    page.get_by_role("link", name="Sign in with Acme SSO").click()
    sign_in_at_the_provider(page, "ada-1")

    page.wait_for_url(f"{here.url}/")
    assert page.get_by_text("Ada Lovelace").count() >= 1
    assert User.by_email("ada@example.com") is not None

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/sign-in")
    link = page.get_by_role("link", name="Sign out of Acme SSO too")
    assert link.get_attribute("href").startswith(f"{here.provider.issuer}/oauth2/end_session")
    check_accessibility(page, "signed out, with the provider's sign-out")
    assert watched.problems == []


def test_cancelling_at_the_provider(chromium, site, request):
    here = site()
    watched = open_page(chromium, here, request)
    page = watched.page

    page.goto("/sign-in")
    page.get_by_role("link", name="Sign in with Acme SSO").click()
    page.get_by_role("button", name="Deny").click()

    page.get_by_role("heading", name="Sign-in cancelled").wait_for()
    check_accessibility(page, "sign-in cancelled")
    page.get_by_role("link", name="Back to sign in").click()
    page.wait_for_url("**/sign-in")
    # The cancelled page's 403 is the only thing the browser reported.
    assert watched.problems == [
        "console error: Failed to load resource: the server responded with a status of "
        "403 (FORBIDDEN)"
    ]


def test_an_admin_signs_in_with_a_password_while_the_provider_is_down(chromium, site, request, app):
    here = site(PASSWORD_SIGN_IN="admins")
    admin = add_user("root@example.com", "Root", admin=True)
    db.session.commit()
    here.provider.stop()
    watched = open_page(chromium, here, request)
    page = watched.page

    page.goto("/sign-in")
    page.get_by_role("link", name="Sign in with Acme SSO").click()
    page.get_by_role("heading", name="Acme SSO cannot be reached").wait_for()
    assert page.get_by_text(
        "Instance admins can still sign in with their password on the sign-in page."
    ).is_visible()
    check_accessibility(page, "provider unreachable")
    # The page's 502 (the answer, and Chromium's console line about it) and nothing else.
    assert watched.problems == [
        f"502: {here.url}/sign-in/sso",
        "console error: Failed to load resource: the server responded with a status of "
        "502 (BAD GATEWAY)",
    ]

    sign_in(page, admin)
    page.goto("/admin/users")
    page.get_by_role("heading", name="Users").wait_for()
