"""A long token list in a real browser: the filter and the pager, with and without
JavaScript, with the keyboard, checked by axe and at 390 px."""

from flagpal_dash.models import utcnow

from ..test_tokens_paging import add_tokens
from .conftest import PHONE, check_accessibility
from .live import sign_in


def long_history(team) -> None:
    """30 active tokens and 33 revoked ones: three pages."""
    add_tokens(team.project, [f"App {n}" for n in range(30)], creators=[team.developer])
    add_tokens(team.project, [f"Old {n}" for n in range(33)], revoked_at=utcnow())


def names(page) -> list[str]:
    return page.locator("#token-list .token-name").all_inner_texts()


def test_filter_and_page_with_htmx_and_the_keyboard(page, team):
    long_history(team)
    sign_in(page, team.developer)
    page.goto("/projects/shop/tokens")
    assert len(names(page)) == 20 and names(page)[0] == "App 29"
    check_accessibility(page, "long list")

    page.get_by_label("Search").focus()
    page.keyboard.type("old 1")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # Filter
    page.wait_for_url("**/projects/shop/tokens?name=old%201&status=all")
    # The list alone was swapped: the form kept what was typed, and focus stays on Filter.
    page.wait_for_function("() => document.querySelectorAll('#token-list tbody tr').length < 20")
    assert names(page)[:3] == ["Old 19", "Old 18", "Old 17"]
    assert len(names(page)) == 11  # Old 1, Old 10 to 19
    assert page.get_by_label("Search").input_value() == "old 1"
    assert page.evaluate("() => document.activeElement.textContent.trim()") == "Filter"
    check_accessibility(page, "filtered list")

    page.get_by_label("Status").select_option("active")
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("heading", name="No tokens match this filter").wait_for()
    check_accessibility(page, "no match")


def test_the_pager_keeps_the_filter_without_javascript(plain_page, team):
    page = plain_page
    long_history(team)
    sign_in(page, team.viewer)
    page.goto("/projects/shop/tokens")
    page.get_by_label("Status").select_option("revoked")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/projects/shop/tokens?name=&status=revoked")
    assert names(page)[0] == "Old 32" and len(names(page)) == 20
    page.get_by_role("link", name="Next").click()
    page.wait_for_url("**/projects/shop/tokens?status=revoked&page=2")
    assert names(page) == [f"Old {n}" for n in reversed(range(13))]
    assert page.get_by_label("Status").input_value() == "revoked"
    page.get_by_role("link", name="Previous").click()
    page.wait_for_url("**/projects/shop/tokens?status=revoked")


def test_the_filter_and_pager_fit_a_390_pixel_phone(page, team):
    long_history(team)
    page.set_viewport_size(PHONE)
    sign_in(page, team.developer)
    page.goto("/projects/shop/tokens?page=2")
    overflow = page.evaluate("() => document.documentElement.scrollWidth")
    assert overflow <= 390, f"the long list scrolls sideways ({overflow}px wide)"
    check_accessibility(page, "long list on a phone")
