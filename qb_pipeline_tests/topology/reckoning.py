"""Duplicates and lost orders per company, counted from the sandbox's dump (what QuickBooks holds) and the
project database's orders table in plain SQL: nothing of the code under test is asked.

An invoice belongs to the order whose number it carries (DocNumber), or whose number its PrivateNote
marker names (the push writes `qb_pipeline order <number>` there, so a renumbered invoice still counts).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass

import sqlalchemy as sa

from qb_pipeline_tests.topology.companies import PREFIX, Company

MARKER = "qb_pipeline order "


@dataclass(frozen=True)
class CompanyCount:
    realm_id: str
    orders: int  # in the project database
    synced: int  # of them, marked synced
    invoices: int  # in QuickBooks, for those orders
    duplicates: int  # orders with more than one invoice
    lost: int  # orders without exactly their invoice: not synced, no invoice, or linked to another one
    misplaced: int  # invoices in this company for another company's orders

    def as_dict(self) -> dict:
        return asdict(self)


def order_of(invoice: dict) -> str:
    note = str(invoice.get("PrivateNote") or "").split("\n")[0]
    return note.removeprefix(MARKER) if note.startswith(MARKER) else str(invoice.get("DocNumber") or "")


def count(company: Company, database_url: str) -> CompanyCount:
    invoices: dict[str, set[str]] = defaultdict(set)
    misplaced = 0
    for invoice in company.invoices():
        number = order_of(invoice)
        if number.startswith(company.order_prefix):
            invoices[number].add(str(invoice["Id"]))
        elif number.startswith(PREFIX):
            misplaced += 1
    engine = sa.create_engine(sa.make_url(database_url).set(drivername="postgresql+psycopg2"))
    try:
        with engine.connect() as connection:
            orders = connection.execute(
                sa.text(
                    "SELECT order_number, status, qb_invoice_id FROM orders "
                    "WHERE order_number LIKE :prefix AND realm_id = :realm"
                ),
                {"prefix": f"{company.order_prefix}%", "realm": company.realm_id},
            ).all()
    finally:
        engine.dispose()
    lost = sum(
        1
        for number, status, invoice_id in orders
        if status != "synced" or len(invoices.get(number, ())) == 0 or invoice_id not in invoices[number]
    )
    return CompanyCount(
        realm_id=company.realm_id,
        orders=len(orders),
        synced=sum(1 for _, status, _ in orders if status == "synced"),
        invoices=sum(len(ids) for ids in invoices.values()),
        duplicates=sum(1 for ids in invoices.values() if len(ids) > 1),
        lost=lost,
        misplaced=misplaced,
    )
