"""The sandbox keeps its secrets: private files, and a control API that needs its token and refuses
a web page's cross-origin request."""

from __future__ import annotations

import stat

import pytest
import requests


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_state_files_are_readable_by_their_owner_only(sandbox):
    assert mode(sandbox.data_dir) == 0o700
    for name in ("connection.json", "sandbox.sqlite", "oauth.sqlite"):
        assert mode(sandbox.data_dir / name) == 0o600, name
    for wal in sandbox.data_dir.glob("*.sqlite-*"):
        assert mode(wal) == 0o600, wal.name


@pytest.mark.parametrize(
    "route",
    [
        ("POST", "reset"),
        ("GET", "connection"),
        ("POST", "tokens/mint"),
        ("GET", "dump/Customer"),
        ("POST", "settings"),
        ("GET", "counters"),
    ],
)
def test_the_control_api_needs_the_control_token(sandbox, route):
    method, path = route
    url = f"{sandbox.url}/_sandbox/{path}"
    assert requests.request(method, url, timeout=10).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert requests.request(method, url, headers=wrong, timeout=10).status_code == 401
    token = {"Authorization": f"Bearer {sandbox.connection['control_token']}"}
    page = {**token, "Origin": "http://evil.example"}  # a page in the developer's browser
    assert requests.request(method, url, headers=page, timeout=10).status_code == 403
    assert requests.request(method, url, headers={**token, "Origin": sandbox.url}, timeout=10).status_code == 200


def test_the_connection_printout_hides_every_secret(sandbox):
    printed = sandbox.log_file.read_text()
    for key in ("client_secret", "refresh_token", "webhook_verifier_token", "control_token"):
        assert sandbox.connection[key] not in printed
        assert f"{key}: <in connection.json>" in printed
