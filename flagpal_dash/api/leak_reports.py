"""Leaked-token reports: ``POST /api/v1/tokens/revoke``, where a secret scanner (GitHub's
partner program, or anyone who finds a FlagPal token in public) reports it so it stops
working at once. Project API tokens and personal access tokens alike: each reported
personal token is revoked and its person mailed (core/personal_tokens.py).

The endpoint takes no authentication, like PyPI's and GitHub's own: whoever holds a
token can already use it, so letting them revoke it gives them nothing more. For the
same reason GitHub's signature headers (``Github-Public-Key-Identifier`` and
``-Signature``) are not checked (that needs GitHub's key list, fetched online): a forged
report can only revoke a token its sender already has.

What it must never be is an oracle: every well-formed report gets the same answer,
byte for byte, whether its tokens matched, were unknown or were malformed. Only a
request that is not a report at all (not JSON, not a list, too big) gets an error, and
that says nothing about any token.
"""

import re
from typing import NamedTuple
from urllib.parse import urlsplit

import orjson
from flask import Response, current_app, request
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import RequestEntityTooLarge

from .. import token_format
from ..core import automatic_revocations, personal_tokens
from ..extensions import db
from ..health import first_line
from ..models import ApiToken, PersonalToken, utcnow
from .errors import MEDIA_TYPE, ApiError

# 1,000 entries in GitHub's format, each with a long URL, fit; the rest of the app
# takes 64 KB (MAX_CONTENT_LENGTH).
MAX_BYTES = 512 * 1024
MAX_ENTRIES = 1000
# Far longer than any token or any address worth keeping; a longer value is not a report.
MAX_VALUE_LENGTH = 2048
# What is kept of a report: the URL goes into the token's revoked_reason (500 characters).
MAX_URL_LENGTH = 400
MAX_LABEL_LENGTH = 100
JSON_MEDIA_TYPES = frozenset({"application/json", MEDIA_TYPE})
# A token (of either kind) inside a reported URL or label is cut out before anything is
# stored.
TOKEN_PATTERN = re.compile(
    token_format.PATTERN.replace(token_format.PREFIX, token_format.PREFIX + "(?:pat_)?", 1)
)
TOKEN_REMOVED = token_format.PREFIX + "…"

ACCEPTED = orjson.dumps(
    {
        "meta": {
            "status": "accepted",
            "detail": "Thank you. Every reported FlagPal token that still worked is revoked. "
            "This answer is the same whether or not any token matched.",
        }
    }
)


class Report(NamedTuple):
    """One reported token, with where it was found as far as it is worth keeping."""

    token: str
    url: str | None = None
    source: str | None = None
    secret_type: str | None = None


def accepted() -> Response:
    """The one answer to every well-formed report."""
    return Response(ACCEPTED, 202, mimetype=MEDIA_TYPE)


def read_reports() -> list[Report]:
    """The reports in the request body: GitHub's secret scanning format (a list of
    objects with ``token``, ``type``, ``url``, ``source``) or a plain list of token
    strings, or both mixed. Anything else is an ``ApiError`` (4xx) before any change."""
    request.max_content_length = MAX_BYTES
    if request.mimetype not in JSON_MEDIA_TYPES:
        raise ApiError(
            415,
            "unsupported_media_type",
            "Unsupported media type",
            "Send the report as JSON, with `Content-Type: application/json`.",
        )
    try:
        body = request.get_data(cache=False)
    except RequestEntityTooLarge:
        raise ApiError(
            413,
            "report_too_large",
            "Report too large",
            f"A report may be at most {MAX_BYTES // 1024} KB. Send it in smaller parts.",
        ) from None
    try:
        entries = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ApiError(
            400, "invalid_json", "Invalid JSON", "The body is not valid JSON in UTF-8."
        ) from None
    if not isinstance(entries, list):
        raise unusable(
            "report_not_a_list",
            "Send a JSON list: of token strings, or of objects with a `token` string "
            "(GitHub's secret scanning format).",
            "",
        )
    if len(entries) > MAX_ENTRIES:
        raise unusable(
            "report_too_long",
            f"A report may hold at most {MAX_ENTRIES:,} tokens; this one has "
            f"{len(entries):,}. Send it in smaller parts.",
            "",
        )
    return [report_of(entry, f"/{index}") for index, entry in enumerate(entries)]


