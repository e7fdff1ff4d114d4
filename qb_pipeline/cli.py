"""`qb-pipeline`: what the Dagster UI does not do (database set-up, QuickBooks connection, sandbox…)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from qb_pipeline import config
from qb_pipeline.core import defaults


class _OneLineErrors(click.Group):
    """A setting or connection a person must fix is one line and a non-zero exit, never a traceback."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["qb_pipeline.argv"] = list(args)  # the whole command line: which command, and whether --help
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        from qb_pipeline.core.errors import QuickBooksError
        from qb_pipeline.db.session import DatabaseMissing
        from qb_pipeline.db.token_cipher import TokenKeyError

        try:
            return super().invoke(ctx)
        except (TokenKeyError, QuickBooksError, config.SettingsError, DatabaseMissing) as error:
            raise click.ClickException(_first_line(error)) from None


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def main(ctx: click.Context) -> None:
    """qb_pipeline: keep an order-entry database and QuickBooks Online in sync."""
    # With Intuit the token key must come from the environment: stop before any command touches tokens
    # (making the key, the local sandbox and reading a command's help need none). Only the group's own
    # callback runs before the subcommand's arguments are parsed, so the command line is read as given.
    argv = ctx.meta.get("qb_pipeline.argv", [])
    asks_for_help = any(arg in ("-h", "--help") for arg in argv)
    if argv[:2] != ["auth", "new-key"] and ctx.invoked_subcommand != "sandbox" and not asks_for_help:
        from qb_pipeline.db.token_cipher import require_token_key

        current = config.settings()  # a bad setting stops here, in one line, before anything runs
        require_token_key(current.token_key, current.environment)


@main.group()
def db() -> None:
    """The project database (QB_DATABASE_URL, default: a SQLite file under QB_DATA_DIR)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Alembic revision to upgrade to.")
def db_upgrade(revision: str) -> None:
    """Create or upgrade the database schema to the latest migration."""
    from qb_pipeline.commands.common import make_database
    from qb_pipeline.db.session import redact_url

    url = config.database_url()
    try:
        make_database(config.settings(), revision)
    except Exception as error:  # one clear line, never the URL's password
        raise click.ClickException(
            f"could not upgrade {redact_url(url)}: {type(error).__name__}: {_first_line(error)}"
        ) from None
    click.echo(f"database {redact_url(url)} is at revision {revision}")


@db.command("current")
def db_current() -> None:
    """Show the database's schema revision and the latest one this code knows."""
    from qb_pipeline.db.migrate import current_revision, head_revision
    from qb_pipeline.db.session import engine_for, redact_url

    url = config.database_url()
    current = current_revision(engine_for(url))
    head = head_revision()
    click.echo(f"{redact_url(url)}: revision {current or 'none'} (latest {head})")
    if current != head:
        click.echo("run `qb-pipeline db upgrade` to bring it up to date", err=True)
        sys.exit(1)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the Dagster UI binds to.")
@click.option("--port", type=int, default=None, help="Port of the Dagster UI. Default: QB_DAGSTER_URL's, else 3000.")
@click.option(
    "--sandbox-port",
    type=int,
    default=None,
    help=f"Port of the local QuickBooks sandbox. Default: QB_SANDBOX_PORT, else {defaults.SANDBOX_PORT}.",
)
@click.option(
    "--sandbox/--no-sandbox",
    "with_sandbox",
    default=None,
    help="Start the local QuickBooks sandbox. Default: on unless QB_ENVIRONMENT names Intuit.",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help=f"State of the embedded default (database, sandbox). Default: QB_DATA_DIR or {defaults.DATA_DIR}",
)
@click.option(
    "--dagster-home",
    type=click.Path(path_type=Path),
    default=None,
    help=f"Dagster's home. Default: DAGSTER_HOME or {defaults.DAGSTER_HOME}",
)
def dev(
    host: str,
    port: int | None,
    sandbox_port: int | None,
    with_sandbox: bool | None,
    data_dir: Path | None,
    dagster_home: Path | None,
) -> None:
    """Run the whole product locally (what `make dev` runs). Ctrl-C stops everything."""
    from qb_pipeline.commands.common import MAKE_DEV_DAGSTER_HOME
    from qb_pipeline.devstack import DevStack

    project_dir = Path.cwd()
    if not (project_dir / "workspace.yaml").exists():
        raise click.ClickException("run `qb-pipeline dev` from the project folder (where workspace.yaml is)")
    stack = DevStack(
        project_dir=project_dir,
        data_dir=(data_dir or config.data_dir()).resolve(),
        dagster_home=(dagster_home or config.settings().dagster_home or MAKE_DEV_DAGSTER_HOME).resolve(),
        host=host,
        port=port or _port_of(config.settings().dagster_url),
        sandbox_port=sandbox_port or config.settings().sandbox_port,
        webhook_port=config.settings().webhook_port,
        with_sandbox=(with_sandbox if with_sandbox is not None else config.quickbooks_environment() == "sandbox-local"),
    )
    code = stack.run()
    # Every process of the stack is gone by now; the interpreter's own teardown (its imports, the database
    # pool) would only hold the prompt back a few tenths of a second more.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _port_of(url: str) -> int:
    """The port `make dev` serves the UI on: QB_DAGSTER_URL's, where `qb-pipeline sync` looks for it."""
    from urllib.parse import urlparse

    try:
        return urlparse(url).port or 3000
    except ValueError:
        raise click.ClickException(
            f"QB_DAGSTER_URL={url!r} has no valid port: use e.g. http://127.0.0.1:3001"
        ) from None


def _attach_subcommands() -> None:
    from qb_pipeline.commands.auth import auth
    from qb_pipeline.commands.companies import companies
    from qb_pipeline.commands.order_changes import cancel, edit
    from qb_pipeline.commands.orders import orders
    from qb_pipeline.commands.pricing import pricing
    from qb_pipeline.commands.status import log, status
    from qb_pipeline.commands.sync import sync
    from qb_pipeline.commands.webhooks import webhooks
    from qb_pipeline.sandbox.cli import sandbox

    for command in (auth, companies, orders, pricing, status, log, sandbox, webhooks, sync):
        main.add_command(command)
    for command in (edit, cancel):
        orders.add_command(command)


_attach_subcommands()


def _first_sentence(help_text: str) -> str:
    """The first sentence of a help text's first paragraph (a period ends one when an upper-case word or
    nothing follows, as click reads it)."""
    words = help_text.partition("\n\n")[0].split()
    for index, word in enumerate(words):
        if word.endswith(".") and (index == len(words) - 1 or not words[index + 1][0].islower()):
            return " ".join(words[: index + 1])
    return " ".join(words)


def _whole_summaries(command: click.Command) -> None:
    """Each command's line in its group's --help is its whole first sentence, wrapped: click otherwise cuts
    it to the terminal's width, mid-sentence ("tokens are stored encrypted in...")."""
    if command.short_help is None and command.help:
        command.short_help = _first_sentence(command.help)
    for sub in getattr(command, "commands", {}).values():
        _whole_summaries(sub)


_whole_summaries(main)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else ""


if __name__ == "__main__":
    main()
