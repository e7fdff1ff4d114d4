"""What an operator meets on the command line day to day: a mistyped order number, the orders list, the help
pages, and making the token key for a production install."""

from __future__ import annotations

import json

import click
import pytest
import sqlalchemy as sa

from qb_pipeline.cli import main
from qb_pipeline.db.models import Order, OrderStatus, SyncLog
from qb_pipeline.db.receivables import QBCreditMemo, QBPayment
from qb_pipeline.db.session import make_engine, session_scope
from qb_pipeline_tests.fixtures.cli import invoke, sync_in_process
from qb_pipeline_tests.fixtures.quickbooks_objects import make_customer, make_item
from qb_pipeline_tests.sandbox.receivables import credit_memo, dated_invoice, dated_payment


def activity(run) -> list[str]:
    with session_scope(make_engine(run.database_url)) as session:  # read from the database, not through the command
        return [f"{row.outcome} {row.message}" for row in session.scalars(sa.select(SyncLog))]


@pytest.fixture
def f_1_failed(run):
    run("orders", "add", "--customer", "Nobody Yet", "--line", "Rocks:1", "--number", "F-1")
    with session_scope(make_engine(run.database_url)) as session:  # as the push leaves it
        session.execute(sa.update(Order).values(status=OrderStatus.FAILED, status_reason="customer unknown"))


def test_retry_of_an_unknown_order_is_an_error_and_logs_nothing(run, f_1_failed):
    unknown = run("orders", "retry", "NOPE", check=False)
    assert unknown.returncode == 1
    assert unknown.stderr == "Error: no such order: NOPE (nothing was sent again)\n"
    assert activity(run) == []


def test_a_typo_among_good_order_numbers_sends_none_of_them_again(run, f_1_failed):
    mixed = run("orders", "retry", "F-1", "NOPE", check=False)
    assert mixed.returncode == 1 and "no such order: NOPE" in mixed.stderr
    assert activity(run) == []
    with session_scope(make_engine(run.database_url)) as session:
        assert session.scalar(sa.select(Order.status)) == OrderStatus.FAILED


def test_a_retry_is_logged_as_a_person_asking(run, f_1_failed):
    assert "1 order goes again: F-1" in run("orders", "retry", "F-1").stdout
    assert activity(run) == ["SUCCESS Sent 1 failed or blocked order again (a person asked)"]


def test_a_retry_of_an_order_already_going_again_is_refused_and_not_logged(run, f_1_failed):
    run("orders", "retry", "F-1")
    again = run("orders", "retry", "F-1", check=False)  # pending now: said, and nothing logged
    assert again.returncode == 1 and "not failed or blocked: F-1" in again.stderr
    assert len(activity(run)) == 1


def test_orders_list_shows_each_orders_customer_and_total(run, sandbox):
    sandbox.seed(preset="demo")
    for kind in ("customers", "items"):
        sync_in_process(run, kind)
    run(
        "orders",
        "add",
        "--customer",
        "Cool Cars",
        "--line",
        "Rocks:3:2.50",
        "--line",
        "Rocks:1:0.25",
        "--number",
        "A-1",
    )
    run("orders", "add", "--customer", "Nobody Yet", "--line", "Rocks:1", "--number", "A-2")
    listed = run("orders", "list").stdout.splitlines()
    assert "Cool Cars" in listed[1] and listed[1].rstrip().endswith("7.75")
    assert "Nobody Yet" in listed[0] and "not priced" in listed[0]  # no such customer here: no price yet
    as_json = {o["order_number"]: o for o in json.loads(run("orders", "list", "--json").stdout)}
    assert (as_json["A-1"]["customer"], as_json["A-1"]["total"]) == ("Cool Cars", "7.75")
    assert (as_json["A-2"]["customer"], as_json["A-2"]["total"]) == ("Nobody Yet", None)


def _groups(command: click.Command, path: tuple[str, ...] = ()):
    if isinstance(command, click.Group):
        yield path, command
        for name, sub in command.commands.items():
            yield from _groups(sub, (*path, name))


def test_help_lists_each_command_with_its_whole_summary(tmp_path):
    """At 80 columns and at 60, every group's --help gives each command's first sentence whole."""
    for width in (80, 60):
        for path, group in _groups(main):
            shown = invoke(*path, "--help", env={"COLUMNS": str(width), "QB_DATA_DIR": str(tmp_path)})
            assert shown.returncode == 0, shown.stderr
            text = " ".join(shown.stdout.partition("Commands:")[2].split())
            assert "..." not in text, shown.stdout
            for name, sub in group.commands.items():
                first_paragraph = " ".join(sub.help.partition("\n\n")[0].split())
                assert f"{name} {first_paragraph.split('. ')[0]}" in text, (path, name, shown.stdout)


def test_every_option_says_what_it_is_for(tmp_path):
    for path, group in _groups(main):
        for name, sub in group.commands.items():
            for param in sub.params:
                if isinstance(param, click.Option) and not param.hidden:
                    assert param.help, f"qb-pipeline {' '.join((*path, name))} {param.opts[0]} has no help"


def test_new_key_runs_where_every_other_command_needs_the_key(tmp_path):
    env = {"QB_ENVIRONMENT": "production", "QB_TOKEN_KEY": None, "QB_DATA_DIR": str(tmp_path / "data")}
    made = invoke("auth", "new-key", env=env)
    assert made.returncode == 0, made.stderr
    assert len(made.stdout.strip()) == 44  # a Fernet key: 32 bytes, url-safe base64
    assert invoke("status", "--help", env=env).returncode == 0  # reading help needs no key either
    refused = invoke("status", env=env)
    assert refused.returncode == 1 and "QB_TOKEN_KEY is not set" in refused.stderr
    assert "QB_TOKEN_KEY" not in invoke("status", env={**env, "QB_TOKEN_KEY": made.stdout.strip()}).stderr


def test_payments_and_credit_memos_can_be_synced_by_name(run, sandbox):
    qb = sandbox.qb_client()
    ada, work = make_customer(qb, "Ada Lovelace"), make_item(qb, "Work")
    paid = dated_payment(
        qb, ada, dated_invoice(qb, ada, work, "10.00", "2026-11-02", "2026-12-02", "S-1"), "4.00", "2026-11-20"
    )
    memo = credit_memo(qb, ada, work, "2.50", "2026-11-21")
    for kind in ("payments", "credit_memos"):
        assert f"sync_{kind}_job: SUCCESS" in sync_in_process(run, kind)
    with session_scope(make_engine(run.database_url)) as session:
        assert session.scalars(sa.select(QBPayment.qb_id)).all() == [paid.Id]
        assert session.scalars(sa.select(QBCreditMemo.qb_id)).all() == [memo.Id]
