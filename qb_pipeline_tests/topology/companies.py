"""The QuickBooks companies the topology serves, and what is asked of each: its order numbers, its
sandbox control calls (dump, counters, faults).

The one sandbox process serves COMPANIES companies (`serve --companies`), each with its own realm id,
records, limits and control calls (/_sandbox/companies/{realm}/…): one `Company` per realm id holds the
sandbox's client of that company. Orders name their company (orders.realm_id, `orders add --company`).
"""

from __future__ import annotations

from dataclasses import dataclass

from qb_pipeline.sandbox.client import SandboxClient

PREFIX = "TOPO"  # every company's order numbers start so; then its number


@dataclass(frozen=True)
class Company:
    realm_id: str
    number: int  # 1, 2, …: in its order numbers, which must fit QuickBooks' 21-character DocNumber
    sandbox: SandboxClient

    @property
    def order_prefix(self) -> str:
        return f"{PREFIX}{self.number}-"

    def order_number(self, n: int) -> str:
        return f"{self.order_prefix}{n:04d}"

    def control(self, method: str, path: str, payload: dict | None = None):
        return self.sandbox.control(method, path, payload, timeout=30)

    def invoices(self) -> list[dict]:
        """Every invoice the company holds in QuickBooks, as the sandbox stores it."""
        return self.control("GET", "dump/Invoice")["records"]

    def calls(self, key: str) -> int:
        """How many API calls the sandbox answered so, e.g. `batch 200`."""
        return self.control("GET", "counters")["calls"].get(key, 0)


COMPANIES = 3


def sandbox_companies(sandbox: SandboxClient) -> list[Company]:
    """The companies the running sandbox serves, the first the default one (connection.json's)."""
    return [
        Company(realm_id=realm, number=n, sandbox=sandbox.company(realm))
        for n, realm in enumerate(sandbox.realm_ids(), start=1)
    ]
