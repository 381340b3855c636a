"""Settings from FLAGPAL_* variables, with a one-command start when none are set."""

import os
import stat

import pytest

from flagpal_dash import config, create_app


def test_defaults_give_sqlite_in_the_instance_folder_and_a_kept_secret_key(tmp_path):
    settings = config.from_environment({}, str(tmp_path))
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/flagpal-dash.sqlite3"
    assert settings["BCRYPT_ROUNDS"] == 12
    assert settings["LAST_USED_INTERVAL"] == 60
    key_file = tmp_path / "secret_key"
    assert key_file.read_text().strip() == settings["SECRET_KEY"]
    assert len(settings["SECRET_KEY"]) == 64
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = config.from_environment({}, str(tmp_path))
    assert again["SECRET_KEY"] == settings["SECRET_KEY"], "the same key after a restart"
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"], "no leftover temporary file"


def test_environment_overrides(tmp_path):
    settings = config.from_environment(
        {
            "FLAGPAL_DATABASE_URL": "postgresql+psycopg://db/flagpal",
            "FLAGPAL_SECRET_KEY": "s3cret",
            "FLAGPAL_BCRYPT_ROUNDS": "4",
            "FLAGPAL_LAST_USED_INTERVAL": "0",
        },
        str(tmp_path),
    )
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://db/flagpal"
    assert settings["SECRET_KEY"] == "s3cret"
    assert settings["BCRYPT_ROUNDS"] == 4
    assert settings["LAST_USED_INTERVAL"] == 0
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize(
    "value, message",
    [
        ("twelve", "FLAGPAL_BCRYPT_ROUNDS must be a whole number, not 'twelve'"),
        ("3", "FLAGPAL_BCRYPT_ROUNDS must be between 4 and 31, not 3"),
        ("32", "FLAGPAL_BCRYPT_ROUNDS must be between 4 and 31, not 32"),
    ],
)
def test_bad_values_are_refused_at_start_with_a_clear_message(tmp_path, value, message):
    with pytest.raises(config.ConfigError, match=message):
        config.from_environment({"FLAGPAL_BCRYPT_ROUNDS": value}, str(tmp_path))


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_sqlite_database_is_refused(tmp_path, url):
    with pytest.raises(config.ConfigError, match="in-memory SQLite database"):
        config.from_environment({"FLAGPAL_DATABASE_URL": url}, str(tmp_path))


@pytest.mark.parametrize(
    "value, message",
    [
        ("soon", "FLAGPAL_LAST_USED_INTERVAL must be a whole number, not 'soon'"),
        ("-1", "FLAGPAL_LAST_USED_INTERVAL must be between 0 and 86400, not -1"),
    ],
)
def test_bad_last_used_intervals_are_refused(tmp_path, value, message):
    with pytest.raises(config.ConfigError, match=message):
        config.from_environment({"FLAGPAL_LAST_USED_INTERVAL": value}, str(tmp_path))


def test_an_empty_secret_key_file_is_explained(tmp_path):
    (tmp_path / "secret_key").write_text("")
    with pytest.raises(config.ConfigError, match="is empty: delete it"):
        config.from_environment({}, str(tmp_path))


def test_create_app_reads_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FLAGPAL_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("FLAGPAL_BCRYPT_ROUNDS", "5")
    monkeypatch.delenv("FLAGPAL_DATABASE_URL", raising=False)
    monkeypatch.delenv("FLAGPAL_SECRET_KEY", raising=False)
    app = create_app()
    assert app.instance_path == str(tmp_path)
    assert app.config["BCRYPT_ROUNDS"] == 5
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith(
        os.path.join(str(tmp_path), "flagpal-dash.sqlite3")
    )
    assert app.config["SESSION_COOKIE_HTTPONLY"] and app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_the_metric_endpoint_path_defaults_and_can_be_set(tmp_path):
    settings = config.from_environment({"FLAGPAL_SECRET_KEY": "x"}, str(tmp_path))
    assert settings["METRICS_PATH"] == "/api/v1/metric-time-series"
    mounted = {"FLAGPAL_SECRET_KEY": "x", "FLAGPAL_METRICS_PATH": "/flagpal/v2/metric-time-series"}
    settings = config.from_environment(mounted, str(tmp_path))
    assert settings["METRICS_PATH"] == "/flagpal/v2/metric-time-series"


@pytest.mark.parametrize(
    "value",
    [
        "api/v1/metric-time-series",
        "/api/v1/metric-time-series/",
        "/api/v1/metric-time-series?x=1",
        "/api//metric-time-series",
        "/api/./metric-time-series",
        "/api/../metric-time-series",
        "/api/v1/metric%2Dtime-series",
        "/api/v1/metric-time-series;x",
        "/",
    ],
)
def test_a_metric_endpoint_path_forward_auth_could_misread_is_refused(tmp_path, value):
    with pytest.raises(config.ConfigError, match="FLAGPAL_METRICS_PATH must be the metric"):
        config.from_environment(
            {"FLAGPAL_SECRET_KEY": "x", "FLAGPAL_METRICS_PATH": value}, str(tmp_path)
        )
