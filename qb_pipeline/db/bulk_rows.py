"""Many rows into one table at once, in the caller's transaction: COPY on PostgreSQL, the driver's
executemany on SQLite.

Each value goes through its column's own type first, as a Core insert would send it (an instant as
UTC; on SQLite a number as the driver's float, as everywhere else). COPY then gets it as text: a
Decimal as its exact digits (`format(value, "f")`: 0.0000015 stays 0.0000015, never through a float),
an instant in ISO 8601 with its offset.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def insert_rows(session: Session, table: sa.Table, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Insert `rows` (each a value per name in `columns`) into `table`. The values are converted before the
    session's transaction begins (on SQLite, before it takes the write lock)."""
    dialect = session.get_bind().dialect
    copy = dialect.name == "postgresql"
    converters = [_converter(table.c[name].type, dialect, copy) for name in columns]
    if copy:
        text = "".join(
            ["\t".join([convert(value) for convert, value in zip(converters, row, strict=True)]) + "\n" for row in rows]
        )
        statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
        dbapi = dialect.loaded_dbapi
        try:
            with session.connection().connection.dbapi_connection.cursor() as cursor:
                cursor.copy_expert(statement, io.BytesIO(text.encode()))
        except dbapi.Error as error:  # said as SQLAlchemy says any statement's: callers tell passing errors by it
            raise sa.exc.DBAPIError.instance(statement, None, error, dbapi.Error) from error
        return
    converted = [tuple([convert(value) for convert, value in zip(converters, row, strict=True)]) for row in rows]
    placeholders = ", ".join("?" for _ in columns)
    statement = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({placeholders})"
    session.connection().exec_driver_sql(statement, converted)


def _converter(column_type: sa.types.TypeEngine, dialect: sa.Dialect, copy: bool) -> Callable:
    """The column type's conversion of a value to what the driver takes (with `copy`, then to COPY's text),
    each distinct value converted once: a file's rows share a few instants, prices and ids."""
    process = column_type.dialect_impl(dialect).bind_processor(dialect)
    done: dict = {}

    def convert(value):
        found = done.get(value, done)
        if found is done:
            found = value if process is None or value is None else process(value)
            found = done[value] = _copy_text(found) if copy else found
        return found

    return convert


def _copy_text(value) -> str:
    """One field of COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        raise TypeError("a float in a COPY: money and prices go as Decimal")
    return str(value).translate(_COPY_ESCAPES)
