"""`qb-pipeline companies` and `auth connect` with two QuickBooks companies: the real command line against the
many-company sandbox (each company connected through its consent screen, as a person does), on SQLite and
PostgreSQL. What QuickBooks thinks is asked of the sandbox; what the database holds is counted by plain SQL."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
import sqlalchemy as sa
from intuitlib.exceptions import AuthClientError
from quickbooks.objects.company_info import CompanyInfo

from qb_pipeline.db.migrate import upgrade
from qb_pipeline.db.session import make_engine
from qb_pipeline.db.token_cipher import KEY_FILE_NAME, TokenCipher
from qb_pipeline.quickbooks.factory import connect as connect_to_quickbooks
from qb_pipeline.quickbooks.factory import sandbox_settings
from qb_pipeline_tests.fixtures.cli import auth_connect, command_line_on_database, invoke, sync_in_process
from qb_pipeline_tests.fixtures.quickbooks_objects import api, make_customer

NOW = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
TABLES = ("qb_invoices", "sync_cursors", "qb_api_calls")


@pytest.fixture
def run(companies_sandbox, database_url, tmp_path):
    """The command line of a deployment whose bundled sandbox serves two companies (and a third, unused)."""
    run = command_line_on_database(companies_sandbox[0], database_url, tmp_path)
    run.env_data_dir = tmp_path / "data"
    assert invoke("db", "upgrade", env=run.env).returncode == 0  # the token key beside the database
    return run


def connect(run, company, *options: str) -> str:
    """`auth connect OPTIONS`, the person picking `company` on the consent screen; what it printed."""
    process, url = auth_connect(run, *options)
    answer = requests.get(f"{url}&realm_id={company.realm_id}", timeout=10)
    assert answer.text.startswith("Connected to QuickBooks")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    return out + err


def listed(run) -> dict[str, dict]:
    return {company["realm_id"]: company for company in json.loads(run("companies", "list", "--json").stdout)}


def deployment_cipher(run) -> TokenCipher:
    return TokenCipher((run.env_data_dir / KEY_FILE_NAME).read_text().strip())


def stored_tokens(run, realm: str) -> tuple[str, str]:
    """(access, refresh) token the database holds for `realm`, decrypted with the deployment's key."""
    engine = make_engine(run.database_url)
    try:
        with engine.connect() as connection:
            access, refresh = connection.execute(
                sa.text("SELECT access_token_encrypted, refresh_token_encrypted FROM qb_tokens WHERE realm_id = :r"),
                {"r": realm},
            ).one()
    finally:
        engine.dispose()
    cipher = deployment_cipher(run)
    return cipher.decrypt(access), cipher.decrypt(refresh)


@pytest.fixture
def two(run, companies_sandbox):
    """Both companies connected: the first named by QuickBooks, the second by the person."""
    first, second = companies_sandbox[:2]
    connect(run, first)
    said = connect(run, second, "--name", "Beta Bakery Ltd")
    assert f"connected to QuickBooks company {second.realm_id} (Beta Bakery Ltd)" in said
    return first, second


def test_two_companies_are_listed_renamed_and_shown_in_status(run, two):
    first, second = two
    companies = listed(run)
    assert list(companies) == [first.realm_id, second.realm_id]
    reported = CompanyInfo.get(first.realm_id, qb=first.qb_client()).CompanyName  # asked of QuickBooks itself
    assert companies[first.realm_id]["name"] == reported != first.realm_id
    assert companies[second.realm_id]["name"] == "Beta Bakery Ltd"
    assert all(c["connected"] and c["token_ends"] for c in companies.values())
    assert companies[first.realm_id]["reads_this_month"] == 1  # the CompanyInfo read, counted
    run("companies", "rename", first.realm_id, "Alpha Landscaping")
    assert listed(run)[first.realm_id]["name"] == "Alpha Landscaping"
    text = run("companies", "list").stdout
    assert "Alpha Landscaping: connected, token ends" in text and "Beta Bakery Ltd: connected" in text
    status = run("status").stdout
    lines = [line for line in status.splitlines() if line.startswith("Company ")]
    assert len(lines) == 2 and "Alpha Landscaping" in lines[0] and "Beta Bakery Ltd" in lines[1]
    secret = first.connection["client_secret"]
    access, refresh = stored_tokens(run, first.realm_id)
    for output in (text, status, run("companies", "list", "--json").stdout, run("status", "--json").stdout):
        assert secret not in output and access not in output and refresh not in output


