"""Links that leave the request they were made in (the first-run setup link, printed
and named in the log; invitation links, shown to pass on and mailed) are built on
FLAGPAL_PUBLIC_URL or the address the server was started on, never on the request's
Host or X-Forwarded-Host; and ``make run`` serves, and prints links, on the HOST and
PORT it is given."""

import os
import re
import signal
import smtplib
import subprocess
import time
import urllib.request
from urllib.parse import urlsplit

import flask_migrate
import pytest

from flagpal_dash import config, create_app
from flagpal_dash.extensions import db

from .conftest import make_app
from .serving import ROOT, free_port, instance_environment, serve, wait_until_serving
from .support import PASSWORD, add_user, page, setup_code

PUBLIC_URL = "https://flags.example.com"
SERVED_AT = "http://127.0.0.1:5123"
FORGED = "evil.example"
# A forged Host, straight to the app or through a proxy the app trusts.
FORGERIES = [
    pytest.param(0, {"Host": FORGED}, id="Host"),
    pytest.param(
        1,
        {"X-Forwarded-Host": FORGED, "X-Forwarded-Proto": "https", "X-Forwarded-For": "1.2.3.4"},
        id="X-Forwarded-Host",
    ),
]
PROXY = {"REMOTE_ADDR": "10.0.0.2"}
ADDRESSES = [
    pytest.param({"PUBLIC_URL": PUBLIC_URL, "SERVED_AT": SERVED_AT}, PUBLIC_URL, id="public"),
    pytest.param({"PUBLIC_URL": "", "SERVED_AT": SERVED_AT}, SERVED_AT, id="served"),
]


def dispose(app) -> None:
    with app.app_context():
        db.engine.dispose()


# The first-run setup link -----------------------------------------------------------------


@pytest.mark.parametrize(("addresses", "address"), ADDRESSES)
@pytest.mark.parametrize(("trusted", "forged"), FORGERIES)
def test_the_sign_in_log_line_never_follows_a_forged_host(
    app, database_url, caplog, addresses, address, trusted, forged
):
    """While no account exists, GET /sign-in logs where to set up: never at a site a
    request names, where the first admin would hand over the setup code."""
    served = make_app(database_url, TRUSTED_PROXIES=trusted, **addresses)
    response = served.test_client().get("/sign-in", headers=forged, environ_base=PROXY)
    dispose(served)
    assert response.status_code == 200
    [line] = [r.getMessage() for r in caplog.records if "No account exists yet" in r.getMessage()]
    assert FORGED not in line
    assert f"No account exists yet at {address}." in line
    assert "flask --app wsgi setup-link" in line
    assert setup_code() not in caplog.text, "the setup code is for the console, not logs"


def test_without_a_known_address_the_log_line_says_this_server(app, database_url, caplog):
    served = make_app(database_url, SERVED_AT="")
    response = served.test_client().get("/sign-in", headers={"Host": FORGED})
    dispose(served)
    assert response.status_code == 200
    assert "No account exists yet at this server." in caplog.text
    assert FORGED not in caplog.text


def setup_link(monkeypatch, database_url, environ: dict, args=()) -> str:
    """What ``setup-link`` prints, with the app made from ``environ`` as a server is."""
    for name in ("FLAGPAL_PUBLIC_URL", "FLAGPAL_SERVED_AT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FLAGPAL_DATABASE_URL", database_url)
    monkeypatch.setenv("FLAGPAL_SECRET_KEY", "test secret key")
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    served = create_app()
    try:
        with served.app_context():  # (the command would run in the test's app otherwise)
            result = served.test_cli_runner().invoke(args=["setup-link", *args])
    finally:
        dispose(served)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(
    ("environ", "args", "link"),
    [
        ({"FLAGPAL_PUBLIC_URL": PUBLIC_URL}, [], PUBLIC_URL),
        ({"FLAGPAL_PUBLIC_URL": PUBLIC_URL + "/dash/", "FLAGPAL_SERVED_AT": SERVED_AT}, [],
         PUBLIC_URL + "/dash"),
        ({"FLAGPAL_SERVED_AT": SERVED_AT}, [], SERVED_AT),
        ({"FLAGPAL_SERVED_AT": "http://[::1]:5000"}, [], "http://[::1]:5000"),
        ({"FLAGPAL_PUBLIC_URL": PUBLIC_URL}, ["--base-url", "http://10.0.0.5:8000/"],
         "http://10.0.0.5:8000"),
    ],
)  # fmt: skip
def test_setup_link_prints_the_public_or_served_address(
    app, monkeypatch, database_url, environ, args, link
):
    output = setup_link(monkeypatch, database_url, environ, args)
    assert output.splitlines()[-1] == f"  {link}/setup/{setup_code()}"


