"""`pip install .` (not editable) gives a working app: the wheel carries the templates,
static files (htmx included), and migrations, and the `flagpal-dash` command works.

The wheel is built from this checkout and installed into a fresh virtualenv whose only
other packages are this virtualenv's dependencies (a path to its site-packages, whose
.pth files, the editable install's among them, are not read): nothing can come from
the checkout, and no download is needed beyond the build backend.
"""

import json
import os
import sqlite3
import subprocess
import sys
import sysconfig
import textwrap
import tomllib
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from flagpal_dash import PACKAGE_DIR

from .serving import free_port, stop, wait_until_serving

REPO = PACKAGE_DIR.parent
PASSWORD = "a long enough password"
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel `pip install .` would build, made without leaving files in the checkout."""
    htmx = REPO / "static" / "vendor" / "htmx.min.js"
    assert htmx.is_file(), "static/vendor/htmx.min.js comes from npm at set-up: run `make setup`"
    before = set(os.listdir(REPO))
    out = tmp_path_factory.mktemp("dist")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", out, REPO],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    assert set(os.listdir(REPO)) - before == set(), "building the wheel left files in the repo"
    [built] = out.glob("flagpal_dash-*.whl")
    return built


def test_the_wheel_carries_templates_static_files_htmx_and_migrations(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = archive.read(entry_points).decode()
    assert "flagpal-dash = flagpal_dash.cli:main" in scripts
    for asset in ("templates/base.html", "static/app.css", "static/vendor/htmx.min.js"):
        assert f"flagpal_dash/{asset}" in names
    migrations = {n for n in names if n.startswith("flagpal_dash/migrations/versions/")}
    assert len(migrations) == len(list((PACKAGE_DIR / "migrations" / "versions").glob("*.py")))
    assert "flagpal_dash/migrations/env.py" in names


def test_the_wheel_names_its_version_and_license_and_carries_the_license_text(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
        headers = archive.read(metadata).decode().split("\n\n", 1)[0].splitlines()
        [license_file] = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        license_text = archive.read(license_file).decode()
    assert f"Version: {VERSION}" in headers
    assert "License-Expression: MIT" in headers
    assert "License-File: LICENSE" in headers
    assert license_text == (REPO / "LICENSE").read_text()


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh virtualenv with the wheel installed; returns its bin folder."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    site_packages = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The dependencies: this virtualenv's site-packages, as a plain path.
    Path(site_packages, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr
    return venv / "bin"


@pytest.fixture
def environment(tmp_path) -> dict[str, str]:
    """A clean environment: settings for a new instance in tmp_path, nothing pointing at
    the checkout."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("FLAGPAL_", "FLASK_", "PYTHON", "VIRTUAL_ENV"))
    }
    env.update(
        FLAGPAL_INSTANCE_PATH=str(tmp_path / "instance"),
        FLAGPAL_DATABASE_URL=f"sqlite:///{tmp_path}/installed.sqlite3",
        FLAGPAL_BCRYPT_ROUNDS="4",
    )
    return env


def run(command: list, env: dict, cwd: Path, input: str | None = None) -> str:
    result = subprocess.run(
        [str(part) for part in command],
        env=env,
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


# Run by the installed Python: where things come from, and a few requests.
CHECK = textwrap.dedent(
    """
    import json, re, sys
    import flagpal_dash
    from flagpal_dash import create_app

    app = create_app()
    client = app.test_client()
    sign_in = client.get("/sign-in")
    htmx = client.get("/static/vendor/htmx.min.js")
    css = client.get("/static/app.css")
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', sign_in.text)
    signed_in = client.post(
        "/sign-in",
        data={"email": "ada@example.com", "password": sys.argv[1], "csrf_token": csrf[1]},
    )
    print(json.dumps({
        "package": flagpal_dash.__file__,
        "templates": app.jinja_loader.searchpath,
        "static": app.static_folder,
        "sys_path": sys.path,
        "sign_in": [sign_in.status_code, "<form" in sign_in.text],
        "htmx": [htmx.status_code, len(htmx.data)],
        "css": css.status_code,
        "signed_in": [signed_in.status_code, signed_in.headers.get("Location")],
    }))
    """
)


def test_an_installed_app_finds_its_files_and_the_command_works(installed, environment, tmp_path):
    venv = installed.parent
    flagpal_dash = installed / "flagpal-dash"
    # From a folder outside the checkout, as a server would run it.
    run([flagpal_dash, "db", "upgrade"], environment, tmp_path)
    created = run(
        [flagpal_dash, "users", "create", "ada@example.com", "--name", "Ada", "--admin"]
        + ["--password-stdin"],
        environment,
        tmp_path,
        input=PASSWORD + "\n",
    )
    assert "Created admin account ada@example.com." in created
    assert "backup" in run([flagpal_dash, "--help"], environment, tmp_path)
    # The installed package's own metadata, not Flask's version.
    assert run([flagpal_dash, "--version"], environment, tmp_path) == f"FlagPal Dash {VERSION}\n"
    assert run([flagpal_dash, "version"], environment, tmp_path) == f"FlagPal Dash {VERSION}\n"

    head = ScriptDirectory(str(PACKAGE_DIR / "migrations")).get_current_head()
    with sqlite3.connect(tmp_path / "installed.sqlite3") as database:
        assert database.execute("SELECT version_num FROM alembic_version").fetchall() == [(head,)]

    report = json.loads(run([installed / "python", "-c", CHECK, PASSWORD], environment, tmp_path))
    assert Path(report["package"]).is_relative_to(venv)
    assert str(REPO) not in report["sys_path"]
    assert all(Path(folder).is_relative_to(venv) for folder in report["templates"])
    assert Path(report["static"]).is_relative_to(venv)
    assert report["sign_in"] == [200, True]
    htmx_size = (REPO / "static" / "vendor" / "htmx.min.js").stat().st_size
    assert report["htmx"] == [200, htmx_size]
    assert report["css"] == 200
    assert report["signed_in"] == [302, "/"]


def test_flagpal_dash_run_serves_the_installed_app(installed, environment, tmp_path):
    flagpal_dash = installed / "flagpal-dash"
    run([flagpal_dash, "db", "upgrade"], environment, tmp_path)
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [flagpal_dash, "run", "--host", "127.0.0.1", "--port", str(port)],
            env=environment,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=output,
        )
    try:
        wait_until_serving(server, port, log=log)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/sign-in") as response:
            assert response.status == 200
            assert b"<form" in response.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/app.css") as response:
            assert response.status == 200
    finally:
        stop(server)


