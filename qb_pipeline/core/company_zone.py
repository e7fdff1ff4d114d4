"""The company's time zone: an IANA zone, so that each instant gets the offset of its own date.

QuickBooks Online's API documents no time zone field (docs/qbo-api.md §8): CompanyInfo and Preferences
carry none, and the offset of a timestamp (`time`, MetaData) is the offset of that one instant, not a
zone — taken as the company's zone it dates every order across a daylight-saving change an hour wrong.
So the zone is a setting, QB_COMPANY_TIMEZONE. Unset, it is America/Los_Angeles (Intuit writes its
timestamps in Pacific time) when that agrees with the offset QuickBooks just wrote; when it does not,
the offset QuickBooks wrote, fixed, with a warning to set the zone. A configured zone that disagrees
with QuickBooks' offset is kept (a person chose it) and warned about.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "America/Los_Angeles"
SETTING = "QB_COMPANY_TIMEZONE"


@dataclass(frozen=True)
class CompanyZone:
    zone: tzinfo
    warning: str | None = None  # for a person: the setting and QuickBooks disagree, or no zone is known


def iana_zone(name: str) -> ZoneInfo:
    """The IANA zone of this name; ValueError (naming the setting) for anything else."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone name (e.g. America/New_York)") from None


def company_zone(configured: str, reported_time: str | None) -> CompanyZone:
    """The zone to date the company's transactions in, checked against a timestamp QuickBooks wrote
    (`reported_time`, e.g. an answer's `time`; None or unreadable: nothing to check against)."""
    reported = _instant(reported_time)
    if configured:
        zone = iana_zone(configured)
        if reported is None or _offset(reported, zone) == reported.utcoffset():
            return CompanyZone(zone)
        return CompanyZone(
            zone,
            f"{SETTING}={configured} is UTC{_shown(_offset(reported, zone))} at {reported_time}, but QuickBooks "
            f"wrote that time at UTC{_shown(reported.utcoffset())}: invoices are dated in {configured}; check that "
            "it is the company's own time zone",
        )
    default = ZoneInfo(DEFAULT_ZONE)
    if reported is None or _offset(reported, default) == reported.utcoffset():
        return CompanyZone(default)
    return CompanyZone(
        reported.tzinfo,
        f"QuickBooks writes times at UTC{_shown(reported.utcoffset())}, not in {DEFAULT_ZONE}: invoices are dated "
        f"at that fixed offset, which does not follow daylight saving; set {SETTING} to the company's time zone "
        "(an IANA name, e.g. America/New_York)",
    )


def _instant(text: str | None) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _offset(instant: datetime, zone: tzinfo) -> timedelta | None:
    return instant.astimezone(zone).utcoffset()


def _shown(offset: timedelta | None) -> str:
    minutes = int((offset or timedelta(0)).total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
