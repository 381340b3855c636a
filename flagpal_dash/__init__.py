"""FlagPal Dash: the dashboard and token authority for FlagPal project API tokens."""

import os
from pathlib import Path

from flask import Flask

from . import abilities, config
from .extensions import csrf, db, login_manager, migrate
from .permissions import Permission

PACKAGE_DIR = Path(__file__).resolve().parent


def _asset_folder(name: str) -> str:
    """Where ``templates`` or ``static`` is: inside the package when installed from a
    wheel, at the top of the repository when running from a checkout."""
    packaged = PACKAGE_DIR / name
    return str(packaged if packaged.is_dir() else PACKAGE_DIR.parent / name)


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app. ``test_config`` replaces settings read from the environment."""
    app = Flask(
        __name__,
        instance_path=os.environ.get("FLAGPAL_INSTANCE_PATH") or None,
        template_folder=_asset_folder("templates"),
        static_folder=_asset_folder("static"),
    )
    app.config.update(
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        # A CSRF token lives as long as the session, so a form left open for
        # hours still submits.
        WTF_CSRF_TIME_LIMIT=None,
        # Every form here is small; a larger body is refused with 413 before parsing.
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    if test_config is None:
        app.config.update(config.from_environment(os.environ, app.instance_path))
    else:
        app.config.update(test_config)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PACKAGE_DIR / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)

    from . import auth, cli, errors, htmx, projects, tokens

    app.jinja_env.globals.update(Permission=Permission, ability_descriptions=abilities.DESCRIPTIONS)

    app.register_blueprint(auth.bp)
    app.register_blueprint(projects.bp)
    app.register_blueprint(tokens.bp)
    cli.register(app)
    errors.register(app)
    htmx.register(app)
    return app
