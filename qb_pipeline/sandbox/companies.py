"""The sandbox's QuickBooks companies: each with its own realm id, records, rate limits, faults, API settings
and counters, and webhook deliveries, as each company connected to an app is at Intuit.

What the companies share is what an Intuit app shares: one OAuth app (client id and secret, token lifetimes)
issuing tokens each good for one company, one webhook verifier token, and the sandbox's one record store
(keyed by realm, so Ids repeat across companies without meeting). The first company keeps the sandbox's
historical realm id, so a caller that knows one company sees no change; the others' ids are derived from it.
"""

from __future__ import annotations

import json

from qb_pipeline.sandbox.api import DataApi
from qb_pipeline.sandbox.faults import FaultInjector, Injection
from qb_pipeline.sandbox.limits import RateLimiter
from qb_pipeline.sandbox.oauth import OAuthServer
from qb_pipeline.sandbox.seed import seed
from qb_pipeline.sandbox.store import Store, dumps
from qb_pipeline.sandbox.validation import not_this_company
from qb_pipeline.sandbox.webhooks import WebhookEmitter

FIRST_REALM = "9130357992221046"
REALM_STRIDE = 1_000_003  # the n-th company's id: FIRST_REALM + n × this (16 digits, as Intuit's are)
COMPANIES_META = "companies"  # the realm ids, in order, kept in the store across restarts
# Settings each company has for itself; the rest (token lifetimes, the hard end) are the app's.
COMPANY_SETTINGS = (
    "latency_ms",
    "latency_per_row_ms",
    "limits",
    "send_retry_after",
    "docnumber_duplicates",
    "requestid_replay",
    "custom_txn_numbers",
    "webhook_url",
    "webhook_format",
    "webhook_batch_ms",
)


def realm_of(number: int) -> str:
    """The realm id of the `number`-th company (0: the first)."""
    return str(int(FIRST_REALM) + REALM_STRIDE * number)


def company_name(number: int) -> str:
    return "Sandbox Company" if number == 0 else f"Sandbox Company {number + 1}"


class Company:
    """One company: its data API (with its own limits, faults, counters and settings) and its webhooks."""

    def __init__(self, realm: str, name: str, store: Store, oauth: OAuthServer, verifier_token: str) -> None:
        self.realm, self.name, self.store, self.oauth = realm, name, store, oauth
        self.limiter = RateLimiter("off")
        self.faults = FaultInjector()
        self.api = DataApi(store, oauth, self.limiter, self.faults)
        self.webhooks = WebhookEmitter(realm, verifier_token)
        store.listeners.append(self.webhooks.notify)  # it tells of its own realm's changes only

    @property
    def seeded_key(self) -> str:
        """The store's mark of a seeded company (the first company's is the one older state folders have)."""
        return "seeded" if self.realm == FIRST_REALM else f"seeded:{self.realm}"

    def seed(self, preset: str = "none", *, customers: int = 0, items: int = 0, age_days: int = 0) -> None:
        seed(self.store, self.realm, preset, customers=customers, items=items, name=self.name, age_days=age_days)

    def start(self, preset: str, *, customers: int = 0, items: int = 0, age_days: int = 0) -> None:
        """Seed a new company with `preset`; an existing one only gains the generated records asked for."""
        generated = {"customers": customers, "items": items, "age_days": age_days}
        if not self.store.get_meta(self.seeded_key):
            self.seed(preset, **generated)
            self.store.set_meta(self.seeded_key, preset)
        else:
            self.seed("none", **generated)  # an older state folder gains what is new

    def reset(self, preset: str = "none") -> None:
        """Empty the company (its accounts and company records come back), clear its faults, undo revocations."""
        self.store.reset(self.realm)
        self.faults.clear()
        self.oauth.unrevoke_all(self.realm)
        self.api.clear_counters()
        self.limiter.forget()
        self.webhooks.reset()
        self.seed(preset)

    def configure(self, **options) -> None:
        """The company's own settings (COMPANY_SETTINGS); a bad value is refused before anything changes."""
        api, limiter = self.api, self.limiter
        _check_choices(options)
        self.webhooks.configure(
            url=options.get("webhook_url"),
            format=options.get("webhook_format"),
            batch_ms=options.get("webhook_batch_ms"),
        )
        if options.get("limits") is not None:
            limiter.set_mode(options["limits"])
        if options.get("send_retry_after") is not None:
            limiter.send_retry_after = options["send_retry_after"]
        if options.get("docnumber_duplicates") is not None:
            api.rules.docnumber_duplicates = options["docnumber_duplicates"]
        if options.get("requestid_replay") is not None:
            api.requestid_replay = options["requestid_replay"]
        if options.get("custom_txn_numbers") is not None:
            api.rules.set_custom_txn_numbers(self.realm, options["custom_txn_numbers"])
        if options.get("latency_ms") is not None:
            api.latency_ms = int(options["latency_ms"])
        if options.get("latency_per_row_ms") is not None:
            api.latency_per_row_ms = float(options["latency_per_row_ms"])

    def settings(self) -> dict:
        return {
            "latency_ms": self.api.latency_ms,
            "latency_per_row_ms": self.api.latency_per_row_ms,
            "limits": self.limiter.mode,
            "send_retry_after": self.limiter.send_retry_after,
            "docnumber_duplicates": self.api.rules.docnumber_duplicates,
            "requestid_replay": self.api.requestid_replay,
            "custom_txn_numbers": self.api.rules.custom_txn_numbers(self.realm),
            **self.webhooks.settings(),
        }

    def describe(self) -> dict:
        return {"realm_id": self.realm, "name": self.name}


def _check_choices(options: dict) -> None:
    """Refuse a value a setting does not allow, before anything is changed."""
    limits = options.get("limits")
    if limits is not None:
        RateLimiter(limits)  # raises ValueError for a mode it does not know
    duplicates = options.get("docnumber_duplicates")
    if duplicates is not None and duplicates not in ("refuse", "allow"):
        raise ValueError(f"docnumber_duplicates must be refuse or allow (got {duplicates!r})")
    for name in ("send_retry_after", "requestid_replay", "custom_txn_numbers"):
        value = options.get(name)
        if value is not None and not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false (got {value!r})")


def saved_realms(store: Store) -> list[str]:
    text = store.get_meta(COMPANIES_META)
    return json.loads(text) if text else []


def save_realms(store: Store, realms: list[str]) -> None:
    store.set_meta(COMPANIES_META, json.dumps(realms))


class EveryCompanysFaults:
    """The OAuth endpoints are the app's, not a company's: a fault injected for them through any company's
    control API strikes the next matching call there, whatever company its token is for."""

    def __init__(self, companies: dict[str, Company]) -> None:
        self.companies = companies

    def next_fault(self, path: str, **options) -> Injection | None:
        for company in list(self.companies.values()):
            fault = company.faults.next_fault(path, **options)
            if fault is not None:
                return fault
        return None


class CompanyRouter:
    """The ASGI app under /v3: a call to /v3/company/{realm}/… goes to that company's data API. A realm no
    company has is answered as Intuit answers a token sent to a company it was not issued for."""

    def __init__(self, companies: dict[str, Company]) -> None:
        self.companies = companies

    async def __call__(self, scope, receive, send) -> None:
        parts = [p for p in scope["path"].split("/") if p]
        if parts and parts[0] == "v3":
            parts = parts[1:]
        realm = parts[1] if len(parts) >= 2 and parts[0] == "company" else None
        company = self.companies.get(realm) if realm is not None else next(iter(self.companies.values()))
        if company is not None:
            await company.api(scope, receive, send)
            return
        body = dumps(not_this_company().body()).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
