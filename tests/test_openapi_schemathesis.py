"""Schemathesis runs the OpenAPI document (GET /api/v1/openapi.json) against the app, in
process through its WSGI interface: requests generated from the document, fitting it
and (fewer) not fitting it, each sent with a good token of its own and without any.
The token API's operations get a project token with Full access, one per case; the
management API's reads get a personal access token of the project's owner, developer or
viewer in turn (so each role's answers are checked), its writes (create, revoke, rotate
a token) the developer's. Most of their requests name that project and one of its
tokens (a write, a token of its own), so that they are answered, not only refused: a
write whose body was made not to fit is read and refused for it.

Every answer is checked by schemathesis's own checks (no 5xx, a documented status,
content type, headers and body schema; a request that does not fit is refused, one that
fits is not refused for it), and every refused request (4xx) must leave every table as
it was. A bounded number of examples (``derandomize``, the same ones every run) keeps it
quick enough for CI (about 15 seconds on SQLite, 25 on PostgreSQL); the figures are
printed (``-s`` shows them):
``schemathesis: 722 cases, 0 failures``, then each operation's cases by status.

A second, stateful run follows the document's links from a new token (created or
rotated) to showing, revoking and rotating it by its id, as the developer: about 250
steps, 0 failures, in a few seconds.

Schemathesis leaves out the operation it loads the document from (GET
/api/v1/openapi.json): tests/test_openapi.py covers that one.
"""

import contextvars
import itertools
import re
from collections import Counter
from datetime import timedelta
from typing import NamedTuple

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from flagpal_dash.api import openapi
from flagpal_dash.core import personal_tokens, tokens
from flagpal_dash.core.projects import add_member, create_project
from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken, PersonalToken, utcnow
from flagpal_dash.permissions import Role

from .conftest import make_app
from .support import add_user, issue_token, snapshot

# Examples per operation: fitting the document with a token, and without one; not
# fitting it (with a token).
EXAMPLES = {"positive": 25, "anonymous": 8, "negative": 12}
TOKEN_NUMBERS = itertools.count(1)
CASE_NUMBERS = itertools.count(1)
# Of the requests that fit the document, how many name what exists (``aimed``); the
# rest keep what was generated (mostly unknown: 404, or 400 from forward-auth).
NAMED_EVERY = 4


@pytest.fixture
def served(database_url, migrated):
    """The app, in its own context, with a limit on leak reports far above what the
    run sends (the limit itself is tested in test_leak_reports.py)."""
    app = make_app(database_url, LEAK_REPORT_LIMIT="100000 per minute")
    with app.app_context():
        yield app
        db.session.remove()
        with db.engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):
                connection.execute(table.delete())
        db.engine.dispose()


def fresh_token(project) -> str:
    """A good token with Full access, one per case: a rotation or a leak report in one
    case leaves the next its own."""
    number = next(TOKEN_NUMBERS)
    _, value = issue_token(project, f"Schemathesis {number}", abilities=frozenset({"*"}))
    return value


def state() -> dict:
    """Every row of every table (``snapshot``), but for what any request may change:
    the counts of the leak reports' limit (every report counts, refused or not, so
    that refusals cannot be sent without limit) and when a good token was last used
    (noted by the token check, before a route reads its body)."""
    rows = snapshot()
    del rows["rate_limit_counters"]
    for model in (ApiToken, PersonalToken):
        table = model.__table__
        at = [column.name for column in table.columns].index("last_used_at")
        rows[table.name] = [row[:at] + row[at + 1 :] for row in rows[table.name]]
    return rows


def run(case, headers: dict) -> tuple[object, list[str]]:
    """Send ``case`` as a server would get it (in a context of its own, like the test
    client's IsolatedClient) and check the answer; the failures' messages."""
    response = contextvars.Context().run(case.call, headers=headers)
    excluded = []
    if case.operation.path.startswith("/api/v1/auth"):
        # Forward-auth needs the original request described by one of two header
        # families (nginx's or Caddy's and Traefik's): an either-or OpenAPI cannot state,
        # so a request with neither fits the document and gets its documented 400.
        excluded.append(positive_data_acceptance)
    try:
        case.validate_response(response, headers=headers, excluded_checks=excluded)
    except FailureGroup as failures:
        return response, [str(failures)]
    return response, []


def management(operation) -> bool:
    return operation.definition.raw.get("security") == [{"personalToken": []}]


def writes(operation) -> bool:
    return management(operation) and operation.method.upper() in {"POST", "DELETE"}


