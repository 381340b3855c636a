"""Prometheus metrics at /metrics: off by default, only to allowed addresses, each token
check counted by its outcome under real gunicorn with several workers, and no label
ever holding a token's value, hint or name."""

import stat
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import flask_migrate
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import delete

from flagpal_dash import metrics, token_format
from flagpal_dash.config import ConfigError, from_environment
from flagpal_dash.core import jobs
from flagpal_dash.core.projects import create_project
from flagpal_dash.extensions import db
from flagpal_dash.models import utcnow

from .conftest import make_app
from .serving import instance_environment, serve
from .support import flush_usage, issue_token
from .test_token_authority import unreachable_url


def bearer(value: str) -> dict:
    return {"Authorization": f"Bearer {value}"}


def samples(text: str) -> dict[str, list]:
    """Each metric family's samples, by family name."""
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def checks_by_outcome(text: str) -> dict[str, float]:
    return {
        sample.labels["outcome"]: sample.value
        for sample in samples(text)["flagpal_token_checks"]
        if sample.name == "flagpal_token_checks_total"
    }


def every_label_value(text: str) -> set[str]:
    return {
        value
        for family in samples(text).values()
        for sample in family
        for value in sample.labels.values()
    }


def bad_checksum(value: str) -> str:
    last = "A" if value[-1] != "A" else "B"
    return value[:-1] + last


def fetch(url: str, headers: dict | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


def test_gunicorn_with_two_workers_counts_each_outcome_once(tmp_path):
    database_url = f"sqlite:///{tmp_path / 'flagpal.sqlite3'}"
    setup = make_app(database_url)
    with setup.app_context():
        flask_migrate.upgrade()
        project = create_project("Served", actor=None)
        db.session.commit()
        issued = {
            "ok": issue_token(project, "Good one"),
            "revoked": issue_token(project, "Revoked one", revoked_at=utcnow()),
            "expired": issue_token(
                project, "Expired one", expires_at=utcnow() - timedelta(seconds=1)
            ),
            "insufficient": issue_token(project, "Reader", abilities=frozenset({"read"})),
        }
        values = {outcome: value for outcome, (_, value) in issued.items()}
        names = {token.name for token, _ in issued.values()}
        hints = {token.hint for token, _ in issued.values()}
        ids = {str(token.id) for token, _ in issued.values()}
        db.session.remove()
        db.engine.dispose()

    env = instance_environment(database_url, tmp_path, METRICS="on")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = serve(env, tmp_path / "output.log", workers=2, threads=2)
    try:
        base = server.url
        assert fetch(f"{base}/api/v1/token", bearer(values["ok"]))[0] == 200
        assert fetch(f"{base}/api/v1/token", bearer(bad_checksum(values["ok"])))[0] == 401
        assert fetch(f"{base}/api/v1/token", bearer(values["revoked"]))[0] == 401
        assert fetch(f"{base}/api/v1/token", bearer(values["expired"]))[0] == 401
        forward = {**bearer(values["insufficient"]), "X-Original-Method": "POST"}
        forward["X-Original-URI"] = "/api/v1/flags"
        assert fetch(f"{base}/api/v1/auth", forward)[0] == 403
        # Several scrapes: whichever worker answers, it adds up both workers' figures.
        scrapes = [fetch(f"{base}/metrics") for _ in range(4)]
    finally:
        output = server.stop()
    for status, text in scrapes:
        assert status == 200, output
        assert checks_by_outcome(text) == {
            "ok": 1,
            "invalid": 1,
            "revoked": 1,
            "expired": 1,
            "insufficient": 1,
            "unavailable": 0,
        }
        requests = {
            (sample.labels["endpoint"], sample.labels["status"]): sample.value
            for sample in samples(text)["flagpal_http_requests"]
            if sample.name == "flagpal_http_requests_total"
        }
        assert requests[("api.describe_token", "200")] == 1
        assert requests[("api.describe_token", "401")] == 3
        assert requests[("api.forward_auth", "403")] == 1
        [count] = [
            sample.value
            for sample in samples(text)["flagpal_token_check_seconds"]
            if sample.name == "flagpal_token_check_seconds_count"
        ]
        assert count == 5
        labels = every_label_value(text)
        assert not labels & ids
        for secret in [*values.values(), *names, *hints]:
            assert not any(secret in label for label in labels)
        for secret in [*values.values(), *names]:
            assert secret not in text


def test_unavailable_is_counted_when_the_database_cannot_be_reached(database_url, tmp_path):
    app = make_app(unreachable_url(database_url, tmp_path), METRICS=True)
    client = app.test_client()
    response = client.get("/api/v1/token", headers=bearer(token_format.generate()))
    assert response.status_code == 503
    scraped = client.get("/metrics")
    assert scraped.status_code == 200
    assert checks_by_outcome(scraped.get_data(as_text=True))["unavailable"] == 1


def test_metrics_are_off_by_default_and_on_when_asked(database_url, migrated):
    off = make_app(database_url)
    assert off.test_client().get("/metrics").status_code == 404
    on = make_app(database_url, METRICS=True)
    response = on.test_client().get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert "flagpal_token_checks" in samples(response.get_data(as_text=True))


@pytest.mark.parametrize(
    ("allow", "client_address", "status"),
    [
        ("127.0.0.1,::1", "127.0.0.1", 200),
        ("127.0.0.1,::1", "10.1.2.3", 403),
        ("127.0.0.1,10.0.0.0/8", "10.1.2.3", 200),
        ("10.0.0.0/8", "192.168.1.5", 403),
        ("::1", "::1", 200),
    ],
)
def test_only_allowed_addresses_may_scrape(database_url, migrated, allow, client_address, status):
    settings = from_environment(
        {"FLAGPAL_METRICS": "on", "FLAGPAL_METRICS_ALLOW": allow, "FLAGPAL_SECRET_KEY": "x"}, "."
    )
    app = make_app(database_url, METRICS=True, METRICS_ALLOW=settings["METRICS_ALLOW"])
    response = app.test_client().get("/metrics", environ_base={"REMOTE_ADDR": client_address})
    assert response.status_code == status


def test_the_allowed_address_is_the_client_behind_trusted_proxies(database_url, migrated):
    settings = from_environment(
        {"FLAGPAL_METRICS": "on", "FLAGPAL_METRICS_ALLOW": "10.0.0.0/8", "FLAGPAL_SECRET_KEY": "x"},
        ".",
    )
    app = make_app(
        database_url, METRICS=True, METRICS_ALLOW=settings["METRICS_ALLOW"], TRUSTED_PROXIES=1
    )
    client = app.test_client()
    proxy = {"REMOTE_ADDR": "127.0.0.1"}
    inside = client.get("/metrics", environ_base=proxy, headers={"X-Forwarded-For": "10.9.9.9"})
    assert inside.status_code == 200
    outside = client.get("/metrics", environ_base=proxy, headers={"X-Forwarded-For": "203.0.113.7"})
    assert outside.status_code == 403


@pytest.mark.parametrize("value", ["localhost", "10.0.0.0/33", "127.0.0.1 # scraper"])
def test_a_bad_allow_list_is_refused_naming_the_setting(value):
    environ = {"FLAGPAL_METRICS": "on", "FLAGPAL_METRICS_ALLOW": value, "FLAGPAL_SECRET_KEY": "x"}
    with pytest.raises(ConfigError, match="FLAGPAL_METRICS_ALLOW"):
        from_environment(environ, ".")


@pytest.fixture
def metered(database_url, migrated):
    """The ``app`` fixture's app, with metrics on."""
    app = make_app(database_url, METRICS=True)
    with app.app_context():
        yield app
        db.session.remove()
        with db.engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):
                connection.execute(delete(table))
        db.engine.dispose()


