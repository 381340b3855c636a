"""The token authority: the one place that turns a presented token into "this project,
these abilities", and the decorator that guards every token API route with it.

This is the hot path of the whole product. Per request it parses the header, checks
the token's format and checksum (no database), then makes one indexed lookup by
SHA-256. There is no cache: a revoked or expired token must fail on the very next
request, on every server process. ``last_used_at`` is written at most once per token
per ``FLAGPAL_LAST_USED_INTERVAL`` seconds, so most checks only read. Each request let
through is counted for the usage figures in memory only (``usage_counter.py``: a
dictionary increment); a thread adds the counts to the database every few seconds.

Whether a token still works is the lifecycle's rule (``core.tokens.stopped``), asked
of the looked-up row. ``make bench`` measures this path against a bare route, on SQLite
and on PostgreSQL; its figures explain the choices below that are made for speed.
"""

import collections
import contextlib
import functools
import hashlib
import logging
import secrets
import threading
import weakref
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import NamedTuple
from urllib.parse import parse_qsl

from flask import Flask, current_app, request
from sqlalchemy import Engine, bindparam, event, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from .. import abilities as ability
from .. import token_format
from ..core.tokens import TokenState, stopped
from ..extensions import db
from ..health import first_line
from ..models import ApiToken, Project, utcnow
from .errors import REALM, ApiError, unauthorized
from .forward_auth import TOKEN_QUERY_NAMES
from .usage_counter import UsageCounter

EXTENSION_KEY = "flagpal_dash.token_authority"
# Longer than any token, shorter than any abuse worth reading.
MAX_AUTHORIZATION_LENGTH = 200


class VerifiedToken(NamedTuple):
    """A token that is good right now: what a guarded route receives."""

    id: int
    name: str
    abilities: frozenset[str]
    project_slug: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None

    def may(self, needed: str) -> bool:
        return ability.grants(self.abilities, needed)


# What the lookup reads, by name: the row layout, defined once. VerifiedToken's fields
# first (so a good token is the row's start), then what only the check needs (the
# lifecycle's stopping rules read revoked_at and expires_at by these names).
LOOKUP_COLUMNS = {
    "id": ApiToken.id,
    "name": ApiToken.name,
    "abilities": ApiToken.abilities,
    "project_slug": Project.slug,
    "created_at": ApiToken.created_at,
    "expires_at": ApiToken.expires_at,
    "last_used_at": ApiToken.last_used_at,
    "token_hash": ApiToken.token_hash,
    "revoked_at": ApiToken.revoked_at,
}
LookupRow = collections.namedtuple("LookupRow", LOOKUP_COLUMNS)
VERIFIED_FIELDS = len(VerifiedToken._fields)
if LookupRow._fields[:VERIFIED_FIELDS] != VerifiedToken._fields:
    raise AssertionError("LOOKUP_COLUMNS must start with VerifiedToken's fields, in order")
LOOKUP = (
    select(*LOOKUP_COLUMNS.values())
    .join(Project, Project.id == ApiToken.project_id)
    .where(ApiToken.token_hash == bindparam("digest"))
)

REFUSALS = {
    TokenState.REVOKED: (
        "token_revoked",
        "Token revoked",
        "This token was revoked. Create a new one in FlagPal Dash.",
    ),
    TokenState.EXPIRED: (
        "token_expired",
        "Token expired",
        "This token has expired. Create a new one in FlagPal Dash.",
    ),
}

# Written only when the stored time is older than the interval, so several processes
# racing to record the same minute write once between them.
RECORD_USE = (
    update(ApiToken)
    .where(
        ApiToken.id == bindparam("token_id"),
        or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= bindparam("not_after")),
    )
    .values(last_used_at=bindparam("now"))
)


class CursorLookup:
    """The lookup through a DBAPI cursor kept open on the connection (SQLite)."""

    def __init__(self, connection, sql: str, positional: bool):
        self.sql = sql
        self.positional = positional
        self.cursor = connection.cursor()

    def __call__(self, digest: str):
        self.cursor.execute(self.sql, (digest,) if self.positional else {"digest": digest})
        return self.cursor.fetchone()


