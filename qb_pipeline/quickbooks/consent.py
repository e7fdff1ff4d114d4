"""What a company's consent starts and ends, beyond its tokens: the company's own name (CompanyInfo), read
once when it connects, and the revocation of its connection at Intuit when it is disconnected."""

from __future__ import annotations

import requests
from quickbooks.objects.company_info import CompanyInfo

from qb_pipeline.core.errors import QuickBooksAuthError, QuickBooksUnavailable
from qb_pipeline.quickbooks.connection import Connection


def company_name(connection: Connection) -> str | None:
    """The CompanyName QuickBooks reports (one metered read), or None when it cannot be read: a name is a
    nicety, never a reason for connecting to fail."""
    try:
        client = connection.client()
        connection.stats.count("read")  # metered by Intuit: the caller adds it to the company's count
        info = CompanyInfo.get(connection.realm_id, qb=client)
    except Exception:  # any failure (QuickBooksError, HTTP, an odd answer): no name, the realm id stands
        return None
    name = (getattr(info, "CompanyName", "") or "").strip()
    return name or None


def revoke(connection: Connection) -> bool:
    """Revoke the company's connection at Intuit's revocation endpoint (its refresh token: Intuit ends the
    connection, access token included). False when no token is stored; True when Intuit answered 200, or
    400 (the token was already invalid there: revoked, expired or replaced). Never echoes a token."""
    stored = connection.tokens.load(connection.realm_id)
    if stored is None:
        return False
    auth = connection.auth_client()
    try:
        auth.revoke(token=stored.refresh_token)
    except requests.Timeout:
        raise QuickBooksUnavailable(
            f"Intuit's revocation endpoint did not answer within {connection.settings.timeout_seconds:g} s"
        ) from None
    except requests.RequestException as error:
        raise QuickBooksUnavailable(f"cannot reach Intuit's revocation endpoint ({type(error).__name__})") from None
    except Exception as error:  # AuthClientError carries the response (and what was sent): never echo it
        status = getattr(error, "status_code", None)
        if status == 400:
            return True
        if status == 401:
            raise QuickBooksAuthError(
                "Intuit refused this app's client id or secret at the revocation endpoint"
            ) from None
        raise QuickBooksUnavailable(
            f"Intuit's revocation endpoint failed ({type(error).__name__}{f', HTTP {status}' if status else ''})"
        ) from None
    return True
