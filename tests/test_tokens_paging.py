"""The API Tokens page of a project with many tokens: active ones first, pages of 20,
a filter by name and status, and the same number of SQL statements for any size."""

import hashlib
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import event, insert, select, update

from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken, TokenUsage, TokenUsageDay, User, utcnow
from flagpal_dash.tokens.listing import PAGE_SIZE

from .support import HTMX, page, text_of

URL = "/projects/shop/tokens"


def add_tokens(project, names, *, start=None, creators=(), **fields) -> None:
    """Tokens named ``names``, the last the newest (a minute apart from ``start``),
    inserted in one statement; ``fields`` apply to all of them."""
    start = start or utcnow() - timedelta(days=30)
    first = db.session.scalar(select(db.func.count(ApiToken.id))) or 0
    rows = []
    for n, name in enumerate(names):
        number = first + n
        creator = creators[n % len(creators)] if creators else None
        rows.append(
            {
                "project_id": project.id,
                "name": name,
                "abilities": frozenset({"read"}),
                "token_hash": hashlib.sha256(str(number).encode()).hexdigest(),
                "hint": f"{number:04d}"[-4:],
                "created_at": start + timedelta(minutes=n),
                "created_by_id": creator.id if creator else None,
                "expires_at": None,
                "revoked_at": None,
                **fields,
            }
        )
    db.session.execute(insert(ApiToken), rows)
    db.session.commit()