class LibpqLookup:
    """The lookup on PostgreSQL (psycopg 3): prepared once on the connection as a
    server-side prepared statement, then each check is one Bind/Execute sent straight
    through libpq (``psycopg.pq``), its text values read by the connection's own
    loaders, as psycopg's cursor would.

    The cursor sends the same (it prepares a statement after its fifth use), but its
    Python layer adds a large share of a check's time (``make bench``'s in-process
    figure shows it).
    """

    NAME = b"flagpal_token_lookup"

    def __init__(self, connection, sql: str):
        from psycopg import DatabaseError, pq

        self.pgconn = connection.pgconn
        self.error_class = DatabaseError
        self.ok = frozenset({pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK})
        self.sql = sql
        self.check(self.pgconn.prepare(self.NAME, sql.encode()))
        columns = self.check(self.pgconn.describe_prepared(self.NAME))
        self.loads = []
        for column in range(columns.nfields):
            oid = columns.ftype(column)
            loader = connection.adapters.get_loader(oid, pq.Format.TEXT)
            self.loads.append(loader(oid, connection).load)

    def __call__(self, digest: str):
        result = self.check(self.pgconn.exec_prepared(self.NAME, [digest.encode()]))
        if result.ntuples == 0:
            return None
        return [
            None if (value := result.get_value(0, column)) is None else load(value)
            for column, load in enumerate(self.loads)
        ]

    def check(self, result):
        if result.status not in self.ok:
            raise self.error_class(result.error_message.decode(errors="replace").strip())
        return result


class ThreadConnection:
    """One server thread's own DBAPI connection, with the token lookup ready on it.

    Closed when its thread ends (the thread-local holding it is dropped), when the
    engine is disposed, or when it fails.
    """

    def __init__(self, connection, lookup):
        self.connection = connection
        self.close = weakref.finalize(self, close_quietly, connection)
        self.lookup = lookup


class ThreadLocal(threading.local):
    open: ThreadConnection | None = None


def close_quietly(connection) -> None:
    with contextlib.suppress(Exception):
        connection.close()