@pytest.mark.parametrize(
    "environ",
    [{}, {"FLAGPAL_SERVED_AT": "http://0.0.0.0:5000"}, {"FLAGPAL_SERVED_AT": "http://[::]:80"}],
    ids=["unknown", "every-address", "every-ipv6-address"],
)
def test_setup_link_without_a_known_address_prints_the_path_on_this_server(
    app, monkeypatch, database_url, environ
):
    output = setup_link(monkeypatch, database_url, environ)
    assert f"  /setup/{setup_code()} on this server\n" in output
    assert "Set FLAGPAL_PUBLIC_URL" in output
    assert "http" not in output


def test_setup_link_once_set_up_points_to_sign_in_at_the_public_address(
    app, monkeypatch, database_url
):
    add_user("ada@example.com", "Ada Admin", admin=True)
    db.session.commit()
    output = setup_link(monkeypatch, database_url, {"FLAGPAL_PUBLIC_URL": PUBLIC_URL})
    assert output == f"Set-up is done. Sign in at {PUBLIC_URL}/sign-in.\n"


def test_setup_link_refuses_a_base_url_that_is_not_an_address(app, runner):
    result = runner.invoke(args=["setup-link", "--base-url", "flags.example.com"])
    assert result.exit_code == 1
    assert result.output == (
        "Error: --base-url must be an http or https address like https://flags.example.com, "
        "not 'flags.example.com'\n"
    )


# Invitation links -----------------------------------------------------------------------


class Outbox:
    """Stands in for ``smtplib.SMTP``; keeps the messages sent."""

    sent: list = []

    def __init__(self, host, port, timeout=None):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def starttls(self, context=None):
        pass

    def send_message(self, message):
        type(self).sent.append(message)


MAIL = {"MAIL_SERVER": "smtp.example.com", "MAIL_PORT": 25, "MAIL_STARTTLS": False}


def invite_through_a_proxy(app, owner, email: str, forged: dict[str, str]):
    """``owner`` signs in to ``app`` and invites ``email`` to Shop as a viewer, every
    request coming through the trusted proxy with the ``forged`` headers; the answer to
    the invitation."""
    client = app.test_client()
    signed_in = client.post(
        "/sign-in",
        data={"email": owner.email, "password": PASSWORD},
        headers=forged,  # (the session cookie is kept for the host the client sees)
        environ_base=PROXY,
    )
    assert signed_in.status_code == 302
    response = client.post(
        "/projects/shop/invitations",
        data={"email": email, "role": "viewer"},
        headers=forged,
        environ_base=PROXY,
    )
    dispose(app)
    return response


