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

from qb_pipeline.sandbox.api import DataApi
from qb_pipeline.sandbox.control import control_routes
from qb_pipeline.sandbox.faults import FaultInjector, OAuthFaults
from qb_pipeline.sandbox.limits import RateLimiter
from qb_pipeline.sandbox.oauth import OAUTH_PATHS, OAuthServer
from qb_pipeline.sandbox.screens import PATH as SCREENS_PATH
from qb_pipeline.sandbox.screens import screens_routes
from qb_pipeline.sandbox.seed import seed
from qb_pipeline.sandbox.store import Store
from qb_pipeline.sandbox.webhooks import WebhookEmitter

DEFAULT_REALM = "9130357992221046"
REDIRECT_URI = "http://127.0.0.1:8766/callback"
SECRET_KEYS = (
    "client_secret",
    "refresh_token",
    "webhook_verifier_token",
    "control_token",
)  # what `qb-pipeline auth connect` listens on by default


class Sandbox:
    """The whole emulator: state, OAuth, limits, faults, and the ASGI app serving them."""

    def __init__(
        self,
        data_dir: Path | None,
        base_url: str,
        *,
        limits: str = "off",
        latency_ms: int = 0,
        latency_per_row_ms: float = 0.0,
        realm: str = DEFAULT_REALM,
    ) -> None:
        self.data_dir, self.base_url, self.realm = data_dir, base_url.rstrip("/"), realm
        if data_dir:
            data_dir.mkdir(parents=True, exist_ok=True)
            data_dir.chmod(0o700)  # it holds the client secret and tokens: readable by its owner only
        self.store = Store(data_dir / "sandbox.sqlite" if data_dir else None)
        self.oauth = OAuthServer(data_dir / "oauth.sqlite" if data_dir else None, self.base_url)
        self.oauth.default_realm = realm
        self.limiter = RateLimiter(limits)
        self.faults = FaultInjector()
        self.api = DataApi(self.store, self.oauth, self.limiter, self.faults)
        self.api.latency_ms = latency_ms
        self.api.latency_per_row_ms = latency_per_row_ms
        self.webhooks = WebhookEmitter(realm, self._secret("webhook_verifier_token"))
        self.control_token = self._secret("control_token")
        self.store.listeners.append(self.webhooks.notify)
        self.app = OAuthFaults(
            Starlette(
                routes=[*self.oauth.routes(), *control_routes(self), *screens_routes(self), Mount("/v3", app=self.api)]
            ),
            self.faults,
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

    # -- state -----------------------------------------------------------------------------------
    def seed(self, preset: str = "none", *, customers: int = 0, items: int = 0) -> None:
        seed(self.store, self.realm, preset, customers=customers, items=items)

    def reset(self, preset: str = "none") -> None:
        self.store.reset()
        self.faults.clear()
        self.oauth.unrevoke_all()
        self.api.clear_counters()
        self.limiter.forget()
        self.webhooks.reset()
        self.seed(preset)

    def configure(
        self,
        *,
        latency_ms: int | None = None,
        latency_per_row_ms: float | None = None,
        limits: str | None = None,
        access_ttl: int | None = None,
        rotation_grace: int | None = None,
        send_retry_after: bool | None = None,
        docnumber_duplicates: str | None = None,
        requestid_replay: bool | None = None,
        custom_txn_numbers: bool | None = None,
        webhook_url: str | None = None,
        webhook_format: str | None = None,
        webhook_batch_ms: int | None = None,
        refresh_hard_ttl: int | None = None,
        hard_expiry_field: str | None = None,
    ) -> None:
        self.oauth.configure_hard_end(refresh_hard_ttl, hard_expiry_field)  # refuses a bad field before any change
        self.webhooks.configure(url=webhook_url, format=webhook_format, batch_ms=webhook_batch_ms)
        _check_choices(
            docnumber_duplicates,
            requestid_replay=requestid_replay,
            custom_txn_numbers=custom_txn_numbers,
            send_retry_after=send_retry_after,
        )
        self._configure_api(docnumber_duplicates, requestid_replay, custom_txn_numbers, latency_ms, latency_per_row_ms)
        self._configure_access(limits, access_ttl, rotation_grace, send_retry_after)

    def _configure_api(
        self,
        docnumber_duplicates: str | None,
        requestid_replay: bool | None,
        custom_txn_numbers: bool | None,
        latency_ms: int | None,
        latency_per_row_ms: float | None,
    ) -> None:
        if docnumber_duplicates is not None:
            self.api.rules.docnumber_duplicates = docnumber_duplicates
        if requestid_replay is not None:
            self.api.requestid_replay = requestid_replay
        if custom_txn_numbers is not None:
            self.api.rules.set_custom_txn_numbers(self.realm, custom_txn_numbers)
        if latency_ms is not None:
            self.api.latency_ms = int(latency_ms)
        if latency_per_row_ms is not None:
            self.api.latency_per_row_ms = float(latency_per_row_ms)

    def _configure_access(
        self, limits: str | None, access_ttl: int | None, rotation_grace: int | None, send_retry_after: bool | None
    ) -> None:
        """Rate limits and tokens."""
        if limits is not None:
            self.limiter.set_mode(limits)
        if access_ttl is not None:
            self.oauth.access_ttl = int(access_ttl)
        if rotation_grace is not None:
            self.oauth.rotation_grace = int(rotation_grace)
        if send_retry_after is not None:
            self.limiter.send_retry_after = bool(send_retry_after)

    def settings(self) -> dict:
        return {
            "latency_ms": self.api.latency_ms,
            "latency_per_row_ms": self.api.latency_per_row_ms,
            "limits": self.limiter.mode,
            "access_ttl": self.oauth.access_ttl,
            "rotation_grace": self.oauth.rotation_grace,
            "refresh_hard_ttl": self.oauth.refresh_hard_ttl,
            "hard_expiry_field": self.oauth.hard_expiry_field,
            "send_retry_after": self.limiter.send_retry_after,
            "docnumber_duplicates": self.api.rules.docnumber_duplicates,
            "requestid_replay": self.api.requestid_replay,
            "custom_txn_numbers": self.api.rules.custom_txn_numbers(self.realm),
            **self.webhooks.settings(),
        }

    def connection(self) -> dict:
        """Everything a client needs to connect, including a fresh, valid refresh token."""
        client_id, client_secret = self.oauth.ensure_app()
        return {
            "realm_id": self.realm,
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": REDIRECT_URI,
            "discovery_url": self.oauth.discovery_url,
            "api_base_url": self.base_url + "/v3",
            "sandbox_url": self.base_url,
            "refresh_token": self.oauth.mint_tokens(self.realm)["refresh_token"],
            "webhook_verifier_token": self.webhooks.verifier_token,
            "control_token": self.control_token,  # Authorization: Bearer … on every /_sandbox/ call
        }


def _check_choices(docnumber_duplicates: str | None, **switches: bool | None) -> None:
    """Before anything is changed: refuse a value a setting does not allow."""
    if docnumber_duplicates is not None and docnumber_duplicates not in ("refuse", "allow"):
        raise ValueError(f"docnumber_duplicates must be refuse or allow (got {docnumber_duplicates!r})")
    for name, value in switches.items():
        if value is not None and not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false (got {value!r})")


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
) -> None:
    sock = bind(host, port)  # listening before connection.json exists: no client can race the start
    actual_port = sock.getsockname()[1]
    sandbox = Sandbox(
        data_dir,
        f"http://{host}:{actual_port}",
        limits=limits,
        latency_ms=latency_ms,
        latency_per_row_ms=latency_per_row_ms,
    )
    if not sandbox.store.get_meta("seeded"):
        sandbox.seed(seed_preset, customers=customers, items=items)
        sandbox.store.set_meta("seeded", seed_preset)
    elif customers or items:
        sandbox.seed("none", customers=customers, items=items)
    sandbox.seed("none")  # a state folder from an older version gains what every company has
    sandbox.configure(**(settings or {}))
    connection = sandbox.connection()
    write_connection(data_dir / "connection.json", connection)
    if not quiet:
        shown = {k: ("<in connection.json>" if k in SECRET_KEYS else v) for k, v in connection.items()}
        print("QuickBooks sandbox listening; connection details:", file=sys.stderr)
        for key, value in shown.items():
            print(f"  {key}: {value}", file=sys.stderr)
        print(f"  file: {data_dir / 'connection.json'}", file=sys.stderr)
        print(
            f"  screens: {sandbox.base_url}{SCREENS_PATH} (customers, items, invoices; sign in with control_token)",
            file=sys.stderr,
            flush=True,
        )
    config = uvicorn.Config(sandbox.app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])
