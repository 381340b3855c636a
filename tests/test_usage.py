"""Token usage: successful API requests counted per UTC hour in memory and written in
batches (never a write per request, never a request held up by the database), with
their sums per UTC day; read back as a 30-day sparkline on each row (from the daily
sums) and as the warning in the revoke dialog (from the hours)."""

import re
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import create_engine, delete, event, func, insert, select, text

from flagpal_dash import config
from flagpal_dash.api.usage_counter import UsageCounter
from flagpal_dash.api.verification import EXTENSION_KEY
from flagpal_dash.core import tokens, usage
from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken, TokenUsage, TokenUsageDay, utcnow

from .conftest import make_app
from .support import HTMX, flush_usage, issue_token, page, text_of
from .test_api_token import bearer
from .test_token_authority import unreachable_url

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def counter(app) -> UsageCounter:
    return app.extensions[EXTENSION_KEY].usage


def stored_counts(token, period) -> list[tuple]:
    """The token's stored counts by ``period`` (``TokenUsage.hour`` or
    ``TokenUsageDay.day``), read on a connection of its own (so nothing the test's
    session saw earlier hides a write)."""
    table = period.class_
    with db.engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                select(period, table.count).where(table.token_id == token.id).order_by(period)
            )
        ]


def usage_rows(token) -> list[tuple[datetime, int]]:
    """The token's stored counts by hour."""
    return stored_counts(token, TokenUsage.hour)


def daily_rows(token) -> list[tuple[date, int]]:
    """The token's stored counts by UTC day."""
    return stored_counts(token, TokenUsageDay.day)


def total(token) -> int:
    """The token's requests in the hourly table, checked against the daily one.

    Both sums come from one statement, so one snapshot: read one after the other, a flush
    committing in between (the background thread's) would look like the tables disagree.
    """

    def summed(table):
        return (
            select(func.coalesce(func.sum(table.count), 0))
            .where(table.token_id == token.id)
            .scalar_subquery()
        )

    with db.engine.connect() as connection:
        hourly, daily = connection.execute(select(summed(TokenUsage), summed(TokenUsageDay))).one()
    assert hourly == daily, f"the hours add up to {hourly}, the days to {daily}"
    return hourly


def get_token(client, value: str) -> int:
    return client.get("/api/v1/token", headers=bearer(value)).status_code


def store_usage(token, counts: dict[datetime, int]) -> None:
    """Store counts by hour as a flush does: the hours and their sums per day."""
    hourly = [{"token_id": token.id, "hour": hour, "count": n} for hour, n in counts.items()]
    db.session.execute(insert(TokenUsage), hourly)
    db.session.execute(insert(TokenUsageDay), usage.daily_sums(hourly))
    db.session.commit()


# Counting


def test_counts_match_the_successful_requests_made(app, client, team):
    token, value = issue_token(team.project, "Shop backend")
    other, other_value = issue_token(team.project, "Reader")
    for _ in range(7):
        assert get_token(client, value) == 200
    for _ in range(3):
        response = client.get("/api/v1/auth/read", headers=bearer(value))
        assert response.status_code == 204
    assert get_token(client, other_value) == 200
    assert flush_usage(app) == 11
    assert total(token) == 10
    assert total(other) == 1
    assert flush_usage(app) == 0, "nothing left to write"
    assert total(token) == 10


def test_refused_requests_are_not_counted(app, client, team):
    token, value = issue_token(team.project, "Reader", abilities=frozenset({"read"}))
    revoked, revoked_value = issue_token(team.project, "Old")
    tokens.revoke(revoked, actor=None, now=utcnow())
    db.session.commit()
    forbidden = client.get("/api/v1/auth/write", headers=bearer(value))
    assert forbidden.status_code == 403
    assert get_token(client, revoked_value) == 401
    assert get_token(client, value[:-1] + ("A" if value[-1] != "A" else "B")) == 401
    assert client.get("/api/v1/token").status_code == 401
    assert flush_usage(app) == 0
    assert usage_rows(token) == [] and usage_rows(revoked) == []


