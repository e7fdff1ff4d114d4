"""`qb-pipeline auth connect --serve`: Intuit's Reconnect URL, as a real process against the sandbox's OAuth
endpoints; the outcome read from the database."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import requests
import sqlalchemy as sa

from qb_pipeline_tests.helpers import free_port, port_open, wait_for

CLI = [sys.executable, "-m", "qb_pipeline.cli"]


@pytest.fixture
def reconnect_server(run, sandbox):
    """The server running; yields its base URL (the process is stopped afterwards)."""
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "auth", "connect", "--serve"],
        env={**run.process_env, "QB_REDIRECT_URI": f"http://127.0.0.1:{port}/callback"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: port_open(port) or process.poll() is not None, 60, "the reconnect server")
        assert process.poll() is None, process.communicate()
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        out, err = process.communicate(timeout=30)
        # what it printed names the company and the URL, never the app's secret or a one-time code
        assert "/reconnect" in err and sandbox.connection["client_secret"] not in out + err
        assert "code=" not in out + err and "state=" not in out + err


def hard_ends(run) -> list[tuple[str, str]]:
    engine = sa.create_engine(run.database_url)
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT realm_id, refresh_hard_expires_at FROM qb_tokens")).all()
    engine.dispose()
    return [(realm, str(end)[:10]) for realm, end in rows]


def test_the_reconnect_url_starts_the_consent_again_and_stores_new_tokens(run, sandbox, reconnect_server):
    before = hard_ends(run)
    begun = requests.get(f"{reconnect_server}/reconnect?realmId={sandbox.realm_id}", allow_redirects=False, timeout=10)
    assert begun.status_code == 302
    authorize = urlparse(begun.headers["location"])
    assert authorize.path == "/oauth2/v1/authorize" and parse_qs(authorize.query)["state"][0]
    assert authorize.netloc == urlparse(sandbox.connection["discovery_url"]).netloc  # the sandbox's consent page
    # The person approves: the sandbox redirects to our callback, which stores the new tokens.
    page = requests.get(begun.headers["location"], timeout=30)
    assert page.status_code == 200 and f"company {sandbox.realm_id} again" in page.text, page.text
    after = hard_ends(run)
    expected = (date.today() + timedelta(days=5 * 365)).isoformat()
    assert after == [(sandbox.realm_id, expected)] and before != after  # a new consent: a new five years
    listed = json.loads(run("companies", "list", "--json").stdout)  # and the company is connected (again)
    assert [(c["realm_id"], c["connected"], c["disconnected_at"]) for c in listed] == [(sandbox.realm_id, True, None)]
    assert sandbox.connection["client_secret"] not in begun.text + page.text + begun.headers["location"]


def test_another_companys_reconnect_is_refused_and_changes_nothing(run, sandbox, reconnect_server):
    before = hard_ends(run)
    refused = requests.get(f"{reconnect_server}/reconnect?realmId=123146000000000", allow_redirects=False, timeout=10)
    assert refused.status_code == 403
    assert f"connected to QuickBooks company {sandbox.realm_id}, not 123146000000000" in refused.text
    assert (
        requests.get(f"{reconnect_server}/reconnect?realm_id=1", allow_redirects=False, timeout=10).status_code == 403
    )
    # without a company named, the consent is for ours (the callback checks the company approved)
    assert requests.get(f"{reconnect_server}/reconnect", allow_redirects=False, timeout=10).status_code == 302
    assert hard_ends(run) == before


def test_a_consent_for_another_company_or_a_forged_state_stores_nothing(run, sandbox, reconnect_server):
    """The state binds the consent to our company: a person who picks another company on Intuit's page
    (the sandbox's `realm_id` parameter stands for that choice), or a callback with a state we never
    issued, stores nothing."""
    before = hard_ends(run)
    begun = requests.get(f"{reconnect_server}/reconnect?realmId={sandbox.realm_id}", allow_redirects=False, timeout=10)
    other_company = begun.headers["location"] + "&" + urlencode({"realm_id": "123146000000000"})
    page = requests.get(other_company, timeout=30)
    assert page.status_code == 403 and "Nothing was stored" in page.text
    forged = requests.get(f"{reconnect_server}/callback?code=x&state=forged&realmId={sandbox.realm_id}", timeout=10)
    assert forged.status_code == 400 and "unknown or expired state" in forged.text
    assert hard_ends(run) == before
