"""POST /api/v1/tokens/revoke: secret scanners report leaked tokens, each one that still
works is revoked and recorded, the answer never says which matched, bad reports are
refused with nothing changed, and managers see why a token was revoked."""

from datetime import UTC, datetime, timedelta

import orjson
import pytest
import time_machine
from sqlalchemy import event, func, select, text, update
from sqlalchemy.exc import OperationalError

from flagpal_dash import config, token_format
from flagpal_dash.core import automatic_revocations, tokens
from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken, AuditEvent, AuditKind, utcnow

from .support import issue_token, page, text_of
from .test_api_token import MEDIA_TYPE, bearer, error_of
from .test_audit import log_rows, only

URL = "/api/v1/tokens/revoke"
FOUND_AT = "https://github.com/octocat/Hello-World/blob/1234567/config/settings.py"
START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def github_alert(value: str, url: str = FOUND_AT, **fields) -> dict:
    """One match as GitHub's secret scanning partner program sends it."""
    return {"token": value, "type": "flagpal_api_token", "url": url, "source": "content"} | fields


def report(client, body, address: str = "192.0.2.1", **kwargs):
    return client.post(URL, json=body, environ_base={"REMOTE_ADDR": address}, **kwargs)


def fresh(token: ApiToken) -> ApiToken:
    db.session.expire_all()
    return db.session.get(ApiToken, token.id)


def unknown_token() -> str:
    """Well-formed, with a good checksum, but never issued."""
    return token_format.generate()


def bad_checksum(value: str) -> str:
    return value[:-1] + ("0" if value[-1] != "0" else "1")


def leak_events() -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.kind == AuditKind.TOKEN_REVOKED_AS_LEAKED.value)
        )
    )


# Revoking ------------------------------------------------------------------------------


def test_a_github_alert_revokes_the_token_at_once(client, team):
    token, value = issue_token(team.project, "Shop backend")
    assert client.get("/api/v1/token", headers=bearer(value)).status_code == 200

    response = report(client, [github_alert(value)])

    assert response.status_code == 202
    assert response.headers["Content-Type"] == MEDIA_TYPE
    assert error_of(client.get("/api/v1/token", headers=bearer(value)))["code"] == "token_revoked"
    revoked = fresh(token)
    assert revoked.revoked_at is not None and revoked.revoked_by is None
    assert revoked.revoked_reason == f"reported as leaked (found at {FOUND_AT})"


def test_a_plain_list_of_tokens_revokes_each(client, team):
    first, first_value = issue_token(team.project, "First")
    second, second_value = issue_token(team.project, "Second")
    kept, kept_value = issue_token(team.project, "Not reported")

    response = report(client, [first_value, second_value])

    assert response.status_code == 202
    for value in (first_value, second_value):
        assert error_of(client.get("/api/v1/token", headers=bearer(value)))["code"] == (
            "token_revoked"
        )
    assert fresh(first).revoked_reason == "reported as leaked"
    assert client.get("/api/v1/token", headers=bearer(kept_value)).status_code == 200


def test_a_token_in_its_rotation_grace_period_is_revoked_now(client, team):
    old, value = issue_token(
        team.project, "Rotated", rotated_at=utcnow(), expires_at=utcnow() + timedelta(hours=24)
    )
    assert client.get("/api/v1/token", headers=bearer(value)).status_code == 200
    assert report(client, [value]).status_code == 202
    assert error_of(client.get("/api/v1/token", headers=bearer(value)))["code"] == "token_revoked"
    assert fresh(old).revoked_reason == "reported as leaked"


