"""What benchmarks/many_companies.py asks of the running stack: run spans from Dagster's records, the hourly
cycle launched through the webserver, rows compared with the sandbox's dumps, orders timed to their invoice."""

from __future__ import annotations

import math
import statistics
import subprocess
import time
from decimal import Decimal
from urllib.parse import urlparse

import sqlalchemy as sa
from dagster_graphql import DagsterGraphQLClient

from qb_pipeline.automation import DAILY_CATCH_UP, HOURLY_SYNC
from qb_pipeline.db.models import Customer, Item, Order, OrderLine
from qb_pipeline.db.session import make_engine, session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.jobs import HOURLY_SYNC_JOB, company_tags
from qb_pipeline.partitions import partition_tag
from qb_pipeline_tests.topology.companies import Company
from qb_pipeline_tests.topology.processes import DAGSTER, LOCATION, Topology
from qb_pipeline_tests.topology.reckoning import count, order_of
from qb_pipeline_tests.topology.scenario import wait_until_settled

FINISHED = ("SUCCESS", "FAILURE", "CANCELED")
ORDER_SPACING_SECONDS = 0.1  # 200 orders written over 20 s, round the companies
# How often the companies' dumps are read for new invoices: a latency is measured up to this much late. Read
# more often, the reading itself loads the sandbox that serves the pushes (20 dumps a look, on 2 cores).
LOOK_EVERY_SECONDS = 0.5
ORDERS_TIMEOUT_SECONDS = 600


def _runs(topology: Topology, where: str, params: dict) -> list[tuple]:
    """(run id, partition, status, start, end) of the runs of a company's partition matching `where`."""
    engine = sa.create_engine(topology.dagster_database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(
                sa.text(
                    "SELECT runs.run_id, part.value, runs.status, runs.start_time, runs.end_time FROM runs "
                    "JOIN run_tags part ON part.run_id = runs.run_id AND part.key = 'dagster/partition' "
                    f"WHERE {where}"
                ),
                params,
            ).all()
    finally:
        engine.dispose()


def stop_schedules(topology: Topology) -> None:
    """The hourly and daily schedules stopped, as an operator stops them in the UI: what is measured is what
    the benchmark launches, never a schedule that fires at the top of the hour in the middle of it."""
    for schedule in (HOURLY_SYNC, DAILY_CATCH_UP):
        subprocess.run(
            [*DAGSTER, "schedule", "stop", schedule, "--workspace", str(topology.folder / "workspace.yaml")],
            env=topology.dagster_env,
            check=True,
            capture_output=True,
            timeout=120,
        )


def first_sync_spans(topology: Topology, realms: list[str]) -> dict[str, tuple[float, float, float]]:
    """Each company's first sync (the automation sensor's runs of its partition): first start, last end,
    and its longest run (a company may get a second, later run: its span then holds the wait between)."""
    rows = _runs(
        topology,
        "runs.run_id IN (SELECT run_id FROM run_tags WHERE key = 'dagster/sensor_name' "
        "AND value = 'quickbooks_automation_sensor') AND runs.start_time IS NOT NULL",
        {},
    )
    spans: dict[str, tuple[float, float, float]] = {}
    for _run, realm, _status, start, end in rows:
        if realm in realms:
            end = end or start
            first, last, longest = spans.get(realm, (start, end, 0.0))
            spans[realm] = (min(first, start), max(last, end), max(longest, end - start))
    return spans


def hourly_cycle(topology: Topology, realms: list[str]) -> dict:
    """hourly_sync_job for each company's partition, launched through the webserver as the schedule's
    requests are; wall from the first launch until every run ended."""
    address = urlparse(topology.ui)
    client = DagsterGraphQLClient(address.hostname, port_number=address.port)
    started = time.time()
    run_ids = [
        client.submit_job_execution(
            HOURLY_SYNC_JOB,
            repository_location_name=LOCATION,
            repository_name="__repository__",
            tags={**partition_tag(realm), **company_tags(realm)},
        )
        for realm in realms
    ]
    rows: list[tuple] = []
    while len(rows) < len(run_ids) or any(status not in FINISHED for _, _, status, _, _ in rows):
        time.sleep(0.5)
        rows = _runs(topology, "runs.run_id IN :ids", {"ids": tuple(run_ids)})
    return {
        "runs": len(rows),
        "seconds": round(max(end for *_, end in rows) - started, 1),
        "not_successful": sum(1 for _, _, status, _, _ in rows if status != "SUCCESS"),
    }


def missing_rows(topology: Topology, realms: list[str]) -> dict[str, dict[str, int]]:
    """Per company, customers and items QuickBooks holds (its sandbox dump) that the project database lacks."""
    missing: dict[str, dict[str, int]] = {}
    engine = make_engine(topology.database_url)
    try:
        for realm in realms:
            company = topology.sandbox.company(realm)
            for entity, model in (("Customer", Customer), ("Item", Item)):
                held = {str(r["Id"]) for r in company.control("GET", f"dump/{entity}", timeout=120)["records"]}
                with engine.connect() as connection:
                    ours = set(connection.scalars(sa.select(model.qb_id).where(model.realm_id == realm)))
                if held - ours:
                    missing.setdefault(realm, {})[entity] = len(held - ours)
    finally:
        engine.dispose()
    return missing


def _add_order(engine: sa.Engine, company: Company, number: str, shop: tuple[list[int], list[int]], n: int) -> None:
    """One order of `company`, committed alone, as the order-entry app writes it."""
    customers, items = shop
    with session_scope(engine) as session:
        session.add(
            Order(
                realm_id=company.realm_id,
                order_number=number,
                customer_id=customers[n % len(customers)],
                ordered_at=utcnow(),
                lines=[OrderLine(line_number=1, item_id=items[n % len(items)], quantity=Decimal(1))],
            )
        )


def _shop(engine: sa.Engine, realm: str) -> tuple[list[int], list[int]]:
    with session_scope(engine) as session:
        customers = session.scalars(
            sa.select(Customer.id).where(Customer.active, Customer.realm_id == realm).order_by(Customer.id).limit(50)
        ).all()
        items = session.scalars(
            sa.select(Item.id)
            .where(Item.active, Item.unit_price.is_not(None), Item.realm_id == realm)
            .order_by(Item.id)
            .limit(50)
        ).all()
    return list(customers), list(items)


def _percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(fraction * len(ordered)) - 1)], 2) if ordered else 0.0