def names(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [text_of(name) for name in page(response).select("#token-list .token-name")]


def pager(response) -> dict[str, dict[str, list[str]]]:
    """The pager's links, by their text, as their query arguments."""
    nav = page(response).find("nav", attrs={"aria-label": "Pages of tokens"})
    links = {}
    for link in nav.find_all("a"):
        url = urlsplit(link["href"])
        assert url.path == URL
        links[text_of(link)] = parse_qs(url.query)
    return links


# Order and pages


def test_active_tokens_come_first_then_the_rest_each_newest_first(client, team, sign_in):
    now = utcnow()
    add_tokens(team.project, ["Active old"], start=now - timedelta(days=9))
    add_tokens(team.project, ["Revoked new"], start=now - timedelta(days=1), revoked_at=now)
    add_tokens(
        team.project, ["Expired"], start=now - timedelta(days=5), expires_at=now - timedelta(1)
    )
    add_tokens(
        team.project, ["Active new"], start=now - timedelta(days=2), expires_at=now + timedelta(9)
    )
    add_tokens(team.project, ["Revoked old"], start=now - timedelta(days=8), revoked_at=now)
    sign_in(team.viewer)
    assert names(client.get(URL)) == [
        "Active new",
        "Active old",
        "Revoked new",
        "Expired",
        "Revoked old",
    ]


def test_a_page_holds_20_rows_and_the_pager_leads_through_them(client, team, sign_in):
    # 25 active and 28 revoked: page 2 holds the last 5 active tokens, then 15 revoked.
    assert PAGE_SIZE == 20
    add_tokens(team.project, [f"Active {n}" for n in range(25)])
    add_tokens(team.project, [f"Revoked {n}" for n in range(28)], revoked_at=utcnow())
    sign_in(team.developer)

    first, second, third = (client.get(URL + query) for query in ("", "?page=2", "?page=3"))
    assert [len(names(response)) for response in (first, second, third)] == [20, 20, 13]
    listed = names(first) + names(second) + names(third)
    expected = [f"Active {n}" for n in reversed(range(25))]
    assert listed == expected + [f"Revoked {n}" for n in reversed(range(28))]

    assert pager(first) == {"Next →": {"page": ["2"]}}
    assert pager(second) == {"← Previous": {}, "Next →": {"page": ["3"]}}
    assert pager(third) == {"← Previous": {"page": ["2"]}}
    nav = page(second).find("nav", attrs={"aria-label": "Pages of tokens"})
    assert "Page 2 of 3" in text_of(nav)
    assert text_of(page(second).select_one(".list-summary")).startswith("21–40 of 53 tokens")


def test_one_page_needs_no_pager(client, team, sign_in):
    add_tokens(team.project, [f"App {n}" for n in range(20)])
    sign_in(team.developer)
    response = client.get(URL)
    assert len(names(response)) == 20
    assert page(response).find("nav", attrs={"aria-label": "Pages of tokens"}) is None
    assert text_of(page(response).select_one(".list-summary")).startswith("20 tokens")


def test_viewers_page_the_same_way_without_details(client, team, sign_in):
    add_tokens(team.project, [f"App {n}" for n in range(35)], creators=[team.owner])
    sign_in(team.developer)
    managers_page = client.get(URL + "?page=2&name=app")
    client.post("/sign-out")
    sign_in(team.viewer)
    response = client.get(URL + "?page=2&name=app")
    assert names(response) == names(managers_page)
    assert len(names(response)) == 15
    listed = page(response).find(id="token-list")
    assert [text_of(th) for th in listed.select("thead th")] == ["Name", "Status", "Created"]
    assert listed.select(".token-hint, svg, tbody a") == []
    assert "Olivia Owner" not in text_of(listed)
    assert pager(response) == {"← Previous": {"name": ["app"]}}


# The filter


def test_the_filter_is_a_get_form_that_works_without_javascript(client, team, sign_in):
    add_tokens(team.project, ["Production app"])
    sign_in(team.viewer)
    response = client.get(URL + "?name=prod&status=active")
    form = page(response).select_one("#token-filter form")
    assert form["method"] == "get" and form["action"] == URL
    assert form["role"] == "search"
    assert form.find("input", attrs={"name": "name"})["value"] == "prod"
    assert form.find("option", selected=True)["value"] == "active"
    assert [option["value"] for option in form.find_all("option")] == [
        "all",
        "active",
        "expiring",
        "expired",
        "revoked",
    ]
    for control in form.find_all(["input", "select"]):
        assert page(response).find("label", attrs={"for": control["id"]}) is not None
    assert form.find("button", attrs={"type": "submit"}) is not None
    # With htmx, the form swaps in the list alone and keeps the address in step.
    assert form["hx-get"] == URL and form["hx-target"] == "#token-list"
    assert form["hx-push-url"] == "true"
    assert names(response) == ["Production app"]


def test_with_htmx_the_filter_gets_the_list_alone(client, team, sign_in):
    add_tokens(team.project, ["Production app", "Staging app", "Cron"])
    sign_in(team.developer)
    response = client.get(URL + "?name=APP", headers=HTMX)
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    fragment = page(response)
    assert fragment.find("html") is None and fragment.find("form") is None
    assert fragment.find("section")["id"] == "token-list"
    assert names(response) == ["Staging app", "Production app"]


@pytest.mark.parametrize(
    ("typed", "found"),
    [
        ("APP", ["staging app", "Production App"]),
        ("  prod ", ["Production App"]),
        ("%", ["100% uptime"]),
        ("0%", ["100% uptime"]),
        ("i_d", ["ci_deploy"]),
        ("_", ["ci_deploy"]),
        ("/", ["a/b"]),
        ("\\", ["back\\slash"]),
        ("[x]", ["[x] bracket"]),
    ],
)
def test_the_name_filter_finds_a_part_of_the_name_in_any_case_wildcards_as_typed(
    client, team, sign_in, typed, found
):
    add_tokens(
        team.project,
        [
            "Production App",
            "staging app",
            "100% uptime",
            "1000 uptime",
            "ci_deploy",
            "ciXdeploy",
            "a/b",
            "back\\slash",
            "[x] bracket",
            "x bracket",
        ],
    )
    sign_in(team.developer)
    assert names(client.get(URL, query_string={"name": typed})) == found


@pytest.mark.parametrize(
    ("status", "found"),
    [
        ("all", ["Expiring", "Rotated", "Working", "Revoked", "Ran out"]),
        ("", ["Expiring", "Rotated", "Working", "Revoked", "Ran out"]),
        ("active", ["Expiring", "Rotated", "Working"]),
        ("expiring", ["Expiring"]),
        ("expired", ["Ran out"]),
        ("revoked", ["Revoked"]),
    ],
)
def test_the_status_filter(client, team, sign_in, status, found):
    now = utcnow()
    add_tokens(team.project, ["Ran out"], expires_at=now - timedelta(minutes=1))
    add_tokens(team.project, ["Revoked"], revoked_at=now, expires_at=now - timedelta(days=1))
    add_tokens(team.project, ["Working"], expires_at=now + timedelta(days=30))
    # A rotated token in its grace period is active, but stops on purpose: not "expiring".
    add_tokens(team.project, ["Rotated"], expires_at=now + timedelta(hours=1), rotated_at=now)
    add_tokens(team.project, ["Expiring"], expires_at=now + timedelta(days=3))
    sign_in(team.viewer)
    assert names(client.get(URL, query_string={"status": status})) == found


def test_no_match_is_not_an_empty_project(client, team, sign_in):
    add_tokens(team.project, ["Production app"], revoked_at=utcnow())
    sign_in(team.viewer)
    response = client.get(URL + "?name=staging&status=revoked")
    empty = page(response).select_one("#token-list .empty")
    assert text_of(empty.find("h2")) == "No tokens match this filter"
    assert "No revoked token has “staging” in its name." in text_of(empty)
    assert empty.find("a", string="Show every token")["href"] == URL
    assert "No API tokens yet" not in response.text

    response = client.get(URL + "?status=active")
    assert "This project has no active tokens." in text_of(page(response).select_one(".empty"))


def test_a_name_with_a_nul_character_matches_nothing(client, team, sign_in):
    """Found by fuzzing: PostgreSQL refused to compare it (a 500)."""
    add_tokens(team.project, ["Production app"])
    sign_in(team.viewer)
    response = client.get(URL + "?name=app%00")
    assert names(response) == []
    assert text_of(page(response).select_one("#token-list .empty h2")) == (
        "No tokens match this filter"
    )


def test_an_empty_project_offers_no_filter(client, team, sign_in):
    sign_in(team.developer)
    response = client.get(URL)
    assert text_of(page(response).select_one("#token-list .empty h2")) == "No API tokens yet"
    assert page(response).select_one("#token-filter form") is None
    # Filtering an empty project still says there are no tokens at all.
    response = client.get(URL + "?name=x")
    assert text_of(page(response).select_one("#token-list .empty h2")) == "No API tokens yet"


@pytest.mark.parametrize(
    "query",
    [
        "status=bogus",
        "status=ACTIVE",
        "page=0",
        "page=-1",
        "page=abc",
        "page=1.5",
        "page=",
        "page=²",
        "page=100001",
        "page=99999999999999999999999",
        "page=11",
        "page=3&name=nothing-matches",
    ],
)
def test_forged_or_out_of_range_arguments_are_page_not_found(client, team, sign_in, query):
    add_tokens(team.project, [f"App {n}" for n in range(200)])
    sign_in(team.viewer)
    response = client.get(f"{URL}?{query}")
    assert response.status_code == 404
    assert text_of(page(response).find("h1")) == "Page not found"


def test_page_one_of_an_empty_list_exists(client, team, sign_in):
    sign_in(team.viewer)
    assert client.get(URL + "?page=1").status_code == 200
    assert client.get(URL + "?page=2").status_code == 404


# After a create: page 1, unfiltered


def test_creating_swaps_in_page_one_of_every_token_and_resets_the_filter(client, team, sign_in):
    add_tokens(team.project, [f"Old {n}" for n in range(150)], revoked_at=utcnow())
    sign_in(team.developer)
    data = {"name": "Fresh", "abilities": ["read"], "expiration": "30"}
    response = client.post(URL, data=data, headers={**HTMX, "HX-Current-URL": URL + "?page=2"})
    assert response.status_code == 201
    answer = page(response)
    swapped = answer.find(id="token-list")
    assert swapped["hx-swap-oob"] == "true"
    listed = [text_of(name) for name in swapped.select(".token-name")]
    assert len(listed) == 20 and listed[:2] == ["Fresh", "Old 149"]
    assert "Page 1 of 8" in text_of(swapped.find("nav"))
    form_holder = answer.find(id="token-filter")
    assert form_holder["hx-swap-oob"] == "true"
    assert form_holder.find("input", attrs={"name": "name"})["value"] == ""


# Statements


@pytest.fixture
def statements(app):
    """Every SQL statement the app sends (as in test_usage's count of usage queries)."""
    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    yield seen
    event.remove(db.engine, "before_cursor_execute", record)


def statements_for(client, statements, url) -> int:
    client.get(url)  # anything the first request does once
    statements.clear()
    response = client.get(url)
    assert response.status_code == 200
    return len(statements)


def add_people(count: int) -> list[User]:
    """``count`` accounts, in one statement (they never sign in)."""
    first = db.session.scalar(select(db.func.count(User.id)))
    rows = [
        {"email": f"person{n}@example.com", "name": f"Person {n}", "password_hash": "x" * 60}
        for n in range(first, first + count)
    ]
    db.session.execute(insert(User), rows)
    return db.session.scalars(select(User).where(User.email.in_(r["email"] for r in rows))).all()


def add_history(project, count) -> None:
    """``count`` tokens of every kind, each made and revoked by someone else (so no
    person is loaded once for many rows), and all used lately."""
    now = utcnow()
    people = add_people(count)
    third = count // 3
    add_tokens(project, [f"Live {n}" for n in range(third)], creators=people)
    add_tokens(
        project, [f"Gone {n}" for n in range(third)], creators=people[third:], revoked_at=now
    )
    revoked = db.session.scalars(
        select(ApiToken.id).where(
            ApiToken.revoked_at.is_not(None), ApiToken.revoked_by_id.is_(None)
        )
    ).all()
    db.session.execute(
        update(ApiToken),
        [{"id": id_, "revoked_by_id": people[n].id} for n, id_ in enumerate(revoked)],
    )
    add_tokens(
        project,
        [f"Old {n}" for n in range(count - 2 * third)],
        creators=people[2 * third :],
        expires_at=now - timedelta(days=1),
    )
    hour = now.replace(minute=0, second=0, microsecond=0)
    used = db.session.scalars(
        select(ApiToken.id).where(ApiToken.id.not_in(select(TokenUsage.token_id)))
    ).all()
    db.session.execute(
        insert(TokenUsage),
        [{"token_id": token_id, "hour": hour, "count": 3} for token_id in used],
    )
    db.session.execute(
        insert(TokenUsageDay),
        [{"token_id": token_id, "day": hour.date(), "count": 3} for token_id in used],
    )
    db.session.commit()


@pytest.mark.parametrize("role", ["developer", "viewer"])
def test_statements_per_page_do_not_grow_with_the_tokens(client, team, sign_in, statements, role):
    add_history(team.project, 10)
    sign_in(team.member(role))
    few = {
        "page": statements_for(client, statements, URL),
        "filtered": statements_for(client, statements, URL + "?name=o&status=revoked"),
    }
    add_history(team.project, 290)
    many = {
        "page": statements_for(client, statements, URL),
        "page 3": statements_for(client, statements, URL + "?page=3"),
        "filtered": statements_for(client, statements, URL + "?name=o&status=revoked"),
    }
    assert many["page"] == many["page 3"] == few["page"]
    assert many["filtered"] == few["filtered"]
    assert few["page"] <= 9
