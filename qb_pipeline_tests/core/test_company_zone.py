"""The company's zone: QB_COMPANY_TIMEZONE or Pacific time, checked against the offsets QuickBooks writes."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from qb_pipeline.core.company_zone import company_zone
from qb_pipeline.settings import Settings, SettingsError


def test_unset_the_zone_is_pacific_time_with_each_dates_own_offset():
    found = company_zone("", "2026-12-04T10:00:00.123-08:00")
    assert found.warning is None and found.zone == ZoneInfo("America/Los_Angeles")
    summer_night = datetime(2026, 10, 31, 7, 30, tzinfo=timezone.utc)  # 00:30 PDT
    assert summer_night.astimezone(found.zone).date() == date(2026, 10, 31)


def test_unset_and_quickbooks_writes_another_offset_that_offset_is_used_and_a_person_told():
    found = company_zone("", "2026-12-04T19:00:00+01:00")
    assert found.zone.utcoffset(None) == timedelta(hours=1)
    assert "QB_COMPANY_TIMEZONE" in found.warning and "UTC+01:00" in found.warning


def test_a_configured_zone_is_kept_and_a_disagreement_with_quickbooks_reported():
    agrees = company_zone("Europe/Berlin", "2026-07-01T12:00:00+02:00")
    assert agrees.zone == ZoneInfo("Europe/Berlin") and agrees.warning is None
    disagrees = company_zone("America/New_York", "2026-12-04T10:00:00-08:00")
    assert disagrees.zone == ZoneInfo("America/New_York")
    assert "QB_COMPANY_TIMEZONE=America/New_York is UTC-05:00" in disagrees.warning
    assert "UTC-08:00" in disagrees.warning


def test_no_readable_time_from_quickbooks_nothing_to_check():
    assert company_zone("Asia/Tokyo", None) == company_zone("Asia/Tokyo", "not a time")
    assert company_zone("", None).zone == ZoneInfo("America/Los_Angeles")


@pytest.mark.parametrize("value", ["PST", "-08:00", "America/Nowhere", "../etc/passwd"])
def test_the_setting_takes_iana_names_only(value):
    with pytest.raises(SettingsError, match="QB_COMPANY_TIMEZONE=.* use an IANA time zone name"):
        Settings.from_env({"QB_COMPANY_TIMEZONE": value})
    assert Settings.from_env({"QB_COMPANY_TIMEZONE": "America/Chicago"}).company_timezone == "America/Chicago"


def test_the_gateway_reports_a_configured_zone_that_disagrees_with_quickbooks(sandbox, make_gateway):
    said: list[str] = []
    gateway = make_gateway(company_timezone="America/New_York", progress=said.append)
    assert gateway.company_timezone() == ZoneInfo("America/New_York")
    assert [m for m in said if m.startswith("time zone: QB_COMPANY_TIMEZONE=America/New_York")] != []
    assert make_gateway().company_timezone() == ZoneInfo("America/Los_Angeles")  # the sandbox's own zone
