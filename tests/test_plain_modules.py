"""The modules that say they are plain Python (no Flask) are: none of them imports
Flask, Werkzeug or a Flask extension, directly or through another module of the app.
So they read and test on their own, and gunicorn's master can load redaction.py before
any app exists."""

import importlib.util
from pathlib import Path

import pytest

import flagpal_dash

from .support import imported_modules

PLAIN = [
    "flagpal_dash.abilities",
    "flagpal_dash.addresses",
    "flagpal_dash.api.forward_auth",
    "flagpal_dash.dates",
    "flagpal_dash.json_logs",
    "flagpal_dash.permissions",
    "flagpal_dash.redaction",
    "flagpal_dash.retries",
    "flagpal_dash.token_format",
]
WEB = ("flask", "flask_login", "flask_sqlalchemy", "flask_wtf", "flask_limiter", "werkzeug")


def imports(module: str) -> set[str]:
    """The modules ``module``'s code imports, anywhere in it, by absolute name."""
    return imported_modules(Path(importlib.util.find_spec(module).origin))


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