def test_revoked_and_expired_tokens_are_left_as_they_were(client, team):
    revoked_at = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    revoked, revoked_value = issue_token(
        team.project, "Revoked", revoked_at=revoked_at, revoked_by=team.owner
    )
    expired, expired_value = issue_token(
        team.project, "Expired", expires_at=utcnow() - timedelta(days=1)
    )
    events = db.session.scalar(select(func.count(AuditEvent.id)))

    response = report(client, [github_alert(revoked_value), expired_value])

    assert response.status_code == 202
    revoked = fresh(revoked)
    assert (revoked.revoked_at, revoked.revoked_by_id, revoked.revoked_reason) == (
        revoked_at,
        team.owner.id,
        None,
    )
    expired = fresh(expired)
    assert (expired.revoked_at, expired.revoked_reason) == (None, None)
    assert db.session.scalar(select(func.count(AuditEvent.id))) == events


def test_a_token_reported_twice_is_revoked_and_recorded_once(client, team):
    token, value = issue_token(team.project)
    response = report(client, [github_alert(value), value, github_alert(value, "https://x.test/")])
    assert response.status_code == 202
    assert report(client, [value]).status_code == 202
    [recorded] = leak_events()
    assert recorded.details["url"] == FOUND_AT, "the first report of it is kept"


def test_a_token_revoked_by_someone_else_meanwhile_is_left_to_them(app, team):
    """Two reports (or a report and a person) at once: the one whose UPDATE lands first
    revokes it, the other changes and records nothing."""
    token, _ = issue_token(team.project)
    assert tokens.status(token, utcnow()) == "active", "loaded, still active in this session"
    earlier = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    with db.engine.begin() as other_process:
        other_process.execute(
            update(ApiToken).where(ApiToken.id == token.id).values(revoked_at=earlier)
        )
    assert (
        automatic_revocations.revoke_as_leaked(
            token, FOUND_AT, "content", "flagpal_api_token", utcnow()
        )
        is False
    )
    db.session.commit()
    assert (fresh(token).revoked_at, fresh(token).revoked_reason) == (earlier, None)
    assert leak_events() == []


def test_it_works_with_csrf_protection_on(csrf_client, team):
    token, value = issue_token(team.project)
    response = csrf_client.post(URL, json=[github_alert(value)])
    assert response.status_code == 202
    assert fresh(token).revoked_at is not None


# No oracle -----------------------------------------------------------------------------


@pytest.mark.parametrize("github_format", [True, False], ids=["github", "plain"])
def test_the_answer_is_the_same_whatever_matched(client, team, github_format):
    token, value = issue_token(team.project)
    reports = {
        "matching": [value, unknown_token()],
        "unknown": [unknown_token(), unknown_token()],
        "malformed": [bad_checksum(unknown_token()), "NMIfyYncKcRALEXAMPLE"],
    }
    answers = {}
    # Each from its own address at the same moment, so the rate-limit headers (which
    # count requests, not matches) read the same too.
    with time_machine.travel(START, tick=False):
        for number, (name, values) in enumerate(reports.items()):
            body = [github_alert(v) for v in values] if github_format else values
            answers[name] = report(client, body, address=f"198.51.100.{number + 1}")

    assert fresh(token).revoked_at is not None, "the matching report did revoke"
    seen = {
        name: (
            response.status_code,
            sorted((k, v) for k, v in response.headers.items() if k != "Date"),
            response.data,
        )
        for name, response in answers.items()
    }
    assert seen["matching"][0] == 202
    assert seen["matching"] == seen["unknown"] == seen["malformed"]
    assert orjson.loads(answers["matching"].data)["meta"]["status"] == "accepted"
    assert "Set-Cookie" not in answers["matching"].headers


# What is recorded ----------------------------------------------------------------------


