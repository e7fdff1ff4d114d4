"""Column types shared by every model: money as Decimal and instants as aware UTC datetimes."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

# Amounts (line amounts, totals, balances) are in cents. Unit prices keep QuickBooks' seven decimal places
# (docs/qbo-api.md, "Unit prices and amounts"): 0.125 is a price, and 1,000 of it are 125.00, not 130.00.
# Raw order input keeps more scale than either, so that a price written with one decimal too many can be
# refused with a reason instead of being rounded silently by the database.
MONEY = sa.Numeric(14, 2, asdecimal=True)
UNIT_PRICE_PLACES = 7
UNIT_PRICE = sa.Numeric(18, UNIT_PRICE_PLACES, asdecimal=True)
RAW_PRICE_PLACES = 10  # an order line's price as the app wrote it: more places than a unit price keeps
PERCENT_PLACES = 4
PERCENT = sa.Numeric(9, PERCENT_PLACES, asdecimal=True)

CENT = Decimal("0.01")
UNIT_PRICE_STEP = Decimal(1).scaleb(-UNIT_PRICE_PLACES)


def to_cents(value: Decimal) -> Decimal:
    """Money rounded to the cent, half up (2.125 → 2.13, −2.125 → −2.13): the one rounding rule for amounts."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def to_unit_price(value: Decimal) -> Decimal:
    """A computed unit price (a percentage of another) rounded half up to QuickBooks' seven places."""
    return value.quantize(UNIT_PRICE_STEP, rounding=ROUND_HALF_UP)


def decimals_written(number: Decimal) -> int:
    """How many decimals a number was written with, trailing zeros included (8.000 → 3, 1E+2 → 0)."""
    exponent = number.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def reads_as_thousands(written: Decimal) -> bool:
    """A price written like a number with a thousands separator (1.250, 1.000: three digits after the point,
    the last a zero): a German-style 1250 as likely as 1.25, so it is refused, not guessed. A real price of
    three places ends in a digit that counts (0.125); longer forms (8.000000) cannot be a grouping."""
    return decimals_written(written) == 3 and written.as_tuple().digits[-1] == 0


def price_text(price: Decimal) -> str:
    """A unit price as people write it: cents at least, and the places past them that count (12.50, 0.125)."""
    cents = price.quantize(CENT)
    return str(cents if cents == price else plain_decimal(price))


def plain_decimal(number: Decimal) -> Decimal:
    """2.000000 → 2 and -10.5000 → -10.5, never exponent forms like 1E+2 (which QBO and CSV readers refuse)."""
    return number.to_integral() if number == number.to_integral() else number.normalize()


class RawAmount(TypeDecorator[Decimal]):
    """A number as the order-entry app wrote it (NUMERIC(precision, scale)), read back without judging it.

    SQLite will store text in a NUMERIC column; reading such a value must not crash the load of a
    whole batch of orders. A value that is not a number comes back as its text, for the order's
    validation to reject with a reason.
    """

    impl = sa.Numeric
    cache_ok = True

    def __init__(self, precision: int = 18, scale: int = 6) -> None:
        super().__init__(precision, scale)

    def load_dialect_impl(self, dialect: sa.Dialect):
        precision, scale = self.impl.precision, self.impl.scale
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Numeric(precision, scale, asdecimal=False))
        return dialect.type_descriptor(sa.Numeric(precision, scale))

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
