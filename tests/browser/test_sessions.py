"""The Account page's signed-in sessions in a real browser: another browser signed out
with htmx, all others without JavaScript, and axe-core plus the 390 px layout."""

from .conftest import PHONE, assert_fits, check_accessibility, new_page
from .live import sign_in

FIREFOX_ON_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
)
SAFARI_ON_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)


def other_browser(chromium, live_server, request, user, user_agent: str):
    """Another browser of ``user``'s, signed in; a ``Watched`` page."""
    watched = new_page(chromium, live_server, request, user_agent=user_agent)
    sign_in(watched.page, user)
    return watched


def is_signed_out(watched) -> bool:
    watched.page.goto("/account")
    return watched.page.url.endswith("/sign-in?next=/account")


def test_sign_out_another_browser_from_the_account_page(page, team, chromium, live_server, request):
    laptop = other_browser(chromium, live_server, request, team.owner, FIREFOX_ON_WINDOWS)
    sign_in(page, team.owner)
    page.goto("/account")
    sessions = page.locator("#sessions")
    assert sessions.get_by_role("row", name="This browser").count() == 1
    check_accessibility(page, "account with two sessions")

    sessions.get_by_role("button", name="Sign out Firefox on Windows").click()
    page.locator("#flash", has_text="Signed out Firefox on Windows.").wait_for()
    assert sessions.get_by_role("row", name="Firefox on Windows").count() == 0
    assert page.get_by_role("button", name="Sign out all other sessions").count() == 0
    assert page.url.endswith("/account"), "swapped in place"

    assert is_signed_out(laptop)
    page.reload()
    assert sessions.get_by_role("row", name="This browser").count() == 1, "still signed in"
    assert laptop.problems == []


def test_sign_out_all_other_sessions_without_javascript(
    plain_page, team, chromium, live_server, request
):
    laptop = other_browser(chromium, live_server, request, team.owner, FIREFOX_ON_WINDOWS)
    phone = other_browser(chromium, live_server, request, team.owner, SAFARI_ON_IPHONE)
    sign_in(plain_page, team.owner)
    plain_page.goto("/account")
    assert plain_page.locator("#sessions tbody tr").count() == 3
    plain_page.get_by_role("button", name="Sign out all other sessions").click()
    message = "Signed out 2 other sessions. This browser stays signed in."
    assert plain_page.locator("#flash").inner_text().strip() == message
    assert plain_page.locator("#sessions tbody tr").count() == 1
    assert is_signed_out(laptop) and is_signed_out(phone)


def test_the_session_list_fits_a_390_pixel_phone(page, team, chromium, live_server, request):
    other_browser(chromium, live_server, request, team.owner, SAFARI_ON_IPHONE)
    page.set_viewport_size(PHONE)
    sign_in(page, team.owner)
    page.goto("/account")
    page.locator("#sessions").get_by_role("row", name="Safari on iPhone").wait_for()
    assert_fits(page, 390, "account with two sessions")
    check_accessibility(page, "account with two sessions (phone)")
