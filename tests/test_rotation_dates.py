"""Rotating a token made to expire on a chosen day keeps that day: the rotate form
shows the date the person chose (not the day after, where its end-of-day expiry
falls), and the replacement stops at the end of the same day, however often and
however late it is rotated."""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken

from .support import HTMX, page
from .test_tokens_create import GOOD

MADE = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def created_with_custom_date(client, sign_in, person, chosen: str) -> ApiToken:
    with time_machine.travel(MADE, tick=False):
        sign_in(person)
        response = client.post(
            "/projects/shop/tokens",
            data=GOOD | {"expiration": "custom", "custom_date": chosen},
        )
    assert response.status_code == 201
    return newest()


def newest() -> ApiToken:
    db.session.expire_all()
    return db.session.scalars(db.select(ApiToken).order_by(ApiToken.id.desc())).first()


def rotate_form_defaults(client, token: ApiToken) -> dict[str, str]:
    """What the rotate form sends when the person changes nothing."""
    response = client.get(f"/projects/shop/tokens/{token.id}/rotate", headers=HTMX)
    assert response.status_code == 200
    form = page(response).find("form")
    checked = form.find("input", attrs={"name": "expiration"}, checked=True)["value"]
    return {
        "grace": form.find("input", attrs={"name": "grace"}, checked=True)["value"],
        "expiration": checked,
        "custom_date": form.find(id="custom_date").get("value", ""),
    }


def end_of(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day) + timedelta(days=1), datetime.min.time(), UTC)


# Month and year ends, a leap day, and a day whose token lasts just under 30 days
# (rounded, once taken for the 30-day option).
CHOSEN = ["2026-06-30", "2026-07-31", "2026-12-31", "2027-01-01", "2028-02-29", "2026-06-15"]


@pytest.mark.parametrize("chosen", CHOSEN)
@pytest.mark.parametrize(
    "later",
    [timedelta(minutes=5), timedelta(hours=13, minutes=59), timedelta(days=3, hours=14)],
    ids=["same hour", "last minute of the day", "days later, late evening"],
)
def test_rotating_keeps_the_custom_date_chosen(client, team, sign_in, chosen, later):
    token = created_with_custom_date(client, sign_in, team.developer, chosen)
    assert token.expires_at == end_of(chosen), "stored as the end of that day, UTC"

    for rotation in range(1, 4):
        with time_machine.travel(MADE + later * rotation, tick=False):
            sign_in(team.developer)
            sent = rotate_form_defaults(client, token)
            assert sent["expiration"] == "custom"
            assert sent["custom_date"] == chosen, f"rotation {rotation} shows the day chosen"
            response = client.post(f"/projects/shop/tokens/{token.id}/rotate", data=sent)
        assert response.status_code == 201
        token = newest()
        assert token.expires_at == end_of(chosen), f"rotation {rotation} keeps the day"


def test_a_period_is_still_kept_as_a_period(client, team, sign_in):
    with time_machine.travel(MADE, tick=False):
        sign_in(team.developer)
        client.post("/projects/shop/tokens", data=GOOD | {"expiration": "30"})
    later = MADE + timedelta(days=10, hours=3)
    with time_machine.travel(later, tick=False):
        sign_in(team.developer)
        sent = rotate_form_defaults(client, newest())
        assert (sent["expiration"], sent["custom_date"]) == ("30", "")
        client.post(f"/projects/shop/tokens/{newest().id}/rotate", data=sent)
    assert newest().expires_at == later + timedelta(days=30)