def report_of(entry, pointer: str) -> Report:
    """One entry of a report, checked, with what is kept of it made safe to store."""
    if isinstance(entry, str):
        return Report(text_value(entry, pointer))
    if not isinstance(entry, dict) or not isinstance(entry.get("token"), str):
        raise unusable(
            "entry_invalid",
            "Each entry must be a token string, or an object with a `token` string.",
            pointer,
        )
    # Other keys are left alone, should GitHub add some.
    fields = {
        name: text_value(entry.get(name), f"{pointer}/{name}", optional=True)
        for name in ("token", "url", "source", "type")
    }
    return Report(
        fields["token"],
        found_at(fields["url"]),
        label(fields["source"]),
        label(fields["type"]),
    )


def text_value(value, pointer: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise unusable("entry_invalid", "This must be a string.", pointer)
    if len(value) > MAX_VALUE_LENGTH:
        raise unusable(
            "value_too_long",
            f"A value may be at most {MAX_VALUE_LENGTH:,} characters long.",
            pointer,
        )
    return value


def unusable(code: str, detail: str, pointer: str) -> ApiError:
    return ApiError(422, code, "Unusable report", detail, pointer=pointer)


def found_at(url: str | None) -> str | None:
    """Where the token was found, when that is an http(s) address: trimmed, without any
    token in it, shortened to fit. It is shown as text, never as a link; anything that
    is not a plain web address is dropped."""
    url = (url or "").strip()
    if not url or not url.isprintable() or " " in url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # such as an unclosed "[" in the host
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return shortened(TOKEN_PATTERN.sub(TOKEN_REMOVED, url), MAX_URL_LENGTH)


def label(value: str | None) -> str | None:
    """A short word from the report (GitHub's ``source`` or ``type``), printable only."""
    value = "".join(char for char in (value or "") if char.isprintable()).strip()
    return shortened(TOKEN_PATTERN.sub(TOKEN_REMOVED, value), MAX_LABEL_LENGTH) or None


def shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def revoke_reported(reports: list[Report]) -> None:
    """Revoke every reported token that still works, recording each in the audit log.

    A value that is not a well-formed token of either kind (prefix, length, checksum) is
    skipped without touching the database; the rest are looked up together, one query
    per kind of token reported, so a report costs the same whether or not its tokens
    are known.
    """
    project_reports: dict[str, Report] = {}
    personal_reports: dict[str, Report] = {}
    for report in reports:
        if token_format.is_well_formed(report.token):
            project_reports.setdefault(token_format.digest(report.token), report)
        elif token_format.is_well_formed_personal(report.token):
            personal_reports.setdefault(token_format.digest(report.token), report)
    if not project_reports and not personal_reports:
        return
    try:
        now = utcnow()
        revokes = (
            (ApiToken, project_reports, automatic_revocations.revoke_as_leaked),
            (PersonalToken, personal_reports, personal_tokens.revoke_as_leaked),
        )
        for model, by_digest, revoke_as_leaked in revokes:
            if not by_digest:
                continue
            reported = db.session.scalars(
                select(model).where(model.token_hash.in_(by_digest)).order_by(model.id)
            ).all()
            for token in reported:
                report = by_digest[token.token_hash]
                revoke_as_leaked(token, report.url, report.source, report.secret_type, now)
        db.session.commit()
    except SQLAlchemyError as error:
        db.session.rollback()
        # One line, not a traceback: while the database is down, every report says so.
        current_app.logger.error("Leaked-token report failed: %s", first_line(error))
        raise ApiError(
            503,
            "unavailable",
            "Service unavailable",
            "Reports cannot be processed right now. Send it again shortly.",
            {"Retry-After": "5"},
        ) from None
