"""Companies are Dagster partitions: each company connected gets its partition, the hourly schedule asks
for one run per company, a run of one company's partition calls that company only, and one company's 429
storm never slows another's calls. Against the many-company sandbox over real HTTP; what each company was
asked is counted by the sandbox (its per-company counters), not by the code under test."""

from __future__ import annotations

import threading

import dagster as dg
import pytest
import sqlalchemy as sa

from qb_pipeline.assets.name_lists import customers
from qb_pipeline.core.errors import QuickBooksError
from qb_pipeline.db.companies import record_connected, record_disconnected
from qb_pipeline.db.session import make_engine, session_scope
from qb_pipeline.definitions import defs
from qb_pipeline.jobs import REALM_TAG
from qb_pipeline.partitions import company_partitions
from qb_pipeline_tests.fixtures.dagster_runs import materialize_company, schedule_tick, tick


def reads_and_429s(company) -> tuple[int, int]:
    """From the sandbox: the calls company `company` answered, and how many of them were 429s."""
    calls = company.counters()["calls"]
    return sum(calls.values()), sum(n for kind, n in calls.items() if kind.endswith(" 429"))


def connect(resources: dict, *companies) -> None:
    """Each company connected: its bootstrap token stored in qb_tokens, as its first run stores it."""
    quickbooks = resources["quickbooks"]
    for company in companies:
        quickbooks.gateway(company.realm_id)


def test_each_connected_company_gets_a_partition_and_the_hourly_schedule_one_run_each(
    companies_sandbox, companies_resources, database_url, instance
):
    first, second = companies_sandbox[:2]
    connect(companies_resources, first, second)
    result = tick("companies_sensor", database_url, instance, realms=())
    (added,) = result.dynamic_partitions_requests
    assert {first.realm_id, second.realm_id} <= set(added.partition_keys)
    instance.add_dynamic_partitions(added.partitions_def_name, list(added.partition_keys))
    assert tick("companies_sensor", database_url, instance, realms=()).skip_message.startswith("no new company")

    requests = schedule_tick(defs, "hourly_sync", instance, database_url, realms=()).run_requests
    assert sorted(r.partition_key for r in requests) == sorted(company_partitions(instance))
    assert {first.realm_id, second.realm_id} <= {r.partition_key for r in requests}
    for request in requests:  # each in its company's lane; run keys never collide across companies
        assert request.tags[REALM_TAG] == request.partition_key and request.partition_key in request.run_key
    assert len({r.run_key for r in requests}) == len(requests)

    with session_scope(make_engine(database_url)) as session:  # `qb-pipeline companies disconnect` marks it so
        record_connected(session, second.realm_id, "sandbox-local")
        record_disconnected(session, second.realm_id)
    later = schedule_tick(defs, "hourly_sync", instance, database_url, realms=()).run_requests
    assert second.realm_id not in {r.partition_key for r in later} and first.realm_id in {
        r.partition_key for r in later
    }
    assert second.realm_id in company_partitions(instance)  # its partition (its history) stays


def test_materializing_one_companys_partition_calls_that_company_only(companies_sandbox, companies_resources, instance):
    first, second = companies_sandbox[:2]
    first.seed(customers=3)
    second.seed(customers=5)
    for company in (first, second):
        company.reset_counters()
    assert materialize_company([customers], companies_resources, realm=first.realm_id, instance=instance).success
    first_calls, _ = reads_and_429s(first)
    assert first_calls > 0 and reads_and_429s(second) == (0, 0)
    assert materialize_company([customers], companies_resources, realm=second.realm_id, instance=instance).success
    assert reads_and_429s(second)[0] > 0 and reads_and_429s(first)[0] == first_calls  # the first not called again
    assert set(instance.get_dynamic_partitions("companies")) == {first.realm_id, second.realm_id}
    with session_scope(companies_resources["database"].engine) as session:  # the activity log, by plain SQL
        logged = session.execute(sa.text("SELECT realm_id, entity FROM sync_log ORDER BY id")).all()
    assert [tuple(row) for row in logged] == [(first.realm_id, "CUSTOMERS"), (second.realm_id, "CUSTOMERS")]


def test_a_429_storm_on_one_company_never_slows_anothers_calls(companies_sandbox, companies_resources):
    """One resource (as in one run) serving two companies: the stormy one's retries and throttle waits are
    its own; the calm one's calls neither wait nor retry, and its company answered no 429."""
    stormy, calm = companies_sandbox[:2]
    stormy.inject("429", count=10_000)
    quickbooks = companies_resources["quickbooks"]
    storm, steady = quickbooks.gateway(stormy.realm_id), quickbooks.gateway(calm.realm_id)
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                storm.count("Customer")
            except QuickBooksError:
                pass  # gave up after its retries: try again, the storm goes on

    threads = [threading.Thread(target=hammer) for _ in range(12)]
    for thread in threads:
        thread.start()
    try:
        calm.reset_counters()
        for _ in range(5):
            steady.count("Customer")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert storm.stats.retries > 0  # the storm did hit the stormy company
    assert steady.throttle.waits == 0 and steady.stats.retries == 0
    calls, throttled = reads_and_429s(calm)
    assert calls == 5 and throttled == 0


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance
