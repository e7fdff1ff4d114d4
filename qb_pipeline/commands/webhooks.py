"""`qb-pipeline webhooks serve`: receive QuickBooks change notifications (see webhook_receiver.py)."""

from __future__ import annotations

import json
import logging

import click

from qb_pipeline import config
from qb_pipeline.commands.common import database
from qb_pipeline.core import defaults


@click.group()
def webhooks() -> None:
    """QuickBooks change notifications: a change made in QuickBooks reaches the database in seconds."""


def receiver_identity() -> tuple[str, str]:
    """(verifier token, our company id): from the settings, or the bundled sandbox's connection file."""
    current = config.settings()
    token, realm = current.webhook_verifier_token, current.realm_id
    if current.environment == "sandbox-local" and (not token or not realm):
        try:
            connection = json.loads(config.sandbox_connection_file().read_text())
        except (OSError, ValueError):
            raise click.ClickException(
                f"{config.sandbox_connection_file()} cannot be read: start the sandbox first (make dev does)"
            ) from None
        token, realm = token or connection.get("webhook_verifier_token", ""), realm or connection["realm_id"]
    if not token:
        raise click.ClickException(
            "QB_WEBHOOK_VERIFIER_TOKEN is not set: copy your app's verifier token from "
            "Intuit's developer portal (Webhooks)"
        )
    if not realm:
        raise click.ClickException("QB_REALM_ID is not set: the receiver keeps only your company's events")
    return token, realm


@webhooks.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (behind your HTTPS proxy).")
@click.option("--port", default=None, type=int, help=f"Port (default QB_WEBHOOK_PORT, {defaults.WEBHOOK_PORT}).")
def serve(host: str, port: int | None) -> None:
    """Serve POST /quickbooks/webhooks: verify, store each event once, answer 200 at once."""
    import uvicorn

    from qb_pipeline.webhook_receiver import PATH, SERVER_LIMITS, receiver_app

    engine = database()
    token, realm = receiver_identity()
    port = port or config.settings().webhook_port
    logging.basicConfig(level=logging.INFO, format="[webhooks] %(message)s")
    click.echo(
        f"[webhooks] receiving QuickBooks notifications for company {realm} on http://{host}:{port}{PATH}", err=True
    )
    uvicorn.run(
        receiver_app(engine, token, realm), host=host, port=port, log_level="warning", access_log=False, **SERVER_LIMITS
    )