def test_usage_saves_and_jobs_last_success_are_shown(metered):
    client = metered.test_client()
    project = create_project("Shop", actor=None)
    db.session.commit()
    _, value = issue_token(project, "Shop backend")
    before = samples(client.get("/metrics").get_data(as_text=True))
    assert "flagpal_usage_last_saved_timestamp_seconds" not in before
    assert before["flagpal_job_last_success_timestamp_seconds"] == []

    assert client.get("/api/v1/token", headers=bearer(value)).status_code == 200
    flush_usage(metered)
    now = utcnow()
    jobs.make_rows()
    settings = jobs.JobSettings.from_config(metered.config)
    assert jobs.run("usage-cleanup", now, settings, runner="test", force=True).ok

    after = samples(client.get("/metrics").get_data(as_text=True))
    [saved] = after["flagpal_usage_last_saved_timestamp_seconds"]
    assert abs(saved.value - now.timestamp()) < 60
    last_success = {
        sample.labels["job"]: sample.value
        for sample in after["flagpal_job_last_success_timestamp_seconds"]
    }
    assert last_success == {"usage-cleanup": pytest.approx(now.timestamp(), abs=1)}


def test_with_metrics_off_the_token_check_calls_no_metric_code(database_url, migrated):
    from flagpal_dash.api.verification import EXTENSION_KEY

    off = make_app(database_url)
    assert off.extensions[EXTENSION_KEY].metrics is None
    assert off.extensions[EXTENSION_KEY].usage.on_saved is None
    assert metrics.EXTENSION_KEY not in off.extensions
    on = make_app(database_url, METRICS=True)
    assert on.extensions[EXTENSION_KEY].metrics is on.extensions[metrics.EXTENSION_KEY]


def test_the_workers_folder_is_made_private_and_emptied_at_start(tmp_path, monkeypatch):
    folder = tmp_path / "metrics"
    folder.mkdir(mode=0o755)
    (folder / "counter_12345.db").write_bytes(b"figures of an earlier run")
    (folder / "notes.txt").write_text("not ours")
    environ = {"FLAGPAL_METRICS": "on", metrics.MULTIPROCESS_DIR: str(folder)}
    metrics.prepare_for_workers(environ)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert sorted(path.name for path in folder.iterdir()) == ["notes.txt"]

    chosen = {"FLAGPAL_METRICS": "on"}
    metrics.prepare_for_workers(chosen)
    made = Path(chosen[metrics.MULTIPROCESS_DIR])
    assert made.is_dir() and stat.S_IMODE(made.stat().st_mode) == 0o700
    made.rmdir()

    off = {"FLAGPAL_METRICS": "off"}
    metrics.prepare_for_workers(off)
    assert metrics.MULTIPROCESS_DIR not in off
