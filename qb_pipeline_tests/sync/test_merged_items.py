"""An item merged away in QuickBooks is deactivated here, and an order naming it fails with the item that
replaced it, instead of being priced and refused by QuickBooks (2500)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import sqlalchemy as sa

from qb_pipeline.db.models import Customer, Item, Order, OrderLine, WebhookEvent
from qb_pipeline.db.session import session_scope
from qb_pipeline.sync.invoices import push_orders
from qb_pipeline.sync.pull import pull_name_list
from qb_pipeline.sync.webhook_events import parse_delivery, store_events
from qb_pipeline_tests.fixtures.name_lists import mirror_customers_and_items
from qb_pipeline_tests.fixtures.webhooks import serving, url_of
from qb_pipeline_tests.helpers import wait_for


def shop_with_an_order(sandbox, gateway, engine) -> tuple[Item, Item, int]:
    """Two items in QuickBooks and here, and an order for the first: (merged away, survivor, order id)."""
    sandbox.seed(customers=1, items=2)
    mirror_customers_and_items(gateway, engine)
    with session_scope(engine) as session:
        loser, survivor = session.scalars(sa.select(Item).order_by(Item.qb_id)).all()
        order = Order(
            order_number="MERGED-1",
            customer_id=session.scalars(sa.select(Customer.id)).one(),
            lines=[OrderLine(line_number=1, item_id=loser.id, quantity=Decimal("2"))],
        )
        session.add(order)
        session.flush()
        session.expunge_all()
        return loser, survivor, order.id


def merge(sandbox, loser: Item, survivor: Item) -> None:
    """What renaming one item to the other's name does in QuickBooks' UI."""
    sandbox.control("POST", "merge", {"entity": "Item", "from_id": loser.qb_id, "into_id": survivor.qb_id})


def outcome(sandbox, engine, order_id: int) -> tuple[str, str | None, int]:
    """The order's status and reason (the database), and how many invoices QuickBooks holds (its dump)."""
    with session_scope(engine) as session:
        order = session.get(Order, order_id)
        status, reason = order.status.value, order.status_reason
    return status, reason, len(sandbox.dump("Invoice")["records"])


def active(engine, item: Item) -> bool:
    with session_scope(engine) as session:
        return session.get(Item, item.id).active


@pytest.mark.parametrize("webhook_format", ["cloudevents", "legacy"])
def test_a_notified_merge_deactivates_the_item_and_the_order_names_the_item_that_replaced_it(
    sandbox, make_gateway, engine, webhook_format
):
    gateway = make_gateway()
    loser, survivor, order_id = shop_with_an_order(sandbox, gateway, engine)
    with serving(engine, sandbox.connection["webhook_verifier_token"], sandbox.realm_id) as receiver:
        sandbox.settings(webhook_url=url_of(receiver), webhook_format=webhook_format, webhook_batch_ms=100)
        try:
            merge(sandbox, loser, survivor)

            def notified() -> bool:
                with session_scope(engine) as session:
                    return bool(
                        session.scalars(sa.select(WebhookEvent.id).where(WebhookEvent.operation == "merged")).all()
                    )

            wait_for(notified, timeout=10, what="the Merge notification")
        finally:
            sandbox.settings(webhook_url="")

    pulled = pull_name_list(gateway, engine, "Item")
    assert f"item {loser.name!r} was merged into {survivor.name!r} in QuickBooks; deactivated here" in pulled.summary(
        "Items"
    )
    assert (active(engine, loser), active(engine, survivor)) == (False, True)
    push_orders(gateway, engine, "run-1")
    assert outcome(sandbox, engine, order_id) == (
        "failed",
        f"line 1: item {loser.name!r} was merged into {survivor.name!r} in QuickBooks: "
        f"correct the order to name {survivor.name!r} instead "
        f"(`qb-pipeline orders edit MERGED-1 --line ITEM:QTY --line …`)",
        0,
    )


@pytest.fixture
def merged_seen_in_the_change_feed(sandbox, make_gateway, engine) -> dict:
    """No notification (webhooks not set up, or not arrived yet): the merge is seen by the next pull's CDC, its
    tombstone only. The gateway, the two items, the order's id and what the pull said."""
    gateway = make_gateway()
    loser, survivor, order_id = shop_with_an_order(sandbox, gateway, engine)
    merge(sandbox, loser, survivor)
    pulled = pull_name_list(gateway, engine, "Item")
    return {"gateway": gateway, "loser": loser, "survivor": survivor, "order_id": order_id, "pulled": pulled}


def test_a_merge_seen_only_in_the_change_feed_deactivates_the_item_and_fails_its_order(
    merged_seen_in_the_change_feed, sandbox, engine
):
    seen = merged_seen_in_the_change_feed
    loser = seen["loser"]
    assert f"item {loser.name!r} was merged into another item in QuickBooks" in seen["pulled"].summary("Items")
    assert active(engine, loser) is False
    push_orders(seen["gateway"], engine, "run-1")
    status, reason, invoices = outcome(sandbox, engine, seen["order_id"])
    assert (status, invoices) == ("failed", 0)
    assert "correct the order to name the item that replaced it (`qb-pipeline orders edit MERGED-1" in reason


def test_a_later_merge_notification_names_the_survivor_once(merged_seen_in_the_change_feed, sandbox, engine):
    """Which item replaced it is said once a Merge notification comes (Intuit's sample shape)."""
    gateway, loser, survivor = (merged_seen_in_the_change_feed[k] for k in ("gateway", "loser", "survivor"))
    notification = [
        {
            "specversion": "1.0",
            "id": f"merge-{loser.qb_id}",
            "source": "intuit.test",
            "type": "qbo.item.merged.v1",
            "time": "2026-12-04T15:25:05Z",
            "intuitentityid": survivor.qb_id,
            "intuitaccountid": sandbox.realm_id,
            "data": {"deletedid": loser.qb_id},
        }
    ]
    with session_scope(engine) as session:
        assert store_events(session, parse_delivery(json.dumps(notification).encode()), sandbox.realm_id).stored == 1
    again = pull_name_list(gateway, engine, "Item")
    assert f"item {loser.name!r} was merged into {survivor.name!r} in QuickBooks; deactivated here" in again.summary(
        "Items"
    )
    assert "merged" not in pull_name_list(gateway, engine, "Item").summary("Items")  # said once
    with session_scope(engine) as session:
        assert session.get(Item, loser.id).merged_into_qb_id == survivor.qb_id
