"""The README's curl example for the management API, run exactly as printed (only the
port changed) against a real gunicorn server, with a personal access token in
FLAGPAL_PAT as the example says."""

import json
import os
import re
import subprocess
from datetime import timedelta

from flagpal_dash.core import personal_tokens
from flagpal_dash.extensions import db
from flagpal_dash.models import utcnow

from .serving import ROOT, instance_environment, serve
from .support import issue_token

README = ROOT / "README.md"


def readme_example() -> str:
    text = README.read_text()
    section = text[text.index("### The read routes") :]
    section = section[: section.index("\n## ")]
    [snippet] = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
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