def test_counts_land_in_their_utc_hour_across_an_hour_boundary(app, client, team):
    token, value = issue_token(team.project, "Hourly")
    with time_machine.travel(datetime(2026, 11, 20, 10, 59, 59, 900000, tzinfo=UTC), tick=False):
        for _ in range(3):
            assert get_token(client, value) == 200
    with time_machine.travel(datetime(2026, 11, 20, 11, 0, tzinfo=UTC), tick=False):
        for _ in range(2):
            assert get_token(client, value) == 200
    flush_usage(app)
    assert usage_rows(token) == [
        (datetime(2026, 11, 20, 10, tzinfo=UTC), 3),
        (datetime(2026, 11, 20, 11, tzinfo=UTC), 2),
    ]
    with time_machine.travel(datetime(2026, 11, 20, 11, 30, tzinfo=UTC), tick=False):
        assert get_token(client, value) == 200
    flush_usage(app)
    assert usage_rows(token)[-1] == (datetime(2026, 11, 20, 11, tzinfo=UTC), 3), "added to"
    assert daily_rows(token) == [(date(2026, 11, 20), 6)]


def test_each_flush_adds_to_the_token_s_row_for_the_utc_day(app, client, team):
    token, value = issue_token(team.project, "Daily")
    other, other_value = issue_token(team.project, "Other")
    with time_machine.travel(datetime(2026, 11, 20, 8, 15, tzinfo=UTC), tick=False):
        for _ in range(3):
            assert get_token(client, value) == 200
        assert get_token(client, other_value) == 200
    assert flush_usage(app) == 4
    assert daily_rows(token) == [(date(2026, 11, 20), 3)]
    # Later the same day, in another hour: the same day's row grows.
    with time_machine.travel(datetime(2026, 11, 20, 17, 40, tzinfo=UTC), tick=False):
        for _ in range(2):
            assert get_token(client, value) == 200
    assert flush_usage(app) == 2
    assert daily_rows(token) == [(date(2026, 11, 20), 5)]
    assert len(usage_rows(token)) == 2
    assert daily_rows(other) == [(date(2026, 11, 20), 1)], "each token its own row"


def test_counts_across_midnight_utc_land_in_two_days(app, client, team):
    token, value = issue_token(team.project, "Night owl")
    # 23:59 UTC is already the next day in Berlin: the day is UTC's whatever the zone.
    with time_machine.travel(datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC), tick=False):
        for _ in range(4):
            assert get_token(client, value) == 200
    with time_machine.travel(datetime(2026, 11, 21, 0, 0, 1, tzinfo=UTC), tick=False):
        assert get_token(client, value) == 200
    assert flush_usage(app) == 5, "one flush, two days"
    assert daily_rows(token) == [(date(2026, 11, 20), 4), (date(2026, 11, 21), 1)]
    assert total(token) == 5


def test_requests_write_nothing_until_the_flush(app, client, team):
    _, value = issue_token(team.project, "Busy")
    assert get_token(client, value) == 200  # last_used_at is written on the first use
    seen: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    for _ in range(20):
        assert get_token(client, value) == 200
    assert [sql for sql in seen if "token_usage" in sql] == []
    assert not any(sql.lstrip().upper().startswith(("INSERT", "UPDATE")) for sql in seen)
    flush_usage(app)
    writes = [sql for sql in seen if "token_usage" in sql and "INSERT" in sql.upper()]
    assert len(writes) == 2, "one upsert per table for the whole batch"
    assert [re.search(r"INTO (\w+)", sql).group(1) for sql in writes] == [
        "token_usage",
        "token_usage_daily",
    ]


def test_a_failing_database_fails_no_request_and_the_counts_wait(
    app, client, team, monkeypatch, caplog, database_url, tmp_path
):
    token, value = issue_token(team.project, "Unsaved")
    broken = create_engine(unreachable_url(database_url, tmp_path))
    monkeypatch.setattr(counter(app), "engine", broken)
    for _ in range(4):
        assert get_token(client, value) == 200
    assert flush_usage(app) == 0, "the failure is not raised"
    assert "Could not save token usage counts; will try again" in caplog.text
    assert value not in caplog.text
    assert get_token(client, value) == 200
    monkeypatch.undo()
    broken.dispose()
    assert flush_usage(app) == 5, "kept, then written when the database came back"
    assert total(token) == 5