@pytest.mark.parametrize(("addresses", "address"), ADDRESSES)
@pytest.mark.parametrize(("trusted", "forged"), FORGERIES)
def test_invitation_links_shown_and_mailed_never_follow_a_forged_host(
    database_url, team, monkeypatch, addresses, address, trusted, forged
):
    monkeypatch.setattr(smtplib, "SMTP", type("Outbox", (Outbox,), {"sent": []}))
    served = make_app(
        database_url, TRUSTED_PROXIES=trusted, MAIL_FROM="dash@example.com", **MAIL, **addresses
    )
    response = invite_through_a_proxy(served, team.owner, "nia@example.com", forged)
    assert response.status_code == 201
    pattern = rf"{re.escape(address)}/invitations/[A-Za-z0-9_-]{{43,}}"
    # With mail the link goes by mail alone: an owner who held it would prove nothing.
    assert page(response).find(id="invitation-link") is None
    [message] = smtplib.SMTP.sent
    body = message.get_content()
    assert [word for word in body.split() if re.fullmatch(pattern, word)]
    assert FORGED not in body and FORGED not in response.text

    # Without mail the owner is shown the link to pass on: the same address.
    unmailed = make_app(database_url, TRUSTED_PROXIES=trusted, **addresses)
    response = invite_through_a_proxy(unmailed, team.owner, "noor@example.com", forged)
    assert response.status_code == 201
    assert re.fullmatch(pattern, page(response).find(id="invitation-link")["value"])
    assert FORGED not in response.text


def test_the_link_a_browser_follows_is_the_one_shown(client, team, sign_in):
    """(The test client's server is at http://localhost, as conftest's app says.)"""
    sign_in(team.owner)
    response = client.post(
        "/projects/shop/invitations", data={"email": "nia@example.com", "role": "viewer"}
    )
    assert response.status_code == 201
    link = page(response).find(id="invitation-link")["value"]
    assert link.startswith("http://localhost/invitations/")
    client.post("/sign-out")
    assert client.get(urlsplit(link).path).status_code == 200


# make run HOST=… PORT=… -------------------------------------------------------------------


