"""The token authority: the one place that turns a presented token into "this project,
these abilities", and the decorator that guards every token API route with it.

The hot path of the whole product. Per request it does: parse the header, check the
token's format and checksum (no database), then one indexed lookup by SHA-256. There
is no cache: a revoked or expired token must fail on the very next request, on every
server process. ``last_used_at`` is written at most once per token per
``LAST_USED_INTERVAL`` seconds, so most checks only read.
"""

import functools
import secrets
from collections import namedtuple
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from flask import current_app, g, request
from sqlalchemy import Engine, bindparam, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import Headers

from .. import abilities as ability
from .. import token_format
from ..extensions import db
from ..models import ApiToken, Project, utcnow
from .errors import REALM, ApiError, unauthorized

# Longer than any token, shorter than any abuse worth reading.
MAX_AUTHORIZATION_LENGTH = 200
# Query parameters that clients put tokens in; a value shaped like a token counts too.
TOKEN_QUERY_NAMES = frozenset({"access_token", "token", "api_token", "api_key", "apikey"})


@dataclass(frozen=True)
class VerifiedToken:
    id: int
    name: str
    abilities: frozenset[str]
    project_slug: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None

    def may(self, needed: str) -> bool:
        return ability.grants(self.abilities, needed)


def presented_token(headers: Headers) -> str:
    """The token in the ``Authorization: Bearer <token>`` header, exactly as sent.

    Only this one form is accepted: one header, the ``Bearer`` scheme (capital B), one
    space, one token. Anything else is refused with a detail saying what to send.
    """
    values = headers.getlist("Authorization")
    if len(values) > 1:
        raise malformed("Send one Authorization header, not several.")
    authorization = values[0] if values else None
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
            f"This API takes a project API token as `Authorization: Bearer <token>`, "
            f"not the {scheme[:20]!r} scheme.",
            token_sent=False,
        )
    if token != token.strip() or " " in token or token == "":
        raise malformed("Send exactly one token after `Bearer `, separated by a single space.")
    return token


def malformed(detail: str) -> ApiError:
    return unauthorized("token_malformed", "Token malformed", detail)


def refuse_token_in_query(query_args) -> None:
    """Tokens in URLs end up in logs and browser histories: refuse them outright."""
    for name, value in query_args.items(multi=True):
        if name.lower() in TOKEN_QUERY_NAMES or token_format.PREFIX in value:
            raise malformed(
                "Tokens are accepted only in the `Authorization: Bearer` header, never in a URL. "
                "Remove it from the URL, and revoke it if it was a real token: URLs are logged."
            )


# Built once: composing the statement costs more than running it.
LOOKUP = (
    select(
        ApiToken.id,
        ApiToken.token_hash,
        ApiToken.name,
        ApiToken.abilities,
        ApiToken.created_at,
        ApiToken.expires_at,
        ApiToken.revoked_at,
        ApiToken.last_used_at,
        Project.slug,
    )
    .join(Project, Project.id == ApiToken.project_id)
    .where(ApiToken.token_hash == bindparam("digest"))
)
RECORD_USE = (
    update(ApiToken)
    .where(
        ApiToken.id == bindparam("token_id"),
        or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= bindparam("not_after")),
    )
    .values(last_used_at=bindparam("now"))
)


class TokenLookup:
    """``LOOKUP``, compiled once for an engine and run on a pooled DBAPI cursor.

    On this path SQLAlchemy's execution and result layers cost several times the
    query itself (about 45 of 55 µs on SQLite; ``make bench`` prints the figures), so
    the statement is compiled once and its rows converted with the columns' own
    result processors, exactly as SQLAlchemy would.
    """

    def __init__(self, engine: Engine):
        dialect = engine.dialect
        compiled = LOOKUP.compile(dialect=dialect)
        self.engine = engine
        self.sql = str(compiled)
        self.positional = compiled.positional
        self.processors = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in LOOKUP.selected_columns
        ]
        self.database_errors = (SQLAlchemyError, dialect.loaded_dbapi.Error)

    def fetch(self, digest: str) -> "LookupRow | None":
        """The token row with this digest, or None; ``unavailable()`` if the database fails."""
        parameters = (digest,) if self.positional else {"digest": digest}
        try:
            connection = self.engine.raw_connection()
            try:
                cursor = connection.cursor()
                cursor.execute(self.sql, parameters)
                values = cursor.fetchone()
                cursor.close()
            except self.database_errors:
                connection.invalidate()  # the pool must not hand out a broken connection
                raise
            finally:
                connection.close()
        except self.database_errors:
            current_app.logger.exception("Token check failed: the database could not be read")
            raise unavailable() from None
        if values is None:
            return None
        return LookupRow._make(
            process(value) if process else value
            for process, value in zip(self.processors, values, strict=True)
        )


