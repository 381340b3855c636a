"""Settings from FLAGPAL_* variables, with a one-command start when none are set."""

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from flagpal_dash import config, create_app
from flagpal_dash.extensions import db

from .serving import ROOT


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


MAIL = {"FLAGPAL_MAIL_SERVER": "smtp.example.com", "FLAGPAL_MAIL_FROM": "flags@example.com"}


@pytest.mark.parametrize(
    "value, starttls",
    [
        (None, True),
        ("", True),
        ("1", True),
        ("on", True),
        ("Yes", True),
        ("true", True),
        ("0", False),
        ("off", False),
        (" OFF ", False),
        ("no", False),
        ("false", False),
    ],
)
def test_mail_starttls_reads_on_and_off_like_every_other_switch(tmp_path, value, starttls):
    environ = MAIL if value is None else {**MAIL, "FLAGPAL_MAIL_STARTTLS": value}
    assert config.from_environment(environ, str(tmp_path))["MAIL_STARTTLS"] is starttls


@pytest.mark.parametrize("value", ["maybe", "2", "disabled"])
def test_a_mail_starttls_value_that_is_neither_on_nor_off_is_refused(tmp_path, value):
    with pytest.raises(
        config.ConfigError,
        match=f"FLAGPAL_MAIL_STARTTLS must be 1 or 0 \\(on or off\\), not '{value}'",
    ):
        config.from_environment({**MAIL, "FLAGPAL_MAIL_STARTTLS": value}, str(tmp_path))


def mail_settings(tmp_path, **environ) -> tuple:
    chosen = config.from_environment({**MAIL, **environ}, str(tmp_path))
    return chosen["MAIL_SECURITY"], chosen["MAIL_PORT"], chosen["MAIL_STARTTLS"]


@pytest.mark.parametrize(
    "environ, chosen",
    [
        ({}, ("starttls", 587, True)),
        ({"FLAGPAL_MAIL_SECURITY": "starttls"}, ("starttls", 587, True)),
        ({"FLAGPAL_MAIL_SECURITY": " TLS "}, ("tls", 465, False)),
        ({"FLAGPAL_MAIL_SECURITY": "none"}, ("none", 587, False)),
        ({"FLAGPAL_MAIL_SECURITY": "none", "FLAGPAL_MAIL_PORT": "25"}, ("none", 25, False)),
        ({"FLAGPAL_MAIL_SECURITY": "tls", "FLAGPAL_MAIL_PORT": "2465"}, ("tls", 2465, False)),
        (
            {"FLAGPAL_MAIL_SECURITY": "starttls", "FLAGPAL_MAIL_PORT": "465"},
            ("starttls", 465, True),
        ),
        # The older switch alone, as settings files written before FLAGPAL_MAIL_SECURITY say it.
        ({"FLAGPAL_MAIL_STARTTLS": "1"}, ("starttls", 587, True)),
        ({"FLAGPAL_MAIL_STARTTLS": "off", "FLAGPAL_MAIL_PORT": "25"}, ("none", 25, False)),
        # Both, agreeing.
        (
            {"FLAGPAL_MAIL_SECURITY": "starttls", "FLAGPAL_MAIL_STARTTLS": "on"},
            ("starttls", 587, True),
        ),
        ({"FLAGPAL_MAIL_SECURITY": "tls", "FLAGPAL_MAIL_STARTTLS": "0"}, ("tls", 465, False)),
        ({"FLAGPAL_MAIL_SECURITY": "none", "FLAGPAL_MAIL_STARTTLS": "no"}, ("none", 587, False)),
    ],
)
def test_mail_security_and_its_usual_port(tmp_path, environ, chosen):
    assert mail_settings(tmp_path, **environ) == chosen


