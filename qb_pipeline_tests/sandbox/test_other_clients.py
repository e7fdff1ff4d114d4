"""Another public QuickBooks client than python-quickbooks, unmodified, end to end against the sandbox.

node-quickbooks (npm) is installed at a pinned version into a git-ignored cache folder under the
repository (once), and `node_quickbooks_probe.js` drives it: OAuth refresh and authorization code,
CompanyInfo, Preferences, every list paged by the library's own fetchAll, writes (customer, item,
invoice, payment; void, delete, requestid), batch, and change data capture over all 24 entity types.
Only the client's base URLs point at the sandbox; credentials travel in the environment, never argv.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from qb_pipeline.sandbox.company import CDC_ENTITIES
from qb_pipeline_tests.fixtures.quickbooks_objects import api
from qb_pipeline_tests.helpers import PROJECT_DIR

NODE_QUICKBOOKS_VERSION = "2.0.50"
CACHE_DIR = PROJECT_DIR / ".cache" / "node-clients" / f"node-quickbooks-{NODE_QUICKBOOKS_VERSION}"
PROBE = Path(__file__).with_name("node_quickbooks_probe.js")
EXTRA_CUSTOMERS, EXTRA_ITEMS = 1200, 1000  # beyond one 1000-row page, so the library's fetchAll must page


def _installed_version(folder: Path) -> str | None:
    manifest = folder / "node_modules" / "node-quickbooks" / "package.json"
    try:
        return json.loads(manifest.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def _node_quickbooks() -> Path:
    """The cache folder holding node-quickbooks at the pinned version (installed from npm when missing)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed to run node-quickbooks against the sandbox (not on PATH)")
    if _installed_version(CACHE_DIR) == NODE_QUICKBOOKS_VERSION:
        return CACHE_DIR
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [
            "npm",
            "install",
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
            "--save-exact",
            "--prefix",
            str(CACHE_DIR),
            f"node-quickbooks@{NODE_QUICKBOOKS_VERSION}",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    if result.returncode != 0 or _installed_version(CACHE_DIR) != NODE_QUICKBOOKS_VERSION:
        message = f"npm could not install node-quickbooks@{NODE_QUICKBOOKS_VERSION}: {result.stderr[-1500:]}"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI reaches the npm registry: a failed install there is a failure
        pytest.skip(message)
    return CACHE_DIR


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_node_quickbooks_end_to_end(sandbox):
    folder = _node_quickbooks()
    sandbox.seed(preset="demo", customers=EXTRA_CUSTOMERS, items=EXTRA_ITEMS)
    connection = sandbox.connection
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(folder)),
        # The library formats a Date in the process's zone and leaves its "+" unencoded: a zone west of
        # UTC keeps the run independent of the machine (the probe checks the "+" case explicitly).
        "TZ": "America/Los_Angeles",
        "NODE_QUICKBOOKS_DIR": str(folder),
        "QBO_API_BASE_URL": connection["api_base_url"],
        "QBO_DISCOVERY_URL": connection["discovery_url"],
        "QBO_REALM_ID": sandbox.realm_id,
        "QBO_CLIENT_ID": connection["client_id"],
        "QBO_CLIENT_SECRET": connection["client_secret"],
        "QBO_REDIRECT_URI": connection["redirect_uri"],
        "QBO_REFRESH_TOKEN": sandbox.fresh_refresh_token(),
        "QBO_PROBE_REVOKE": "1",
    }
    try:
        result = subprocess.run(["node", str(PROBE)], env=env, capture_output=True, text=True, timeout=90)
        customers, items = sandbox.dump("Customer")["records"], sandbox.dump("Item")["records"]
        accounts = sandbox.dump("Account")["records"]
    finally:
        sandbox.reset()  # the probe revokes its tokens at the end
    assert result.returncode == 0, result.stderr[-2000:]
    for secret in (connection["client_secret"], env["QBO_REFRESH_TOKEN"]):
        assert secret not in result.stdout and secret not in result.stderr
    report = json.loads(result.stdout)

    assert report["version"] == NODE_QUICKBOOKS_VERSION
    assert report["errors"] == [] and report["ok"], json.dumps(report["steps"], indent=1)[:6000]
    assert all(step["ok"] for step in report["steps"].values())

    # What the lists answered before the probe wrote anything: the seeded company, paged by fetchAll.
    seeded_customers = [c for c in customers if not c["DisplayName"].startswith(("Node Probe", "Node Batch"))]
    seeded_items = [i for i in items if not i["Name"].startswith("Probe Item")]
    assert report["company_name"] == "Sandbox Company"
    assert report["customer_count"] == sum(c["Active"] is not False for c in seeded_customers) > 1000
    assert report["customer_count_with_inactive"] == len(seeded_customers)
    assert report["item_count"] == sum(i["Active"] is not False for i in seeded_items) > 1000
    assert report["account_count"] == len(accounts)
    assert report["steps"]["countCustomers"]["total"] == report["customer_count"]

    # CDC: all 24 types in one call and one by one, without a Fault; it saw what the probe wrote.
    assert sorted(report["cdc_answered"]) == sorted(CDC_ENTITIES)
    assert report["cdc_counts"] == {"Customer": 2, "Item": 1, "Invoice": 3, "Payment": 2}
    plus_offset = report["steps"]["changeDataCapture_plus_offset"]
    assert (plus_offset["unencoded_plus"], plus_offset["encoded_plus"]) == ("refused 2050", "accepted")
    assert report["steps"]["revokeAccess"]["then"] == 401


def test_what_node_quickbooks_found_holds_without_node(sandbox):
    """Its changedSince east of UTC: a "+" left unencoded arrives as a space and is refused, not repaired."""
    qb = sandbox.qb_client()
    cdc = "cdc?entities=Customer&changedSince="
    since = (datetime.now(timezone(timedelta(hours=5, minutes=30))) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    raw = api(sandbox, qb, "GET", cdc + since + "+05:30")
    assert raw.status_code == 400 and raw.json()["Fault"]["Error"][0]["code"] == "2050"
    assert "%2B" in raw.json()["Fault"]["Error"][0]["Detail"]
    encoded = api(sandbox, qb, "GET", cdc + since + "%2B05:30")
    assert encoded.status_code == 200 and "CDCResponse" in encoded.json()