LookupRow = namedtuple("LookupRow", [column.key for column in LOOKUP.selected_columns])


@functools.lru_cache(maxsize=8)
def token_lookup(engine: Engine) -> TokenLookup:
    return TokenLookup(engine)


def verify(value: str, now: datetime | None = None) -> VerifiedToken:
    """The token ``value`` if it is good now; otherwise an ``ApiError`` saying why not.

    A malformed value is refused before any database query.
    """
    if not token_format.is_well_formed(value):
        raise malformed(
            "That is not a FlagPal token: it must be `flagpal_` and 46 letters and digits "
            "with a valid checksum. Check it was copied whole."
        )
    digest = token_format.digest(value)
    row = token_lookup(db.engine).fetch(digest)
    if row is None or not secrets.compare_digest(row.token_hash, digest):
        raise unauthorized(
            "token_invalid",
            "Token invalid",
            "This token is not known. It may have been mistyped or deleted.",
        )
    if row.revoked_at is not None:
        raise unauthorized(
            "token_revoked",
            "Token revoked",
            "This token was revoked. Create a new one in FlagPal Dash.",
        )
    now = now or utcnow()
    if row.expires_at is not None and row.expires_at <= now:
        raise unauthorized(
            "token_expired",
            "Token expired",
            "This token has expired. Create a new one in FlagPal Dash.",
        )
    return VerifiedToken(
        id=row.id,
        name=row.name,
        abilities=row.abilities,
        project_slug=row.slug,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
    )


def unavailable() -> ApiError:
    return ApiError(
        503,
        "unavailable",
        "Service unavailable",
        "Tokens cannot be checked right now. Try again shortly.",
        {"Retry-After": "5"},
    )


def record_use(token: VerifiedToken, now: datetime) -> VerifiedToken:
    """Note that ``token`` was used, at most once per interval; never fails the request.

    The UPDATE repeats the interval condition, so several processes racing to record
    the same minute write once between them.
    """
    interval = timedelta(seconds=current_app.config["LAST_USED_INTERVAL"])
    if token.last_used_at is not None and now - token.last_used_at < interval:
        return token
    try:
        with db.engine.begin() as connection:
            connection.execute(
                RECORD_USE, {"token_id": token.id, "not_after": now - interval, "now": now}
            )
    except SQLAlchemyError:
        current_app.logger.warning("Could not record the use of token %s", token.id, exc_info=True)
        return token
    return replace(token, last_used_at=now)


def insufficient(needed: str) -> ApiError:
    return ApiError(
        403,
        "insufficient_ability",
        "Insufficient ability",
        f"This token does not have the `{needed}` ability. Create a token that has it.",
        {"WWW-Authenticate": f'{REALM}, error="insufficient_scope", scope="{needed}"'},
    )


def token_required(needs: str | Callable[[], str] | None = None):
    """Guard an API route: the request must carry a good token with the ``needs`` ability.

    ``needs`` is an ability, a function returning one (decided per request), or None
    for any good token. The view finds the token in ``g.api_token``.
    """

    def decorator(view):
        @functools.wraps(view)
        def guarded(*args, **kwargs):
            refuse_token_in_query(request.args)
            token = verify(presented_token(request.headers))
            needed = needs() if callable(needs) else needs
            if needed is not None and not token.may(needed):
                raise insufficient(needed)
            g.api_token = record_use(token, utcnow())
            return view(*args, **kwargs)

        return guarded

    return decorator
