"""The rotation's vocabulary: steps and staging labels, what Secrets Manager and Pinterest report, what a step
returns, and the ways a step fails (each with the ``reason`` the ``Token Rotation`` event carries)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from pinsync.core.errors import PinsyncError
from pinsync.events import RotationFailure
from pinsync.tokens import TokenSecret, expiry_from

AWSCURRENT = "AWSCURRENT"
AWSPENDING = "AWSPENDING"
AWSPREVIOUS = "AWSPREVIOUS"

RECONNECT_HINT = "a person must reconnect: run `pinsync connect`"


class RotationStep(StrEnum):
    CREATE = "createSecret"
    SET = "setSecret"
    TEST = "testSecret"
    FINISH = "finishSecret"


@dataclass(frozen=True)
class SecretDescription:
    """What ``DescribeSecret`` says about the secret's versions (version id → staging labels)."""

    rotation_enabled: bool
    versions: Mapping[str, frozenset[str]] = field(default_factory=dict)
    last_rotated: datetime | None = None
    next_rotation: datetime | None = None

    def version_with(self, stage: str) -> str | None:
        return next((version for version, stages in self.versions.items() if stage in stages), None)


# Pinterest's documented token lifetimes (access 30 days, continuous refresh 60 days), used in place of an answer's
# expires_in outside SANE_LIFETIME_SECONDS: an absurd value must not overflow after the old refresh token is spent.
ACCESS_TOKEN_LIFETIME_SECONDS = 30 * 86_400
REFRESH_TOKEN_LIFETIME_SECONDS = 60 * 86_400
SANE_LIFETIME_SECONDS = range(60, 400 * 86_400 + 1)


def lifetime(seconds: int | None, documented: int) -> int:
    return seconds if seconds is not None and seconds in SANE_LIFETIME_SECONDS else documented


class TokenGrant(BaseModel):
    """A successful ``POST /oauth/token`` answer (the fields pinsync keeps)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    access_token: SecretStr
    refresh_token: SecretStr
    # None when the answer has no whole number of seconds there (missing, null, 2.5, "soon"): the tokens are kept all
    # the same, with the documented lifetime, for the same reason as an absurd number (see SANE_LIFETIME_SECONDS).
    expires_in: int | None = None
    refresh_token_expires_in: int | None = None
    scope: str | None = None

    @field_validator("scope", mode="before")
    @classmethod
    def _scope_text(cls, value: object) -> str | None:
        """A scope that is no string (the spec says string) is no scope: the pair is kept with the scope asked for,
        for the same reason as an unusable lifetime."""
        return value if isinstance(value, str) else None

    @field_validator("expires_in", "refresh_token_expires_in", mode="before")
    @classmethod
    def _whole_seconds(cls, value: object) -> int | None:
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                return None
        return None

    def to_secret(self, client_id: str, client_secret: SecretStr, now: datetime, default_scope: str) -> TokenSecret:
        return TokenSecret(
            client_id=client_id,
            client_secret=client_secret,
            access_token=self.access_token,
            refresh_token=self.refresh_token,
            access_token_expires_at=expiry_from(now, lifetime(self.expires_in, ACCESS_TOKEN_LIFETIME_SECONDS)),
            refresh_token_expires_at=expiry_from(
                now, lifetime(self.refresh_token_expires_in, REFRESH_TOKEN_LIFETIME_SECONDS)
            ),
            scope=self.scope or default_scope,
        )


@dataclass(frozen=True)
class Expiry:
    access_token_expires_at: datetime
    refresh_token_expires_at: datetime

    @classmethod
    def of(cls, secret: TokenSecret) -> Expiry:
        return cls(secret.access_token_expires_at, secret.refresh_token_expires_at)


@dataclass(frozen=True)
class StepResult:
    """``changed`` is False when the step had nothing to do (a replay, or the token already current)."""

    step: RotationStep
    changed: bool
    pending: Expiry | None = None


# -- failures --------------------------------------------------------------------------------------------------------


class RotationError(PinsyncError):
    """A rotation step failed; ``AWSCURRENT`` is untouched. ``reason`` is a short label for metrics and events."""

    reason: str = RotationFailure.ROTATION_FAILED
    needs_reconnect = False


class RotationStateError(RotationError):
    """The secret is not in a state this step may act on (rotation disabled, unknown or non-pending token)."""

    reason = RotationFailure.INVALID_STATE


class NotConnectedError(RotationError):
    """AWSCURRENT holds no usable token (the stack's placeholder, or a malformed document)."""

    reason = RotationFailure.NOT_CONNECTED
    needs_reconnect = True


class ReconnectRequiredError(RotationError):
    """Pinterest refused the refresh token: it expired or was revoked."""

    reason = RotationFailure.INVALID_GRANT
    needs_reconnect = True


class PinterestUnavailableError(RotationError):
    """Pinterest failed transiently; Secrets Manager retries the rotation later."""

    reason = RotationFailure.PINTEREST_UNAVAILABLE


class PendingNotStoredError(RotationError):
    """Pinterest issued new tokens but they could not be stored. With continuous refresh the previous refresh
    token is already revoked, so unless the step is replayed successfully a person must reconnect."""

    reason = RotationFailure.PENDING_NOT_STORED
    needs_reconnect = True


class PendingTokenRejectedError(RotationError):
    """testSecret: the new access token cannot read the ad account, or cannot manage its audiences."""

    reason = RotationFailure.TEST_FAILED


class SecretStoreUnavailableError(RotationError):
    reason = RotationFailure.SECRETS_MANAGER_ERROR
