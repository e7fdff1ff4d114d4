"""QBO JSON ↔ rows: instants as UTC, money as exact Decimal, inactive rows kept."""

from datetime import datetime, timezone
from decimal import Decimal
from types import SimpleNamespace

import pytest

from qb_pipeline.sync.records import customer_payload, customer_row, item_payload, item_row, money, parse_instant


def test_instants_with_different_offsets_compare_as_the_same_moment():
    assert parse_instant("2026-11-01T02:00:00-08:00") == parse_instant("2026-11-01T10:00:00Z")
    assert parse_instant("2026-11-01T02:00:00-08:00") == datetime(2026, 11, 1, 10, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match="without an offset"):
        parse_instant("2026-11-01T02:00:00")


def test_money_is_exact_decimal():
    assert money(Decimal("0.1")) + money(Decimal("0.2")) == Decimal("0.30")
    assert money("19.999") == Decimal("20.00") and money("") is None
    with pytest.raises(ValueError, match="not an amount"):
        money("abc")


def test_customer_row_mirrors_inactive_customer():
    row = customer_row(
        {
            "Id": "58",
            "SyncToken": "3",
            "DisplayName": "O'Brien & Sons",
            "Active": False,
            "PrimaryEmailAddr": {"Address": "ap@obrien.example"},
            "Balance": Decimal("125.5"),
            "MetaData": {"LastUpdatedTime": "2026-11-20T09:15:00-08:00"},
        }
    )
    assert row["qb_id"] == "58" and row["active"] is False and row["balance"] == Decimal("125.50")
    assert row["email"] == "ap@obrien.example"
    assert row["qb_updated_at"] == datetime(2026, 11, 20, 17, 15, tzinfo=timezone.utc)


def test_item_row_and_payload_round_trip_owned_fields():
    row = item_row(
        {
            "Id": "7",
            "Name": "Widget",
            "Type": "Service",
            "UnitPrice": Decimal("12.5"),
            "IncomeAccountRef": {"value": "79", "name": "Sales"},
            "Active": True,
        }
    )
    assert row["unit_price"] == Decimal("12.50") and row["income_account_qb_id"] == "79"
    payload = item_payload(SimpleNamespace(**{**row, "active": True}))
    assert payload == {
        "Name": "Widget",
        "Type": "Service",
        "Active": True,
        "UnitPrice": Decimal("12.50"),
        "IncomeAccountRef": {"value": "79"},
    }


def test_customer_payload_sends_only_set_fields():
    local = SimpleNamespace(
        display_name="Acme",
        active=True,
        company_name=None,
        given_name="Ann",
        family_name=None,
        email=None,
        phone="555-0100",
    )
    assert customer_payload(local) == {
        "DisplayName": "Acme",
        "Active": True,
        "GivenName": "Ann",
        "PrimaryPhone": {"FreeFormNumber": "555-0100"},
    }
