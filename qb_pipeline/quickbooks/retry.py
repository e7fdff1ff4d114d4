"""The retry rules of every QuickBooks call, and the loop that applies them.

Every call goes through the throttle and `QuickBooksCalls.call`, which retries what may succeed later:
429 (waits Retry-After when sent, else `throttle_wait` — Intuit advises 60 s), 5xx, timeouts, dropped
connections and non-JSON answers (bounded, exponential back-off with full jitter); a 401 refreshes the
tokens once, and a refresh whose answer was lost (timeout, dropped, 5xx) is retried like those, with the
same refresh token (a lost answer may have rotated it: the retry must come while the superseded one is
still honoured); a refused refresh token (`invalid_grant`) ends the call. A refusal of the data (4xx
faults) is never retried. Attempts, waits and jitter are tenacity's; which failures are worth another
try, the wait a 429 asks for, and one token refresh per call are QuickBooks' rules, kept here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import requests
import tenacity
from quickbooks.exceptions import AuthorizationException, QuickbooksException

from qb_pipeline.core import defaults
from qb_pipeline.core.errors import (
    QuickBooksAuthError,
    QuickBooksOutcomeUnknown,
    QuickBooksThrottled,
    QuickBooksUnavailable,
    QuickBooksValidationError,
)
from qb_pipeline.quickbooks.connection import Connection
from qb_pipeline.quickbooks.stats import CallStats
from qb_pipeline.quickbooks.throttle import Throttle

TRANSPORT_ERRORS = (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError)
T = TypeVar("T")


@dataclass
class RetryRules:
    """How often and how long to wait; read at each call, so a change applies to the next call."""

    retries: int = defaults.RETRIES
    backoff_base: float = 1.0  # full jitter: a wait drawn between 0 and base × 2^(attempt - 1), capped
    backoff_max: float = 30.0
    throttle_wait: float = defaults.THROTTLE_WAIT_SECONDS  # after a 429 that says no Retry-After
    sleep: Callable[[float], None] = field(default=time.sleep)


def worth_another_try(failure: BaseException) -> bool:
    """429, 5xx, timeouts, dropped connections, malformed answers: not a write whose outcome is unknown."""
    return isinstance(failure, QuickBooksThrottled | QuickBooksUnavailable) and not isinstance(
        failure, QuickBooksOutcomeUnknown
    )


def fault_text(message: object, detail: object) -> str:
    """QuickBooks' Message and Detail of a fault, once when they say the same."""
    message, detail = str(message or "").strip(), str(detail or "").strip()
    return message if not detail or detail == message else f"{message}: {detail}"


def transient_failure(what: str, error: Exception) -> QuickBooksUnavailable:
    """A failure of one try as the error worth another; raises QuickBooksValidationError when QuickBooks
    refused the data (sending it again will not help)."""
    if isinstance(error, QuickBooksUnavailable):
        return error
    if isinstance(error, TRANSPORT_ERRORS):
        return QuickBooksUnavailable(f"{what}: {type(error).__name__} talking to QuickBooks")
    if isinstance(error, QuickbooksException):
        if error.error_code == 10000 and "Error reading json" in str(error.message):
            return QuickBooksUnavailable(f"{what}: QuickBooks answered with a non-JSON page")
        raise QuickBooksValidationError(what, str(error.error_code), fault_text(error.message, error.detail)) from None
    raise error


@dataclass(frozen=True)
class Request:
    """One call: its kind (what the throttle and the counts see), what it does in words (for messages),
    the python-quickbooks operation, and the key a well-formed answer holds (an answer without it is
    retried like a 5xx). `resend_unknown=False` (writes that must not happen twice): a 429 or 401 is
    retried, since QuickBooks did not process the request; any failure after which it may have
    (timeout, 5xx, dropped or malformed answer) raises QuickBooksOutcomeUnknown at once."""

    kind: str
    what: str
    operation: Callable[[object], object]
    expect: str | None = None
    resend_unknown: bool = True


