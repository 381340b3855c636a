"""The token API's page (GET /api/v1/docs), as a person reads it: no serious
accessibility problems, and it fits a 390-pixel phone (long paths and codes wrap)."""

from .conftest import checks_of_each_state


def open_state(page, team, state: str) -> None:
    page.goto("/api/v1/docs")
    page.get_by_role("heading", name="POST /api/v1/token/rotate").wait_for()


STATES = ["api docs"]

test_no_serious_accessibility_problems, test_the_layout_fits_a_390_pixel_phone = (
    checks_of_each_state(STATES, open_state)
)