def test_a_slow_flush_holds_up_no_request(app, client, team, monkeypatch):
    token, value = issue_token(team.project, "Patient")
    assert get_token(client, value) == 200
    tally = counter(app)
    writing, release = threading.Event(), threading.Event()
    write = tally.write

    def slow_write(pending):
        writing.set()
        release.wait(10)
        return write(pending)

    monkeypatch.setattr(tally, "write", slow_write)
    flusher = threading.Thread(target=tally.flush)
    flusher.start()
    try:
        assert writing.wait(5)
        started = time.monotonic()
        for _ in range(5):
            assert get_token(client, value) == 200
        assert flusher.is_alive(), "still writing while the requests were answered"
        assert time.monotonic() - started < 5
    finally:
        release.set()
        flusher.join(10)
    assert flush_usage(app) == 5
    assert total(token) == 6


def test_a_token_deleted_before_the_flush_does_not_break_it(app, client, team):
    gone, gone_value = issue_token(team.project, "Deleted")
    kept, kept_value = issue_token(team.project, "Kept")
    assert get_token(client, gone_value) == 200
    assert get_token(client, kept_value) == 200
    db.session.execute(delete(ApiToken).where(ApiToken.id == gone.id))
    db.session.commit()
    assert flush_usage(app) == 1
    assert total(kept) == 1
    assert flush_usage(app) == 0, "the deleted token's counts were dropped, not kept"


def test_a_token_deleted_while_the_flush_writes_is_dropped_on_the_retry(app, client, team):
    """Deleted after the flush checked which tokens exist, before it inserted: the
    foreign key refuses the batch, nothing of it stays (hours or days), and the flush
    checks again and writes the rest once."""
    kept, kept_value = issue_token(team.project, "Kept")  # first: its rows go in first
    gone, gone_value = issue_token(team.project, "Deleted meanwhile")
    assert get_token(client, kept_value) == 200
    assert get_token(client, gone_value) == 200
    inserts: list[str] = []

    def delete_the_token_first(connection, cursor, statement, *args) -> None:
        if statement.startswith("INSERT INTO token_usage ") and not inserts:
            with db.engine.begin() as other:  # another connection, as another process
                other.execute(text(f"DELETE FROM api_tokens WHERE id = {gone.id}"))
        if statement.startswith("INSERT"):
            inserts.append(statement)

    event.listen(db.engine, "before_cursor_execute", delete_the_token_first)
    try:
        assert flush_usage(app) == 1
    finally:
        event.remove(db.engine, "before_cursor_execute", delete_the_token_first)
    assert len(inserts) == 3, "the refused hours, then the hours and days again"
    assert total(kept) == 1 and len(daily_rows(kept)) == 1, "written once, not twice"
    assert usage_rows(gone) == [] and daily_rows(gone) == []
    assert flush_usage(app) == 0


def test_deleting_a_token_deletes_its_counts(app, team):
    token, _ = issue_token(team.project, "Deleted")
    other, _ = issue_token(team.project, "Kept")
    store_usage(token, {NOW: 3, NOW - timedelta(days=3): 4})
    store_usage(other, {NOW: 5})
    assert len(daily_rows(token)) == 2
    db.session.execute(delete(ApiToken).where(ApiToken.id == token.id))
    db.session.commit()
    assert usage_rows(token) == [] and daily_rows(token) == []
    assert daily_rows(other) == [(NOW.date(), 5)]


def test_the_flush_thread_writes_by_itself_within_the_interval(database_url, app, team):
    token, value = issue_token(team.project, "Background")
    eager = make_app(database_url, USAGE_FLUSH_SECONDS=1)
    try:
        client = eager.test_client()
        for _ in range(4):
            assert get_token(client, value) == 200
        flusher = counter(eager).flusher
        assert flusher is not None and flusher.daemon
        deadline = time.monotonic() + 5
        while total(token) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert total(token) == 4
    finally:
        with eager.app_context():
            db.engine.dispose()