class _RefreshOnce:
    """Whether this call has refreshed the tokens after a 401 already (a second 401 means reconnect).
    A refresh that failed is not repeated here: the connection refreshes before the call's next try."""

    used = False


class QuickBooksCalls:
    """Calls on one connection, through the run's throttle, counted in `stats`, under `rules`."""

    def __init__(
        self,
        connection: Connection,
        throttle: Throttle,
        stats: CallStats,
        rules: RetryRules,
        progress: Callable[[str], None],
    ) -> None:
        self.connection, self.throttle, self.stats = connection, throttle, stats
        self.rules, self.progress = rules, progress

    def call(
        self,
        kind: str,
        what: str,
        operation: Callable[[object], T],
        expect: str | None = None,
        *,
        resend_unknown: bool = True,
    ) -> T:
        request = Request(kind, what, operation, expect, resend_unknown)
        backoff = tenacity.wait_random_exponential(multiplier=self.rules.backoff_base, max=self.rules.backoff_max)
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(worth_another_try),
            stop=tenacity.stop_after_attempt(self.rules.retries + 1),
            wait=lambda state: _wait(state, backoff, self.rules.throttle_wait),
            sleep=self.rules.sleep,
            before_sleep=lambda state: self._note_retry(what, state),
            retry_error_callback=_give_up,
        )
        return retrying(self._attempt, request, _RefreshOnce())

    def _attempt(self, request: Request, refresh: _RefreshOnce):
        """One try, after a token refresh when QuickBooks answers 401 (once per call); failures raised as
        our errors."""
        while True:
            # May refresh first, so the throttle slot is taken after. Nothing is sent to the API yet: a
            # failed refresh is retried like a 5xx, never an outcome unknown.
            client = self.connection.client()
            try:
                return self._send(client, request)
            except AuthorizationException:
                self._refresh_after_401(refresh)
                continue
            except QuickBooksThrottled:
                raise  # QuickBooks did not process it: always safe to send again
            except (QuickBooksUnavailable, *TRANSPORT_ERRORS, QuickbooksException) as error:
                failure = transient_failure(request.what, error)
            if not request.resend_unknown:
                raise QuickBooksOutcomeUnknown(f"{failure}; QuickBooks may or may not have applied it") from None
            raise failure from None

    def _send(self, client: object, request: Request):
        with self.throttle.slot(is_batch=request.kind == "batch"):
            self.stats.count(request.kind)
            result = request.operation(client)
        if request.expect is not None and not (isinstance(result, dict) and request.expect in result):
            raise QuickBooksUnavailable(f"{request.what}: QuickBooks answered without {request.expect}")
        self.connection.note_success()
        return result

    def _refresh_after_401(self, refresh: _RefreshOnce) -> None:
        if refresh.used:
            raise QuickBooksAuthError("QuickBooks rejected fresh credentials: run `qb-pipeline auth connect`") from None
        refresh.used = True
        # QuickBooks did not process a call it answered 401, so even a write may be retried when this
        # refresh fails: QuickBooksUnavailable (lost answer) is; QuickBooksAuthError is not.
        self.connection.after_unauthorized()

    def _note_retry(self, what: str, state: tenacity.RetryCallState) -> None:
        self.stats.retried()
        failure = str(state.outcome.exception())
        said = failure if failure.startswith(what) else f"{what}: {failure}"
        self.progress(f"{said}; retry {state.attempt_number}/{self.rules.retries} in {state.next_action.sleep:.1f} s")


def _wait(state: tenacity.RetryCallState, backoff: tenacity.wait.wait_base, throttle_wait: float) -> float:
    failure = state.outcome.exception()
    if isinstance(failure, QuickBooksThrottled):
        return failure.retry_after if failure.retry_after is not None else throttle_wait
    return backoff(state)


def _give_up(state: tenacity.RetryCallState):
    failure = state.outcome.exception()
    if isinstance(failure, QuickBooksThrottled) or not worth_another_try(failure):
        raise failure
    raise QuickBooksUnavailable(f"{failure} (gave up after {state.attempt_number} attempts)") from None
