"""Bad input corpus drill: malformed orders, customers, items, pricing CSV rows and QuickBooks answers.

Each case feeds one bad input next to good ones and checks three things: the error a person sees is
specific (it names the actual problem), nothing crashes, and nothing is lost (the good orders/rows
beside the bad one still go through, exactly once). A case whose behaviour is wrong is reported as
failed with the reason; this module never changes product behaviour to make a case pass.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

from drills.bad_input.harness import CaseFailed, CaseResult, Drill
from drills.bad_input.names import NAME_CASES
from drills.bad_input.orders import ORDER_CASES
from drills.bad_input.pricing_csv import CSV_CASES
from drills.bad_input.quickbooks_answers import QBO_CASES
from drills.bad_webhooks import WEBHOOK_CASES

__all__ = ["CaseResult", "all_cases", "run_bad_input_corpus"]


def all_cases() -> list[tuple[str, str, Callable[[Drill], str]]]:
    return (
        [("order", name, fn) for name, fn in ORDER_CASES]
        + [(c, name, fn) for c, name, fn in NAME_CASES]
        + [("pricing csv", name, fn) for name, fn in CSV_CASES]
        + [("qbo response", name, fn) for name, fn in QBO_CASES]
        + [("webhook", name, fn) for name, fn in WEBHOOK_CASES]
    )


def run_bad_input_corpus(sandbox_url: str, connection_file: Path, database_url: str) -> list[CaseResult]:
    drill = Drill(sandbox_url, connection_file, database_url)
    saved = drill.control("GET", "settings")
    drill.control("POST", "settings", {"latency_ms": 0, "limits": "off"})
    results = []
    try:
        for category, name, case in all_cases():
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    results.append(CaseResult(category, name, True, case(drill)))
            except CaseFailed as failed:
                results.append(CaseResult(category, name, False, failed.error, failed.detail))
            except Exception as error:  # a crash is a finding, not the end of the drill
                results.append(
                    CaseResult(
                        category,
                        name,
                        False,
                        f"{type(error).__name__}: {str(error)[:300]}",
                        "crashed instead of reporting the bad input",
                    )
                )
            finally:
                try:
                    drill.control("DELETE", "inject")
                except Exception:
                    pass
    finally:
        drill.control("POST", "settings", saved)
        if drill.engine is not None:
            drill.engine.dispose()
    return results