def test_a_setting_the_app_cannot_use_is_one_line_and_a_failure(installed, environment, tmp_path):
    environment["FLAGPAL_DATABASE_URL"] = "sqlite://"
    result = subprocess.run(
        [installed / "flagpal-dash", "users", "list"],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: FLAGPAL_DATABASE_URL: an in-memory SQLite database")


def failure(command: list, env: dict, cwd: Path) -> str:
    """The one line a command that must refuse prints; it exits non-zero."""
    result = subprocess.run(
        [str(part) for part in command],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0, result.stdout
    [line] = result.stderr.splitlines()
    return line


def test_one_settings_file_for_every_command_and_no_command_on_a_missing_database(
    installed, environment, tmp_path
):
    flagpal_dash = installed / "flagpal-dash"
    settings = tmp_path / "flagpal-dash.env"
    settings.write_text(
        "# FlagPal Dash, as the deploy guide writes it: comments on their own lines.\n"
        f"FLAGPAL_DATABASE_URL=sqlite:///{tmp_path}/installed.sqlite3\n"
        f"FLAGPAL_INSTANCE_PATH={tmp_path}/instance\n"
        "\n"
        "# nginx on the same host\n"
        "FLAGPAL_TRUSTED_PROXIES=1\n"
        "FLAGPAL_SIGN_IN_LIMIT=20 per 5 minutes\n"
        "FLAGPAL_BCRYPT_ROUNDS=4\n"
    )
    without = {
        name: value for name, value in environment.items() if not name.startswith("FLAGPAL_")
    }
    run([flagpal_dash, "--env-file", settings, "db", "upgrade"], without, tmp_path)
    created = run(
        [flagpal_dash, "--env-file", settings, "users", "create", "ada@example.com"]
        + ["--name", "Ada", "--admin", "--password-stdin"],
        without,
        tmp_path,
        input=PASSWORD + "\n",
    )
    assert "Created admin account ada@example.com." in created
    named = {**without, "FLAGPAL_ENV_FILE": str(settings)}
    [_, ada] = run([flagpal_dash, "users", "list"], named, tmp_path).splitlines()
    assert ada.split()[:2] == ["ada@example.com", "Ada"]
    backed_up = run([flagpal_dash, "backup", tmp_path / "backup.sqlite3"], named, tmp_path)
    assert backed_up.startswith(f"Wrote {tmp_path / 'backup.sqlite3'} ")
    assert "users              1" in backed_up.splitlines()

    # Without the settings: the default database, which is not there, is named and not made.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    default = installed.parent / "var" / "flagpal_dash-instance" / "flagpal-dash.sqlite3"
    copy_to = ["copy-to", f"sqlite:///{elsewhere}/copy.sqlite3"]
    for command in (["backup", elsewhere / "backup.sqlite3"], copy_to):
        line = failure([flagpal_dash, *command], without, elsewhere)
        assert line.startswith(f"Error: There is no database at {default}: ")
        assert "--env-file" in line and "FLAGPAL_ENV_FILE" in line
        assert "`flagpal-dash db upgrade`" in line
        assert not default.exists()
        assert list(elsewhere.iterdir()) == []

    # A database with no tables is named too, and nothing is written.
    empty = elsewhere / "empty.sqlite3"
    sqlite3.connect(empty).close()
    emptied = {**without, "FLAGPAL_DATABASE_URL": f"sqlite:///{empty}"}
    line = failure([flagpal_dash, "backup", elsewhere / "backup.sqlite3"], emptied, elsewhere)
    assert line.startswith(f"Error: The database {empty} has no tables yet: ")
    assert list(elsewhere.iterdir()) == [empty]

    # A file that cannot be read, or a comment after a value, is one line naming it.
    missing = tmp_path / "missing.env"
    line = failure([flagpal_dash, "--env-file", missing, "users", "list"], without, tmp_path)
    assert line == f"Error: Cannot read the settings file {missing}: No such file or directory"
    settings.write_text(settings.read_text() + "FLAGPAL_WORKERS=2   # two is enough\n")
    line = failure([flagpal_dash, "users", "list"], named, tmp_path)
    assert line.startswith(f"Error: {settings}, line 9: FLAGPAL_WORKERS has a comment")