def aimed_at_a_token(case, team: "Team", number: int) -> None:
    """A write names the project and a token of its own (made now), so that a body that
    fits does its work and one that does not is read and refused, not turned away for
    an unknown project first. Only where its path was generated to fit: a path made not
    to fit is what such a case tests."""
    path = case.meta.components.get(ParameterLocation.PATH) if case.meta else None
    if path is not None and not path.mode.is_positive:
        return
    case.path_parameters["slug"] = team.project.slug
    if "token_id" in case.path_parameters:
        token, _ = issue_token(team.project, f"Schemathesis target {number}")
        case.path_parameters["token_id"] = token.id


def with_a_name_and_expiry_that_fit(case, team: "Team", number: int) -> None:
    """A new token's generated name is kept unless an active token has it; its
    generated expiry, which the document cannot bound to "after now and within ten
    years", is a month ahead."""
    body = case.body if isinstance(case.body, dict) else {}
    attributes = (body.get("data") or {}).get("attributes") or {}
    if attributes.get("expires_at") is not None:
        attributes["expires_at"] = (utcnow() + timedelta(days=30)).isoformat()
    name = attributes.get("name")
    if isinstance(name, str) and tokens.has_active_named(team.project, name.strip(), utcnow()):
        attributes["name"] = f"Schemathesis name {number}"
    db.session.rollback()  # no transaction left open for the request to wait on


def aimed(case, team: "Team", number: int) -> None:
    """Most cases that fit the document name what exists: the management API's the
    project and one of its tokens (for a revoke or a rotation, a token of its own, so
    that each does its work), forward-auth's one original request as nginx describes
    it (generated headers rarely describe one coherently). A new token's name and
    expiry are made to fit where the document cannot say what does."""
    if number % NAMED_EVERY == 0:
        return
    if writes(case.operation):
        aimed_at_a_token(case, team, number)
        with_a_name_and_expiry_that_fit(case, team, number)
    if case.operation.path.startswith("/api/v1/auth"):
        described = {
            name: value
            for name, value in (case.headers or {}).items()
            if name not in openapi.FORWARD_AUTH_HEADERS
        }
        case.headers = described | {
            name: openapi.ORIGINAL_EXAMPLES[name]
            for name in ("X-Original-Method", "X-Original-URI")
        }
    if "slug" in case.path_parameters:
        case.path_parameters["slug"] = team.project.slug
    if "token_id" in case.path_parameters and not writes(case.operation):
        case.path_parameters["token_id"] = team.token_id