def test_unknown_companies_are_refused_in_one_line(run, two):
    for command in (("rename", "123", "X"), ("disconnect", "123"), ("disconnect", "123", "--delete-data", "--yes")):
        refused = run("companies", *command, check=False)
        assert refused.returncode == 1 and "no company '123' here" in refused.stderr, refused.stderr
        assert "companies list" in refused.stderr and "Traceback" not in refused.stderr
    assert run("companies", "rename", two[0].realm_id, " ", check=False).returncode == 1
    assert len(listed(run)) == 2


def test_disconnect_revokes_the_companys_connection_and_keeps_its_data(run, two):
    first, second = two
    _rows_of_both(run.database_url, first.realm_id, second.realm_id)
    access, refresh = stored_tokens(run, second.realm_id)
    said = run("companies", "disconnect", second.realm_id).stdout
    assert "its connection revoked at QuickBooks" in said and "its data is kept" in said
    # QuickBooks (the sandbox) no longer takes the company's tokens; the other company's still work
    with pytest.raises(AuthClientError):
        second.auth_client().refresh(refresh_token=refresh)
    assert api(second, _bearer(access), "GET", "preferences").status_code == 401
    first_access, _ = stored_tokens(run, first.realm_id)
    assert api(first, _bearer(first_access), "GET", "preferences").status_code == 200
    companies = listed(run)
    assert not companies[second.realm_id]["connected"] and companies[second.realm_id]["disconnected_at"]
    assert companies[first.realm_id]["connected"]
    assert _counts(run.database_url, second.realm_id) == {"qb_invoices": 2, "sync_cursors": 2, "qb_api_calls": 1}
    assert _count(run.database_url, "qb_tokens", second.realm_id) == 0
    reconnected = connect(run, second)  # connecting it again keeps the name the person gave
    assert "(Beta Bakery Ltd)" in reconnected and listed(run)[second.realm_id]["connected"]


def test_a_revocation_that_fails_changes_nothing_and_says_so_in_one_line(run, two):
    first, second = two
    second.inject("503", count=1, path_contains="/tokens/revoke")  # Intuit's revocation endpoint down once
    failed = run("companies", "disconnect", second.realm_id, check=False)
    assert failed.returncode == 1 and "revocation endpoint" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1 and "Traceback" not in failed.stderr
    access, refresh = stored_tokens(run, second.realm_id)  # still stored, and still good at QuickBooks
    assert api(second, _bearer(access), "GET", "preferences").status_code == 200
    assert listed(run)[second.realm_id]["connected"]
    said = run("companies", "disconnect", second.realm_id)  # tried again, it goes through
    assert "revoked" in said.stdout and _count(run.database_url, "qb_tokens", second.realm_id) == 0
    for output in (failed.stderr, said.stdout):
        assert first.connection["client_secret"] not in output and refresh not in output and access not in output


def test_delete_data_asks_first_and_deletes_only_that_companys_rows(run, two):
    first, second = two
    _rows_of_both(run.database_url, first.realm_id, second.realm_id)
    before = _counts(run.database_url, first.realm_id)
    unasked = run("companies", "disconnect", second.realm_id, "--delete-data", check=False)  # no stdin: no yes
    assert unasked.returncode == 1
    assert _counts(run.database_url, second.realm_id)["qb_invoices"] == 2
    assert listed(run)[second.realm_id]["connected"]  # nothing was done: not even the revocation
    said = run("companies", "disconnect", second.realm_id, "--delete-data", "--yes").stdout
    assert "rows of it deleted" in said
    assert _counts(run.database_url, second.realm_id) == {table: 0 for table in TABLES}
    assert _count(run.database_url, "qb_tokens", second.realm_id) == 0
    assert _count(run.database_url, "companies", second.realm_id) == 0
    assert _counts(run.database_url, first.realm_id) == before
    assert _count(run.database_url, "qb_tokens", first.realm_id) == 1
    assert list(listed(run)) == [first.realm_id]


def test_one_company_shows_one_new_line_in_status(run, companies_sandbox):
    connect(run, companies_sandbox[0])
    status = run("status").stdout
    assert [line for line in status.splitlines() if line.startswith("Company ")] != []
    assert len([line for line in status.splitlines() if line.startswith("Company ")]) == 1
    assert "orders 0 waiting, 0 failed" in status