def order_latencies(topology: Topology, realms: list[str], orders: int) -> dict:
    """`orders` orders written round the companies, each timed until an invoice carrying its number is in
    its own company's sandbox dump; then duplicates, lost and misplaced counted per company (reckoning)."""
    companies = [Company(realm, n, topology.sandbox.company(realm)) for n, realm in enumerate(realms, start=1)]
    engine = make_engine(topology.database_url)
    written: dict[str, tuple[Company, float]] = {}
    seen: dict[str, float] = {}
    try:
        shops = {c.realm_id: _shop(engine, c.realm_id) for c in companies}
        for n in range(orders):
            company = companies[n % len(companies)]
            number = company.order_number(n // len(companies) + 1)
            _add_order(engine, company, number, shops[company.realm_id], n)
            written[number] = (company, time.monotonic())
            time.sleep(ORDER_SPACING_SECONDS)
            if n % round(LOOK_EVERY_SECONDS / ORDER_SPACING_SECONDS) == 0:
                _look(companies, written, seen)
        deadline = time.monotonic() + ORDERS_TIMEOUT_SECONDS
        while len(seen) < len(written) and time.monotonic() < deadline:
            _look(companies, written, seen)
            time.sleep(LOOK_EVERY_SECONDS)
        wait_until_settled(engine, companies, lambda _message: None)  # their rows marked synced too
    finally:
        engine.dispose()
    counts = [count(c, topology.database_url) for c in companies]
    latencies = [seen[number] - written[number][1] for number in seen]
    return {
        "orders": orders,
        "invoiced": len(seen),
        "p50_seconds": round(statistics.median(latencies), 2) if latencies else 0.0,
        "p95_seconds": _percentile(latencies, 0.95),
        "duplicates": sum(c.duplicates for c in counts),
        "lost": sum(c.lost for c in counts),
        "misplaced": sum(c.misplaced for c in counts),
    }


def _look(companies: list[Company], written: dict[str, tuple[Company, float]], seen: dict[str, float]) -> None:
    """Note when each written order's invoice first shows in its company's dump."""
    waiting = {company.realm_id for number, (company, _) in written.items() if number not in seen}
    for company in companies:
        if company.realm_id not in waiting:
            continue
        now = time.monotonic()
        for invoice in company.invoices():
            number = order_of(invoice)
            if number in written and number not in seen and written[number][0] is company:
                seen[number] = now
