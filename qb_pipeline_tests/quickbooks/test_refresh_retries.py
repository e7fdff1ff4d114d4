"""A token refresh after a 401 whose answer was lost (timed out, dropped, 5xx) is tried again at once,
with the same refresh token while the old one is still inside its rotation grace, so one lost answer
does not disconnect the company; only a refusal (`invalid_grant`) ends the call at once.

Everything is counted by the sandbox (faults injected, token endpoint calls, API calls by status) or
proven by it (a refresh token it has rotated away is dead once the grace is 0)."""

from __future__ import annotations

import pytest

from qb_pipeline.core.errors import QuickBooksAuthError, QuickBooksUnavailable

TOKEN_PATH = "/oauth2/v1/tokens/bearer"
LOST_ANSWERS = ["timeout", "drop", "500", "503"]


def injected(sandbox) -> dict[str, int]:
    return dict(sandbox.control("GET", "inject")["injected"])  # kept across resets: compare before/after


def struck_since(sandbox, before: dict[str, int]) -> dict[str, int]:
    now = injected(sandbox)
    return {kind: now[kind] - before.get(kind, 0) for kind in now if now[kind] != before.get(kind, 0)}


def secrets_of(sandbox, gateway) -> list[str]:
    stored = gateway.connection.tokens.load(gateway.realm_id)
    return [sandbox.connection["client_secret"], stored.refresh_token, stored.access_token]


def connected_after_401(sandbox, make_gateway, **options):
    """A gateway whose stored access token QuickBooks refuses before it looks expired to us."""
    lines: list[str] = []
    gateway = make_gateway(progress=lines.append, **options)
    assert gateway.count("Customer") == 2  # connected: tokens stored
    sandbox.control("POST", "tokens/expire-access")
    return gateway, lines


@pytest.mark.parametrize("kind", LOST_ANSWERS)
def test_a_refresh_whose_answer_was_lost_is_retried_and_the_company_stays_connected(sandbox, make_gateway, kind):
    sandbox.seed(customers=2)
    gateway, lines = connected_after_401(sandbox, make_gateway, timeout_seconds=1.0, retries=3)
    refused_refresh_token = gateway.connection.tokens.load(gateway.realm_id).refresh_token
    before = injected(sandbox)
    sandbox.inject(kind, count=1, seconds=5, path_contains=TOKEN_PATH)  # `timeout` rotates, then holds
    sandbox.reset_counters()
    assert gateway.count("Customer") == 2
    counted = sandbox.counters()
    assert struck_since(sandbox, before) == {kind: 1}
    # The refused access token is not sent again: one 401, then the answer after the retried refresh.
    assert counted["calls"] == {"query 401": 1, "query 200": 1}
    # Only `timeout` lets the request reach the endpoint (and rotate the token); the retry reaches it too.
    assert counted["token_calls"] == (2 if kind == "timeout" else 1)
    assert gateway.stats.retries == 1
    stored = gateway.connection.tokens.load(gateway.realm_id)
    assert stored.refresh_token != refused_refresh_token  # the newest refresh token is the stored one

    # Stays connected: with every rotated-away refresh token dead at once, a new process holding only
    # what the database holds refreshes and reads, no `qb-pipeline auth connect`.
    sandbox.settings(rotation_grace=0)
    sandbox.control("POST", "tokens/expire-access")
    sandbox.reset_counters()
    assert make_gateway().count("Customer") == 2
    assert sandbox.counters()["token_calls"] == 1

    said, secrets = "\n".join(lines), [*secrets_of(sandbox, gateway), refused_refresh_token]
    assert "token" in said and not any(secret in said for secret in secrets)  # the retry was said, no secret


def test_a_refresh_that_keeps_failing_is_retried_qb_retries_times_then_gives_up(sandbox, make_gateway):
    sandbox.seed(customers=2)
    gateway, lines = connected_after_401(sandbox, make_gateway, retries=2)
    before = injected(sandbox)
    sandbox.inject("503", count=10, path_contains=TOKEN_PATH)
    sandbox.reset_counters()
    with pytest.raises(QuickBooksUnavailable, match=r"HTTP 503.*\(gave up after 3 attempts\)") as caught:
        gateway.count("Customer")
    assert struck_since(sandbox, before) == {"503": 3}  # bounded: 1 + QB_RETRIES refreshes, no more
    assert sandbox.counters()["calls"] == {"query 401": 1}
    assert len(lines) == gateway.stats.retries == 2
    assert not any(secret in str(caught.value) + "".join(lines) for secret in secrets_of(sandbox, gateway))


def test_a_refused_refresh_token_ends_the_call_at_once(sandbox, make_gateway):
    sandbox.seed(customers=2)
    gateway, lines = connected_after_401(sandbox, make_gateway, retries=3)
    secrets = secrets_of(sandbox, gateway)
    sandbox.control("POST", "tokens/revoke")  # the refresh token too: the token endpoint says invalid_grant
    sandbox.reset_counters()
    with pytest.raises(QuickBooksAuthError, match="run `qb-pipeline auth connect`") as caught:
        gateway.count("Customer")
    counted = sandbox.counters()
    assert counted["token_calls"] == 1 and counted["calls"] == {"query 401": 1}  # no retry loop
    assert gateway.stats.retries == 0 and lines == []
    assert not any(secret in str(caught.value) for secret in secrets)


def test_a_retried_refresh_that_comes_after_the_rotation_grace_ends_the_call_at_once(sandbox, make_gateway):
    """The lost answer rotated the token; with no grace the old one is refused on the retry: reconnect."""
    sandbox.seed(customers=2)
    gateway, lines = connected_after_401(sandbox, make_gateway, timeout_seconds=1.0, retries=3)
    sandbox.settings(rotation_grace=0)
    sandbox.inject("timeout", count=1, seconds=5, path_contains=TOKEN_PATH)
    sandbox.reset_counters()
    with pytest.raises(QuickBooksAuthError, match="run `qb-pipeline auth connect`"):
        gateway.count("Customer")
    counted = sandbox.counters()
    assert counted["token_calls"] == 2 and counted["calls"] == {"query 401": 1}
    assert gateway.stats.retries == 1 and len(lines) == 1


def test_a_batch_refused_with_401_is_sent_once_after_refreshes_whose_answers_were_lost(sandbox, make_gateway):
    """QuickBooks did not apply a batch it answered 401, and a failed refresh sends nothing: the write is
    sent again, not reported as one whose outcome is unknown."""
    sandbox.seed(customers=2)
    gateway, _lines = connected_after_401(sandbox, make_gateway, timeout_seconds=1.0, retries=3)
    sandbox.inject("drop", count=2, path_contains=TOKEN_PATH)
    sandbox.reset_counters()
    outcomes = gateway.send_batch("Customer", [("order-1", "1", {"DisplayName": "Once Only"})], request_id="b-1")
    assert [outcome.ok for outcome in outcomes] == [True]
    assert sandbox.counters()["calls"] == {"batch 401": 1, "batch 200": 1}
    names = [record["DisplayName"] for record in sandbox.dump("Customer")["records"]]
    assert names.count("Once Only") == 1


def test_with_the_default_timeout_a_lost_refresh_is_retried_while_the_old_token_is_still_honoured(
    sandbox, make_gateway
):
    sandbox.seed(customers=2)
    gateway, _lines = connected_after_401(sandbox, make_gateway, timeout_seconds=30.0, retries=3)
    sandbox.inject("timeout", count=1, seconds=60, path_contains=TOKEN_PATH)  # rotates, then never answers
    sandbox.reset_counters()
    # QB_TIMEOUT_SECONDS' 30 s would retry just past the sandbox's 30 s grace (invalid_grant: reconnect);
    # the token endpoint's own, shorter timeout retries inside it.
    assert gateway.count("Customer") == 2
    assert sandbox.counters()["token_calls"] == 2
