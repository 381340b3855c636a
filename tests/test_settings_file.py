"""The settings file: KEY=VALUE lines with comment lines and spaced values, read by
`flagpal-dash --env-file PATH` or FLAGPAL_ENV_FILE, the environment winning over it; a
file that cannot be read, or a comment after a value, is one `Error:` line."""

import os
import textwrap

import pytest
from click.testing import CliRunner

from flagpal_dash import config, settings_file
from flagpal_dash.cli import command_line

from .support import PASSWORD


def settings(tmp_path, text: str):
    path = tmp_path / "flagpal-dash.env"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def environment():
    """The process's environment, as it was before the test: loading a settings file
    writes into it."""
    before = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(("FLAGPAL_", "FLASK_")):
            del os.environ[name]
    yield os.environ
    os.environ.clear()
    os.environ.update(before)


def test_comment_lines_blank_lines_spaced_and_quoted_values(tmp_path):
    path = settings(
        tmp_path,
        """\
        # FlagPal Dash
        FLAGPAL_SIGN_IN_LIMIT=20 per 5 minutes

          # nginx on the same host
        FLAGPAL_TRUSTED_PROXIES=1
        FLAGPAL_MAIL_PASSWORD="hash#in it"
        FLAGPAL_RATELIMIT_KEY_PREFIX=a#b
        """,
    )
    assert settings_file.read(path) == {
        "FLAGPAL_SIGN_IN_LIMIT": "20 per 5 minutes",
        "FLAGPAL_TRUSTED_PROXIES": "1",
        "FLAGPAL_MAIL_PASSWORD": "hash#in it",
        "FLAGPAL_RATELIMIT_KEY_PREFIX": "a#b",
    }


def test_a_comment_after_a_value_is_refused_naming_the_file_the_line_and_the_setting(tmp_path):
    path = settings(tmp_path, "# proxies\nFLAGPAL_TRUSTED_PROXIES=1   # nginx on the same host\n")
    with pytest.raises(config.ConfigError) as refused:
        settings_file.read(path)
    message = str(refused.value)
    assert message.startswith(f"{path}, line 2: FLAGPAL_TRUSTED_PROXIES has a comment")
    assert "put comments on their own line" in message


def test_the_environment_wins_over_the_file(tmp_path):
    path = settings(tmp_path, "FLAGPAL_BIND=127.0.0.1:9000\nFLAGPAL_WORKERS=3\n")
    environ = {"FLAGPAL_WORKERS": "5", settings_file.ENV_FILE: str(path)}
    settings_file.load(environ=environ)
    assert environ["FLAGPAL_WORKERS"] == "5"
    assert environ["FLAGPAL_BIND"] == "127.0.0.1:9000"


def test_a_setting_that_must_be_a_number_says_where_its_comment_belongs(tmp_path):
    # As systemd's EnvironmentFile= hands it over: the comment is part of the value.
    environ = {"FLAGPAL_TRUSTED_PROXIES": "1   # nginx on the same host"}
    with pytest.raises(config.ConfigError) as refused:
        config.from_environment(environ, str(tmp_path))
    message = str(refused.value)
    assert message.startswith("FLAGPAL_TRUSTED_PROXIES must be a whole number")
    assert message.endswith("put comments on their own line")


def flagpal_dash(*args, input=None):
    return CliRunner().invoke(command_line(), list(args), input=input, prog_name="flagpal-dash")


def test_flagpal_dash_reads_the_file_from_env_file_and_from_flagpal_env_file(tmp_path, environment):
    path = settings(
        tmp_path,
        f"""\
        # Where the data is.
        FLAGPAL_DATABASE_URL=sqlite:///{tmp_path}/flags.sqlite3
        FLAGPAL_INSTANCE_PATH={tmp_path}/instance

        # Limits
        FLAGPAL_SIGN_IN_LIMIT=20 per 5 minutes
        FLAGPAL_BCRYPT_ROUNDS=4
        """,
    )
    before = dict(environment)
    upgraded = flagpal_dash("--env-file", path, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    created = flagpal_dash(
        "--env-file", path, "users", "create", "ada@example.com", "--name", "Ada", "--admin",
        "--password-stdin", input=PASSWORD + "\n",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    assert "Created admin account ada@example.com." in created.output

    environment.clear()
    environment.update(before, FLAGPAL_ENV_FILE=str(path))
    listed = flagpal_dash("users", "list")
    assert listed.exit_code == 0, listed.output
    [header, ada] = listed.output.splitlines()
    assert header.split()[:2] == ["EMAIL", "NAME"]
    assert ada.split()[:2] == ["ada@example.com", "Ada"]
    assert environment["FLAGPAL_SIGN_IN_LIMIT"] == "20 per 5 minutes"


@pytest.mark.parametrize("how", ["--env-file", "FLAGPAL_ENV_FILE"])
@pytest.mark.parametrize("what", ["missing", "a folder", "comment after a value"])
def test_a_settings_file_that_cannot_be_read_is_one_error_line(tmp_path, environment, how, what):
    path = tmp_path / "flagpal-dash.env"
    if what == "a folder":
        path.mkdir()
    elif what == "comment after a value":
        path.write_text("FLAGPAL_TRUSTED_PROXIES=1 # nginx\n")
    if how == "--env-file":
        result = flagpal_dash("--env-file", path, "users", "list")
    else:
        environment["FLAGPAL_ENV_FILE"] = str(path)
        result = flagpal_dash("users", "list")
    assert result.exit_code == 1
    [line] = result.output.splitlines()
    assert line.startswith("Error: ")
    assert str(path) in line
    assert not (tmp_path / "instance").exists(), "nothing is made before the settings are read"