def test_the_revocation_is_recorded_without_the_token_value(client, app, team, runner):
    token, value = issue_token(team.project, "Shop backend")
    unknown = unknown_token()
    # A URL or label that carries the token itself must not carry it into the records.
    leaky_url = f"https://paste.example/raw?key={value}"

    response = report(
        client,
        [github_alert(value, leaky_url, type=f"note {value}"), github_alert(unknown)],
        address="203.0.113.9",
    )

    assert response.status_code == 202
    assert only(AuditKind.TOKEN_REVOKED_AS_LEAKED) == {
        "project": "shop",
        "actor": "leak report",
        "actor_id": None,
        "address": "203.0.113.9",
        "target": f"token {token.id} “Shop backend”",
        "details": {
            "url": "https://paste.example/raw?key=flagpal_…",
            "source": "content",
            "type": "note flagpal_…",
        },
    }
    assert fresh(token).revoked_reason == (
        "reported as leaked (found at https://paste.example/raw?key=flagpal_…)"
    )
    rows = db.session.execute(text("SELECT * FROM audit_events")).all()
    assert len(rows) >= 3
    for row in rows:
        for column, stored in row._mapping.items():
            for secret in (value, unknown, value[8:], unknown[8:]):
                assert secret not in str(stored), f"a token value in audit_events.{column}"
    exported = runner.invoke(args=["audit", "export", "--since", "2000-01-01"])
    assert value[8:] not in exported.output and unknown[8:] not in exported.output


def test_the_audit_log_shows_the_report(client, team, sign_in):
    token, value = issue_token(team.project, "Shop backend")
    report(client, [github_alert(value)], address="203.0.113.9")
    sign_in(team.owner)
    response = client.get("/projects/shop/audit?kind=token")
    assert response.status_code == 200
    newest = log_rows(response)[0]
    assert newest["What"] == (
        f"Token revoked as leaked: token {token.id} “Shop backend” "
        f"url: {FOUND_AT} source: content type: flagpal_api_token"
    )
    assert newest["Who"] == "leak report"
    assert newest["From"] == "203.0.113.9"


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("  https://github.com/a/b  ", "https://github.com/a/b"),
        ("HTTP://example.com/x", "HTTP://example.com/x"),
        ("javascript:alert(1)", None),
        ("ftp://example.com/file", None),
        ("https://", None),
        ("/relative/path", None),
        ("https://example.com/a b", None),
        ("https://example.com/\nforged line", None),
        ("http://[::1", None),
        ("", None),
        (None, None),
    ],
)
def test_only_a_web_address_is_kept_as_where_it_was_found(client, team, url, kept):
    token, value = issue_token(team.project)
    assert report(client, [github_alert(value, url)]).status_code == 202
    expected = "reported as leaked" + (f" (found at {kept})" if kept else "")
    assert fresh(token).revoked_reason == expected
    assert leak_events()[0].details["url"] == kept


def test_a_long_address_is_shortened_to_fit(client, team):
    token, value = issue_token(team.project)
    long_url = "https://github.com/" + "a" * 1500
    assert report(client, [github_alert(value, long_url, source="x" * 500)]).status_code == 202
    reason = fresh(token).revoked_reason
    assert len(reason) <= 500
    assert reason.endswith("a…)")
    details = leak_events()[0].details
    assert len(details["url"]) == 400 and len(details["source"]) == 100


# Refusals ------------------------------------------------------------------------------


def form_body(value: str) -> dict:
    return {"data": "token=" + value, "content_type": "application/x-www-form-urlencoded"}