@pytest.mark.parametrize(
    "environ, message",
    [
        (
            {"FLAGPAL_MAIL_SECURITY": "ssl"},
            "FLAGPAL_MAIL_SECURITY must be starttls (port 587), tls (implicit TLS, port 465) "
            "or none, not 'ssl'",
        ),
        (
            {"FLAGPAL_MAIL_SECURITY": "tls # port 465"},
            "FLAGPAL_MAIL_SECURITY must be starttls (port 587), tls (implicit TLS, port 465) "
            "or none, not 'tls # port 465': put comments on their own line",
        ),
        (
            {"FLAGPAL_MAIL_SECURITY": "tls", "FLAGPAL_MAIL_STARTTLS": "1"},
            "FLAGPAL_MAIL_SECURITY is tls but FLAGPAL_MAIL_STARTTLS is '1': they disagree. "
            "Remove FLAGPAL_MAIL_STARTTLS",
        ),
        (
            {"FLAGPAL_MAIL_SECURITY": "none", "FLAGPAL_MAIL_STARTTLS": "on"},
            "FLAGPAL_MAIL_SECURITY is none but FLAGPAL_MAIL_STARTTLS is 'on': they disagree",
        ),
        (
            {"FLAGPAL_MAIL_SECURITY": "starttls", "FLAGPAL_MAIL_STARTTLS": "off"},
            "FLAGPAL_MAIL_SECURITY is starttls but FLAGPAL_MAIL_STARTTLS is 'off': they disagree",
        ),
        (
            {"FLAGPAL_MAIL_PORT": "465"},
            "FLAGPAL_MAIL_PORT is 465, the port for implicit TLS: set FLAGPAL_MAIL_SECURITY=tls",
        ),
        (
            {"FLAGPAL_MAIL_SECURITY": "tls", "FLAGPAL_MAIL_PORT": "0"},
            "FLAGPAL_MAIL_PORT must be between 1 and 65535, not 0",
        ),
    ],
)
def test_a_mail_security_that_cannot_be_used_is_refused(tmp_path, environ, message):
    with pytest.raises(config.ConfigError, match=re.escape(message)):
        config.from_environment({**MAIL, **environ}, str(tmp_path))


def test_a_private_ca_for_the_mail_server(tmp_path, mail_certificates):
    chosen = config.from_environment(
        {**MAIL, "FLAGPAL_MAIL_CA_FILE": str(mail_certificates.ca_file)}, str(tmp_path)
    )
    assert chosen["MAIL_CA_FILE"] == str(mail_certificates.ca_file)
    assert config.from_environment(MAIL, str(tmp_path))["MAIL_CA_FILE"] is None


@pytest.mark.parametrize(
    "make, security, message",
    [
        (None, "tls", "FLAGPAL_MAIL_CA_FILE: there is no file {path}"),
        ("not a certificate\n", "starttls", "FLAGPAL_MAIL_CA_FILE: {path} holds no certificate"),
        (
            "ca",
            "none",
            "FLAGPAL_MAIL_CA_FILE is for checking the mail server's certificate, but "
            "FLAGPAL_MAIL_SECURITY is none",
        ),
    ],
)
def test_a_mail_ca_file_that_cannot_be_used_is_refused(
    tmp_path, mail_certificates, make, security, message
):
    path = tmp_path / "ca.pem"
    if make == "ca":
        path = mail_certificates.ca_file
    elif make is not None:
        path.write_text(make)
    environ = {**MAIL, "FLAGPAL_MAIL_SECURITY": security, "FLAGPAL_MAIL_CA_FILE": str(path)}
    with pytest.raises(config.ConfigError, match=re.escape(message.format(path=path))):
        config.from_environment(environ, str(tmp_path))
@pytest.mark.parametrize(
    ("name", "key", "default"),
    [
        ("FLAGPAL_DELIVERIES", "DELIVERIES", True),
        ("FLAGPAL_WEBHOOK_ALLOW_PRIVATE", "WEBHOOK_ALLOW_PRIVATE", False),
    ],
)
def test_the_webhook_switches_default_and_refuse_other_words(tmp_path, name, key, default):
    assert config.from_environment({}, str(tmp_path))[key] is default
    assert config.from_environment({name: "on"}, str(tmp_path))[key] is True
    assert config.from_environment({name: "off"}, str(tmp_path))[key] is False
    with pytest.raises(
        config.ConfigError, match=f"{name} must be 1 or 0 \\(on or off\\), not 'private'"
    ):
        config.from_environment({name: "private"}, str(tmp_path))


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


