"""Browser fixtures: Debian's Chromium driven by Playwright against the app served on
127.0.0.1 (CSRF on, as in production), on the test database.

Without Chromium the tests are skipped with the reason; with FLAGPAL_REQUIRE_BROWSER=1
(as in CI) a missing browser fails them instead. Every page records console errors and
failed requests, and a test fails if there were any.
"""

import os

import pytest

from ..conftest import make_app
from .live import AXE, CHROMIUM, LiveServer, launch

SERIOUS = ("serious", "critical")
# The window sizes pages are tried at: a laptop's, and a small phone's.
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def chromium():
    if not CHROMIUM.exists():
        reason = (
            f"no Chromium at {CHROMIUM}: install Debian's (apt-get install chromium) "
            "or set FLAGPAL_CHROMIUM to run the browser tests"
        )
        if os.environ.get("FLAGPAL_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + " (FLAGPAL_REQUIRE_BROWSER=1 requires them)")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def live_server(database_url, migrated):
    from flagpal_dash.extensions import db

    app = make_app(database_url, WTF_CSRF_ENABLED=True)
    server = LiveServer(app)
    yield server
    server.stop()
    with app.app_context():
        db.engine.dispose()


class Watched:
    """A page and what went wrong on it: console errors, failed requests, 5xx answers."""

    def __init__(self, page):
        self.page = page
        self.problems: list[str] = []
        page.on("console", self.on_console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("requestfailed", self.on_request_failed)
        page.on(
            "response",
            lambda r: self.problems.append(f"{r.status}: {r.url}") if r.status >= 500 else None,
        )

    def on_request_failed(self, request) -> None:
        # Chromium fetches the icon in the background and drops the fetch when the page
        # navigates on; that is not a failure anybody sees.
        if request.url.endswith("/favicon.svg") and request.failure == "net::ERR_ABORTED":
            return
        self.problems.append(f"failed: {request.method} {request.url} ({request.failure})")

    def on_console(self, message) -> None:
        if message.type == "error":
            self.problems.append(f"console error: {message.text}")


def new_page(chromium, live_server, request, *, viewport=DESKTOP, **options):
    """A ``Watched`` page in a browser context of its own, closed after the test."""
    context = chromium.new_context(base_url=live_server.url, viewport=viewport, **options)
    context.add_init_script(path=str(AXE))  # for check_accessibility; runs despite any CSP
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    watched = Watched(context.new_page())
    # The page has focus, as a person's tab would: the clipboard answers only then.
    watched.page.bring_to_front()
    request.addfinalizer(context.close)
    return watched


@pytest.fixture
def page(chromium, live_server, request, app):
    """A JavaScript-enabled page at desktop size (the ``app`` fixture empties tables after)."""
    watched = new_page(chromium, live_server, request)
    yield watched.page
    assert watched.problems == [], "the browser saw problems"


@pytest.fixture
def plain_page(chromium, live_server, request, app):
    """A page with JavaScript disabled: every action must still work."""
    watched = new_page(chromium, live_server, request, java_script_enabled=False)
    yield watched.page
    assert watched.problems == [], "the browser saw problems"


def check_accessibility(page, state: str) -> None:
    """No serious or critical axe-core violations in the page as it is now."""
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    violations = [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(node["target"][0] for node in v["nodes"][:3])
        for v in result["violations"]
        if v["impact"] in SERIOUS
    ]
    assert violations == [], f"accessibility problems in state '{state}'"


def assert_fits(page, width: int, state: str) -> None:
    """The page as it is now needs no sideways scrolling at ``width`` pixels."""
    overflow = page.evaluate("() => document.documentElement.scrollWidth")
    assert overflow <= width, f"{state} scrolls sideways ({overflow}px wide)"


def checks_of_each_state(states: list[str], open_state):
    """The two tests every page state gets, for a module whose ``open_state(page, team,
    state)`` brings the page into each of ``states``: no serious accessibility problems,
    and a layout that fits a 390-pixel phone. Assign both to ``test_*`` names in the
    module so pytest collects them there."""

    @pytest.mark.parametrize("state", states)
    def test_no_serious_accessibility_problems(page, team, state):
        open_state(page, team, state)
        check_accessibility(page, state)

    @pytest.mark.parametrize("state", states)
    def test_the_layout_fits_a_390_pixel_phone(page, team, state):
        page.set_viewport_size(PHONE)
        open_state(page, team, state)
        assert_fits(page, 390, state)

    return test_no_serious_accessibility_problems, test_the_layout_fits_a_390_pixel_phone