def test_counts_are_written_when_the_process_exits(app, team, database_url):
    token, value = issue_token(team.project, "Last words")
    script = (
        "import sys\n"
        "from flagpal_dash import create_app\n"
        "app = create_app({'TESTING': True, 'SECRET_KEY': 'x',"
        " 'SQLALCHEMY_DATABASE_URI': sys.argv[1], 'USAGE_FLUSH_SECONDS': 3600})\n"
        "client = app.test_client()\n"
        "for _ in range(3):\n"
        "    response = client.get('/api/v1/token',"
        " headers={'Authorization': 'Bearer ' + sys.argv[2]})\n"
        "    assert response.status_code == 200, response.status_code\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, database_url, value], cwd=ROOT, check=True, timeout=60
    )
    assert total(token) == 3


def test_two_app_instances_add_up_in_the_same_rows(database_url, app, client, team):
    token, value = issue_token(team.project, "Shared")
    other = make_app(database_url)
    try:
        other_client = other.test_client()
        with time_machine.travel(NOW, tick=False):
            for _ in range(3):
                assert get_token(client, value) == 200
            for _ in range(4):
                assert get_token(other_client, value) == 200
        assert flush_usage(app) == 3
        assert flush_usage(other) == 4
        assert usage_rows(token) == [(NOW, 7)]
    finally:
        with other.app_context():
            db.engine.dispose()


@pytest.mark.parametrize(
    "value, message",
    [
        ("0", "FLAGPAL_USAGE_FLUSH_SECONDS must be between 1 and 3600, not 0"),
        ("3601", "FLAGPAL_USAGE_FLUSH_SECONDS must be between 1 and 3600, not 3601"),
        ("soon", "FLAGPAL_USAGE_FLUSH_SECONDS must be a whole number, not 'soon'"),
    ],
)
def test_the_flush_interval_is_a_checked_setting(tmp_path, value, message):
    environ = {"FLAGPAL_SECRET_KEY": "x"}
    assert config.from_environment(environ, str(tmp_path))["USAGE_FLUSH_SECONDS"] == 5
    environ["FLAGPAL_USAGE_FLUSH_SECONDS"] = "30"
    assert config.from_environment(environ, str(tmp_path))["USAGE_FLUSH_SECONDS"] == 30
    environ["FLAGPAL_USAGE_FLUSH_SECONDS"] = value
    with pytest.raises(config.ConfigError, match=message):
        config.from_environment(environ, str(tmp_path))


# The sparkline


def sparkline_of(response, token):
    return page(response).select_one(f"#token-{token.id} svg.sparkline")


