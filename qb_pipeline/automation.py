"""The schedule and sensors the definitions hold, by name, and whether the settings switch each on: one list
that schedules.py and sensors.py build from and `qb-pipeline status` reads without building the definitions."""

from __future__ import annotations

from qb_pipeline.settings import Settings

HOURLY_SYNC = "hourly_sync"
DAILY_CATCH_UP = "daily_catch_up"
NEW_ORDERS_SENSOR = "new_orders_sensor"
QUICKBOOKS_CHANGES_SENSOR = "quickbooks_changes_sensor"
QUICKBOOKS_AUTOMATION_SENSOR = "quickbooks_automation_sensor"
COMPANIES_SENSOR = "companies_sensor"


def on_by_default(settings: Settings) -> dict[str, bool]:
    """Each schedule and sensor, and whether it starts RUNNING (until someone toggles it in the UI)."""
    return {
        HOURLY_SYNC: True,
        DAILY_CATCH_UP: True,
        NEW_ORDERS_SENSOR: settings.auto_sync("orders"),
        QUICKBOOKS_CHANGES_SENSOR: True,
        QUICKBOOKS_AUTOMATION_SENSOR: True,
        COMPANIES_SENSOR: True,
    }
