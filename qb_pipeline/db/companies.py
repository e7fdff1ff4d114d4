"""The QuickBooks companies this deployment knows: connected (or once connected) by `qb-pipeline auth
connect`, or by the bundled sandbox's first connection; renamed and disconnected by `qb-pipeline companies`.

A disconnected company keeps its row (and its data) until its data is deleted: its name and dates say what
the rows still in the database belong to.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from qb_pipeline.db.models import Base
from qb_pipeline.db.types import UTCDateTime, utcnow


class Company(Base):
    """One QuickBooks company (realm): what the user calls it, and when it was connected or disconnected."""

    __tablename__ = "companies"

    realm_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(255))  # the user's name for it; CompanyName or the realm id
    connected_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disconnected_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # None while connected
    environment: Mapped[str | None] = mapped_column(sa.String(32))  # sandbox-local, sandbox, production


def record_connected(
    session: Session, realm_id: str, environment: str, *, name: str | None = None, reported_name: str | None = None
) -> Company:
    """A company connected now: added, or connected again. `name` (the user's) replaces the one it has;
    `reported_name` (QuickBooks' CompanyName) names it only where no name of the user's is kept."""
    company = session.get(Company, realm_id)
    if company is None:
        company = Company(realm_id=realm_id, name=name or reported_name or realm_id)
        session.add(company)
    elif name:
        company.name = name
    elif reported_name and company.name == realm_id:  # never named by anyone but us: QuickBooks' name is better
        company.name = reported_name
    company.connected_at, company.disconnected_at, company.environment = utcnow(), None, environment
    session.flush()
    return company


def record_if_missing(session: Session, realm_id: str, environment: str) -> None:
    """The bundled sandbox's company as `make dev` starts, before its first connection (no consent step: no
    `auth connect` names it)."""
    if session.get(Company, realm_id) is None:
        session.add(Company(realm_id=realm_id, name=realm_id, connected_at=utcnow(), environment=environment))
        session.flush()


def record_disconnected(session: Session, realm_id: str) -> None:
    company = session.get(Company, realm_id)
    if company is not None and company.disconnected_at is None:  # disconnected twice: the first time stands
        company.disconnected_at = utcnow()
        session.flush()


def find(session: Session, realm_id: str) -> Company | None:
    return session.get(Company, realm_id)


def all_companies(session: Session) -> list[Company]:
    return list(session.scalars(sa.select(Company).order_by(Company.connected_at, Company.realm_id)))


def rows_of(table: sa.Table, realm_id: str):
    """A WHERE clause for the rows of `table` that belong to `realm_id`: its `realm_id` column, or, for a
    table without one (an order's lines), the rows whose foreign key names such a row; None for neither."""
    if "realm_id" in table.columns:
        return table.c.realm_id == realm_id
    owned = []
    for key in table.foreign_key_constraints:
        if len(key.columns) != 1 or key.referred_table is table:
            continue
        parent_rows = rows_of(key.referred_table, realm_id)
        if parent_rows is not None:
            column, target = next(iter(key.columns)), key.elements[0].column
            owned.append(column.in_(sa.select(target).where(parent_rows)))
    return sa.or_(*owned) if owned else None


def delete_company_rows(session: Session, realm_id: str, metadata: sa.MetaData = Base.metadata) -> dict[str, int]:
    """Delete every row of `realm_id`: in every table keyed by company (this one included), and the rows
    of tables that hang off them by a foreign key. Children go before parents (the reverse of the models'
    dependency order), so no foreign key is left dangling. Read from the models, so a table keyed by company
    later is covered too. Returns the rows deleted per table, for the tables that had any."""
    deleted = {}
    for table in reversed(metadata.sorted_tables):
        where = rows_of(table, realm_id)
        if where is None:
            continue
        count = session.execute(sa.delete(table).where(where)).rowcount
        if count:
            deleted[table.name] = int(count)
    return deleted
