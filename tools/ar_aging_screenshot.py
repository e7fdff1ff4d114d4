"""Makes docs/ar-aging.png, the README's picture of the `ar_aging` asset in the Dagster UI: `make dev`'s
stack in a temporary home, open invoices of the demo company due at different dates (one partly paid),
the receivables mirrored and aged, the asset's page rendered by headless Chromium.

    .venv/bin/python tools/ar_aging_screenshot.py [docs/ar-aging.png]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

from intuitlib.client import AuthClient
from quickbooks import QuickBooks

from qb_pipeline.dev_process import running_dev_stack

os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the bundled sandbox, on loopback

ASSETS = "customers,items,invoices,payments,credit_memos,ar_aging"
HEADLESS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars"]
DUE_DAYS_AGO = [-10, 5, 12, 20, 35, 45, 70, 100, 130]  # negative: not due yet


def client(sandbox) -> QuickBooks:
    c = sandbox.connection
    qb = QuickBooks(
        auth_client=AuthClient(c["client_id"], c["client_secret"], c["redirect_uri"], environment=c["discovery_url"]),
        refresh_token=sandbox.control("POST", "tokens/mint")["refresh_token"],
        company_id=c["realm_id"],
        minorversion=75,
    )
    qb.api_url_v3 = c["api_base_url"]
    return qb


def receivables(qb: QuickBooks) -> None:
    customers = qb.query("SELECT * FROM Customer WHERE Active = true MAXRESULTS 5")["QueryResponse"]["Customer"]
    item = qb.query("SELECT * FROM Item WHERE Active = true MAXRESULTS 1")["QueryResponse"]["Item"][0]
    today = date.today()
    first = None
    for n, days in enumerate(DUE_DAYS_AGO):
        due = today - timedelta(days=days)
        quantity = 3 + 4 * n
        price = item.get("UnitPrice") or 10
        line = {"ItemRef": {"value": item["Id"]}, "Qty": quantity, "UnitPrice": price}
        body = {
            "CustomerRef": {"value": customers[n % len(customers)]["Id"]},
            "TxnDate": (due - timedelta(days=30)).isoformat(),
            "DueDate": due.isoformat(),
            "Line": [
                {"DetailType": "SalesItemLineDetail", "Amount": round(quantity * price, 2), "SalesItemLineDetail": line}
            ],
        }
        created = qb.create_object("Invoice", json.dumps(body))["Invoice"]
        first = first or created
    half = round(float(first["TotalAmt"]) / 2, 2)
    qb.create_object(
        "Payment",
        json.dumps(
            {
                "CustomerRef": first["CustomerRef"],
                "TotalAmt": half,
                "Line": [{"Amount": half, "LinkedTxn": [{"TxnId": first["Id"], "TxnType": "Invoice"}]}],
            }
        ),
    )


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/ar-aging.png").resolve()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("needs Chromium (make browser)")
    with tempfile.TemporaryDirectory(prefix="qbp-shot-") as home, running_dev_stack(Path(home)) as stack:
        receivables(client(stack.sandbox))
        env = {**stack.env, "DAGSTER_HOME": str(stack.home / "dagster")}
        subprocess.run(
            [
                sys.executable,
                "-m",
                "dagster",
                "asset",
                "materialize",
                "-m",
                "qb_pipeline.definitions",
                "--select",
                ASSETS,
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        profile = Path(home) / "chromium"
        subprocess.run(
            [
                browser,
                *HEADLESS,
                f"--user-data-dir={profile}",
                "--window-size=1440,2300",
                "--virtual-time-budget=20000",
                f"--screenshot={out}",
                f"{stack.ui}/assets/ar_aging",
            ],
            check=True,
            capture_output=True,
            timeout=120,
            env={**os.environ},
        )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