def test_the_bundled_sandboxs_first_connection_lists_its_company(run, companies_sandbox):
    """No `auth connect` with the bundled sandbox: its refresh token is taken on the first connection (what
    every Dagster run does), and its company is listed from then on, once however often it connects, and
    connected again when its tokens are taken again after a disconnect."""
    settings, bootstrap = sandbox_settings(Path(run.env["QB_SANDBOX_CONNECTION_FILE"]))
    engine = make_engine(run.database_url)
    cipher = deployment_cipher(run)
    try:
        assert listed(run) == {}
        for _ in range(2):
            connect_to_quickbooks(settings, engine, cipher, bootstrap_refresh_token=bootstrap)
    finally:
        engine.dispose()
    realm = companies_sandbox[0].realm_id
    assert [(c["realm_id"], c["connected"]) for c in listed(run).values()] == [(realm, True)]
    run("companies", "disconnect", realm)
    assert not listed(run)[realm]["connected"]
    fresh = companies_sandbox[0].fresh_refresh_token()  # make dev started again: a new connection.json
    engine = make_engine(run.database_url)
    try:
        connect_to_quickbooks(settings, engine, cipher, bootstrap_refresh_token=fresh)
    finally:
        engine.dispose()
    assert [(c["realm_id"], c["connected"], c["disconnected_at"]) for c in listed(run).values()] == [
        (realm, True, None)
    ]


def test_the_migration_lists_the_company_already_connected(empty_database_url):
    url = empty_database_url
    upgrade(url, "0016")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:  # a token row written by the code of revision 0016
            connection.execute(
                sa.text(
                    "INSERT INTO qb_tokens (realm_id, refresh_token_encrypted, updated_at) VALUES ('9130', 'x', :at)"
                ),
                {"at": NOW},
            )
        upgrade(url)
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT realm_id, name, disconnected_at FROM companies")).all()
        assert [tuple(row) for row in rows] == [("9130", "9130", None)]
    finally:
        engine.dispose()


def _bearer(access_token: str):
    """What `api` reads of a python-quickbooks client: its session's access token."""
    return SimpleNamespace(session=SimpleNamespace(access_token=access_token))


def _rows_of_both(url: str, *realms: str) -> None:
    """Rows of each company in three tables keyed by company, by plain SQL (ids that repeat across them)."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            for realm in realms:
                for qb_id in ("1", "2"):
                    connection.execute(
                        sa.text(
                            "INSERT INTO qb_invoices (realm_id, qb_id, status, mirrored_at) VALUES (:r, :q, 'open', :at)"
                        ),
                        {"r": realm, "q": qb_id, "at": NOW},
                    )
                for entity in ("Customer", "Item"):
                    connection.execute(
                        sa.text(
                            "INSERT INTO sync_cursors (realm_id, entity, covered_until, updated_at) "
                            "VALUES (:r, :e, :at, :at)"
                        ),
                        {"r": realm, "e": entity, "at": NOW},
                    )
                connection.execute(
                    sa.text("INSERT INTO qb_api_calls (realm_id, day, kind, calls) VALUES (:r, :d, 'write', 5)"),
                    {"r": realm, "d": date(2026, 1, 1)},
                )
    finally:
        engine.dispose()


def _count(url: str, table: str, realm: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(
                sa.text(f"SELECT count(*) FROM {table} WHERE realm_id = :r"), {"r": realm}
            ).scalar()
    finally:
        engine.dispose()


def _counts(url: str, realm: str) -> dict[str, int]:
    return {table: _count(url, table, realm) for table in TABLES}


def test_sync_company_syncs_that_company_into_its_own_rows(run, two):
    """The customer exists in the second company's QuickBooks only: its row proves whom the run called."""
    _first, second = two
    make_customer(second.qb_client(), "Only In Beta")
    assert "sync_customers_job: SUCCESS" in sync_in_process(run, "customers", "--company", second.realm_id)
    engine = make_engine(run.database_url)
    try:
        with engine.connect() as connection:
            realms = connection.execute(
                sa.text("SELECT realm_id FROM customers WHERE display_name = 'Only In Beta'")
            ).scalars()
            assert list(realms) == [second.realm_id]
    finally:
        engine.dispose()