def make_dry_run(*args: str, **environ: str) -> list[str]:
    """The commands ``make -n`` would run (the setup steps are up to date or not)."""
    env = {**os.environ, **environ}
    done = subprocess.run(
        ["make", "-n", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.splitlines()


@pytest.mark.parametrize(
    ("args", "environ", "served_at", "run"),
    [
        (["run"], {}, "http://127.0.0.1:5000", "run --host \"127.0.0.1\" --port \"5000\""),
        (["run", "PORT=5123", "HOST=127.0.0.2"], {}, "http://127.0.0.2:5123",
         "run --host \"127.0.0.2\" --port \"5123\""),
        (["run", "HOST=::1"], {}, "http://[::1]:5000", "run --host \"::1\" --port \"5000\""),
        # A shell's HOST (the machine's name) does not put the server on the network.
        (["run"], {"HOST": "buildbox", "PORT": "5124"}, "http://127.0.0.1:5124",
         "run --host \"127.0.0.1\" --port \"5124\""),
    ],
)  # fmt: skip
def test_make_run_serves_and_prints_links_on_the_host_and_port_given(args, environ, served_at, run):
    lines = make_dry_run(*args, **environ)
    assert f'FLAGPAL_SERVED_AT="{served_at}" .venv/bin/flask --app wsgi setup-link' in lines
    assert f'FLAGPAL_SERVED_AT="{served_at}" .venv/bin/flask --app wsgi {run}' in lines


@pytest.mark.parametrize(
    ("args", "environ", "bind", "served_at"),
    [
        (["serve"], {}, "127.0.0.1:8000", "http://127.0.0.1:8000"),
        (["serve", "PORT=9000"], {}, "127.0.0.1:9000", "http://127.0.0.1:9000"),
        (["serve", "HOST=0.0.0.0"], {}, "0.0.0.0:8000", "http://0.0.0.0:8000"),
        (["serve"], {"FLAGPAL_BIND": "10.0.0.5:80,unix:/x.sock"}, "10.0.0.5:80,unix:/x.sock",
         "http://10.0.0.5:80"),
        (["serve"], {"FLAGPAL_BIND": "unix:/x.sock"}, "unix:/x.sock", ""),
    ],
)  # fmt: skip
def test_make_serve_listens_and_prints_links_on_its_bind(args, environ, bind, served_at):
    lines = make_dry_run(*args, **environ)
    assert f'FLAGPAL_SERVED_AT="{served_at}" .venv/bin/flask --app wsgi setup-link' in lines
    assert (
        f'FLAGPAL_BIND="{bind}" .venv/bin/gunicorn -c python:flagpal_dash.gunicorn_conf wsgi:app'
        in lines
    )


@pytest.mark.slow
def test_make_run_on_another_port_serves_there_and_every_link_says_so(tmp_path):
    """For real: ``make run HOST=127.0.0.2 PORT=…`` migrates, prints the setup link at
    that address (which works), serves there, and the sign-in log line names it even
    when a request forges its Host."""
    port = free_port()
    address = f"http://127.0.0.2:{port}"
    env = {
        **os.environ,
        "FLAGPAL_INSTANCE_PATH": str(tmp_path),
        "FLAGPAL_DATABASE_URL": f"sqlite:///{tmp_path / 'flagpal.sqlite3'}",
        "FLAGPAL_SECRET_KEY": "make run test",
        "FLAGPAL_BCRYPT_ROUNDS": "4",
    }
    for name in ("FLAGPAL_PUBLIC_URL", "FLAGPAL_SERVED_AT", "FLAGPAL_TEST_DATABASE_URL"):
        env.pop(name, None)
    output = tmp_path / "output.log"
    with open(output, "wb") as sink:
        server = subprocess.Popen(
            ["make", "--no-print-directory", "run", "HOST=127.0.0.2", f"PORT={port}"],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # make, flask and its reloader-less server: one group
        )
    try:
        # make migrates first, then serves: more to do than gunicorn alone.
        wait_until_serving(server, port, host="127.0.0.2", log=output, seconds=60)
        request = urllib.request.Request(f"{address}/sign-in", headers={"Host": FORGED})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        printed = output.read_text()
        [link] = re.findall(r"^  (\S+/setup/\S+)$", printed, re.MULTILINE)
        assert link.startswith(f"{address}/setup/")
        with urllib.request.urlopen(link, timeout=10) as response:
            assert response.status == 200, "the printed link opens the setup page"
        deadline = time.monotonic() + 10
        while f"No account exists yet at {address}." not in output.read_text():
            assert time.monotonic() < deadline, output.read_text()
            time.sleep(0.1)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    assert FORGED not in output.read_text()


def test_gunicorn_hands_the_address_it_listens_on_to_the_app(tmp_path):
    """The address gunicorn really serves (here a ``--bind`` that overrides
    FLAGPAL_BIND), not the bind asked for nor a request's Host, is in the log line."""
    database_url = f"sqlite:///{tmp_path / 'flagpal.sqlite3'}"
    setup = make_app(database_url)
    with setup.app_context():
        flask_migrate.upgrade()
    dispose(setup)
    port = free_port()
    error_log = tmp_path / "error.log"
    env = instance_environment(
        database_url,
        tmp_path,
        BIND="127.0.0.1:1",
        WORKERS="1",
        ACCESS_LOG="off",
        ERROR_LOG=str(error_log),
        SERVED_AT="http://stale.example:1",
    )
    env.pop("FLAGPAL_PUBLIC_URL", None)
    output = tmp_path / "output.log"
    server = serve(env, output, port=port, gunicorn_args=f"--bind 127.0.0.1:{port}")
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/sign-in", headers={"Host": FORGED}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
    finally:
        server.stop()
    logged = error_log.read_text() + output.read_text()
    assert f"No account exists yet at http://127.0.0.1:{port}." in logged
    assert FORGED not in logged and "stale.example" not in logged


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("127.0.0.1:5000", "FLAGPAL_SERVED_AT must be an http or https address"),
        ("http://127.0.0.1:port", "FLAGPAL_SERVED_AT must be an http or https address"),
        ("unix:/run/flagpal.sock", "FLAGPAL_SERVED_AT must be an http or https address"),
        # Links are made by adding paths to it: a fragment would swallow them.
        ("https://flags.example.com/#top", "FLAGPAL_SERVED_AT must be an http or https address"),
    ],
)
def test_a_served_address_that_is_not_one_is_refused_naming_the_variable(tmp_path, value, message):
    with pytest.raises(config.ConfigError, match=message):
        config.from_environment(
            {"FLAGPAL_SECRET_KEY": "x", "FLAGPAL_SERVED_AT": value}, str(tmp_path)
        )