BAD_REPORTS = {
    "not JSON": (lambda v: {"data": v, "content_type": "application/json"}, 400, "invalid_json"),
    "not UTF-8": (
        lambda v: {"data": b'["' + v.encode() + b'", "\xff"]', "content_type": "application/json"},
        400,
        "invalid_json",
    ),
    "nested too deep": (
        lambda v: {"data": "[" * 5000 + "]" * 5000, "content_type": "application/json"},
        400,
        "invalid_json",
    ),
    "text/plain": (
        lambda v: {"data": orjson.dumps([v]), "content_type": "text/plain"},
        415,
        "unsupported_media_type",
    ),
    "a form": (form_body, 415, "unsupported_media_type"),
    "no content type": (lambda v: {"data": orjson.dumps([v])}, 415, "unsupported_media_type"),
    "an object": (lambda v: {"json": {"token": v}}, 422, "report_not_a_list"),
    "a string": (lambda v: {"json": v}, 422, "report_not_a_list"),
    "a number among tokens": (lambda v: {"json": [v, 42]}, 422, "entry_invalid"),
    "a list among tokens": (lambda v: {"json": [v, [v]]}, 422, "entry_invalid"),
    "an object without a token": (
        lambda v: {"json": [v, {"url": FOUND_AT}]},
        422,
        "entry_invalid",
    ),
    "a token that is not a string": (
        lambda v: {"json": [v, {"token": 12345}]},
        422,
        "entry_invalid",
    ),
    "a URL that is not a string": (
        lambda v: {"json": [github_alert(v, url=["https://x.test"])]},
        422,
        "entry_invalid",
    ),
    "a huge string": (lambda v: {"json": [v, "x" * 100_000]}, 422, "value_too_long"),
    "a huge URL": (
        lambda v: {"json": [github_alert(v, "https://x.test/" + "a" * 5000)]},
        422,
        "value_too_long",
    ),
    "10,000 short entries": (
        lambda v: {"json": [v] + ["x"] * 9_999},
        422,
        "report_too_long",
    ),
    "1,001 tokens": (lambda v: {"json": [v] * 1001}, 422, "report_too_long"),
    "10,000 tokens": (lambda v: {"json": [v] * 10_000}, 413, "report_too_large"),
    "over 512 KB": (
        lambda v: {"data": f'["{v}"' + " " * 600_000 + "]", "content_type": "application/json"},
        413,
        "report_too_large",
    ),
}


@pytest.mark.parametrize("case", list(BAD_REPORTS))
def test_a_bad_report_is_refused_and_changes_nothing(client, team, case):
    body, status, code = BAD_REPORTS[case]
    token, value = issue_token(team.project)
    events = db.session.scalar(select(func.count(AuditEvent.id)))

    response = client.post(URL, **body(value))

    assert response.status_code == status
    assert error_of(response)["code"] == code
    assert fresh(token).revoked_at is None
    assert client.get("/api/v1/token", headers=bearer(value)).status_code == 200
    assert db.session.scalar(select(func.count(AuditEvent.id))) == events


def test_a_bad_entry_is_pointed_at(client, team):
    response = report(client, ["x", {"token": "y", "source": 7}])
    assert response.status_code == 422
    [error] = response.get_json(force=True)["errors"]
    assert error["source"] == {"pointer": "/1/source"}


def test_only_post_is_allowed(client):
    response = client.get(URL)
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


def test_an_empty_report_is_accepted(client, team):
    assert report(client, []).status_code == 202


def test_a_database_fault_is_503_and_changes_nothing(client, team, monkeypatch, caplog):
    token, value = issue_token(team.project)

    def broken_scalars(*args, **kwargs):
        raise OperationalError("SELECT api_tokens", {}, Exception("database is locked"))

    monkeypatch.setattr(db.session, "scalars", broken_scalars)
    response = report(client, [value])
    monkeypatch.undo()
    assert response.status_code == 503
    assert error_of(response)["code"] == "unavailable"
    assert int(response.headers["Retry-After"]) >= 5
    assert fresh(token).revoked_at is None
    assert value not in caplog.text


# Cost ----------------------------------------------------------------------------------


@pytest.fixture
def statements(app):
    """Every SQL statement the app sends through SQLAlchemy to judge the reported tokens:
    the rate limit's own count (limit_storage.py: its table, and on PostgreSQL its
    transaction's setting) is left out."""
    seen: list[str] = []

    def note(_connection, _cursor, statement, *_args) -> None:
        if "rate_limit_counters" not in statement and "synchronous_commit" not in statement:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    yield seen
    event.remove(db.engine, "before_cursor_execute", note)


def test_malformed_tokens_cost_no_sql(client, team, statements):
    _, value = issue_token(team.project)
    statements.clear()
    response = report(
        client,
        [bad_checksum(value), value[:-1], value.replace("flagpal_", "flagpaL_"), "NMIfyYncKcRAL"]
        + [github_alert(bad_checksum(unknown_token())) for _ in range(50)],
    )
    assert response.status_code == 202
    assert statements == []
    assert fresh_count_revoked() == 0