class TokenAuthority:
    """Decides whether a token is good, for one app and its database engine.

    The lookup skips SQLAlchemy's pool and result layer, which cost several times the
    query itself on this path: the statement is compiled once, each server thread
    keeps a DBAPI connection of its own (taken from the engine's pool and detached
    from it, in autocommit so a read is one round trip and never holds a transaction
    open), and rows are converted with the columns' own result processors, exactly as
    SQLAlchemy would. On PostgreSQL the lookup also skips psycopg's cursor
    (``LibpqLookup``).
    """

    def __init__(
        self,
        engine: Engine,
        last_used_interval: timedelta,
        usage_flush_seconds: int,
        logger: logging.Logger,
    ):
        dialect = engine.dialect
        self.engine = engine
        # The app's logger, held here: the hot path (hot_path.py) answers with no app context.
        self.logger = logger
        self.last_used_interval = last_used_interval
        self.usage = UsageCounter(engine, usage_flush_seconds)
        # Counts and times each check when metrics are on (metrics.py); None costs the
        # check one comparison.
        self.metrics = None
        if dialect.driver == "psycopg":
            # libpq takes $1 for the parameter.
            numbered = type(dialect)(paramstyle="numeric_dollar")
            sql = str(LOOKUP.compile(dialect=numbered))
            self.make_lookup = functools.partial(LibpqLookup, sql=sql)
        else:
            compiled = LOOKUP.compile(dialect=dialect)
            self.make_lookup = functools.partial(
                CursorLookup, sql=str(compiled), positional=compiled.positional
            )
        self.conversions = [
            (index, process)
            for index, column in enumerate(LOOKUP.selected_columns)
            if (process := column.type.dialect_impl(dialect).result_processor(dialect, None))
        ]
        self.database_errors = (SQLAlchemyError, dialect.loaded_dbapi.Error)
        self.local = ThreadLocal()
        self.open_connections: weakref.WeakSet[ThreadConnection] = weakref.WeakSet()
        event.listen(engine, "engine_disposed", lambda _engine: self.close_all())

    def verify(self, value: str, now: datetime) -> VerifiedToken:
        """The token ``value`` if it is good at ``now``; otherwise an ``ApiError`` saying
        why not. A malformed value is refused before any database query."""
        if not token_format.is_well_formed(value):
            raise malformed(
                "That is not a FlagPal token: it must be `flagpal_` and 46 letters and "
                "digits with a valid checksum. Check it was copied whole."
            )
        digest = hashlib.sha256(value.encode()).hexdigest()  # token_format.digest, inlined
        row = self.fetch(digest)
        if row is None or not secrets.compare_digest(row.token_hash, digest):
            raise unauthorized(
                "token_invalid",
                "Token invalid",
                "This token is not known. It may have been mistyped or deleted.",
            )
        why = stopped(row, now)
        if why is not None:
            raise unauthorized(*REFUSALS[why])
        return VerifiedToken._make(row[:VERIFIED_FIELDS])

    def fetch(self, digest: str) -> LookupRow | None:
        """The LOOKUP row for this digest, converted; None if there is none.

        A failed connection (after a database restart, say) is replaced and the query
        tried once more; if that fails too the answer is 503, never a pass.
        """
        for attempt in (1, 2):
            try:
                values = (self.local.open or self.open_thread_connection()).lookup(digest)
                break
            except self.database_errors as error:
                self.discard_thread_connection()
                if attempt == 2:
                    # One line per request while it lasts, not a traceback each time.
                    self.logger.error(
                        "Token check failed: database unreachable: %s", first_line(error)
                    )
                    raise unavailable() from None
        if values is None:
            return None
        row = list(values)
        for index, process in self.conversions:
            row[index] = process(row[index])
        return LookupRow._make(row)

    def record_use(self, token: VerifiedToken, now: datetime) -> VerifiedToken:
        """Note that ``token`` was used, at most once per interval; never fails the request."""
        if token.last_used_at is not None and now - token.last_used_at < self.last_used_interval:
            return token
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    RECORD_USE,
                    {"token_id": token.id, "not_after": now - self.last_used_interval, "now": now},
                )
        except SQLAlchemyError as error:
            # One line, not a traceback: with the database failing, every request says so.
            self.logger.warning(
                "Could not record the use of token %s: %s", token.id, first_line(error)
            )
            return token
        return token._replace(last_used_at=now)

    def flush_usage(self) -> int:
        """Write the usage counted so far now, rather than at the next flush."""
        return self.usage.flush()

    def open_thread_connection(self) -> ThreadConnection:
        pooled = self.engine.raw_connection()
        pooled.detach()
        connection = pooled.dbapi_connection
        self.engine.dialect.set_isolation_level(connection, "AUTOCOMMIT")
        try:
            lookup = self.make_lookup(connection)
        except Exception:
            close_quietly(connection)
            raise
        self.local.open = ThreadConnection(connection, lookup)
        self.open_connections.add(self.local.open)
        return self.local.open

    def discard_thread_connection(self) -> None:
        opened, self.local.open = self.local.open, None
        if opened is not None:
            opened.close()

    def close_all(self) -> None:
        for opened in list(self.open_connections):
            opened.close()


def install(app: Flask) -> None:
    """Give the app its TokenAuthority, made once so a request only looks it up."""
    with app.app_context():
        app.extensions[EXTENSION_KEY] = TokenAuthority(
            db.engine,
            timedelta(seconds=app.config["LAST_USED_INTERVAL"]),
            app.config["USAGE_FLUSH_SECONDS"],
            app.logger,
        )


def verify(value: str, now: datetime | None = None) -> VerifiedToken:
    """The current app's verdict on a token value: see ``TokenAuthority.verify``."""
    return current_app.extensions[EXTENSION_KEY].verify(value, now or utcnow())


