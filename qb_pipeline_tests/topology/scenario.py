"""What happens to the running topology: customers and items synced, orders written for each company as the
order-entry app writes them, pushed by the new-orders sensor; mid-push the daemon and the run process are
SIGKILLed while QuickBooks holds the answer to a batch it has applied; the daemon comes back, later orders
arrive, and every order must end with exactly one invoice.

One thing is fast-forwarded rather than waited for, as in the drills: the killed run's claims go stale
after 15 minutes of heartbeat silence (sync/invoice_claims.py); their heartbeat is set back instead.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import psutil
import sqlalchemy as sa

from qb_pipeline.db.models import Customer, Item, Order, OrderLine, OrderStatus
from qb_pipeline.db.session import make_engine, session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.sync.invoice_claims import STALE_CLAIM_AFTER
from qb_pipeline.sync.wording import plural
from qb_pipeline_tests.topology.companies import Company
from qb_pipeline_tests.topology.processes import Topology
from qb_pipeline_tests.topology.reckoning import CompanyCount, count

# The code location's settings (beside the ones Topology sets): small batches and runs, so a push is
# several batches and several runs; short timeouts, so a run that lost its answer moves on in seconds.
CODE_SETTINGS = {
    "QB_SENSOR_INTERVAL_SECONDS": "2",
    "QB_BATCH_SIZE": "5",
    "QB_ORDERS_PER_RUN": "15",
    "QB_TIMEOUT_SECONDS": "5",
    "QB_THROTTLE_WAIT_SECONDS": "0.5",
    "QB_REQUEST_LIMIT_SECONDS": "5",  # after which a batch left unanswered is looked up before a resend
}
PUSH_JOB = "push_invoices_job"
# The company as QuickBooks can be set: a second invoice with a number already used is accepted (the duplicate
# warning off), and a repeated requestid is processed again (as reported of QuickBooks in some cases). Then
# nothing on QuickBooks' side stops a duplicate: only the push's own safeguards do.
NO_HELP_FROM_QUICKBOOKS = {"docnumber_duplicates": "allow", "requestid_replay": False}
LATENCY_MS = 300  # per QuickBooks call while the push is watched: it lasts seconds, not milliseconds
SETTLE_SECONDS = 150
RUN_PID = re.compile(r"Started process for run \(pid: (\d+)\)")


@dataclass
class ScenarioResult:
    counts: list[CompanyCount]
    killed: list[str] = field(default_factory=list)
    runs: dict[str, int] = field(default_factory=dict)  # Dagster's runs by status, read from its PostgreSQL
    spans: list[RunSpan] = field(default_factory=list)  # when each company's runs ran, from the same records
    seconds: float = 0.0

    @property
    def sound(self) -> bool:
        return all(c.duplicates == c.lost == c.misplaced == 0 for c in self.counts) and not self.overlaps_within

    @property
    def overlaps_within(self) -> list[tuple[RunSpan, RunSpan]]:
        """Pairs of runs of one company that ran at the same time (dagster.yaml's limit forbids it)."""
        return [(a, b) for a, b in _overlapping(self.spans) if a.realm_id == b.realm_id]

    @property
    def overlaps_across(self) -> list[tuple[RunSpan, RunSpan]]:
        """Pairs of runs of different companies that ran at the same time (side by side, as they may)."""
        return [(a, b) for a, b in _overlapping(self.spans) if a.realm_id != b.realm_id]


def _overlapping(spans: list[RunSpan]) -> list[tuple[RunSpan, RunSpan]]:
    return [(a, b) for i, a in enumerate(spans) for b in spans[i + 1 :] if a.start < b.end and b.start < a.end]


def run_scenario(
    topology: Topology, companies: list[Company], *, orders: int, say: Callable[[str], None] = print
) -> ScenarioResult:
    started = time.monotonic()
    for kind in ("customers", "items"):  # the default company's, launched through the webserver
        topology.cli("sync", kind, "--wait", timeout=180)
    wait_for_the_first_sync(topology, [company.realm_id for company in companies])
    say(f"synced customers and items of {plural(len(companies), 'company', 'companies')}")
    engine = make_engine(topology.database_url)
    try:
        for company in companies:
            company.control("POST", "settings", {**NO_HELP_FROM_QUICKBOOKS, "latency_ms": LATENCY_MS})
            add_orders(engine, company, orders)
        say(f"added {plural(orders, 'order')} per company; the new-orders sensor pushes them")
        killed = kill_mid_push(topology, companies, say)
        topology.start_dagster("daemon")
        say("restarted the daemon")
        # Its run monitoring sees the killed runs' processes gone and fails the runs (which frees the companies'
        # slots; run retries may launch them again).
        _wait(lambda: not set(killed) & set(running_pushes(topology)), "run monitoring to fail the killed runs", 120)
        for company in companies:
            company.control("POST", "settings", {"latency_ms": 0})
        for run_id in killed:
            let_claims_go_stale(engine, run_id)
        for company in companies:  # orders keep coming: the restarted daemon's sensor must push them
            later = company.order_number(orders + 1)
            order = ["--customer", "Cool Cars", "--line", "Rocks:1", "--number", later]
            topology.cli("orders", "add", "--company", company.realm_id, *order)
        wait_until_settled(engine, companies, say)
    finally:
        engine.dispose()
    return ScenarioResult(
        counts=[count(company, topology.database_url) for company in companies],
        killed=["dagster-daemon", *(f"run {run_id}" for run_id in killed)],
        runs=dagster_runs_by_status(topology),
        spans=company_run_spans(topology),
        seconds=time.monotonic() - started,
    )


def add_orders(engine: sa.Engine, company: Company, orders: int) -> None:
    """As the order-entry app writes them: rows in orders and order_lines naming their company, for that
    company's customers and items the project database mirrors."""
    with session_scope(engine) as session:
        own = company.realm_id
        customers = session.scalars(
            sa.select(Customer.id).where(Customer.active, Customer.realm_id == own).order_by(Customer.id)
        ).all()
        items = session.scalars(
            sa.select(Item.id).where(Item.active, Item.unit_price.is_not(None), Item.realm_id == own).order_by(Item.id)
        ).all()
        session.add_all(
            Order(
                realm_id=own,
                order_number=company.order_number(n),
                customer_id=customers[n % len(customers)],
                ordered_at=utcnow(),
                lines=[
                    OrderLine(line_number=k + 1, item_id=items[(n + k) % len(items)], quantity=Decimal(k + 1))
                    for k in range(2)
                ],
            )
            for n in range(1, orders + 1)
        )


def kill_mid_push(topology: Topology, companies: list[Company], say: Callable[[str], None]) -> list[str]:
    """Once each company's push has had a batch answered, QuickBooks applies the next one and holds its
    answer; then SIGKILL the daemon and every push run process. Returns the killed runs' ids."""
    for company in companies:
        _wait(lambda company=company: company.calls("batch 200") >= 1, "a first batch answered", 90)
        company.control("POST", "inject", {"kind": "timeout", "count": 1, "path_contains": "/batch", "seconds": 600})
    for company in companies:
        _wait(lambda company=company: not company.control("GET", "inject")["active"], "a batch held", 60)
    time.sleep(0.3)  # the held batch is applied (the sandbox writes, then holds the answer)
    runs = running_pushes(topology)
    topology.kill("daemon")
    for run_id, pid in runs.items():
        _kill_tree(pid)
        say(f"SIGKILLed the daemon and push run {run_id} (pid {pid}) with a batch applied but unanswered")
    for company in companies:
        company.control("DELETE", "inject")
    return list(runs)


def wait_for_the_first_sync(topology: Topology, realms: list[str], timeout: float = 600) -> None:
    """A fresh stack's first sync of each company (quickbooks_automation_sensor, once companies_sensor has
    added its partition) materializes `invoices`, which pushes the orders due then: let them end, and every
    run with them, before orders come, so that they go by new_orders_sensor's push runs, the ones killed."""
    engine = sa.create_engine(topology.dagster_database_url)

    def done() -> bool:
        with engine.connect() as connection:
            synced = connection.execute(
                sa.text(
                    "SELECT DISTINCT part.value FROM runs JOIN run_tags sensor ON sensor.run_id = runs.run_id "
                    "JOIN run_tags part ON part.run_id = runs.run_id WHERE sensor.key = 'dagster/sensor_name' "
                    "AND sensor.value = 'quickbooks_automation_sensor' AND part.key = 'dagster/partition' "
                    "AND runs.status = 'SUCCESS'"
                )
            ).scalars()
            active = connection.execute(
                sa.text("SELECT count(*) FROM runs WHERE status IN ('QUEUED', 'NOT_STARTED', 'STARTING', 'STARTED')")
            ).scalar()
        return set(realms) <= set(synced) and active == 0

    try:
        _wait(done, "the fresh stack's first sync", timeout)
    finally:
        engine.dispose()


def running_pushes(topology: Topology) -> dict[str, int]:
    """Push runs Dagster has started, and the process each runs in (Dagster's own engine event says)."""
    engine = sa.create_engine(topology.dagster_database_url)
    try:
        with engine.connect() as connection:
            run_ids = connection.execute(
                sa.text("SELECT run_id FROM runs WHERE pipeline_name = :job AND status = 'STARTED'"), {"job": PUSH_JOB}
            ).scalars()
            pids = {}
            for run_id in run_ids:
                events = connection.execute(
                    sa.text(
                        "SELECT event FROM event_logs WHERE run_id = :run AND event LIKE '%Started process for run%'"
                    ),
                    {"run": run_id},
                ).scalars()
                found = [int(m.group(1)) for event in events if (m := RUN_PID.search(event))]
                if found:
                    pids[run_id] = found[0]
            return pids
    finally:
        engine.dispose()


def let_claims_go_stale(engine: sa.Engine, run_id: str) -> None:
    """What 15 minutes of heartbeat silence does to a dead run's claims, without the 15 minutes."""
    past = utcnow() - STALE_CLAIM_AFTER - timedelta(minutes=1)
    with session_scope(engine) as session:
        session.execute(
            sa.update(Order)
            .where(Order.claimed_by == run_id, Order.status == OrderStatus.PUSHING)
            .values(claimed_at=past)
        )


def wait_until_settled(engine: sa.Engine, companies: list[Company], say: Callable[[str], None]) -> None:
    """Until no order of these companies is waiting, being pushed, or due for a retry (or time is up)."""
    unsettled = sa.or_(
        Order.status.in_([OrderStatus.PENDING, OrderStatus.PUSHING]),
        sa.and_(Order.status == OrderStatus.FAILED, Order.next_attempt_at.is_not(None)),
    )
    prefixes = sa.or_(*(Order.order_number.startswith(company.order_prefix) for company in companies))

    def left() -> int:
        with session_scope(engine) as session:
            return session.scalar(sa.select(sa.func.count()).where(unsettled, prefixes))

    deadline = time.monotonic() + SETTLE_SECONDS
    while left() and time.monotonic() < deadline:
        time.sleep(1)
    say(f"{plural(left(), 'order')} not settled after the restart")


def dagster_runs_by_status(topology: Topology) -> dict[str, int]:
    engine = sa.create_engine(topology.dagster_database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT status, count(*) FROM runs GROUP BY status")).all()
    finally:
        engine.dispose()
    return {status: number for status, number in sorted(rows)}


@dataclass(frozen=True)
class RunSpan:
    run_id: str
    realm_id: str  # the run's partition: its company
    start: float
    end: float  # float("inf") for a run not ended


def company_run_spans(topology: Topology) -> list[RunSpan]:
    """Every run of a company's partition that started, with its start and end as Dagster's instance
    recorded them (its runs table in PostgreSQL)."""
    engine = sa.create_engine(topology.dagster_database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT runs.run_id, run_tags.value, runs.start_time, runs.end_time FROM runs JOIN run_tags "
                    "ON run_tags.run_id = runs.run_id WHERE run_tags.key = 'dagster/partition' "
                    "AND runs.start_time IS NOT NULL ORDER BY runs.start_time"
                )
            ).all()
    finally:
        engine.dispose()
    return [RunSpan(run, realm, start, float("inf") if end is None else end) for run, realm, start, end in rows]


def _kill_tree(pid: int) -> None:
    """SIGKILL a run process and whatever it started, as losing its machine or container would."""
    try:
        process = psutil.Process(pid)
        tree = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for member in tree:
        try:
            member.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass


def _wait(predicate: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)
