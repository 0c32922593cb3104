"""Column types shared by every table.

Two things differ between SQLite and PostgreSQL that the rest of the code should not
have to care about:

* Time. PostgreSQL stores `TIMESTAMP WITH TIME ZONE`; SQLite has no time zones and
  compares datetimes as text. `UTCDateTime` converts every value to UTC on the way in
  (naive values are taken to be UTC already) and hands back aware UTC datetimes on the
  way out, so `row.created_at < utcnow()` and SQL comparisons behave the same on both.
* JSON. `JSONB` on PostgreSQL (indexable, compact), plain JSON text on SQLite.
  The mutable wrappers track top-level changes (`esc.tags.append("x")`, `stats["k"] = 1`)
  on rows loaded from the database, so in-place edits are saved. Two exceptions need a
  re-assignment (`esc.tags = [*esc.tags, "x"]`): changes nested deeper, and objects built
  in this process and not reloaded since (SQLModel's constructor skips the wrapping).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.mutable import MutableDict, MutableList


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (the only kind storage hands out)."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Normalise a datetime to aware UTC; a naive value is taken to be UTC already."""
    zone = value.tzinfo
    if zone is UTC:  # most are (the pipeline normalises each post's time several times)
        return value
    if zone is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class JsonText(str):
    """A JSON column's value already encoded, exactly as SQLAlchemy's JSON type would
    encode it (`json.dumps` with its defaults): `storage.bulk` binds it as it is. The
    prescoring worker encodes the history-free part of a mention's JSON ahead
    (listener.encoding), so the pipeline's process does not encode it again."""

    __slots__ = ()


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """`TIMESTAMP WITH TIME ZONE` that always stores and returns UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}: {value!r}")
        moment = as_utc(value)
        # SQLite compares timestamps as text: store them all in one zone, without offset.
        return moment.replace(tzinfo=None) if dialect.name == "sqlite" else moment

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


def json_type() -> sa.types.TypeEngine[Any]:
    """JSONB on PostgreSQL, JSON text elsewhere (no change tracking)."""
    return sa.JSON().with_variant(JSONB(), "postgresql")


def utc_column(*, nullable: bool, default: Any = None, **kw: Any) -> sa.Column[Any]:
    """A UTCDateTime column; `default` may be a callable such as `utcnow`."""
    return sa.Column(UTCDateTime(), nullable=nullable, default=default, **kw)


def json_list_column() -> sa.Column[Any]:
    """A NOT NULL JSON list that defaults to [] and tracks append/remove."""
    return sa.Column(MutableList.as_mutable(json_type()), nullable=False, default=list)


def json_dict_column() -> sa.Column[Any]:
    """A NOT NULL JSON object that defaults to {} and tracks top-level assignment."""
    return sa.Column(MutableDict.as_mutable(json_type()), nullable=False, default=dict)


def enum_column(
    enum: type[StrEnum], name: str, *, nullable: bool = False, default: str | None = None
) -> sa.Column[Any]:
    """A short VARCHAR plus a CHECK constraint (`ck_<table>_<name>`) listing the values.

    Strings, not native PostgreSQL enums: adding a value later is a CHECK change in a
    migration rather than an `ALTER TYPE`, and SQLite and PostgreSQL share one schema.
    Values load back as members of `enum`.
    """
    return sa.Column(
        sa.Enum(
            enum,
            name=name,
            native_enum=False,
            create_constraint=True,
            length=16,
            values_callable=lambda e: [m.value for m in e],
            validate_strings=True,
        ),
        nullable=nullable,
        default=default,
    )
