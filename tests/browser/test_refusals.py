"""Refusals in a real browser: each says the server's own sentence where the person
acted, with and without JavaScript, and a form sent back twice stays within the
Content-Security-Policy."""

from .conftest import new_page
from .live import sign_in

# Chromium reports every 4xx answer in the console; the tests below expect exactly those.
REFUSED = ("Failed to load resource: the server responded with a status of 4",)


def other_problems(watched) -> list[str]:
    return [p for p in watched.problems if not any(what in p for what in REFUSED)]


def send_back(page, settled: str) -> None:
    """Press Create, and wait until the form is back with its errors, the element
    ``settled`` in it, and htmx is done settling it."""
    with page.expect_response(lambda response: response.status == 422):
        page.get_by_role("button", name="Create").click()
    page.locator(settled).wait_for()
    page.wait_for_function("() => !document.querySelector('.htmx-settling, .htmx-swapping')")


def test_a_create_form_sent_back_twice_sets_no_inline_style(
    chromium, live_server, request, app, team
):
    """htmx settles a swapped form by copying attributes from the inputs it replaces; a
    style attribute among them, left by the browser or an extension, would be refused by
    the policy once per input."""
    watched = new_page(chromium, live_server, request, viewport={"width": 1280, "height": 900})
    page = watched.page
    sign_in(page, team.developer)
    page.goto("/projects/shop/tokens")
    page.get_by_role("link", name="New API Token").click()
    dialog = page.get_by_role("dialog", name="New API Token")
    dialog.wait_for()
    send_back(page, "#dialog #name[aria-invalid]")
    # What a password manager or the inspector leaves: an empty style attribute, set
    # through the CSSOM (which the policy allows).
    page.evaluate(
        """() => document.querySelectorAll('#dialog input').forEach(input => {
             input.style.setProperty('outline', 'none');
             input.style.removeProperty('outline');
           })"""
    )
    page.get_by_label("Name").fill("Shop backend")
    # Sent back again, with a name this time: the name has no error.
    send_back(page, "#dialog #name:not([aria-invalid])")
    assert dialog.get_by_label("Name").input_value() == "Shop backend"
    assert other_problems(watched) == []
