"""`qb-pipeline sandbox …` (also `python -m qb_pipeline.sandbox …`)."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def sandbox() -> None:
    """The local QuickBooks Online emulator (no Intuit account needed)."""


@sandbox.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--port", default=8765, show_default=True, help="Port; 0 picks a free one.")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path),
    default=Path(".data/sandbox"),
    show_default=True,
    help="State folder (kept across restarts); connection.json is written here.",
)
@click.option(
    "--seed",
    "seed_preset",
    type=click.Choice(["demo", "none"]),
    default="demo",
    show_default=True,
    help="Data for a new (empty) state folder, in each company.",
)
@click.option(
    "--companies",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Serve this many QuickBooks companies (realms), each with its own data, limits, tokens and webhooks; "
    "the first keeps the usual realm id. A state folder keeps the companies it has.",
)
@click.option("--customers", default=0, show_default=True, help="Also generate this many customers (per company).")
@click.option("--items", default=0, show_default=True, help="Also generate this many items.")
@click.option(
    "--age-days",
    default=0,
    show_default=True,
    type=click.IntRange(min=0, max=25),
    help="The generated records were last changed this many days ago (a company's existing books).",
)
@click.option("--latency-ms", default=0, show_default=True, help="Added latency per API call.")
@click.option(
    "--latency-per-row-ms",
    default=0.0,
    show_default=True,
    help="Added latency per record returned (a 1,000-row page costs 1–3 s at Intuit).",
)
@click.option("--limits", default="off", show_default=True, help="Rate limits: off, real, or scaled:F.")
@click.option(
    "--docnumber-duplicates",
    type=click.Choice(["refuse", "allow"]),
    default="refuse",
    show_default=True,
    help="A second invoice with an existing DocNumber: refused (6140, QuickBooks' default) or allowed.",
)
@click.option(
    "--requestid-replay/--no-requestid-replay",
    default=True,
    show_default=True,
    help="Answer a repeated requestid with the first answer (QuickBooks does, but not in every case).",
)
@click.option(
    "--custom-txn-numbers/--no-custom-txn-numbers",
    default=None,
    help="Preferences.SalesFormsPrefs.CustomTxnNumbers; when off the sandbox numbers invoices itself. "
    "Default: as the state folder has it (on for a new one).",
)
@click.option("--webhook-url", default="", help="POST change notifications, signed like Intuit's, to this URL.")
@click.option(
    "--webhook-format",
    type=click.Choice(["cloudevents", "legacy"]),
    default="cloudevents",
    show_default=True,
    help="Intuit's CloudEvents array (all Intuit sends since its 2026 cut-over), or the legacy "
    "eventNotifications payload (an app not switched yet).",
)
@click.option("--webhook-batch-ms", default=500, show_default=True, help="Changes in this window go in one delivery.")
def serve(
    host: str,
    port: int,
    data_dir: Path,
    seed_preset: str,
    companies: int,
    customers: int,
    items: int,
    age_days: int,
    latency_ms: int,
    latency_per_row_ms: float,
    limits: str,
    docnumber_duplicates: str,
    requestid_replay: bool,
    custom_txn_numbers: bool | None,
    webhook_url: str,
    webhook_format: str,
    webhook_batch_ms: int,
) -> None:
    """Serve the QuickBooks Online v3 API, OAuth 2 and the /_sandbox/ control API."""
    from qb_pipeline.sandbox.limits import RateLimiter
    from qb_pipeline.sandbox.server import serve as run

    try:
        RateLimiter(limits)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--limits") from None
    try:
        run(
            host=host,
            port=port,
            data_dir=data_dir.resolve(),
            seed_preset=seed_preset,
            companies=companies,
            customers=customers,
            items=items,
            age_days=age_days,
            latency_ms=latency_ms,
            latency_per_row_ms=latency_per_row_ms,
            limits=limits,
            settings={
                "docnumber_duplicates": docnumber_duplicates,
                "requestid_replay": requestid_replay,
                "custom_txn_numbers": custom_txn_numbers,
                "webhook_url": webhook_url,
                "webhook_format": webhook_format,
                "webhook_batch_ms": webhook_batch_ms,
            },
        )
    except OSError as error:
        raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror}") from None
