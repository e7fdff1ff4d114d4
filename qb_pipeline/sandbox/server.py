"""Assembles the sandbox and serves it with uvicorn; writes connection.json for clients."""

from __future__ import annotations

import json
import os
import secrets
import socket
import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from qb_pipeline.sandbox.companies import (
    COMPANY_SETTINGS,
    FIRST_REALM,
    Company,
    CompanyRouter,
    EveryCompanysFaults,
    company_name,
    realm_of,
    save_realms,
    saved_realms,
)
from qb_pipeline.sandbox.control import control_routes
from qb_pipeline.sandbox.faults import OAuthFaults
from qb_pipeline.sandbox.oauth import OAUTH_PATHS, OAuthServer
from qb_pipeline.sandbox.screens import PATH as SCREENS_PATH
from qb_pipeline.sandbox.screens import screens_routes
from qb_pipeline.sandbox.store import Store

DEFAULT_REALM = FIRST_REALM  # the first company's (older callers import it from here)
APP_SETTINGS = ("access_ttl", "rotation_grace", "refresh_hard_ttl", "hard_expiry_field")
REDIRECT_URI = "http://127.0.0.1:8766/callback"
SECRET_KEYS = (
    "client_secret",
    "refresh_token",
    "webhook_verifier_token",
    "control_token",
)  # what `qb-pipeline auth connect` listens on by default


class Sandbox:
    """The whole emulator: its companies (companies.py), the OAuth app they share, and the ASGI app."""

    def __init__(
        self,
        data_dir: Path | None,
        base_url: str,
        *,
        limits: str = "off",
        latency_ms: int = 0,
        latency_per_row_ms: float = 0.0,
        companies: int = 1,
    ) -> None:
        self.data_dir, self.base_url = data_dir, base_url.rstrip("/")
        if data_dir:
            data_dir.mkdir(parents=True, exist_ok=True)
            data_dir.chmod(0o700)  # it holds the client secret and tokens: readable by its owner only
        self.store = Store(data_dir / "sandbox.sqlite" if data_dir else None)
        self.oauth = OAuthServer(data_dir / "oauth.sqlite" if data_dir else None, self.base_url)
        self.verifier_token = self._secret("webhook_verifier_token")  # the app's: one for every company
        self.control_token = self._secret("control_token")
        # What a company starts with (the flags of `serve`), a company added later included.
        self.defaults: dict = {"limits": limits, "latency_ms": latency_ms, "latency_per_row_ms": latency_per_row_ms}
        self.companies: dict[str, Company] = {}
        for realm in saved_realms(self.store) or [FIRST_REALM]:
            self._open(realm)
        while len(self.companies) < companies:
            self._open(realm_of(len(self.companies)))
        save_realms(self.store, list(self.companies))
        self.app = OAuthFaults(
            Starlette(
                routes=[
                    *self.oauth.routes(),
                    *control_routes(self),
                    *screens_routes(self),
                    Mount("/v3", app=CompanyRouter(self.companies)),
                ]
            ),
            EveryCompanysFaults(self.companies),
            OAUTH_PATHS,
        )

    def _secret(self, name: str) -> str:
        """A random secret kept across restarts: the webhook verifier token (Intuit shows the app's in its
        developer portal) and the control API's token (the sandbox's own)."""
        token = self.store.get_meta(name)
        if token is None:
            token = secrets.token_urlsafe(32)
            self.store.set_meta(name, token)
        return token

    def _open(self, realm: str) -> Company:
        company = Company(realm, company_name(len(self.companies)), self.store, self.oauth, self.verifier_token)
        # Preferences (custom_txn_numbers) exist once it is seeded: add_company sets them then.
        company.configure(**{k: v for k, v in self.defaults.items() if k != "custom_txn_numbers"})
        self.companies[realm] = company
        self.oauth.realms.append(realm)
        return company

    # -- companies -------------------------------------------------------------------------------
    @property
    def first(self) -> Company:
        """The company a caller that names none means (the control API without /companies/{realm}/, the screens)."""
        return next(iter(self.companies.values()))

    @property
    def realm(self) -> str:
        return self.first.realm

    @property
    def api(self):
        return self.first.api

    def company(self, realm: str | None = None) -> Company:
        """The company of `realm` (KeyError if none), the first when None."""
        return self.first if realm is None else self.companies[realm]

    def add_company(self, preset: str = "none", *, customers: int = 0, items: int = 0) -> Company:
        """A new company, with the next realm id, the settings the sandbox was started with, and its data."""
        company = self._open(realm_of(len(self.companies)))
        save_realms(self.store, list(self.companies))
        company.start(preset, customers=customers, items=items)
        company.configure(**self.defaults)
        self.write_connection_files([company.realm])
        return company

    def write_connection_files(self, realms: list[str]) -> None:
        """connections/<realm>.json in the state folder: a connection file for each company."""
        if self.data_dir is None:
            return
        folder = self.data_dir / "connections"
        folder.mkdir(mode=0o700, exist_ok=True)
        for realm in realms:
            write_connection(folder / f"{realm}.json", self.connection(realm))

    # -- state -----------------------------------------------------------------------------------
    def seed(self, preset: str = "none", *, customers: int = 0, items: int = 0, realm: str | None = None) -> None:
        self.company(realm).seed(preset, customers=customers, items=items)

    def reset(self, preset: str = "none", *, realm: str | None = None) -> None:
        self.company(realm).reset(preset)

    def configure(self, realm: str | None = None, *, every_company: bool = False, **options) -> None:
        """Settings of one company (`realm`; the first when None) or of every company (and of those added
        later); the app's token settings (access_ttl, rotation_grace, refresh_hard_ttl, hard_expiry_field)
        whichever company they are sent for, as Intuit's token lifetimes are the same for every company."""
        unknown = set(options) - set(COMPANY_SETTINGS) - set(APP_SETTINGS)
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        app = {k: v for k, v in options.items() if k in APP_SETTINGS}
        own = {k: v for k, v in options.items() if k in COMPANY_SETTINGS}
        self.oauth.configure_hard_end(app.get("refresh_hard_ttl"), app.get("hard_expiry_field"))  # refuses first
        for company in self.companies.values() if every_company else [self.company(realm)]:
            company.configure(**own)
        if every_company:
            self.defaults.update({k: v for k, v in own.items() if v is not None})
        if app.get("access_ttl") is not None:
            self.oauth.access_ttl = int(app["access_ttl"])
        if app.get("rotation_grace") is not None:
            self.oauth.rotation_grace = int(app["rotation_grace"])

    def settings(self, realm: str | None = None) -> dict:
        return {
            "access_ttl": self.oauth.access_ttl,
            "rotation_grace": self.oauth.rotation_grace,
            "refresh_hard_ttl": self.oauth.refresh_hard_ttl,
            "hard_expiry_field": self.oauth.hard_expiry_field,
            **self.company(realm).settings(),
        }

    def connection(self, realm: str | None = None) -> dict:
        """Everything a client needs to connect to a company, including a fresh, valid refresh token."""
        client_id, client_secret = self.oauth.ensure_app()
        realm = self.company(realm).realm
        return {
            "realm_id": realm,
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": REDIRECT_URI,
            "discovery_url": self.oauth.discovery_url,
            "api_base_url": self.base_url + "/v3",
            "sandbox_url": self.base_url,
            "refresh_token": self.oauth.mint_tokens(realm)["refresh_token"],
            "webhook_verifier_token": self.verifier_token,
            "control_token": self.control_token,  # Authorization: Bearer … on every /_sandbox/ call
        }


def bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def write_connection(path: Path, connection: dict) -> None:
    """Atomically, readable by the owner only (it holds a client secret and a refresh token)."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(connection, handle, indent=2)
    os.replace(tmp, path)


def serve(
    *,
    host: str,
    port: int,
    data_dir: Path,
    seed_preset: str,
    customers: int,
    items: int,
    latency_ms: int,
    limits: str,
    quiet: bool = False,
    settings: dict | None = None,
    latency_per_row_ms: float = 0.0,
    companies: int = 1,
    age_days: int = 0,
) -> None:
    sock = bind(host, port)  # listening before connection.json exists: no client can race the start
    actual_port = sock.getsockname()[1]
    sandbox = Sandbox(
        data_dir,
        f"http://{host}:{actual_port}",
        limits=limits,
        latency_ms=latency_ms,
        latency_per_row_ms=latency_per_row_ms,
        companies=companies,
    )
    for company in sandbox.companies.values():  # each a company of its own: its own copy of the data asked for
        company.start(seed_preset, customers=customers, items=items, age_days=age_days)
    sandbox.configure(every_company=True, **(settings or {}))
    sandbox.write_connection_files(list(sandbox.companies))
    connection = sandbox.connection()
    write_connection(data_dir / "connection.json", connection)
    if not quiet:
        _tell(sandbox, connection, data_dir)
    config = uvicorn.Config(sandbox.app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


def _tell(sandbox: Sandbox, connection: dict, data_dir: Path) -> None:
    """What a developer needs on the terminal, secrets left in the (owner-only) files."""
    shown = {k: ("<in connection.json>" if k in SECRET_KEYS else v) for k, v in connection.items()}
    print("QuickBooks sandbox listening; connection details:", file=sys.stderr)
    for key, value in shown.items():
        print(f"  {key}: {value}", file=sys.stderr)
    print(f"  file: {data_dir / 'connection.json'}", file=sys.stderr)
    if len(sandbox.companies) > 1:
        print(f"  companies ({len(sandbox.companies)}): {', '.join(sandbox.companies)}", file=sys.stderr)
        print(f"  a connection file for each: {data_dir / 'connections'}/<realm_id>.json", file=sys.stderr)
    print(
        f"  screens: {sandbox.base_url}{SCREENS_PATH} (customers, items, invoices; sign in with control_token)",
        file=sys.stderr,
        flush=True,
    )
