"""The domain core and the command line are doors' neighbours, not doors: they import
no blueprint module (a view's module), and the core and the models read nothing of a
request. Read from the source (the AST of its imports), so a path no test runs is held
too."""

import ast

import pytest

from flagpal_dash import PACKAGE_DIR as PACKAGE

from .support import imported_modules, module_name


def blueprint_modules() -> set[str]:
    """Modules that make a Flask ``Blueprint``: the web's doors."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Blueprint":
                found.add(module_name(path))
    return found


# (rglob: the core's subpackages, like core/webhooks/, are the core too.)
CORE = sorted((PACKAGE / "core").rglob("*.py"))
NOT_DOORS = sorted([*(PACKAGE / "cli").glob("*.py"), *CORE])


def test_the_blueprint_modules_are_found():
    assert {"flagpal_dash.admin", "flagpal_dash.auth", "flagpal_dash.members"} <= (
        blueprint_modules()
    )


@pytest.mark.parametrize("path", NOT_DOORS, ids=lambda path: module_name(path))
def test_imports_no_blueprint_module(path):
    doors = blueprint_modules()
    imported = imported_modules(path)
    reached = {name for name in imported for door in doors if name == door}
    reached |= {
        name
        for name in imported
        for door in doors
        # A name inside a door's package (``flagpal_dash.auth.forms``), but not the
        # package of every door (``flagpal_dash`` itself).
        if name.startswith(door + ".") and door != "flagpal_dash"
    }
    assert not reached, f"{path.name} imports the blueprint module(s) {sorted(reached)}"


@pytest.mark.parametrize("path", CORE, ids=lambda path: module_name(path))
def test_the_core_reads_no_request(path):
    """No ``flask`` or ``flask_login`` import: who acts, when, and the settings are
    arguments."""
    imported = imported_modules(path)
    assert not {name for name in imported if name.split(".")[0] in {"flask", "flask_login"}}


MODELS = sorted((PACKAGE / "models").glob("*.py"))


def test_the_models_are_found():
    assert len(MODELS) > 1


@pytest.mark.parametrize("path", MODELS, ids=lambda path: module_name(path))
def test_the_models_read_no_request(path):
    """models/ is the tables: of Flask-Login only the mixin an account needs, nothing
    that reads the request or who is signed in (``current_user``, ``request``,
    ``has_request_context``): who acts is an argument of the core."""
    imported = imported_modules(path)
    web = {name for name in imported if name.split(".")[0] in {"flask", "flask_login"}}
    assert web <= {"flask_login", "flask_login.UserMixin"}


def test_every_audit_record_names_its_actor():
    """``actor`` is required at run time; this also holds calls no test reaches."""
    missing = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "record"
                and getattr(node.func.value, "id", None) == "AuditEvent"
                and "actor" not in {keyword.arg for keyword in node.keywords}
            ):
                missing.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not missing
