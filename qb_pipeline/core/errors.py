"""The errors the QuickBooks port raises and the sync rules, assets and CLI catch. Messages name the
entity and QBO's words, never a secret."""

from __future__ import annotations


class QuickBooksError(Exception):
    """Base class; `transient` says whether trying again later may succeed."""

    transient = False


class QuickBooksAuthError(QuickBooksError):
    """The connection is not authorized (revoked, expired refresh token): a person must reconnect."""


class SandboxNotRunning(QuickBooksError):
    """The local sandbox (QB_ENVIRONMENT=sandbox-local) has not been started: `make dev` starts it."""


class QuickBooksThrottled(QuickBooksError):
    transient = True

    def __init__(self, retry_after: float | None) -> None:
        super().__init__(
            "QuickBooks throttled the request (HTTP 429)"
            + (f"; retry after {retry_after:.0f} s" if retry_after else "")
        )
        self.retry_after = retry_after


class QuickBooksUnavailable(QuickBooksError):
    """5xx, timeouts, dropped connections, non-JSON answers — after the retry budget was spent."""

    transient = True


class QuickBooksValidationError(QuickBooksError):
    """QBO refused the data; retrying the same request will not help."""

    def __init__(self, entity: str, code: str, message: str) -> None:
        super().__init__(f"QuickBooks refused {entity}: {message} (code {code})")
        self.entity, self.code, self.qbo_message = entity, code, message


class QuickBooksOutcomeUnknown(QuickBooksUnavailable):
    """A write was sent and no usable answer came back (timeout, 5xx, dropped or malformed answer):
    QuickBooks may or may not have applied it. Never re-sent blindly; the caller decides."""


class QuickBooksSetupError(QuickBooksError):
    """The company's settings do not allow what we need; a person must change a QuickBooks setting."""
