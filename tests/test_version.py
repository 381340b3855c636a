"""The app's version (issue 16, item 4): from the package metadata, printed by
``version`` and ``--version`` (not Flask's), in ``/readyz``, and in the footer for
signed-in people only. The repository carries a LICENSE (MIT, as pyproject.toml says)
and a CHANGELOG that names the version."""

import subprocess
import tomllib

import pytest
from click.testing import CliRunner

from flagpal_dash import cli

from .serving import BIN, ROOT
from .support import page

VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


@pytest.mark.parametrize("args", [["version"], ["--version"]])
def test_flagpal_dash_prints_the_apps_version(args, monkeypatch):
    """``flagpal-dash``'s own group, as the installed command builds it; a setting the
    app cannot use does not stop it (that is when someone asks which version they run)."""
    monkeypatch.setenv("FLAGPAL_DATABASE_URL", "sqlite://")
    monkeypatch.setattr("sys.argv", ["flagpal-dash", *args])
    result = CliRunner().invoke(cli.command_line(), args)
    assert result.exit_code == 0, result.output
    assert result.output == f"FlagPal Dash {VERSION}\n"
    assert "Flask" not in result.output


def test_flask_app_version_prints_the_apps_version(runner):
    result = runner.invoke(args=["version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"FlagPal Dash {VERSION}\n"


@pytest.mark.parametrize("args", [["version"], ["--version"]])
def test_the_installed_command_prints_the_version(args, tmp_path):
    """The real ``flagpal-dash`` script of this virtualenv, in a process of its own."""
    result = subprocess.run(
        [BIN / "flagpal-dash", *args], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"FlagPal Dash {VERSION}\n"


def test_readyz_names_the_version(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ready",
        "detail": "The database answers.",
        "version": VERSION,
    }


def test_the_footer_shows_the_version_to_signed_in_people_only(client, team, sign_in):
    """Not to anonymous visitors: it would tell an attacker which known vulnerabilities
    to try."""
    anonymous = client.get("/sign-in")
    assert anonymous.status_code == 200
    shown = page(anonymous)
    assert shown.select_one("footer") is None
    assert shown.select_one("[data-version]") is None
    assert VERSION not in shown.get_text()

    sign_in(team.viewer)
    response = client.get("/")
    assert response.status_code == 200
    footer = page(response).select_one("footer.site-footer")
    assert footer is not None
    assert footer.select_one("[data-version]").get_text(strip=True) == VERSION
    assert footer.get_text(" ", strip=True) == f"FlagPal Dash {VERSION}"


def test_the_repository_has_a_license_and_a_changelog_naming_the_version():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert pyproject["license"] == "MIT"
    assert pyproject["license-files"] == ["LICENSE"]
    license_text = (ROOT / "LICENSE").read_text()
    assert license_text.startswith("MIT License\n")
    assert "Copyright (c) 2026 FlagPal Dash contributors" in license_text
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert changelog.startswith("# Changelog\n")
    assert f"## [{VERSION}]" in changelog
