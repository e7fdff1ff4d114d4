"""One source for every setting: the README documents each variable `Settings` reads (and no other) with
its default; the Dagster resources and the functions a setting configures default to what `Settings`
does, and say in the UI which variable each field is; nothing but settings.py reads the environment."""

from __future__ import annotations

import ast
import inspect
import re
from dataclasses import fields
from pathlib import Path

import pytest

import qb_pipeline
from qb_pipeline.db.queries import prune_sync_log
from qb_pipeline.db.token_cipher import load_key
from qb_pipeline.devstack import DevStack
from qb_pipeline.quickbooks.connection import ConnectionSettings
from qb_pipeline.quickbooks.factory import build_gateway, intuit_settings, sandbox_settings
from qb_pipeline.quickbooks.gateway import QuickBooksGateway
from qb_pipeline.quickbooks.throttle import Throttle
from qb_pipeline.resources import DatabaseResource, QuickBooksResource
from qb_pipeline.settings import SPECS, Settings
from qb_pipeline.sync.invoices import push_orders
from qb_pipeline.sync.pricing_drop import take_dropped_files

PACKAGE = Path(qb_pipeline.__file__).parent
README = PACKAGE.parent / "README.md"
DEFAULTS = Settings()
TESTS_ONLY = {"QB_TEST_POSTGRES_URL"}  # read by the test fixtures, not by the package


def documented_variables() -> dict[str, str]:
    """The README's configuration table: each variable → its Default cell."""
    section = README.read_text().split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    documented = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`"):
            for variable in re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0]):
                documented[variable] = cells[1]
    return documented


def test_the_readme_documents_every_variable_settings_reads_and_no_other():
    read = {spec.variable for spec in SPECS.values()}
    documented = set(documented_variables()) - TESTS_ONLY
    assert sorted(read - documented) == [], "read by settings.py but not in the README's table"
    assert sorted(documented - read) == [], "in the README's table but read by nothing"


def _shown(default) -> str:
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return str(default)


@pytest.mark.parametrize(
    "name",
    [f.name for f in fields(Settings) if getattr(DEFAULTS, f.name) not in (None, "")],
)
def test_the_readme_gives_each_default_as_settings_has_it(name):
    """A default with a value (not unset, not empty) opens its Default cell, as a person would type it."""
    cell = documented_variables()[SPECS[name].variable]
    written = re.match(r"`([^`]+)`", cell)
    assert written, f"{SPECS[name].variable}: the README's default {cell!r} does not give the value"
    assert written.group(1) == _shown(getattr(DEFAULTS, name)), SPECS[name].variable


# Resource fields whose name is not the setting's, and whose default the resource builder derives.
DERIVED = {"url": "database_url", "key_dir": "data_dir"}


@pytest.mark.parametrize(
    "resource, field",
    [
        (resource, name)
        for resource in (DatabaseResource, QuickBooksResource)
        for name in resource.model_fields
        if name != "database"  # the nested DatabaseResource
    ],
)
def test_a_resource_field_defaults_to_its_setting_and_is_documented_in_the_ui(resource, field):
    setting = DERIVED.get(field, field)
    assert setting in SPECS, f"{resource.__name__}.{field} stands for no setting"
    schema = resource.to_config_schema().as_field().config_type.fields[field]  # what the Dagster UI shows
    assert (schema.description or "").startswith(SPECS[setting].variable + ":")
    if field not in DERIVED:
        default = getattr(DEFAULTS, setting)
        assert schema.default_value == ("" if default is None else default)  # "" stands for unset


@pytest.mark.parametrize(
    "function, parameter, setting",
    [
        (QuickBooksGateway, "retries", "retries"),
        (QuickBooksGateway, "batch_size", "batch_size"),
        (QuickBooksGateway, "throttle_wait", "throttle_wait_seconds"),
        (build_gateway, "retries", "retries"),
        (build_gateway, "batch_size", "batch_size"),
        (build_gateway, "throttle_wait", "throttle_wait_seconds"),
        (build_gateway, "request_limit_seconds", "request_limit_seconds"),
        (Throttle, "abandoned_hold_seconds", "request_limit_seconds"),
        (sandbox_settings, "timeout_seconds", "timeout_seconds"),
        (intuit_settings, "timeout_seconds", "timeout_seconds"),
        (ConnectionSettings, "timeout_seconds", "timeout_seconds"),
        (push_orders, "limit", "orders_per_run"),
        (take_dropped_files, "settle_seconds", "pricing_settle_seconds"),
        (prune_sync_log, "retention_days", "log_retention_days"),
        (load_key, "environment", "environment"),
        (DevStack, "sandbox_port", "sandbox_port"),
        (DevStack, "webhook_port", "webhook_port"),
    ],
)
def test_what_a_setting_configures_defaults_to_the_setting(function, parameter, setting):
    """Called without the setting (scripts, tests, the CLI), each behaves as an unset variable says."""
    assert inspect.signature(function).parameters[parameter].default == getattr(DEFAULTS, setting)


def test_make_dev_serves_the_ui_on_the_default_dagster_url():
    port = inspect.signature(DevStack).parameters["port"].default
    assert DEFAULTS.dagster_url.endswith(f":{port}")


def _is_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ"
    )


def reads_a_variable(node: ast.AST) -> bool:
    """os.getenv(…), os.environ.get(…), os.environ[…] or click's envvar=…; copying the whole environment
    for a child process, or setting a variable, reads none."""
    if isinstance(node, ast.Call):
        called = node.func
        return (
            (isinstance(called, ast.Attribute) and called.attr == "getenv")
            or (isinstance(called, ast.Attribute) and called.attr == "get" and _is_environ(called.value))
            or any(keyword.arg in ("envvar", "auto_envvar_prefix") for keyword in node.keywords)
        )
    return isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_environ(node.value)


def test_nothing_but_settings_reads_a_variable_from_the_environment():
    """What the README says: every other module asks config.py, or is handed a Settings."""
    readers = {
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if reads_a_variable(node)
    }
    assert readers and all(reader.startswith("qb_pipeline/settings.py:") for reader in readers), sorted(readers)
