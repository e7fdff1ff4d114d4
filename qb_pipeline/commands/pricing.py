"""`qb-pipeline pricing import|export`: per-customer pricing as CSV (format: sync/pricing_csv.py)."""

from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa

from qb_pipeline import config
from qb_pipeline.commands.common import dagster_instance, database
from qb_pipeline.db import queries
from qb_pipeline.db.session import read_scope, session_scope
from qb_pipeline.sync.companies import CompanyNeeded, company_named
from qb_pipeline.sync.pricing_csv import PricingFileError, read_pricing_file
from qb_pipeline.sync.pricing_export import write_pricing
from qb_pipeline.sync.pricing_stage import import_pricing_file
from qb_pipeline.sync.wording import plural


@click.group()
def pricing() -> None:
    """Price levels and customer prices as CSV files."""


@pricing.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--strict", is_flag=True, help="Apply nothing if any row is bad (default: apply the good rows).")
@click.option(
    "--backdate",
    is_flag=True,
    help="Allow a valid_from in the past (it changes the price orders of that time would have had; "
    "orders already invoiced keep their invoice). Needed to restore a --history export.",
)
@click.option(
    "--company",
    default=None,
    metavar="REALM",
    help="The QuickBooks company (realm id) whose pricing it is. Default: the one connected.",
)
def import_command(file: Path, strict: bool, backdate: bool, company: str | None) -> None:
    """Check every row; apply the good ones at once and list the bad ones by line.

    Columns: kind, customer, price_level, item, price, percent, valid_from, source (and valid_to in a
    --history export). Kinds: customer_price, level_percent, level_item, assignment. END in price (or
    price_level, for an assignment) ends a price; an empty cell never does.
    """
    try:
        text = read_pricing_file(file)
    except PricingFileError as error:
        raise click.ClickException(str(error)) from None
    engine = database()
    try:
        report = import_pricing_file(engine, text, strict=strict, backdate=backdate, realm_id=company)
    except CompanyNeeded as error:
        raise click.ClickException(str(error)) from None
    with session_scope(engine) as session:
        summary = (
            f"applied {plural(report.applied, 'row')}"
            + (f", {report.unchanged} unchanged" if report.unchanged else "")
            + (f", {len(report.errors)} rejected" if report.errors else "")
        )
        queries.append_sync_log(
            session,
            entity="Pricing",
            processed=report.applied,
            failed=len(report.errors),
            outcome="FAILED" if report.strict_rejected else "PARTIAL" if report.errors else "SUCCESS",
            message=f"qb-pipeline pricing import {file.name}: {summary}",
            realm_id=company,
        )
    _observe_price_levels(report.applied, len(report.errors), file.name)
    for line, reason in report.errors:
        click.echo(f"{file.name}:{line}: {reason}", err=True)
    if report.strict_rejected:
        raise click.ClickException(f"{plural(len(report.errors), 'bad row')}: nothing applied (--strict)")
    click.echo(summary)
    if report.errors:
        raise SystemExit(1)


def _observe_price_levels(applied: int, rejected: int, file_name: str) -> None:
    """Tell the Dagster instance (make dev's, or DAGSTER_HOME's) that price_levels changed outside a run,
    so its page in the UI shows it."""
    with dagster_instance() as instance:
        if instance is None:
            return
        import dagster as dg

        instance.report_runless_asset_event(
            dg.AssetObservation(
                asset_key="price_levels",
                metadata={
                    "changes": applied,
                    "rejected_rows": rejected,
                    "source": f"qb-pipeline pricing import {file_name}",
                },
            )
        )


@pricing.command("export")
@click.option("--history", is_flag=True, help="Every interval, closed ones included (adds valid_to).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File (default: stdout).")
@click.option("--company", default=None, metavar="REALM", help="Whose pricing (needed when several are connected).")
def export_command(history: bool, output: Path | None, company: str | None) -> None:
    """One company's pricing in force (or its history) in the import format."""
    # Written as it is read, in one reading transaction (on SQLite it holds up no writer); a file appears
    # under its name only once complete.
    with read_scope(database()) as session:
        try:
            company = company_named(session, company)
        except CompanyNeeded as error:
            raise click.ClickException(str(error)) from None
        if output is None:
            write_pricing(session, click.get_text_stream("stdout"), include_history=history, realm_id=company)
            return
        partial = output.with_name(f".{output.name}.partial")
        try:
            with partial.open("w", encoding="utf-8", newline="") as file:
                write_pricing(session, file, include_history=history, realm_id=company)
            partial.replace(output)
        finally:
            partial.unlink(missing_ok=True)


@pricing.command("learned")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File (default: stdout).")
def learned_command(output: Path | None) -> None:
    """Suggest customer prices from invoices typed in QuickBooks (last invoiced price ≠ our price then).

    Invoices we made (marked with their order) are skipped. "Then" is the invoice's time in the company's
    zone (QB_COMPANY_TIMEZONE). Run after the invoices asset mirrored QuickBooks. Review the file, then
    `pricing import` it.
    """
    from qb_pipeline.core.company_zone import company_zone
    from qb_pipeline.db.models import QBToken
    from qb_pipeline.sync.learned_prices import as_pricing_csv, learned_prices

    zone = company_zone(config.settings().company_timezone, None).zone
    with session_scope(database()) as session:
        realms = list(session.scalars(sa.select(QBToken.realm_id)))
        suggestions = [s for realm in realms for s in learned_prices(session, realm, zone)]
    for s in suggestions:
        click.echo(
            f"{s.customer} / {s.item}: invoiced {s.invoiced_price} on {s.invoice_doc_number or 'an invoice'}, "
            f"{s.invoice_date or ''}; our price then {s.price_then if s.price_then is not None else 'none'}",
            err=True,
        )
    text = as_pricing_csv(suggestions)
    if output:
        output.write_text(text)
    else:
        click.echo(text, nl=False)
