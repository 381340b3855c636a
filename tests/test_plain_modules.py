"""The modules that say they are plain Python (no Flask) are: none of them imports
Flask, Werkzeug or a Flask extension, directly or through another module of the app.
So they read and test on their own, and gunicorn's master can load redaction.py before
any app exists."""

import ast
import importlib.util
from pathlib import Path

import pytest

import flagpal_dash

PLAIN = [
    "flagpal_dash.abilities",
    "flagpal_dash.api.forward_auth",
    "flagpal_dash.dates",
    "flagpal_dash.permissions",
    "flagpal_dash.redaction",
    "flagpal_dash.token_format",
]
WEB = ("flask", "flask_login", "flask_sqlalchemy", "flask_wtf", "flask_limiter", "werkzeug")


def imports(module: str) -> set[str]:
    """The modules ``module``'s code imports, anywhere in it, by absolute name."""
    spec = importlib.util.find_spec(module)
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    package = module if spec.submodule_search_locations else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            for alias in node.names:
                # ``from . import token_format`` names a module; ``from .x import y``, mostly not.
                name = f"{base}.{alias.name}"
                found.add(name if _is_module(name) else base)
    return found


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def reached(module: str) -> set[str]:
    """Every module ``module`` imports, following the app's own modules."""
    seen, todo = set(), [module]
    while todo:
        for name in imports(todo.pop()):
            if name not in seen:
                seen.add(name)
                if name.startswith(flagpal_dash.__name__ + "."):
                    todo.append(name)
    return seen


@pytest.mark.parametrize("module", PLAIN)
def test_a_plain_python_module_imports_nothing_of_flask(module):
    web = sorted(name for name in reached(module) if name.split(".")[0] in WEB)
    assert web == [], f"{module} imports {web}"


def test_the_check_sees_flask_behind_an_app_module():
    assert {"flask", "flask_sqlalchemy"} <= {
        name.split(".")[0] for name in reached("flagpal_dash.models")
    }
