"""Seed data: the accounts and company every realm needs, the demo set, and N generated records."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from qb_pipeline.sandbox.company import PREFERENCES_ID, company_info, preferences
from qb_pipeline.sandbox.entities import CUSTOMER_DEFAULTS
from qb_pipeline.sandbox.store import Store, qbo_time

ACCOUNTS = [("Sales of Product Income", "Income", "SalesOfProductIncome"), ("Services", "Income", "ServiceFeeIncome")]
DEMO_CUSTOMERS = [
    "Amy's Bird Sanctuary",
    "Bill's Windsurf Shop",
    "Cool Cars",
    "Diego Rodriguez",
    "Dukes Basketball Camp",
    "Dylan Sollfrank",
    "Freeman Sporting Goods",
    "Geeta Kalapatapu",
    "Gevelber Photography",
    "Jeff's Jalopies",
    "John Melton",
    "Kate Whelan",
    "Kookies by Kathy",
    "Mark Cho",
    "Paulsen Medical Supplies",
    "Pye's Cakes",
    "Rago Travel Agency",
    "Red Rock Diner",
    "Rondonuwu Fruit and Vegi",
    "Shara Barnett",
    "Sonnenschein Family Store",
    "Sushi by Katsuyuki",
    "Travis Waldron",
    "Video Games by Dan",
    "Wedding Planning by Whitney",
    "Weiskopf Consulting",
    "O'Brien & Sons",
    "Café Größe",
]
DEMO_ITEMS = [
    ("Design", "75.00"),
    ("Installation", "50.00"),
    ("Lighting", "2.50"),
    ("Maintenance & Repair", "60.00"),
    ("Pest Control", "35.00"),
    ("Pump", "15.00"),
    ("Rock Fountain", "275.00"),
    ("Rocks", "9.95"),
    ("Sod", "4.75"),
    ("Sprinkler Heads", "2.00"),
    ("Sprinkler Pipes", "4.00"),
    ("Trimming", "35.00"),
    ("Concrete", "15.00"),
    ("Gardening", "25.00"),
    ("Hours", "20.00"),
    ("Soil", "10.00"),
]
DEMO_INACTIVE_EVERY = 7  # every 7th demo record is inactive, so inactive handling shows up in the demo


def seed_company(store: Store, realm: str, name: str = "Sandbox Company") -> None:
    """Accounts, CompanyInfo (`name` its CompanyName) and Preferences: present in every realm, even one
    seeded with `none`."""
    now = qbo_time()
    meta = {"CreateTime": now, "LastUpdatedTime": now}
    if not store.all(realm, "Account"):
        store.put_many(
            realm,
            "Account",
            [
                {
                    "Id": str(i),
                    "Name": name,
                    "AccountType": kind,
                    "AccountSubType": sub,
                    "Classification": "Revenue",
                    "Active": True,
                    "FullyQualifiedName": name,
                    "SyncToken": "0",
                    "MetaData": meta,
                    "domain": "QBO",
                }
                for i, (name, kind, sub) in enumerate(ACCOUNTS, start=1)
            ],
        )
    if store.get(realm, "CompanyInfo", int(realm)) is None:
        store.put(realm, "CompanyInfo", company_info(realm, meta, name))
    if store.get(realm, "Preferences", PREFERENCES_ID) is None:
        store.put(realm, "Preferences", preferences(meta))


def seed_records(
    store: Store,
    realm: str,
    *,
    customers: list[str],
    items: list[tuple[str, str]],
    inactive_every: int = 0,
    age_days: int = 0,
) -> None:
    """Bulk insert (no per-record rules: the names are known to be valid and unique), last changed `age_days`
    ago: a company's existing books, which CDC since an hour ago does not name again."""
    seed_company(store, realm)
    then = qbo_time(datetime.now(timezone.utc) - timedelta(days=age_days))
    meta = {"CreateTime": then, "LastUpdatedTime": then}
    next_id = store.next_id(realm)

    def active(n: int) -> bool:
        return not (inactive_every and n % inactive_every == inactive_every - 1)

    seeded_customers = [
        {
            "Id": str(next_id + n),
            "DisplayName": name,
            "FullyQualifiedName": name,
            "PrintOnCheckName": name,
            "Active": active(n),
            "Balance": Decimal("0"),
            "BalanceWithJobs": Decimal("0"),
            **CUSTOMER_DEFAULTS,
            "SyncToken": "0",
            "MetaData": meta,
            "domain": "QBO",
            "sparse": False,
        }
        for n, name in enumerate(customers)
    ]
    next_id += len(customers)
    seeded_items = [
        {
            "Id": str(next_id + n),
            "Name": name,
            "FullyQualifiedName": name,
            "Type": "Service",
            "UnitPrice": Decimal(price),
            "IncomeAccountRef": {"value": "2", "name": "Services"},
            "Active": active(n),
            "TrackQtyOnHand": False,
            "SyncToken": "0",
            "MetaData": meta,
            "domain": "QBO",
            "sparse": False,
        }
        for n, (name, price) in enumerate(items)
    ]
    for entity, records in (("Customer", seeded_customers), ("Item", seeded_items)):
        store.put_many(realm, entity, records)
        store.notify(realm, entity, "created", records)


def seed(
    store: Store,
    realm: str,
    preset: str = "none",
    *,
    customers: int = 0,
    items: int = 0,
    name: str = "Sandbox Company",
    age_days: int = 0,
) -> None:
    seed_company(store, realm, name)
    if preset == "demo":
        seed_records(store, realm, customers=DEMO_CUSTOMERS, items=DEMO_ITEMS, inactive_every=DEMO_INACTIVE_EVERY)
    elif preset != "none":
        raise ValueError(f"seed must be demo or none (got {preset!r})")
    if customers or items:
        start = store.next_id(realm)
        seed_records(
            store,
            realm,
            customers=[f"Customer {start + n:06d}" for n in range(customers)],
            items=[(f"Item {start + n:06d}", f"{(n % 500) + 1}.{n % 100:02d}") for n in range(items)],
            age_days=age_days,
        )
