"""The README's examples for the management API, run against a real gunicorn server with
a personal access token in FLAGPAL_PAT as they say: the read routes' curl commands
(only the port changed), and the script that rotates the token in an env file,
exactly as printed (it reads the server's address from DASH_URL)."""

import json
import os
import re
import stat
import subprocess
from datetime import timedelta

from sqlalchemy import select

from flagpal_dash import token_format
from flagpal_dash.core import personal_tokens
from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken, AuditEvent, utcnow

from .serving import ROOT, instance_environment, serve
from .support import issue_token, needs_commands

README = ROOT / "README.md"


def readme_example(heading: str = "### The read routes", language: str = "sh") -> str:
    """The one ``language`` block under ``heading``, up to the next heading."""
    text = README.read_text()
    section = text[text.index(heading) + len(heading) :]
    section = section[: re.search(r"\n#{2,} ", section).start()]
    [snippet] = re.findall(rf"```{language}\n(.*?)```", section, re.DOTALL)
    return snippet


def documents(output: str) -> list[dict]:
    """The JSON documents curl printed one after another."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(output):
        document, at = decoder.raw_decode(output, at)
        found.append(document)
        while at < len(output) and output[at].isspace():
            at += 1
    return found


def test_the_readme_example_lists_projects_and_the_audit_log(app, team, database_url, tmp_path):
    issue_token(team.project, "Shop backend")  # an event for the log
    _, value = personal_tokens.issue(
        team.developer, "README", utcnow() + timedelta(days=1), now=utcnow()
    )
    db.session.commit()
    server = serve(instance_environment(database_url, tmp_path), tmp_path / "server.log")
    try:
        script = readme_example().replace("127.0.0.1:5000", f"127.0.0.1:{server.port}")
        ran = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            env={**os.environ, "FLAGPAL_PAT": value},
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        log = server.stop()
    assert ran.returncode == 0, ran.stderr
    projects, events = documents(ran.stdout)
    assert [(p["id"], p["attributes"]["role"]) for p in projects["data"]] == [("shop", "developer")]
    kinds = [e["attributes"]["kind"] for e in events["data"]]
    # The team's making (project, members), then the token: oldest first.
    assert kinds[0] == "project.created" and kinds[-1] == "token.created"
    assert events["meta"]["count"] == len(kinds) == 5
    assert value not in log


ENV_SCRIPT = "#### Rotating the token in an env file"


def run_env_script(server, directory, personal_value: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", readme_example(ENV_SCRIPT, "bash")],
        cwd=directory,
        env={**os.environ, "FLAGPAL_PAT": personal_value, "DASH_URL": server.url},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_readme_script_rotates_the_token_in_an_env_file(client, team, database_url, tmp_path):
    needs_commands("curl", "jq")
    token, old_value = issue_token(team.project, "Shop backend", abilities=frozenset({"read"}))
    _, personal_value = personal_tokens.issue(
        team.developer, "Rotation script", utcnow() + timedelta(days=1), now=utcnow()
    )
    db.session.commit()
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    env_file = app_dir / ".env"
    env_file.write_text(f"# Shop backend\nFLAGPAL_TOKEN={old_value}\nSHOP_DEBUG=0\n")
    server = serve(instance_environment(database_url, tmp_path), tmp_path / "server.log")
    try:
        # A personal token that is no good: refused, and the file as it was.
        refused = run_env_script(server, app_dir, token_format.generate_personal())
        assert refused.returncode != 0
        assert '"code":"token_invalid"' in refused.stderr
        assert env_file.read_text() == f"# Shop backend\nFLAGPAL_TOKEN={old_value}\nSHOP_DEBUG=0\n"

        ran = run_env_script(server, app_dir, personal_value)
    finally:
        log = server.stop()
    assert ran.returncode == 0, ran.stderr
    first, token_line, last = env_file.read_text().splitlines()
    assert (first, last) == ("# Shop backend", "SHOP_DEBUG=0")
    new_value = token_line.removeprefix("FLAGPAL_TOKEN=")
    assert token_format.is_well_formed(new_value) and new_value != old_value
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    # The token API takes the new value; the old one works for the hour the script gave.
    answer = client.get("/api/v1/token", headers={"Authorization": f"Bearer {new_value}"})
    assert answer.status_code == 200
    assert answer.json["data"]["attributes"]["name"] == "Shop backend"
    db.session.expire_all()
    old = db.session.get(ApiToken, token.id)
    assert old.replaced_by_id == int(answer.json["data"]["id"])
    assert old.revoked_at is None and old.expires_at - old.rotated_at == timedelta(hours=1)
    hint = token_format.display_hint(token_format.hint(new_value))
    assert ran.stdout == (
        f"Token {token.id} of shop rotated: .env holds token {old.replaced_by_id} "
        f"({hint}). The old one works for another hour.\n"
    )
    rotated = db.session.scalars(select(AuditEvent).where(AuditEvent.kind == "token.rotated")).one()
    assert rotated.actor == "Dana Developer <dev@example.com> via API (Rotation script)"
    for secret in (new_value, old_value, personal_value):
        assert secret not in ran.stdout + ran.stderr + log
