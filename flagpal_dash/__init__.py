"""FlagPal Dash: the dashboard and token authority for FlagPal project API tokens."""

import os
from pathlib import Path

from flask import Flask
from sqlalchemy import event

from . import abilities, config, dates, limit_storage, redaction, sign_in_settings, version
from .extensions import csrf, db, limiter, login_manager, migrate, use_sqlite_well
from .permissions import Permission, Role

PACKAGE_DIR = Path(__file__).resolve().parent


def _asset_folder(name: str) -> str:
    """Where ``templates`` or ``static`` is: inside the package when installed from a
    wheel, at the top of the repository when running from a checkout."""
    packaged = PACKAGE_DIR / name
    return str(packaged if packaged.is_dir() else PACKAGE_DIR.parent / name)


def _make_the_database_file_private_on_connect(engine, app: Flask) -> None:
    uri, instance_path = app.config["SQLALCHEMY_DATABASE_URI"], app.instance_path
    event.listen(
        engine, "do_connect", lambda *_: config.create_private_sqlite_file(uri, instance_path)
    )


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app. ``test_config`` replaces settings read from the environment."""
    # No log line of the process holds a token or a secret address: the app's logger,
    # Werkzeug's, gunicorn's and any other (redaction.py says how).
    redaction.install()
    app = Flask(
        __name__,
        instance_path=os.environ.get("FLAGPAL_INSTANCE_PATH") or None,
        template_folder=_asset_folder("templates"),
        static_folder=_asset_folder("static"),
    )
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        # A CSRF token lives as long as the session, so a form left open for
        # hours still submits.
        WTF_CSRF_TIME_LIMIT=None,
        # Every form here is small; a larger body is refused with 413 before parsing.
        MAX_CONTENT_LENGTH=64 * 1024,
        BCRYPT_ROUNDS=config.DEFAULT_BCRYPT_ROUNDS,
        LAST_USED_INTERVAL=config.DEFAULT_LAST_USED_INTERVAL,
        USAGE_FLUSH_SECONDS=config.DEFAULT_USAGE_FLUSH_SECONDS,
        SIGN_IN_LIMIT=config.DEFAULT_SIGN_IN_LIMIT,
        SIGN_IN_ACCOUNT_LIMIT=config.DEFAULT_SIGN_IN_ACCOUNT_LIMIT,
        LEAK_REPORT_LIMIT=config.DEFAULT_LEAK_REPORT_LIMIT,
        METRICS_PATH=config.DEFAULT_METRICS_PATH,
        METRICS=False,
        METRICS_ALLOW=config.metrics_allow({}),
        RATELIMIT_STORAGE_URI=config.DEFAULT_RATELIMIT_STORAGE_URI,
        JOBS=True,
        DELIVERIES=True,
        WEBHOOK_ALLOW_PRIVATE=False,
        JOBS_PERIOD_SECONDS=config.DEFAULT_JOBS_PERIOD_SECONDS,
        BACKUP_DIR=None,
        BACKUP_KEEP_DAYS=config.DEFAULT_BACKUP_KEEP_DAYS,
        **sign_in_settings.DEFAULTS,
    )
    if test_config is None:
        app.config.update(config.from_environment(os.environ, app.instance_path))
    else:
        app.config.update(test_config)
    # If Redis is unreachable, count in this process rather than fail the page. Counts in
    # the database need no such fallback: without the database nothing can sign in, and
    # counting in memory meanwhile would give each process the whole limit again. A
    # limited request then gets the "database cannot be reached" page (503).
    app.config.setdefault(
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED",
        not app.config["RATELIMIT_STORAGE_URI"].startswith(limit_storage.SCHEME + ":"),
    )

    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # A database server may restart: test pooled connections before use. (A SQLite
        # file cannot go away under an open connection, so it skips the extra query.)
        app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True})
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            use_sqlite_well(db.engine)
    migrate.init_app(app, db, directory=str(PACKAGE_DIR / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)
    # Flask-Limiter only ever turns its fallback on, and its one limiter serves every app
    # made in this process (tests make many): each app sets it as configured.
    limiter._in_memory_fallback_enabled = app.config["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"]
    # Flask-Limiter also checks every request for app-wide limits before it reaches a
    # view. There are none: the limited views (sign-in, invitation links, leak reports)
    # check their own limits in their decorators. The hook would only add work to every
    # request, the token check's included, so it goes.
    hooks = app.before_request_funcs.get(None, [])
    if limiter._check_request_limit in hooks:  # (not there when limits are disabled)
        hooks.remove(limiter._check_request_limit)

    from . import (
        account,
        admin,
        api,
        audit,
        auth,
        cli,
        errors,
        htmx,
        members,
        metrics,
        models,
        probes,
        projects,
        security,
        tokens,
    )
    from .api import hot_path
    from .api import management as management_api
    from .auth import provider as sso_provider
    from .auth import recovery, sso
    from .core import tokens as token_rules
    from .members import joining
    from .projects import settings as project_settings
    from .projects import webhooks as project_webhooks

    app.jinja_env.globals.update(
        Permission=Permission, Role=Role, ability_descriptions=abilities.DESCRIPTIONS
    )
    app.jinja_env.filters.update(
        relative=dates.relative, exact=dates.exact, iso=dates.iso, duration=dates.duration
    )
    # Spans the pages name in sentences, from the constants the rules use.
    app.jinja_env.globals.update(
        EXPIRES_SOON=token_rules.EXPIRES_SOON,
        INVITATION_LIFETIME=models.Invitation.LIFETIME,
        PASSWORD_RESET_LIFETIME=models.PasswordReset.LIFETIME,
    )
    app.jinja_env.globals["time_tag"] = dates.time_tag
    app.jinja_env.globals["app_version"] = version.app_version()

    api.install(app)
    app.register_blueprint(api.bp)
    # Before security.init_app, whose headers and ProxyFix wrap the hot path too.
    hot_path.install(app)
    metrics.install(app)
    # The token API takes bearer tokens, never cookies, so cross-site forgery has
    # nothing to ride on. Nor does the management API, which takes personal tokens.
    csrf.exempt(api.bp)
    app.register_blueprint(management_api.bp)
    csrf.exempt(management_api.bp)
    app.register_blueprint(probes.bp)
    probes.install(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            # Made when something first connects (a server, `db upgrade`), not when the
            # app is built: a command that finds no database says so instead of making one.
            for engine in (db.engine, app.extensions[probes.PROBE_KEY]):
                _make_the_database_file_private_on_connect(engine, app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(recovery.bp)
    app.register_blueprint(sso.bp)
    sso_provider.install(app)
    app.register_blueprint(projects.bp)
    app.register_blueprint(project_settings.bp)
    app.register_blueprint(project_webhooks.bp)
    app.register_blueprint(tokens.bp)
    app.register_blueprint(members.bp)
    app.register_blueprint(joining.bp)
    app.register_blueprint(audit.bp)
    audit.install()
    app.register_blueprint(account.bp)
    app.register_blueprint(admin.bp)
    cli.register(app)
    errors.register(app)
    htmx.register(app)
    security.init_app(app)
    return app
