"""What the tables share: the column types that store moments, abilities and roles,
and the clock a row's default reads."""

from datetime import UTC, datetime

from sqlalchemy import (
    DateTime,
    Enum,
    String,
    types,
)

from .. import abilities as ability
from ..permissions import Role


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(types.TypeDecorator):
    """A moment in time, stored as naive UTC and always read back as aware UTC.

    SQLite keeps no time zone, PostgreSQL would convert to the session's; storing
    plain UTC behaves the same on both.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("refusing to store a datetime without a time zone")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)

    def result_processor(self, dialect, coltype):
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        # SQLite hands back the ISO text SQLAlchemy stored: read it with its zone in one
        # step, not parsed and then given UTC in a second (the token check reads three
        # of these per request).
        def from_text(value: str | None) -> datetime | None:
            return None if value is None else datetime.fromisoformat(value + "+00:00")

        return from_text


class AbilitySet(types.TypeDecorator):
    """A token's abilities, stored as one space-separated string (``"read write"``)."""

    impl = String(100)
    cache_ok = True

    def process_bind_param(self, value: frozenset[str] | None, dialect) -> str | None:
        return None if value is None else " ".join(ability.ordered(frozenset(value)))

    def process_result_value(self, value: str | None, dialect) -> frozenset[str] | None:
        return None if value is None else frozenset(value.split())


def role_type() -> Enum:
    """A role stored as its value ("developer"), as text: no database enum type to alter
    when roles change."""
    return Enum(
        Role, native_enum=False, length=20, values_callable=lambda roles: [r.value for r in roles]
    )
