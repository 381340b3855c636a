"""Configuration from ``FLAGPAL_*`` environment variables.

Every setting a person can change is read here and listed in the README. Values are
checked when the app starts so a typo fails loudly at once, not on some later request.
"""

import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from . import sign_in_settings
from .setting_checks import (  # noqa: F401 (ConfigError and http_address are read from here)
    ConfigError,
    bool_setting,
    comment_hint,
    http_address,
    int_setting,
)

DEFAULT_BCRYPT_ROUNDS = 12
DEFAULT_LAST_USED_INTERVAL = 60
# Seconds between writes of each process's token usage counts to the database.
DEFAULT_USAGE_FLUSH_SECONDS = 5
# Failed attempts allowed per client address, and per account, before a pause.
DEFAULT_SIGN_IN_LIMIT = "10 per 5 minutes"
DEFAULT_SIGN_IN_ACCOUNT_LIMIT = "10 per 15 minutes"
# Leaked-token reports (POST /api/v1/tokens/revoke) allowed per client address.
DEFAULT_LEAK_REPORT_LIMIT = "30 per minute"
# FlagPal's metric endpoint, the only request forward-auth lets a `metrics` token make.
DEFAULT_METRICS_PATH = "/api/v1/metric-time-series"
# Segments of letters, digits, `-`, `_`, `.`, `~`: a path forward-auth reads one way only.
METRICS_PATH = re.compile(r"(?:/(?!\.\.?(?:/|$))[A-Za-z0-9._~-]+)+")
# Who may read /metrics when it is on: this machine.
DEFAULT_METRICS_ALLOW = "127.0.0.1,::1"
# Where limits count: the app's own database, shared by every process of every server
# that uses it (limit_storage.py).
DEFAULT_RATELIMIT_STORAGE_URI = "database://"
# Reverse proxies in front of the app whose X-Forwarded-* headers are believed.
MAX_TRUSTED_PROXIES = 10
# Jobs (core/jobs.py): how often each runs, and the nightly SQLite backups' days kept.
DEFAULT_JOBS_PERIOD_SECONDS = 86400
DEFAULT_BACKUP_KEEP_DAYS = 14
# How log lines are written (json_logs.py): text as gunicorn and Flask write it, or JSON.
LOG_FORMATS = ("text", "json")
# How the mail server's connection is secured (mail.py), and the port each usually means.
MAIL_SECURITIES = ("starttls", "tls", "none")
MAIL_PORTS = {"starttls": 587, "tls": 465, "none": 587}
SECRET_KEY_FILE = "secret_key"
SQLITE_FILE = "flagpal-dash.sqlite3"