def test_managers_see_a_30_day_sparkline_with_a_text_alternative(client, team, sign_in):
    token, _ = issue_token(team.project, "Shop backend")
    store_usage(
        token,
        {
            datetime(2026, 10, 21, 23, tzinfo=UTC): 50,  # 31 days ago: outside
            datetime(2026, 10, 22, 0, tzinfo=UTC): 2,  # the first day shown
            datetime(2026, 11, 3, 9, tzinfo=UTC): 600,
            datetime(2026, 11, 3, 17, tzinfo=UTC): 400,
            datetime(2026, 11, 19, 8, tzinfo=UTC): 198,
            datetime(2026, 11, 20, 11, tzinfo=UTC): 4,
        },
    )
    with time_machine.travel(NOW, tick=False):
        sign_in(team.developer)
        response = client.get("/projects/shop/tokens")
    assert response.status_code == 200
    svg = sparkline_of(response, token)
    assert svg["role"] == "img"
    assert svg["aria-label"] == "1,204 requests in the last 30 days, most on 3 Nov"
    expected = [0] * 30
    expected[0], expected[12], expected[28], expected[29] = 2, 1000, 198, 4
    assert [int(n) for n in svg["data-counts"].split(",")] == expected
    # Two outlines: the days with requests, and the empty days' ticks on the baseline.
    used, empty = (bars_in(svg, kind) for kind in ("spark-bar", "spark-empty"))
    assert len(used) == 4 and len(empty) == 26
    heights = {x // 3: height for x, height in used}
    assert heights[12] == int(svg["height"]) == max(heights.values()), "the busiest day is full"
    assert sorted(heights) == [0, 12, 28, 29]
    assert not svg.has_attr("style") and not any(path.has_attr("style") for path in svg("path"))
    cell = svg.find_parent("td")
    assert cell["data-label"] == "Last used", "beside last used"
    # Words beside the bars for whoever cannot read a bar chart; a screen reader reads the
    # SVG's fuller label instead.
    words = cell.select_one(".spark-words")
    assert words.find_previous_sibling("svg") is svg and words["aria-hidden"] == "true"
    assert text_of(words) == "1,204 requests in 30 days"
    assert text_of(cell) == "Never 1,204 requests in 30 days"


def bars_in(svg, kind: str) -> list[tuple[int, int]]:
    """(x, height) of each bar drawn in the sparkline's path of class ``kind``."""
    path = svg.find("path", class_=kind)
    if path is None:
        return []
    return [(int(x), int(height)) for x, height in re.findall(r"M(\d+) \d+h\d+v(\d+)", path["d"])]


def test_an_unused_token_s_sparkline_says_so(client, team, sign_in):
    token, _ = issue_token(team.project, "Quiet")
    sign_in(team.owner)
    svg = sparkline_of(client.get("/projects/shop/tokens"), token)
    assert svg["aria-label"] == "No requests in the last 30 days"
    assert bars_in(svg, "spark-bar") == [] and len(bars_in(svg, "spark-empty")) == 30
    assert text_of(svg.find_next_sibling(class_="spark-words")) == "No requests in 30 days"


def test_viewers_see_no_usage(client, team, sign_in):
    token, _ = issue_token(team.project, "Shop backend")
    store_usage(token, {usage.start_of_hour(datetime.now(UTC)): 9})
    sign_in(team.viewer)
    response = client.get("/projects/shop/tokens")
    assert response.status_code == 200
    assert page(response).find("svg") is None
    assert "9 requests" not in response.text


def test_the_list_reads_every_row_s_usage_in_one_query(app, client, team, sign_in):
    tokens = [issue_token(team.project, f"App {n}")[0] for n in range(4)]
    for n, token in enumerate(tokens):
        store_usage(token, {usage.start_of_hour(datetime.now(UTC)): n + 1})
    sign_in(team.owner)
    seen: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    response = client.get("/projects/shop/tokens")
    assert response.status_code == 200
    assert len([sql for sql in seen if "token_usage_daily" in sql]) == 1
    assert [sql for sql in seen if re.search(r"\btoken_usage\b", sql)] == [], "not the hours"
    labels = [svg["aria-label"] for svg in page(response).select("svg.sparkline")]
    assert [label.split(" in ")[0] for label in labels] == [
        "4 requests",
        "3 requests",
        "2 requests",
        "1 request",
    ]


def test_counted_requests_show_in_the_sparkline_after_a_flush(app, client, team, sign_in):
    token, value = issue_token(team.project, "Live")
    with time_machine.travel(NOW, tick=False):
        for _ in range(5):
            assert get_token(client, value) == 200
        flush_usage(app)
        sign_in(team.developer)
        svg = sparkline_of(client.get("/projects/shop/tokens"), token)
    assert svg["aria-label"] == "5 requests in the last 30 days, all on 20 Nov"


def test_rows_rendered_alone_after_a_revoke_or_create_keep_their_sparkline(client, team, sign_in):
    token, _ = issue_token(team.project, "Shop backend")
    store_usage(token, {usage.start_of_hour(datetime.now(UTC)): 12})
    sign_in(team.developer)
    response = client.post(f"/projects/shop/tokens/{token.id}/revoke", headers=HTMX)
    assert response.status_code == 200
    svg = page(response).select_one(f"#token-{token.id} svg.sparkline")
    assert svg["aria-label"].startswith("12 requests in the last 30 days")

    response = client.post(
        "/projects/shop/tokens",
        data={"name": "Replacement", "abilities": ["read"], "expiration": "30"},
        headers=HTMX,
    )
    assert response.status_code == 201
    listed = page(response).find(id="token-list")
    assert listed["hx-swap-oob"] == "true"
    assert len(listed.select("svg.sparkline")) == 2


# The revoke dialog


def revoke_dialog(client, token, headers=HTMX):
    response = client.get(f"/projects/shop/tokens/{token.id}/revoke", headers=headers)
    assert response.status_code == 200
    return text_of(page(response).select_one(".usage-warning"))


def test_the_revoke_dialog_says_how_much_the_token_is_used(client, team, sign_in):
    busy, _ = issue_token(team.project, "Busy", last_used_at=NOW - timedelta(minutes=2))
    store_usage(
        busy,
        {
            NOW - timedelta(hours=30): 5_000,  # before the last 24 hours
            NOW - timedelta(hours=5): 1_200,
            NOW: 4,
        },
    )
    quiet, _ = issue_token(team.project, "Quiet", last_used_at=NOW - timedelta(days=5))
    store_usage(quiet, {NOW - timedelta(days=5): 3})
    idle, _ = issue_token(team.project, "Idle", last_used_at=NOW - timedelta(days=40))
    store_usage(idle, {NOW - timedelta(days=40): 80})
    never, _ = issue_token(team.project, "Never")
    with time_machine.travel(NOW, tick=False):
        sign_in(team.developer)
        assert revoke_dialog(client, busy) == (
            "Used 1,204 times in the last 24 hours, last used 2 minutes ago"
            " — apps using it will stop working."
        )
        assert revoke_dialog(client, busy, headers={}) == revoke_dialog(client, busy)
        assert revoke_dialog(client, quiet) == (
            "Not used in the last 24 hours; last used 5 days ago."
        )
        assert revoke_dialog(client, idle) == "Not used in the last 30 days."
        assert revoke_dialog(client, never) == "Never used."


def test_a_token_made_a_minute_ago_and_never_used_says_so(client, team, sign_in):
    with time_machine.travel(NOW - timedelta(minutes=1), tick=False):
        new, _ = issue_token(team.project, "New")
    with time_machine.travel(NOW, tick=False):
        sign_in(team.developer)
        assert revoke_dialog(client, new) == "Never used."
        assert revoke_dialog(client, new, headers={}) == "Never used."


def test_a_use_not_yet_counted_still_warns(client, team, sign_in):
    """last_used_at is written at once, the counts within seconds: the dialog trusts
    either, so a token used a moment ago never reads as unused."""
    token, _ = issue_token(team.project, "Just now", last_used_at=NOW - timedelta(seconds=10))
    with time_machine.travel(NOW, tick=False):
        sign_in(team.owner)
        assert revoke_dialog(client, token) == (
            "Used in the last 24 hours, last used just now — apps using it will stop working."
        )
        store_usage(token, {usage.start_of_hour(NOW): 1})
        assert revoke_dialog(client, token) == (
            "Used once in the last 24 hours, last used just now — apps using it will stop working."
        )


def test_the_sparkline_reads_the_daily_sums_not_the_hours(client, team, sign_in):
    token, _ = issue_token(team.project, "Summed")
    # Hours alone (no daily sums) draw nothing; daily sums alone draw their days.
    db.session.add(TokenUsage(token_id=token.id, hour=NOW, count=500))
    db.session.add(TokenUsageDay(token_id=token.id, day=date(2026, 11, 18), count=7))
    db.session.add(TokenUsageDay(token_id=token.id, day=date(2026, 10, 21), count=99))  # 31st
    db.session.commit()
    with time_machine.travel(NOW, tick=False):
        sign_in(team.developer)
        svg = sparkline_of(client.get("/projects/shop/tokens"), token)
    assert svg["aria-label"] == "7 requests in the last 30 days, all on 18 Nov"
    assert [int(n) for n in svg["data-counts"].split(",")][-3:] == [7, 0, 0]


# The queries on their own


def test_daily_counts_fill_missing_days_and_ignore_other_tokens(app, team):
    token, _ = issue_token(team.project, "Counted")
    other, _ = issue_token(team.project, "Other")
    store_usage(token, {NOW - timedelta(days=2): 3, NOW - timedelta(days=2, hours=1): 4})
    store_usage(other, {NOW: 100})
    counts = usage.daily_counts([token.id], NOW, days=4)
    assert counts == {token.id: [0, 7, 0, 0]}
    assert usage.daily_counts([token.id, other.id], NOW, days=2) == {
        token.id: [0, 0],
        other.id: [0, 100],
    }
    assert usage.daily_counts([], NOW) == {}
    assert usage.count_since(token.id, NOW - timedelta(days=3)) == 7
    assert usage.count_since(token.id, NOW - timedelta(days=1)) == 0