def test_any_number_of_unknown_tokens_costs_one_read(client, team, statements):
    issue_token(team.project)
    statements.clear()
    assert report(client, [unknown_token() for _ in range(1000)]).status_code == 202
    assert len(statements) == 1
    assert statements[0].lstrip().upper().startswith("SELECT")


def fresh_count_revoked() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count(ApiToken.revoked_at)))


# Rate limit ----------------------------------------------------------------------------


def test_reports_are_limited_per_address(app, client, team):
    app.config["LEAK_REPORT_LIMIT"] = "3 per minute"
    token, value = issue_token(team.project)
    with time_machine.travel(START, tick=False):
        for _ in range(3):
            assert report(client, ["not a token"], address="192.0.2.50").status_code == 202
        limited = report(client, [value], address="192.0.2.50")
        assert limited.status_code == 429
        assert error_of(limited)["code"] == "too_many_requests"
        assert 1 <= int(limited.headers["Retry-After"]) <= 61
        assert fresh(token).revoked_at is None, "a refused report changes nothing"
        assert report(client, [value], address="192.0.2.51").status_code == 202
    assert fresh(token).revoked_at is not None
    with time_machine.travel(START + timedelta(minutes=2), tick=False):
        assert report(client, [], address="192.0.2.50").status_code == 202


def test_the_limit_is_a_setting(tmp_path):
    environ = {"FLAGPAL_SECRET_KEY": "k"}
    assert config.from_environment(environ, str(tmp_path))["LEAK_REPORT_LIMIT"] == "30 per minute"
    environ["FLAGPAL_LEAK_REPORT_LIMIT"] = "100 per hour"
    assert config.from_environment(environ, str(tmp_path))["LEAK_REPORT_LIMIT"] == "100 per hour"
    environ["FLAGPAL_LEAK_REPORT_LIMIT"] = "lots"
    with pytest.raises(config.ConfigError, match="FLAGPAL_LEAK_REPORT_LIMIT"):
        config.from_environment(environ, str(tmp_path))


# What managers see ---------------------------------------------------------------------


def status_cell(client, token: ApiToken):
    response = client.get("/projects/shop/tokens")
    assert response.status_code == 200
    row = page(response).select_one(f"#token-{token.id}")
    return row.find("td", attrs={"data-label": "Status"})


def as_read(element) -> str:
    """Text as it reads on the page (``text_of`` puts a space between every element)."""
    return " ".join(element.get_text().split())


@pytest.mark.parametrize("role", ["developer", "owner"])
def test_managers_see_that_a_token_was_reported_and_where(client, team, sign_in, role):
    token, value = issue_token(team.project)
    with time_machine.travel(START, tick=False):
        assert report(client, [github_alert(value)]).status_code == 202
    with time_machine.travel(START + timedelta(days=3), tick=False):
        sign_in(team.member(role))
        cell = status_cell(client, token)
    assert as_read(cell) == f"Revoked 3 days ago: reported as leaked (found at {FOUND_AT})"
    assert cell.find("a") is None, "the address is text, not a link"


def test_a_reported_address_is_shown_as_text_only(client, team, sign_in):
    token, value = issue_token(team.project)
    odd = 'https://example.com/"><b>bold</b><script>alert(1)</script>'
    assert report(client, [github_alert(value, odd)]).status_code == 202
    sign_in(team.owner)
    cell = status_cell(client, token)
    assert cell.find(["b", "script", "a"]) is None
    assert text_of(cell).endswith(f"(found at {odd})")


def test_viewers_see_only_revoked(client, team, sign_in):
    token, value = issue_token(team.project)
    assert report(client, [github_alert(value)]).status_code == 202
    sign_in(team.viewer)
    cell = status_cell(client, token)
    assert text_of(cell) == "Revoked"
    assert "leaked" not in client.get("/projects/shop/tokens").text
