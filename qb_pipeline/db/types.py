"""Column types shared by every model: money as Decimal and instants as aware UTC datetimes."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

# Money: two decimal places end to end. Raw order input keeps more scale so that a price written with
# three decimals can be rejected with a reason instead of being rounded silently by the database.
MONEY = sa.Numeric(14, 2, asdecimal=True)
PERCENT = sa.Numeric(9, 4, asdecimal=True)

CENT = Decimal("0.01")


def to_cents(value: Decimal) -> Decimal:
    """Money rounded to the cent, half up (2.125 → 2.13, −2.125 → −2.13): the one rounding rule."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def plain_decimal(number: Decimal) -> Decimal:
    """2.000000 → 2 and -10.5000 → -10.5, never exponent forms like 1E+2 (which QBO and CSV readers refuse)."""
    return number.to_integral() if number == number.to_integral() else number.normalize()


class RawAmount(TypeDecorator[Decimal]):
    """An amount as the order-entry app wrote it: NUMERIC(18, 6), read back without judging it.

    SQLite will store text in a NUMERIC column; reading such a value must not crash the load of a
    whole batch of orders. A value that is not a number comes back as its text, for the order's
    validation to reject with a reason.
    """

    impl = sa.Numeric(18, 6)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Numeric(18, 6, asdecimal=False))
        return dialect.type_descriptor(sa.Numeric(18, 6))

    def process_result_value(self, value, dialect: sa.Dialect):
        if value is None or isinstance(value, Decimal):
            return value
        try:
            return Decimal(str(value))  # str() first: a float's shortest repr, not its binary expansion
        except ArithmeticError:
            return str(value)


class UTCDateTime(TypeDecorator[datetime]):
    """An instant: stored as UTC (naive on SQLite, timestamptz on PostgreSQL), read back tz-aware.

    Naive datetimes are refused on the way in, so a local wall-clock time can never be stored by
    mistake and compared against a UTC one.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware UTC instant is required")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
