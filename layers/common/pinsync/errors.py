"""Typed failures the domain decides on. Messages carry reasons and codes, never identifiers or tokens."""

from __future__ import annotations


class PinsyncError(Exception):
    """Base class of pinsync's own errors."""


class ConfigurationError(PinsyncError):
    """A setting is missing or invalid; raised at cold start so the deployment fails loudly."""


class PinterestError(PinsyncError):
    """A Pinterest call did not succeed. ``reason`` is a short, countable label."""

    reason = "pinterest_error"

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class PinterestTransientError(PinterestError):
    """Worth retrying later: 5xx, timeouts, connection errors, rate limits that outlast the wait budget."""

    reason = "pinterest_unavailable"


class PinterestRateLimitedError(PinterestTransientError):
    reason = "rate_limited"


class PinterestAuthError(PinterestError):
    """401 even after re-reading the token secret: the token is invalid or expired (rotation will cure it)."""

    reason = "unauthorized"


class PinterestTokenUnavailableError(PinterestAuthError):
    """No usable token to call with: the secret cannot be read or is not connected (``pinsync connect``)."""

    reason = "token_unavailable"


class PinterestRejectedError(PinterestError):
    """400: Pinterest refuses the request as sent. For a record batch, splitting isolates the bad records."""

    reason = "rejected"


class PinterestPermanentError(PinterestError):
    """Another 4xx (403, 404, ...): retrying the same call will not help until someone changes something."""

    reason = "pinterest_refused"


class TokenUnavailableError(PinsyncError):
    """The token secret cannot be read or does not hold a usable token."""
