"""What tests share besides fixtures: making rows, reading pages as a person would, and
reading the app's source."""

import ast
import importlib.util
import os
import shutil
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from flask import current_app
from sqlalchemy import select

from flagpal_dash import PACKAGE_DIR
from flagpal_dash.api.verification import EXTENSION_KEY
from flagpal_dash.core import tokens
from flagpal_dash.core.accounts import first_run_code
from flagpal_dash.extensions import db
from flagpal_dash.models import ApiToken, Project, User, utcnow

PASSWORD = "correct horse battery"

# What htmx sends with every request it makes: the views answer with a fragment.
HTMX = {"HX-Request": "true"}


def setup_code() -> str:
    """The code of the app's one-time setup link."""
    return first_run_code(current_app.config["SECRET_KEY"])


def add_user(email: str, name: str, *, admin: bool = False, proven: bool = True) -> User:
    """An account as an admin makes it: its address proven, unless ``proven=False``."""
    user = User(
        email=email, name=name, is_admin=admin, email_proven_at=utcnow() if proven else None
    )
    user.set_password(PASSWORD, rounds=current_app.config["BCRYPT_ROUNDS"])
    db.session.add(user)
    return user


def issue_token(project: Project, name: str = "Shop backend", **fields) -> tuple[ApiToken, str]:
    token, value = tokens.issue(
        project,
        name=name,
        abilities=fields.pop("abilities", frozenset({"read"})),
        expires_at=fields.pop("expires_at", None),
        actor=fields.pop("created_by", None),
        now=utcnow(),
    )
    for field, value_ in fields.items():
        setattr(token, field, value_)
    db.session.commit()
    return token, value


def flush_usage(app) -> int:
    """Write ``app``'s usage counts now, rather than at its flush thread's next turn."""
    return app.extensions[EXTENSION_KEY].flush_usage()


def snapshot() -> dict[str, list[tuple]]:
    """Every row of every table (``db.metadata``), each table's rows in primary-key order,
    as committed: read on a connection of its own, so the test's session neither hides
    nor adds anything. Two snapshots are equal when a request changed nothing."""
    with db.engine.connect() as connection:
        return {
            table.name: [
                tuple(row) for row in connection.execute(select(table).order_by(*table.primary_key))
            ]
            for table in db.metadata.sorted_tables
        }


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def page(response) -> BeautifulSoup:
    return soup(response.text)


def text_of(element) -> str:
    """An element's text as a person reads it: whitespace collapsed."""
    return " ".join(element.get_text(" ").split())


def module_name(path: Path) -> str:
    """The dotted name of the app's module at ``path``."""
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """The modules the app's source file ``path`` imports, anywhere in it (inside
    functions too), by absolute name. Read from the AST, so a path no test runs counts.
    ``from X import name`` counts as importing ``X.name`` when that is a module, else
    ``X``."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            anchor = package.split(".")
            anchor = anchor[: len(anchor) - node.level + 1] if node.level else []
            source = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                child = f"{source}.{alias.name}"
                found.add(child if _is_module(child) else source)
    return found


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def needs_commands(*names: str) -> None:
    """Skip the calling test when a command a README example runs is missing, unless
    FLAGPAL_REQUIRE_SHELL_TOOLS=1 (as in .ci/run, which installs them): there a missing
    command fails the test rather than hiding it."""
    missing = [name for name in names if shutil.which(name) is None]
    if not missing:
        return
    reason = f"the example needs {', '.join(missing)}, not installed"
    if os.environ.get("FLAGPAL_REQUIRE_SHELL_TOOLS") == "1":
        pytest.fail(reason + ", and FLAGPAL_REQUIRE_SHELL_TOOLS=1")
    pytest.skip(reason)
