"""Typed failures the code decides on. Messages carry reasons and codes, never identifiers or tokens.

Each error that makes a change fail carries its ``reason`` (a :class:`pinsync.events.FailureReason`): that is what
the ``Dataflow Run`` event counts and what the alerts give advice about.
"""

from __future__ import annotations

from pinsync.events import FailureReason


class PinsyncError(Exception):
    """Base class of pinsync's own errors."""


class ConfigurationError(PinsyncError):
    """A setting is missing or invalid; raised at cold start so the deployment fails loudly."""


# -- Pinterest ------------------------------------------------------------------------------------------------------


class PinterestError(PinsyncError):
    """A Pinterest call did not succeed. ``reason`` is a short, countable label."""

    reason: str = FailureReason.PINTEREST_ERROR

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class PinterestTransientError(PinterestError):
    """Worth retrying later: 5xx, timeouts, connection errors, rate limits that outlast the wait budget."""

    reason = FailureReason.PINTEREST_UNAVAILABLE


class PinterestRateLimitedError(PinterestTransientError):
    reason = FailureReason.RATE_LIMITED


class PinterestAnswerError(PinterestTransientError):
    """Pinterest answered, but with something that breaks its API contract (a body that is not a JSON object, an
    ``items`` that is not a list, a bookmark that repeats, a token answer that is not one). A transient failure of the
    work that needed the answer, and not a sign that Pinterest is down: it does not stop the rest of the batch."""

    reason = FailureReason.INVALID_ANSWER


class PinterestAuthError(PinterestError):
    """401 even after re-reading the token secret: the token is invalid or expired (rotation will cure it)."""

    reason = FailureReason.UNAUTHORIZED


class PinterestTokenUnavailableError(PinterestAuthError):
    """No usable token to call with: the secret cannot be read or is not connected (``pinsync connect``)."""

    reason = FailureReason.TOKEN_UNAVAILABLE


class PinterestRejectedError(PinterestError):
    """400: Pinterest refuses the request as sent. For a record batch, splitting isolates the bad records."""

    reason = FailureReason.REJECTED


class PinterestPermanentError(PinterestError):
    """Another 4xx (403, 404, ...): retrying the same call will not help until someone changes something."""

    reason = FailureReason.PINTEREST_REFUSED


class PinterestNotFoundError(PinterestPermanentError):
    """404: the object (a customer list, an audience) does not exist, or no longer does."""


class InvalidGrantError(PinterestError):
    """The token endpoint refused the grant (code 283, reported with HTTP 401 and 400: refresh token expired or
    revoked; or another 401/403: the app credentials). Retrying cannot help: a person must reconnect."""

    reason = FailureReason.INVALID_GRANT


# -- AWS ------------------------------------------------------------------------------------------------------------


class TokenUnavailableError(PinsyncError):
    """The token secret cannot be read or does not hold a usable token."""


class SecretStoreError(PinsyncError):
    """Secrets Manager refused or failed a call (after the adapter's own retries)."""


class VersionConflictError(SecretStoreError):
    """A version with this ClientRequestToken already exists with a different value (ResourceExistsException)."""


class LinkRefusedError(PinsyncError):
    """A sync invocation is creating the audience's customer list right now (it holds the creation lease)."""

    def __init__(self, audience_id: str) -> None:
        super().__init__(f"a sync invocation is creating the customer list of audience {audience_id} right now")
