"""Which tokens the API Tokens page shows: a filter by name and status, and one page.

Automation and regular rotation make lists long (a project may keep thousands of
revoked and expired tokens), so the page reads one page of rows in the same few
queries whatever the number of tokens: a count, the page's active tokens and its
others (with who created and revoked each joined in), and (in the view) the page's
usage. See ``token_page``.
"""

from dataclasses import dataclass
from datetime import datetime

from flask import abort
from sqlalchemy import and_, false, func, select
from sqlalchemy.orm import joinedload

from ..core import tokens
from ..extensions import db
from ..models import ApiToken, Project

# Rows a page: enough to scan, few enough that a page of busy tokens, each with its
# sparkline and times, stays within bench/token_list.py's target against a 10-token
# project's page (the bench prints both).
PAGE_SIZE = 20

# The status filter's choices, as the form offers them: value -> label.
STATUSES = {
    "all": "All",
    "active": "Active",
    "expiring": "Expiring soon",
    "expired": "Expired",
    "revoked": "Revoked",
}


@dataclass(frozen=True)
class TokenFilter:
    """Part of a token's name (any case; ``%`` and ``_`` are plain characters) and a
    status from ``STATUSES``."""

    name: str = ""
    status: str = "all"

    CHOICES = STATUSES

    @classmethod
    def from_args(cls, args) -> "TokenFilter":
        """The filter in a query string; a status that is not offered is a 404."""
        status = args.get("status") or "all"
        if status not in STATUSES:
            abort(404)
        return cls(name=args.get("name", "").strip(), status=status)

    @property
    def is_default(self) -> bool:
        return self == TokenFilter()

    def conditions(self, now: datetime) -> list:
        """SQL conditions for the tokens this filter keeps."""
        conditions = []
        if "\x00" in self.name:
            # In no token's name, and PostgreSQL refuses to compare text holding it.
            conditions.append(false())
        elif self.name:
            # autoescape: a % or _ typed in the box matches itself, not any characters.
            conditions.append(ApiToken.name.icontains(self.name, autoescape=True))
        if self.status == "expiring":
            conditions.append(tokens.expiring_sql(now))
        elif self.status == "active":
            conditions.append(tokens.is_active_sql(now))
        elif self.status != "all":
            conditions.append(tokens.status_expression(now) == tokens.TokenState(self.status).value)
        return conditions

    @property
    def nothing_found(self) -> str:
        """What to say when no token matches: "No revoked token has “ci” in its name."."""
        kind = {"all": "token", "expiring": "token expiring soon"}.get(
            self.status, f"{self.status} token"
        )
        if self.name:
            return f"No {kind} has “{self.name}” in its name."
        plural = kind.replace("token", "tokens", 1)
        return f"This project has no {plural}."

    def query_args(self, **extra) -> dict:
        """URL arguments that keep this filter (defaults left out, for short links)."""
        args = {"name": self.name or None, "status": None if self.status == "all" else self.status}
        return {key: value for key, value in {**args, **extra}.items() if value is not None}


@dataclass(frozen=True)
class TokenPage:
    """One page of a project's tokens that match ``filter``: active ones first, then
    expired and revoked ones, newest first within each."""

    tokens: list[ApiToken]
    filter: TokenFilter
    number: int
    # Tokens matching the filter, on every page.
    total: int
    # Whether the project has any token at all ("no tokens yet" or "none match").
    project_has_tokens: bool

    @property
    def pages(self) -> int:
        return page_count(self.total)

    @property
    def first_row(self) -> int:
        return (self.number - 1) * PAGE_SIZE + 1

    @property
    def last_row(self) -> int:
        return self.first_row + len(self.tokens) - 1

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None

    def query_args(self, number: int) -> dict:
        """URL arguments for page ``number`` with the same filter."""
        return self.filter.query_args(page=number if number > 1 else None)


def page_count(total: int) -> int:
    """Pages for ``total`` tokens: at least one, which may be empty."""
    return max(1, -(-total // PAGE_SIZE))


def counted(conditions: list):
    """The number of tokens meeting ``conditions``, as a subquery."""
    return select(func.count()).select_from(ApiToken).where(*conditions).scalar_subquery()


def newest_first(conditions: list, offset: int, limit: int) -> list[ApiToken]:
    """``limit`` tokens meeting ``conditions`` from ``offset`` on, newest first, with who
    created and revoked each (joined in the same query)."""
    return db.session.scalars(
        select(ApiToken)
        .where(*conditions)
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        .offset(offset)
        .limit(limit)
        .options(joinedload(ApiToken.created_by), joinedload(ApiToken.revoked_by))
    ).all()


def token_page(
    project: Project, token_filter: TokenFilter, number: int, now: datetime
) -> TokenPage:
    """Page ``number`` of ``project``'s tokens that match ``token_filter``: active tokens
    first, then the rest, newest first within each. A page past the last is a 404
    (page 1 always exists, empty or not).

    Four statements at most, whatever the number of tokens or the page: one counts
    (the indexes answer it alone), then the page's active tokens and its others,
    each read newest first along the (project, created) index and stopping at the page's
    end instead of sorting every token by status. Both reads run on every page, one of
    them often for no rows, so every page costs the same.
    """
    conditions = [ApiToken.project_id == project.id, *token_filter.conditions(now)]
    active = tokens.is_active_sql(now)
    inactive = tokens.status_expression(now) != tokens.TokenState.ACTIVE.value
    never_expiring, expiring_later = tokens.active_ranges(now)
    total, active_total = db.session.execute(
        select(
            counted(conditions),
            # Active ones counted range by range (never expiring, expiring later: two
            # ranges of the (project, revoked, expires) index) rather than by judging each
            # token's status, which would read every token of the project.
            counted([*conditions, never_expiring]) + counted([*conditions, expiring_later]),
        )
    ).one()
    if number > page_count(total):
        abort(404)
    start = (number - 1) * PAGE_SIZE
    from_active = max(0, min(PAGE_SIZE, active_total - start))
    shown_active = newest_first([*conditions, active], start, from_active)
    if shown_active:
        # Not those just read as active: one revoked in between would be listed twice.
        inactive = and_(inactive, ApiToken.id.not_in([token.id for token in shown_active]))
    shown = [
        *shown_active,
        *newest_first(
            [*conditions, inactive], max(0, start - active_total), PAGE_SIZE - from_active
        ),
    ]
    # Nothing matches: is that the filter, or a project without tokens?
    has_tokens = total > 0 or (
        not token_filter.is_default
        and db.session.scalar(
            select(select(ApiToken.id).where(ApiToken.project_id == project.id).exists())
        )
    )
    return TokenPage(shown, token_filter, number, total, has_tokens)
