"""The README's self-rotation examples, read from README.md and run exactly as printed
(only the server's address changed) against the app served by a real gunicorn on a
SQLite file: the curl command and the Python script each replace their token, whose
old value keeps working for the hour they ask for."""

import os
import re
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import select

from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken, Project

from .serving import ROOT, instance_environment, serve
from .support import issue_token, needs_commands

README = ROOT / "README.md"
PRINTED_ADDRESS = "http://127.0.0.1:5000"


def snippets() -> dict[str, str]:
    """The code blocks of the README's self-rotation section, by language."""
    text = README.read_text()
    section = text[text.index("### Rotating a token from the app itself") :]
    section = section[: section.index("\n### ")]
    blocks = dict(re.findall(r"```(sh|python)\n(.*?)```", section, re.DOTALL))
    assert set(blocks) == {"sh", "python"}
    return blocks


@pytest.fixture
def served(sqlite_server, tmp_path):
    app, _ = sqlite_server
    env = instance_environment(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path / "instance")
    server = serve(env, tmp_path / "server.log")
    yield app, server
    server.stop()


def rotating_token(name: str) -> tuple[int, str]:
    shop = db.session.scalars(select(Project)).one()
    token, value = issue_token(shop, name, abilities=frozenset({"read", "rotate"}))
    return token.id, value


def assert_rotated(token_id: int) -> None:
    """Rotated once, the old value working for an hour from the rotation."""
    db.session.expire_all()
    old = db.session.get(ApiToken, token_id)
    assert old.replaced_by_id is not None and old.revoked_at is None
    assert old.expires_at - old.rotated_at == timedelta(hours=1)


@pytest.mark.parametrize("language", ["sh", "python"])
def test_the_readme_examples_rotate_their_token(served, language):
    app, server = served
    if language == "sh":
        needs_commands("curl")
    token_id, value = rotating_token(f"Example in {language}")
    code = snippets()[language].replace(PRINTED_ADDRESS, server.url)
    command = ["sh", "-c", code] if language == "sh" else [sys.executable, "-c", code]
    done = subprocess.run(
        command,
        env={**os.environ, "FLAGPAL_TOKEN": value},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    if language == "sh":
        # curl prints the answer: the new value, once.
        assert re.search(r'"value":"flagpal_[0-9A-Za-z]{46}"', done.stdout), done.stdout
    else:
        assert done.stdout == "", "the script keeps the value to itself"
    assert_rotated(token_id)