def from_environment(environ: Mapping[str, str], instance_path: str) -> dict:
    """Flask config values from ``FLAGPAL_*`` variables, with one-command defaults."""
    database_url = environ.get("FLAGPAL_DATABASE_URL") or (
        "sqlite:///" + str(Path(instance_path) / SQLITE_FILE)
    )
    if database_url.startswith("sqlite") and (
        database_url.rstrip("/") == "sqlite:" or ":memory:" in database_url
    ):
        raise ConfigError(
            "FLAGPAL_DATABASE_URL: an in-memory SQLite database is empty for every "
            "connection; use a file, like sqlite:////var/lib/flagpal-dash/flagpal.sqlite3"
        )
    _check_database_url(database_url)
    public_url = http_address(environ.get("FLAGPAL_PUBLIC_URL", ""), "FLAGPAL_PUBLIC_URL")
    return {
        **_mail_settings(environ),
        **sign_in_settings.from_environment(environ),
        "PUBLIC_URL": public_url,
        "SERVED_AT": _served_at(environ),
        "PREFERRED_URL_SCHEME": urlsplit(public_url).scheme if public_url else "http",
        # Cookies go over https only when the dashboard is served over https.
        "SECURE_COOKIES": bool_setting(
            environ, "FLAGPAL_SECURE_COOKIES", default=public_url.startswith("https://")
        ),
        "TRUSTED_PROXIES": int_setting(
            environ, "FLAGPAL_TRUSTED_PROXIES", 0, minimum=0, maximum=MAX_TRUSTED_PROXIES
        ),
        "RATELIMIT_STORAGE_URI": _ratelimit_storage_setting(environ),
        # Instances that share one store (Redis, a database) but not their accounts count
        # apart.
        "RATELIMIT_KEY_PREFIX": environ.get("FLAGPAL_RATELIMIT_KEY_PREFIX", "").strip(),
        "SIGN_IN_LIMIT": _limit_setting(environ, "FLAGPAL_SIGN_IN_LIMIT", DEFAULT_SIGN_IN_LIMIT),
        "SIGN_IN_ACCOUNT_LIMIT": _limit_setting(
            environ, "FLAGPAL_SIGN_IN_ACCOUNT_LIMIT", DEFAULT_SIGN_IN_ACCOUNT_LIMIT
        ),
        "LEAK_REPORT_LIMIT": _limit_setting(
            environ, "FLAGPAL_LEAK_REPORT_LIMIT", DEFAULT_LEAK_REPORT_LIMIT
        ),
        "METRICS_PATH": _metrics_path(environ),
        "LOG_FORMAT": log_format_setting(environ),
        "METRICS": metrics_on(environ),
        "METRICS_ALLOW": metrics_allow(environ),
        "JOBS": bool_setting(environ, "FLAGPAL_JOBS", default=True),
        # Webhook deliveries (deliverer.py): sent by a thread of each server process
        # unless off (then by `flagpal-dash webhooks deliver` from a timer).
        "DELIVERIES": bool_setting(environ, "FLAGPAL_DELIVERIES", default=True),
        # Webhooks may go to loopback and private networks (and plain http): for a
        # receiver on the same machine or network, which the operator vouches for.
        "WEBHOOK_ALLOW_PRIVATE": bool_setting(
            environ, "FLAGPAL_WEBHOOK_ALLOW_PRIVATE", default=False
        ),
        "JOBS_PERIOD_SECONDS": int_setting(
            environ,
            "FLAGPAL_JOBS_PERIOD_SECONDS",
            DEFAULT_JOBS_PERIOD_SECONDS,
            minimum=1,
            maximum=7 * 86400,
        ),
        "BACKUP_DIR": _backup_folder(environ),
        "BACKUP_KEEP_DAYS": int_setting(
            environ, "FLAGPAL_BACKUP_KEEP_DAYS", DEFAULT_BACKUP_KEEP_DAYS, minimum=1, maximum=3650
        ),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": environ.get("FLAGPAL_SECRET_KEY") or _kept_secret_key(instance_path),
        "BCRYPT_ROUNDS": int_setting(
            environ, "FLAGPAL_BCRYPT_ROUNDS", DEFAULT_BCRYPT_ROUNDS, minimum=4, maximum=31
        ),
        "LAST_USED_INTERVAL": int_setting(
            environ,
            "FLAGPAL_LAST_USED_INTERVAL",
            DEFAULT_LAST_USED_INTERVAL,
            minimum=0,
            maximum=86400,
        ),
        "USAGE_FLUSH_SECONDS": int_setting(
            environ,
            "FLAGPAL_USAGE_FLUSH_SECONDS",
            DEFAULT_USAGE_FLUSH_SECONDS,
            minimum=1,
            maximum=3600,
        ),
    }


