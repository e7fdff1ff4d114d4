"""What the asset pages of the UI show (issue #31 item 7), read from a real Dagster instance through its
GraphQL API, as the UI reads it: the plots of `customers` and `items` have no holes when an invoices run
pulls them, `invoices` is not "Unsynced" while every order is synced, a fresh stack's first automatic sync
materializes every QuickBooks asset, and Dagster finds its dagster.yaml without a warning."""

from __future__ import annotations

import json
import urllib.request
from decimal import Decimal

import dagster as dg
import pytest
import sqlalchemy as sa

from qb_pipeline.assets.invoices import invoices
from qb_pipeline.assets.name_lists import customers, items
from qb_pipeline.assets.orders import orders
from qb_pipeline.assets.price_levels import price_levels
from qb_pipeline.db.models import Item, Order, OrderLine
from qb_pipeline.db.session import make_engine, session_scope
from qb_pipeline.dev_process import running_dev_stack
from qb_pipeline_tests.fixtures.dagster_runs import materialize_company
from qb_pipeline_tests.helpers import wait_for

QUICKBOOKS_ASSETS = ["customers", "items", "price_levels", "invoices"]
PAGES = """
query {
  assetNodes {
    assetKey { path }
    staleStatus
    staleCauses { key { path } reason }
    assetMaterializations(limit: 1) { timestamp }
  }
}
"""


def pages(ask) -> dict[str, dict]:
    """Each asset's node as the asset pages read it (staleness, latest materialization), by name."""
    return {node["assetKey"]["path"][-1]: node for node in ask(PAGES)["assetNodes"]}


def in_process_graphql(instance):
    """The UI's GraphQL API over `instance` and the code location, in this process."""
    from dagster._core.test_utils import in_process_test_workspace
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster_graphql.test.utils import execute_dagster_graphql

    origin = LoadableTargetOrigin(module_name="qb_pipeline.definitions", attribute="defs")

    def ask(query: str) -> dict:
        with in_process_test_workspace(instance, origin) as context:
            result = execute_dagster_graphql(context, query)
        assert not result.errors, result.errors
        return result.data

    return ask


def numeric_series(metadata) -> set[str]:
    """The metadata a plot is drawn from: the numbers."""
    return {key for key, value in metadata.items() if isinstance(value.value, (int, float))}


def an_invoices_run_that_pulls_a_new_customer(sandbox, resources, database_url, instance) -> None:
    """The hourly sync, then a customer added in QuickBooks and an order naming it: the push run pulls
    customers and items first (orders name a record not mirrored yet), and the order is invoiced."""
    sandbox.seed(preset="demo")
    every = [orders, customers, items, price_levels, invoices]
    assert materialize_company(every, resources=resources, instance=instance, selection=QUICKBOOKS_ASSETS).success
    from quickbooks.objects.customer import Customer as QuickBooksCustomer

    customer = QuickBooksCustomer()
    customer.DisplayName = "Nova Bakery"
    customer.save(qb=sandbox.qb_client())
    with session_scope(make_engine(database_url)) as session:
        rocks = session.scalars(sa.select(Item).where(Item.name == "Rocks")).one()
        session.add(
            Order(
                order_number="NOVA-1",
                customer_name="Nova Bakery",
                lines=[OrderLine(line_number=1, item_id=rocks.id, quantity=Decimal("2"))],
            )
        )
    assert materialize_company(every, resources=resources, instance=instance, selection=["invoices"]).success
    assert [r["DocNumber"] for r in sandbox.dump("Invoice")["records"]] == ["NOVA-1"]  # every order synced


def test_an_invoices_run_that_pulls_names_records_every_series_their_plots_show(sandbox, resources, database_url):
    with dg.instance_for_test() as instance:
        an_invoices_run_that_pulls_a_new_customer(sandbox, resources, database_url, instance)
        for name in ("customers", "items"):
            key = dg.AssetKey(name)
            (materialization,) = instance.fetch_materializations(key, limit=10).records
            own = numeric_series(materialization.asset_materialization.metadata)
            (observation,) = instance.fetch_observations(key, limit=10).records
            pulled = observation.asset_observation
            assert numeric_series(pulled.metadata) == own, f"{name}: the invoices run's pull leaves holes in the plots"
            assert "pulled by the invoices run" in pulled.description
        nova = instance.fetch_observations(dg.AssetKey("customers"), limit=1).records[0].asset_observation
        assert nova.metadata["new_from_quickbooks"].value == 1
        assert nova.metadata["total"].value == len(sandbox.dump("Customer")["records"])


def test_invoices_is_not_unsynced_after_a_push_that_pulled_names(sandbox, resources, database_url):
    with dg.instance_for_test() as instance:
        an_invoices_run_that_pulls_a_new_customer(sandbox, resources, database_url, instance)
        shown = pages(in_process_graphql(instance))
    for name in QUICKBOOKS_ASSETS:
        assert (shown[name]["staleStatus"], shown[name]["staleCauses"]) == ("FRESH", []), name


def http_graphql(ui: str):
    def ask(query: str) -> dict:
        request = urllib.request.Request(
            f"{ui}/graphql", data=json.dumps({"query": query}).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.load(response)
        assert not answer.get("errors"), answer["errors"]
        return answer["data"]

    return ask


@pytest.mark.slow
def test_a_fresh_stack_materializes_every_quickbooks_asset_and_dagster_finds_its_settings(tmp_path):
    with running_dev_stack(tmp_path) as stack:
        said = stack.output(1_000_000)  # up to its UI
        assert "dagster.yaml" not in said, said[-3000:]
        ask = http_graphql(stack.ui)

        def all_materialized() -> bool:
            return all(pages(ask)[name]["assetMaterializations"] for name in QUICKBOOKS_ASSETS)

        wait_for(all_materialized, timeout=180, what="the first automatic sync of every QuickBooks asset", interval=1)
        shown = pages(ask)
        for name in QUICKBOOKS_ASSETS:  # no "Never materialized", no "Unsynced"
            assert shown[name]["staleStatus"] == "FRESH", (name, shown[name])
        assert "dagster.yaml" not in stack.output(1_000_000)
        with dg.DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:  # the shipped settings apply
            assert instance.run_monitoring_enabled and instance.run_coordinator.dequeue_interval_seconds == 1