def presented_token(authorization: str | None) -> str:
    """The token in an ``Authorization: Bearer <token>`` header value, exactly as sent.

    Only this one form is accepted: the ``Bearer`` scheme (capital B), one space, one
    token. Anything else is refused with a detail saying what to send.
    """
    if authorization is None or authorization.strip() == "":
        raise unauthorized(
            "token_missing",
            "Token missing",
            "Send the project API token in the header `Authorization: Bearer <token>`.",
            token_sent=False,
        )
    if len(authorization) > MAX_AUTHORIZATION_LENGTH:
        raise malformed("The Authorization header is far longer than a FlagPal token.")
    scheme, _, token = authorization.partition(" ")
    if scheme != "Bearer":
        if scheme.lower() == "bearer":
            raise malformed("Write the scheme as `Bearer`, with a capital B.")
        raise unauthorized(
            "token_missing",
            "Token missing",
            "This API takes a project API token as `Authorization: Bearer <token>`, "
            f"not the {scheme[:20]!r} scheme.",
            token_sent=False,
        )
    if "," in authorization:
        # Servers join repeated headers with commas.
        raise malformed("Send one Authorization header with one token, not several.")
    if token != token.strip() or " " in token or token == "":
        raise malformed("Send exactly one token after `Bearer `, separated by a single space.")
    return token


def query_pairs(environ: dict) -> list[tuple[str, str]]:
    """The request's query parameters, as ``request.args`` would read them (without
    building a request)."""
    query = environ.get("QUERY_STRING", "").encode("latin-1").decode(errors="replace")
    return parse_qsl(query, keep_blank_values=True, errors="replace")


def refuse_token_in_query(pairs: list[tuple[str, str]]) -> None:
    """Tokens in URLs end up in logs and browser histories: refuse them outright."""
    for name, value in pairs:
        if name.lower() in TOKEN_QUERY_NAMES or token_format.PREFIX in value:
            raise malformed(
                "Tokens are accepted only in the `Authorization: Bearer` header, never in "
                "a URL. Remove it from the URL, and revoke it if it was a real token: "
                "URLs are logged."
            )


def malformed(detail: str) -> ApiError:
    return unauthorized("token_malformed", "Token malformed", detail)


def unavailable() -> ApiError:
    return ApiError(
        503,
        "unavailable",
        "Service unavailable",
        "Tokens cannot be checked right now. Try again shortly.",
        {"Retry-After": "5"},
    )


def insufficient(needed: str) -> ApiError:
    return ApiError(
        403,
        "insufficient_ability",
        "Insufficient ability",
        f"This token does not have the `{needed}` ability. Create a token that has it.",
        {"WWW-Authenticate": f'{REALM}, error="insufficient_scope", scope="{needed}"'},
    )


def token_required(needs: str | Callable[[dict], str | tuple[str, ...]] | None = None):
    """Guard an API route: the request must carry a good token with the ``needs`` ability.

    ``needs`` is an ability, a function of the WSGI environ returning one or several
    (decided per request), or None for any good token. The view receives the
    ``VerifiedToken`` as its first argument.
    """

    def decorator(view):
        @functools.wraps(view)
        def guarded(*args, **kwargs):
            authority = current_app.extensions[EXTENSION_KEY]
            return view(admitted(authority, needs, request.environ), *args, **kwargs)

        return guarded

    return decorator


def admitted(authority: TokenAuthority, needs, environ: dict) -> VerifiedToken:
    """What every token route does before its answer (``token_required``'s views and the
    hot path's): the check, timed and counted when metrics are on; then the use, counted
    in memory, and ``last_used_at`` at most once per interval."""
    now = utcnow()
    metrics = authority.metrics
    if metrics is None:
        token = checked(authority, needs, now, environ)
    else:
        token = metrics.token_check(checked, authority, needs, now, environ)
    authority.usage.record(token.id, now)  # in memory: no database on this path
    return authority.record_use(token, now)


def checked(authority: TokenAuthority, needs, now: datetime, environ: dict) -> VerifiedToken:
    """The token of the request whose WSGI ``environ`` this is, if it is good at ``now``
    and has what ``needs`` says; otherwise an ``ApiError`` saying why not. Plain WSGI,
    no Flask: the hot path (hot_path.py) calls it before Flask sees the request."""
    if environ.get("QUERY_STRING"):
        refuse_token_in_query(query_pairs(environ))
    token = authority.verify(presented_token(environ.get("HTTP_AUTHORIZATION")), now)
    needed = needs(environ) if callable(needs) else needs
    if needed is not None:
        for one in (needed,) if isinstance(needed, str) else needed:
            if not token.may(one):
                raise insufficient(one)
    return token
