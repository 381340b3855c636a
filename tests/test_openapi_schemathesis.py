"""Schemathesis runs the OpenAPI document (GET /api/v1/openapi.json) against the app, in
process through its WSGI interface: requests generated from the document, fitting it
and (fewer) not fitting it, each sent with a good token of its own and without any.

Every answer is checked by schemathesis's own checks (no 5xx, a documented status,
content type, headers and body schema; a request that does not fit is refused, one that
fits is not refused for it), and every refused request (4xx) must leave every table as
it was. A bounded number of examples (``derandomize``, the same ones every run) keeps it
quick enough for CI (about 15 seconds); the figures are printed (``-s`` shows them):
``schemathesis: 317 cases, 0 failures``, then each operation's cases by status.

Schemathesis leaves out the operation it loads the document from (GET
/api/v1/openapi.json): tests/test_openapi.py covers that one.
"""

import contextvars
import itertools
import re
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import positive_data_acceptance

from flagpal_dash.core.projects import create_project
from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken

from .conftest import make_app
from .support import issue_token, snapshot

# Examples per operation: fitting the document with a token, and without one; not
# fitting it (with a token).
EXAMPLES = {"positive": 25, "anonymous": 8, "negative": 12}
TOKEN_NUMBERS = itertools.count(1)


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
    at = [column.name for column in ApiToken.__table__.columns].index("last_used_at")
    rows["api_tokens"] = [row[:at] + row[at + 1 :] for row in rows["api_tokens"]]
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


def test_the_api_does_what_its_document_says(served, team_project, capsys):
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
                if kind != "anonymous" and operation.definition.raw.get("security"):  # noqa: B023
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
    ]:
        assert cases[label, status] > 0, (label, status)


@pytest.fixture
def team_project(served):
    project = create_project("Shop", actor=None)
    db.session.commit()
    return project