def test_a_secret_key_that_cannot_be_made_is_explained_in_one_line(monkeypatch, tmp_path):
    # What a command run as the service user without the settings meets: the default
    # instance folder sits in a virtualenv root owns. (Faked: the tests may run as root.)
    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(config.os, "open", refused)
    with pytest.raises(config.ConfigError) as raised:
        config.from_environment({}, str(tmp_path))
    message = str(raised.value)
    assert str(tmp_path) in message and "Permission denied" in message
    assert "--env-file" in message and "FLAGPAL_INSTANCE_PATH" in message


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


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "database://"),
        ("redis://:hunter2@redis.internal:6379", "redis://:hunter2@redis.internal:6379"),
        ("memory://", "memory://"),
        ("databse://", None),
        ("async+redis://:hunter2@redis.internal:6379", None),
    ],
)
def test_where_limits_count(tmp_path, value, expected):
    environ = {"FLAGPAL_SECRET_KEY": "k", "FLAGPAL_RATELIMIT_STORAGE_URI": value}
    if expected is None:
        with pytest.raises(config.ConfigError, match="FLAGPAL_RATELIMIT_STORAGE_URI") as refused:
            config.from_environment(environ, str(tmp_path))
        assert "hunter2" not in str(refused.value)
    else:
        assert config.from_environment(environ, str(tmp_path))["RATELIMIT_STORAGE_URI"] == expected


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def usual_umask():
    """The umask most servers run with (files readable by everyone), in this process and
    the commands it starts."""
    before = os.umask(0o022)
    yield 0o022
    os.umask(before)


def test_the_instance_folder_and_the_database_are_for_their_owner_only(
    monkeypatch, tmp_path, usual_umask
):
    instance = tmp_path / "instance"
    env = {name: value for name, value in os.environ.items() if not name.startswith("FLAGPAL_")}
    env["FLAGPAL_INSTANCE_PATH"] = str(instance)
    flask = [str(Path(sys.executable).parent / "flask"), "--app", "wsgi"]
    subprocess.run(
        [*flask, "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        umask=usual_umask,
    )
    database = instance / "flagpal-dash.sqlite3"
    assert mode(instance) == 0o700
    assert mode(database) == 0o600
    assert mode(instance / "secret_key") == 0o600

    for name in list(os.environ):
        if name.startswith("FLAGPAL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FLAGPAL_INSTANCE_PATH", str(instance))
    app = create_app()
    with app.app_context(), db.engine.connect() as connection:
        connection.execute(text("CREATE TABLE written (x INTEGER)"))
        connection.commit()  # a write, with the connection still open: the -wal is there
        for suffix in ("-wal", "-shm"):
            assert mode(Path(f"{database}{suffix}")) == 0o600, suffix
    with app.app_context():
        db.engine.dispose()


def test_a_database_file_named_elsewhere_is_created_private_and_an_existing_one_is_left(
    tmp_path, usual_umask
):
    named = tmp_path / "elsewhere" / "flags.sqlite3"
    named.parent.mkdir()
    config.create_private_sqlite_file(f"sqlite:///{named}", str(tmp_path / "instance"))
    assert mode(named) == 0o600
    assert not (tmp_path / "instance").exists(), "only the folder the file goes in"
    existing = tmp_path / "existing.sqlite3"
    existing.write_bytes(b"")
    existing.chmod(0o644)
    config.create_private_sqlite_file(f"sqlite:///{existing}", str(tmp_path))
    assert mode(existing) == 0o644, "an install's own choice is left alone"
    missing = tmp_path / "no-such-folder" / "flags.sqlite3"
    config.create_private_sqlite_file(f"sqlite:///{missing}", str(tmp_path))
    assert not missing.parent.exists(), "a folder that is not there may be a typo: SQLite says"
