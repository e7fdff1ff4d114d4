"""The QuickBooks companies the topology serves, and what is asked of each: its order numbers, its
sandbox control calls (dump, counters, faults).

Today the project and the sandbox serve one company (QB_REALM_ID; the sandbox's connection file). The
scenario and the counts take a list: when the sandbox serves several companies in one process (issue 27,
item 4: control calls per company under /_sandbox/companies/{realm}/), only `sandbox_companies` changes,
to one `Company` per realm id holding the sandbox's client for that realm; the orders then name their
company too (`orders add --company`).
"""

from __future__ import annotations

from dataclasses import dataclass

from qb_pipeline.sandbox.client import SandboxClient


@dataclass(frozen=True)
class Company:
    realm_id: str
    number: int  # 1, 2, …: in its order numbers, which must fit QuickBooks' 21-character DocNumber
    sandbox: SandboxClient

    @property
    def order_prefix(self) -> str:
        return f"TOPO{self.number}-"

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


def sandbox_companies(sandbox: SandboxClient) -> list[Company]:
    """The companies the running sandbox serves: today its one company."""
    return [Company(realm_id=sandbox.realm_id, number=1, sandbox=sandbox)]