def test_the_api_does_what_its_document_says(served, team, capsys):
    team_project = team.project
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", served)
    failures: list[str] = []
    cases = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        for kind, count in EXAMPLES.items():
            mode = GenerationMode.NEGATIVE if kind == "negative" else GenerationMode.POSITIVE
            strategy = operation.as_strategy(generation_mode=mode)

            @settings(
                max_examples=count,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def each(case):
                headers = {}
                number = next(CASE_NUMBERS)
                if management(operation):  # noqa: B023
                    if kind == "positive":  # noqa: B023
                        aimed(case, team, number)
                    elif kind == "negative" and writes(operation) and number % NAMED_EVERY:  # noqa: B023
                        aimed_at_a_token(case, team, number)
                    if kind != "anonymous" and writes(operation):  # noqa: B023
                        # The writes as a developer: one who may make them.
                        headers["Authorization"] = f"Bearer {team.personal_tokens[1]}"
                    elif kind != "anonymous":  # noqa: B023
                        value = team.personal_tokens[number % len(team.personal_tokens)]
                        headers["Authorization"] = f"Bearer {value}"
                elif kind != "anonymous" and operation.definition.raw.get("security"):  # noqa: B023
                    if kind == "positive":  # noqa: B023
                        aimed(case, team, number)
                    headers["Authorization"] = f"Bearer {fresh_token(team_project)}"
                before = state()
                response, found = run(case, headers)
                cases[operation.label, response.status_code] += 1  # noqa: B023
                if 400 <= response.status_code < 500 and state() != before:
                    found.append(
                        f"{case.method} {case.formatted_path}: refused with "
                        f"{response.status_code}, yet something changed"
                    )
                label = f"{operation.label} ({kind})"  # noqa: B023
                failures.extend(f"{label}: {message}" for message in found)

            try:
                each()
            except Unsatisfiable:
                # Nothing in the request to get wrong (no parameters, no body).
                assert kind == "negative", operation.label
    total = sum(cases.values())
    with capsys.disabled():
        print(f"\nschemathesis: {total} cases, {len(failures)} failures")
        for label in sorted({label for label, _ in cases}):
            statuses = {status: n for (named, status), n in sorted(cases.items()) if named == label}
            print(f"  {label}: {statuses}")
    # One of each: the operation, and which checks failed (ST108 Response violates schema…).
    distinct = {
        (failure.split(":")[0], *re.findall(r"- (ST[0-9]+ [^\n]*)", failure)): failure
        for failure in failures
    }
    assert not failures, "\n\n".join(list(distinct.values())[:10])
    assert total >= 100
    # Not only refusals: the generated requests that fit did their work.
    for label, status in [
        ("GET /api/v1/token", 200),
        ("POST /api/v1/token/rotate", 201),
        ("GET /api/v1/auth", 204),
        ("GET /api/v1/auth/{ability}", 204),
        ("POST /api/v1/tokens/revoke", 202),
        ("GET /api/v1/projects", 200),
        ("GET /api/v1/projects/{slug}", 200),
        ("GET /api/v1/projects/{slug}/members", 200),
        ("GET /api/v1/projects/{slug}/audit-events", 200),
        ("GET /api/v1/projects/{slug}/audit-events", 403),
        ("GET /api/v1/projects/{slug}/tokens", 200),
        ("GET /api/v1/projects/{slug}/tokens/{token_id}", 200),
        ("GET /api/v1/projects/{slug}/tokens/{token_id}", 404),
        ("POST /api/v1/projects/{slug}/tokens", 201),
        ("POST /api/v1/projects/{slug}/tokens", 422),
        ("DELETE /api/v1/projects/{slug}/tokens/{token_id}", 200),
        ("POST /api/v1/projects/{slug}/tokens/{token_id}/rotate", 201),
    ]:
        assert cases[label, status] > 0, (label, status)


class Team(NamedTuple):
    project: object
    token_id: int
    # Personal access tokens of the owner, the developer and the viewer, in that order.
    personal_tokens: list[str]


@pytest.fixture
def team(served):
    """Project "Shop" with an owner, a developer and a viewer, each with a personal
    access token, and a project token (so its list and its page have one to show)."""
    project = create_project("Shop", actor=None)
    values = []
    for role in (Role.OWNER, Role.DEVELOPER, Role.VIEWER):
        person = add_user(f"{role.value}@example.com", f"Sam {role.value.title()}")
        add_member(project, person, role, actor=None)
        db.session.flush()
        _, value = personal_tokens.issue(
            person, "Schemathesis", utcnow() + timedelta(days=30), now=utcnow()
        )
        values.append(value)
    db.session.commit()
    token, _ = issue_token(project, "Shop backend")
    return Team(project, token.id, values)


def test_a_new_tokens_links_lead_to_it(served, team, capsys):
    """Stateful: the document's links from a new token (create, rotate) to showing,
    revoking and rotating it by its id, followed by schemathesis as the developer. Each
    answer is checked as above, and each refused request changes nothing."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", served).include(
        path_regex=r"^/api/v1/projects/\{slug\}/tokens"
    )
    developer = team.personal_tokens[1]
    steps = Counter()
    failures: list[str] = []

    class Tokens(schema.as_state_machine()):
        def before_call(self, case):
            # The project that exists: a link carries it on from the first request.
            case.path_parameters["slug"] = team.project.slug
            with_a_name_and_expiry_that_fit(case, team, next(CASE_NUMBERS))
            self.before = state()

        def call(self, case, **kwargs):
            return contextvars.Context().run(case.call, **kwargs)

        def get_call_kwargs(self, case):
            return {"headers": {"Authorization": f"Bearer {developer}"}}

        def validate_response(self, response, case, **kwargs):
            # The token is the test's, good every time: not one generated to be refused.
            case.validate_response(response, excluded_checks=[ignored_auth], **kwargs)

        def after_call(self, response, case):
            steps[case.operation.label, response.status_code] += 1
            if 400 <= response.status_code < 500 and state() != self.before:
                failures.append(f"{case.method} {case.formatted_path}: changed something")

    Tokens.run(
        settings=settings(
            max_examples=40,
            stateful_step_count=6,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    with capsys.disabled():
        print(f"\nschemathesis, stateful: {sum(steps.values())} steps")
        for (label, status), count in sorted(steps.items()):
            print(f"  {label} {status}: {count}")
    assert not failures, failures[:10]
    # New tokens were made, and the links led to them. (Which of show, revoke and
    # rotate gets the most depends on the ids the database hands out, which differ
    # from run to run on PostgreSQL.)
    assert steps["POST /api/v1/projects/{slug}/tokens", 201] > 0
    followed = [
        ("GET /api/v1/projects/{slug}/tokens/{token_id}", 200),
        ("DELETE /api/v1/projects/{slug}/tokens/{token_id}", 200),
        ("POST /api/v1/projects/{slug}/tokens/{token_id}/rotate", 201),
        ("POST /api/v1/projects/{slug}/tokens/{token_id}/rotate", 409),
    ]
    assert sum(steps[step] for step in followed) >= 5, steps