def _check_database_url(url: str) -> None:
    """Refuse, at start, a URL SQLAlchemy cannot parse or has no installed driver for.
    The messages never repeat the URL: it may hold a password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            "FLAGPAL_DATABASE_URL is not a database URL: it should read like "
            "postgresql+psycopg://user:password@host/dbname or sqlite:////path/to/file.sqlite3"
        ) from None
    try:
        parsed.get_dialect().import_dbapi()
    except NoSuchModuleError:
        raise ConfigError(
            f"FLAGPAL_DATABASE_URL names an unknown database driver {parsed.drivername!r}: "
            "use postgresql+psycopg://… or sqlite:///…"
        ) from None
    except ImportError as error:
        raise ConfigError(
            f"FLAGPAL_DATABASE_URL needs the {parsed.drivername!r} driver, which is not "
            f"installed ({error}): use postgresql+psycopg://… or sqlite:///…"
        ) from None


# Bound to these, a server answers on every address of the machine: none of them is
# the one address to put in a link.
_EVERY_ADDRESS = frozenset({"0.0.0.0", "::"})


def _served_at(environ: Mapping[str, str]) -> str:
    """The address the server was started on, as ``make run``, ``make serve`` and
    gunicorn_conf.py hand it to the app in FLAGPAL_SERVED_AT ('' when not known)."""
    value = http_address(environ.get("FLAGPAL_SERVED_AT", ""), "FLAGPAL_SERVED_AT")
    return "" if urlsplit(value).hostname in _EVERY_ADDRESS else value


def metrics_on(environ: Mapping[str, str]) -> bool:
    """Whether /metrics is served (FLAGPAL_METRICS): read by the app and, before any
    worker starts, by gunicorn_conf.py."""
    return bool_setting(environ, "FLAGPAL_METRICS", default=False)


def metrics_allow(environ: Mapping[str, str]) -> tuple:
    """The addresses and networks a scrape of /metrics may come from."""
    raw = environ.get("FLAGPAL_METRICS_ALLOW", "").strip() or DEFAULT_METRICS_ALLOW
    networks = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ConfigError(
                "FLAGPAL_METRICS_ALLOW must list addresses or networks, comma-separated, "
                f"like 127.0.0.1,10.0.0.0/8, not {part!r}{comment_hint(part)}"
            ) from None
    return tuple(networks)


def _backup_folder(environ: Mapping[str, str]) -> str | None:
    """Where the nightly backups go: an absolute path (a relative one would depend on
    the folder each command happens to start in), or None for no nightly backups."""
    value = environ.get("FLAGPAL_BACKUP_DIR", "").strip()
    if not value:
        return None
    if not Path(value).is_absolute():
        raise ConfigError(
            f"FLAGPAL_BACKUP_DIR must be an absolute path like /var/backups/flagpal-dash, "
            f"not {value!r}"
        )
    return value


def _limit_setting(environ: Mapping[str, str], name: str, default: str) -> str:
    from limits import parse_many

    value = environ.get(name, "").strip() or default
    try:
        parse_many(value)
    except ValueError:
        raise ConfigError(
            f"{name} must read like '10 per 5 minutes', not {value!r}{comment_hint(value)}"
        ) from None
    return value


def _metrics_path(environ: Mapping[str, str]) -> str:
    value = environ.get("FLAGPAL_METRICS_PATH", "").strip() or DEFAULT_METRICS_PATH
    if not METRICS_PATH.fullmatch(value):
        raise ConfigError(
            "FLAGPAL_METRICS_PATH must be the metric endpoint's path as the FlagPal API "
            "serves it, like /api/v1/metric-time-series: segments of letters, digits, "
            f"`-`, `_`, `.` and `~`, no query, no trailing slash, not {value!r}"
        )
    return value


def log_format_setting(environ: Mapping[str, str]) -> str:
    """``text`` (the default) or ``json``; any other word stops the server and the
    commands alike, instead of quietly logging text."""
    raw = environ.get("FLAGPAL_LOG_FORMAT", "")
    value = raw.strip().lower() or LOG_FORMATS[0]
    if value not in LOG_FORMATS:
        raise ConfigError(
            f"FLAGPAL_LOG_FORMAT must be text or json, not {raw!r}{comment_hint(raw)}"
        )
    return value


def _ratelimit_storage_setting(environ: Mapping[str, str]) -> str:
    """Where limits count; a scheme nothing can count in stops the app at start. (The
    message names the scheme only: the URI may hold a Redis password.)"""
    from limits.storage import SCHEMES

    value = environ.get("FLAGPAL_RATELIMIT_STORAGE_URI", "").strip()
    if not value:
        return DEFAULT_RATELIMIT_STORAGE_URI
    scheme = urlsplit(value).scheme
    # database:// is registered when the app imports limit_storage; async ones cannot serve.
    if scheme != "database" and (scheme not in SCHEMES or scheme.startswith("async+")):
        raise ConfigError(
            f"FLAGPAL_RATELIMIT_STORAGE_URI: unknown scheme {scheme!r}: use database:// (the "
            "app's database, the default), redis://host:6379, or memory:// (per process)"
        )
    return value


def _mail_settings(environ: Mapping[str, str]) -> dict:
    server = environ.get("FLAGPAL_MAIL_SERVER", "").strip()
    if not server:
        return {"MAIL_SERVER": None}
    sender = environ.get("FLAGPAL_MAIL_FROM", "").strip()
    if not sender:
        raise ConfigError("FLAGPAL_MAIL_FROM is needed with FLAGPAL_MAIL_SERVER (the From address)")
    security = _mail_security(environ)
    port = int_setting(environ, "FLAGPAL_MAIL_PORT", MAIL_PORTS[security], minimum=1, maximum=65535)
    if port == 465 and security == "starttls" and not environ.get("FLAGPAL_MAIL_SECURITY"):
        # What a provider's "SSL, port 465" turns into when only the port is copied: every
        # mail would wait 10 seconds for a greeting the server never sends unencrypted.
        raise ConfigError(
            "FLAGPAL_MAIL_PORT is 465, the port for implicit TLS: set FLAGPAL_MAIL_SECURITY=tls "
            "(or FLAGPAL_MAIL_SECURITY=starttls if your provider really speaks STARTTLS there)"
        )
    return {
        "MAIL_SERVER": server,
        "MAIL_PORT": port,
        "MAIL_SECURITY": security,
        # Kept for whatever reads the older on/off setting.
        "MAIL_STARTTLS": security == "starttls",
        "MAIL_USERNAME": environ.get("FLAGPAL_MAIL_USERNAME") or None,
        "MAIL_PASSWORD": environ.get("FLAGPAL_MAIL_PASSWORD") or None,
        "MAIL_FROM": sender,
        "MAIL_CA_FILE": _mail_ca_file(environ, security),
    }


def _mail_security(environ: Mapping[str, str]) -> str:
    """starttls, tls or none: FLAGPAL_MAIL_SECURITY, or else what the older
    FLAGPAL_MAIL_STARTTLS says (on: starttls, off: none). Given both, they must agree:
    STARTTLS on goes with starttls only; off with tls or none."""
    raw = environ.get("FLAGPAL_MAIL_SECURITY", "")
    value = raw.strip().lower()
    starttls_given = environ.get("FLAGPAL_MAIL_STARTTLS", "").strip() != ""
    starttls = bool_setting(environ, "FLAGPAL_MAIL_STARTTLS", default=True)
    if not value:
        return "starttls" if starttls else "none"
    if value not in MAIL_SECURITIES:
        raise ConfigError(
            "FLAGPAL_MAIL_SECURITY must be starttls (port 587), tls (implicit TLS, port 465) "
            f"or none, not {raw!r}{comment_hint(raw)}"
        )
    if starttls_given and starttls != (value == "starttls"):
        raise ConfigError(
            f"FLAGPAL_MAIL_SECURITY is {value} but FLAGPAL_MAIL_STARTTLS is "
            f"{environ['FLAGPAL_MAIL_STARTTLS'].strip()!r}: they disagree. Remove "
            "FLAGPAL_MAIL_STARTTLS (FLAGPAL_MAIL_SECURITY replaces it)"
        )
    return value


def _mail_ca_file(environ: Mapping[str, str], security: str) -> str | None:
    """The private CA that signed the mail server's certificate, checked at start: a
    file that is missing or holds no certificate would fail every mail instead."""
    import ssl

    value = environ.get("FLAGPAL_MAIL_CA_FILE", "").strip()
    if not value:
        return None
    if security == "none":
        raise ConfigError(
            "FLAGPAL_MAIL_CA_FILE is for checking the mail server's certificate, but "
            "FLAGPAL_MAIL_SECURITY is none: nothing would be checked. Set "
            "FLAGPAL_MAIL_SECURITY to starttls or tls, or remove FLAGPAL_MAIL_CA_FILE"
        )
    try:
        ssl.create_default_context(cafile=value)
    except FileNotFoundError:
        raise ConfigError(f"FLAGPAL_MAIL_CA_FILE: there is no file {value}") from None
    except ssl.SSLError:  # (before OSError, which it is a kind of)
        raise ConfigError(
            f"FLAGPAL_MAIL_CA_FILE: {value} holds no certificate in PEM form "
            "(-----BEGIN CERTIFICATE-----)"
        ) from None
    except OSError as error:  # unreadable, or a folder
        raise ConfigError(f"FLAGPAL_MAIL_CA_FILE: cannot read {value} ({error.strerror})") from None
    return value


def _kept_secret_key(instance_path: str) -> str:
    """The secret key stored in the instance folder, made on first start.

    Several server processes may start at once. Each writes its candidate to a private
    file and links it into place; a link never replaces an existing file, so every
    process ends up reading the one key that won.
    """
    try:
        key = _read_or_make_secret_key(private_folder(instance_path))
    except PermissionError as error:
        # A command run without the service's settings, by a user who cannot write the
        # default folder (inside a root-owned virtualenv): one line, not a traceback.
        raise ConfigError(
            f"cannot read or make the secret key in {instance_path} ({error.strerror}): "
            "give the command the server's settings (--env-file PATH or FLAGPAL_ENV_FILE), "
            "or set FLAGPAL_SECRET_KEY or FLAGPAL_INSTANCE_PATH"
        ) from None
    path = Path(instance_path) / SECRET_KEY_FILE
    if not key:
        raise ConfigError(f"{path} is empty: delete it and a new key is made on start")
    return key


def _read_or_make_secret_key(folder: Path) -> str:
    path = folder / SECRET_KEY_FILE
    if not path.exists():
        candidate = folder / f".{SECRET_KEY_FILE}.{os.getpid()}"
        fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_hex(32) + "\n")
        try:
            os.link(candidate, path)
        except FileExistsError:
            pass
        finally:
            candidate.unlink()
    return path.read_text().strip()


def private_folder(instance_path: str) -> Path:
    """The instance folder, made readable by its owner only if it does not exist yet (an
    existing folder keeps its mode: README, Files on the server, says how to tighten it)."""
    folder = Path(instance_path)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def create_private_sqlite_file(database_url: str, instance_path: str) -> None:
    """Create the SQLite database file readable by its owner only, before SQLite would
    create it with the process's umask (usually readable by every user of the server).
    SQLite gives its -wal and -shm files the database file's mode, so they are private
    too. An existing file keeps its mode.

    The instance folder is made when the file goes in it; any other folder must exist
    already: a missing one is more likely a typo, which SQLite then reports.
    """
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    name = url.database or ""
    if url.get_backend_name() != "sqlite" or name in ("", ":memory:") or url.query.get("uri"):
        return
    path = Path(name)
    if not path.is_absolute():  # Flask-SQLAlchemy's rule: relative to the instance folder
        path = Path(instance_path) / path
    if path.parent.resolve() == Path(instance_path).resolve():
        private_folder(instance_path)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError:
        pass  # it exists; or it cannot be made, which SQLite reports when it connects
