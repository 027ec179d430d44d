"""Token rotation: the Secrets Manager rotation protocol for the Pinterest OAuth token, as a pure use case.

Secrets Manager calls the rotation function four times per rotation, each time with the same
``ClientRequestToken`` (the id of the new secret version, labelled ``AWSPENDING`` by Secrets Manager):

- ``createSecret``: refresh at Pinterest (continuous refresh: a *new* refresh token comes back and the old one is
  revoked) and store the result as ``AWSPENDING`` at once. Replayed with the same token, it reuses the stored
  value and never calls Pinterest again.
- ``setSecret``: nothing to push anywhere for OAuth.
- ``testSecret``: prove the pending access token can read the ad account.
- ``finishSecret``: move ``AWSCURRENT`` to the new version (the old one becomes ``AWSPREVIOUS``).

Every step starts with the same guard (as in aws-samples' SecretsManagerRotationTemplate): rotation enabled, the
token is a version of the secret, nothing to do if it is already ``AWSCURRENT``, and it must be ``AWSPENDING``.
A failed step raises :class:`RotationError` and never touches ``AWSCURRENT``.

No boto3 and no HTTP here: the three ports below are implemented in ``pinsync.adapters`` and faked in tests.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from pinsync.errors import (
    PinsyncError,
    PinterestAuthError,
    PinterestError,
    PinterestPermanentError,
    PinterestRejectedError,
    PinterestTransientError,
)
from pinsync.tokens import NOT_CONNECTED_STATUS, TokenSecret, expiry_from

AWSCURRENT = "AWSCURRENT"
AWSPENDING = "AWSPENDING"
AWSPREVIOUS = "AWSPREVIOUS"

RECONNECT_HINT = "a person must reconnect: run `pinsync connect`"


class RotationStep(StrEnum):
    CREATE = "createSecret"
    SET = "setSecret"
    TEST = "testSecret"
    FINISH = "finishSecret"


# -- errors ------------------------------------------------------------------------------------------------------


class InvalidGrantError(PinterestError):
    """The token endpoint refused the grant (code 283, reported with HTTP 401 and 400: refresh token expired or
    revoked; or another 401/403: the app credentials). Retrying cannot help: a person must reconnect."""

    reason = "invalid_grant"


class SecretStoreError(PinsyncError):
    """Secrets Manager refused or failed a call (after the adapter's own retries)."""


class VersionConflictError(SecretStoreError):
    """A version with this ClientRequestToken already exists with a different value (ResourceExistsException)."""


class RotationError(PinsyncError):
    """A rotation step failed; ``AWSCURRENT`` is untouched. ``reason`` is a short label for metrics and events."""

    reason = "rotation_failed"
    needs_reconnect = False


class RotationStateError(RotationError):
    """The secret is not in a state this step may act on (rotation disabled, unknown or non-pending token)."""

    reason = "invalid_state"


class NotConnectedError(RotationError):
    """AWSCURRENT holds no usable token (the stack's placeholder, or a malformed document)."""

    reason = "not_connected"
    needs_reconnect = True


class ReconnectRequiredError(RotationError):
    """Pinterest refused the refresh token: it expired or was revoked."""

    reason = "invalid_grant"
    needs_reconnect = True


class PinterestUnavailableError(RotationError):
    """Pinterest failed transiently; Secrets Manager retries the rotation later."""

    reason = "pinterest_unavailable"


class PendingNotStoredError(RotationError):
    """Pinterest issued new tokens but they could not be stored. With continuous refresh the previous refresh
    token is already revoked, so unless the step is replayed successfully a person must reconnect."""

    reason = "pending_not_stored"
    needs_reconnect = True


class PendingTokenRejectedError(RotationError):
    """testSecret: the new access token cannot read the ad account."""

    reason = "test_failed"


class SecretStoreUnavailableError(RotationError):
    reason = "secrets_manager_error"


# -- ports -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecretDescription:
    """What ``DescribeSecret`` says about the secret's versions (version id → staging labels)."""

    rotation_enabled: bool
    versions: Mapping[str, frozenset[str]] = field(default_factory=dict)
    last_rotated: datetime | None = None
    next_rotation: datetime | None = None

    def version_with(self, stage: str) -> str | None:
        return next((version for version, stages in self.versions.items() if stage in stages), None)


class SecretVersions(Protocol):
    """The versions and staging labels of one Secrets Manager secret. Raises :class:`SecretStoreError`."""

    def describe(self, secret_id: str) -> SecretDescription: ...

    def get_value(self, secret_id: str, *, stage: str, version_id: str | None = None) -> str | None:
        """The secret string of that version/stage, or ``None`` when it has no value (or does not exist)."""
        ...

    def put_pending(self, secret_id: str, token: str, value: str, *, rotation_token: str | None = None) -> None:
        """``PutSecretValue(ClientRequestToken=token, VersionStages=[AWSPENDING])``, retried on throttling and 5xx.
        Raises :class:`VersionConflictError` if the version exists with another value."""
        ...

    def move_current(self, secret_id: str, token: str, from_version: str | None) -> None: ...


class TokenGrant(BaseModel):
    """A successful ``POST /oauth/token`` answer (the fields pinsync keeps)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    access_token: SecretStr
    refresh_token: SecretStr
    expires_in: int
    refresh_token_expires_in: int
    scope: str | None = None

    def to_secret(self, client_id: str, client_secret: SecretStr, now: datetime, default_scope: str) -> TokenSecret:
        return TokenSecret(
            client_id=client_id,
            client_secret=client_secret,
            access_token=self.access_token,
            refresh_token=self.refresh_token,
            access_token_expires_at=expiry_from(now, self.expires_in),
            refresh_token_expires_at=expiry_from(now, self.refresh_token_expires_in),
            scope=self.scope or default_scope,
        )


class OAuthTokens(Protocol):
    """Pinterest's token endpoint. Raises :class:`InvalidGrantError` or ``PinterestTransientError``."""

    def refresh(self, client_id: str, client_secret: str, refresh_token: str) -> TokenGrant: ...


class AccountCheck(Protocol):
    """Can this access token read the configured ad account? Raises the ``pinsync.errors.Pinterest*Error`` family."""

    def check(self, access_token: str) -> None: ...


# -- the use case ------------------------------------------------------------------------------------------------


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


class TokenRotation:
    def __init__(
        self,
        secrets: SecretVersions,
        oauth: OAuthTokens,
        account: AccountCheck,
        clock: Callable[[], datetime],
    ) -> None:
        self._secrets = secrets
        self._oauth = oauth
        self._account = account
        self._clock = clock

    def run(self, step: RotationStep, secret_id: str, token: str, *, rotation_token: str | None = None) -> StepResult:
        description = self._describe(secret_id)
        if not self._guard(description, token):
            return StepResult(step, changed=False)
        if step is RotationStep.CREATE:
            return self._create(secret_id, token, rotation_token)
        if step is RotationStep.SET:
            return StepResult(step, changed=False)  # nothing to push: Pinterest already knows the new token
        if step is RotationStep.TEST:
            return self._test(secret_id, token)
        return self._finish(secret_id, token, description)

    def current_expiry(self, secret_id: str) -> Expiry | None:
        """Expiry of the token in use (AWSCURRENT); ``None`` if it is not connected. Raises RotationError."""
        try:
            return Expiry.of(self._current(secret_id))
        except NotConnectedError:
            return None

    # -- steps --------------------------------------------------------------------------------------------------

    @staticmethod
    def _guard(description: SecretDescription, token: str) -> bool:
        """True when the step must act; False when the token is already AWSCURRENT (nothing left to do)."""
        if not description.rotation_enabled:
            raise RotationStateError("rotation is not enabled on the secret")
        stages = description.versions.get(token)
        if stages is None:
            raise RotationStateError("the ClientRequestToken is not a version of the secret")
        if AWSCURRENT in stages:
            return False
        if AWSPENDING not in stages:
            raise RotationStateError("the ClientRequestToken's version is not AWSPENDING")
        return True

    def _create(self, secret_id: str, token: str, rotation_token: str | None) -> StepResult:
        current = self._current(secret_id)
        existing = self._get(secret_id, stage=AWSPENDING, version_id=token)
        if existing is not None:
            return StepResult(RotationStep.CREATE, changed=False, pending=self._expiry_of(existing, "pending"))
        now = self._clock()
        try:
            grant = self._oauth.refresh(
                current.client_id, current.client_secret.get_secret_value(), current.refresh_token.get_secret_value()
            )
        except InvalidGrantError as error:
            raise ReconnectRequiredError(_with_hint(f"Pinterest refused the stored refresh token: {error}")) from None
        except PinterestTransientError as error:
            raise PinterestUnavailableError(f"the token endpoint failed: {error}") from None
        except PinterestError as error:
            raise ReconnectRequiredError(_with_hint(f"the token endpoint refused the refresh: {error}")) from None
        pending = grant.to_secret(current.client_id, current.client_secret, now, current.scope)
        # Straight away: the new refresh token exists only in memory until this put succeeds.
        try:
            self._secrets.put_pending(secret_id, token, pending.to_secret_string(), rotation_token=rotation_token)
        except SecretStoreError as error:
            raise PendingNotStoredError(
                "Pinterest issued new tokens but storing them as AWSPENDING failed "
                f"({error}); the previous refresh token is revoked, so {RECONNECT_HINT} "
                "before the current access token expires"
            ) from None
        return StepResult(RotationStep.CREATE, changed=True, pending=Expiry.of(pending))

    def _test(self, secret_id: str, token: str) -> StepResult:
        value = self._get(secret_id, stage=AWSPENDING, version_id=token)
        if value is None or _is_placeholder(value):
            # Secrets Manager's own test of the rotation configuration (RotateImmediately false: on deploy and
            # when the schedule changes) runs testSecret alone, on a version createSecret never filled; a real
            # rotation reaches testSecret only after createSecret stored a token. Nothing to test, nothing failed.
            return StepResult(RotationStep.TEST, changed=False)
        pending = _parse(value, "pending")
        try:
            self._account.check(pending.access_token.get_secret_value())
        except PinterestTransientError as error:
            raise PinterestUnavailableError(f"reading the ad account with the new token failed: {error}") from None
        except (PinterestAuthError, PinterestPermanentError, PinterestRejectedError) as error:
            raise PendingTokenRejectedError(
                f"the new access token cannot read the ad account ({error}); check that the connected Pinterest "
                f"user has access to it, then {RECONNECT_HINT}"
            ) from None
        return StepResult(RotationStep.TEST, changed=True, pending=Expiry.of(pending))

    def _finish(self, secret_id: str, token: str, description: SecretDescription) -> StepResult:
        current_version = description.version_with(AWSCURRENT)
        if current_version == token:  # unreachable after the guard; kept as the template's own check
            return StepResult(RotationStep.FINISH, changed=False)
        try:
            self._secrets.move_current(secret_id, token, current_version)
        except SecretStoreError as error:
            raise SecretStoreUnavailableError(f"moving AWSCURRENT failed: {error}") from None
        return StepResult(RotationStep.FINISH, changed=True)

    # -- helpers ------------------------------------------------------------------------------------------------

    def _describe(self, secret_id: str) -> SecretDescription:
        try:
            return self._secrets.describe(secret_id)
        except SecretStoreError as error:
            raise SecretStoreUnavailableError(f"describing the secret failed: {error}") from None

    def _get(self, secret_id: str, *, stage: str, version_id: str | None = None) -> str | None:
        try:
            return self._secrets.get_value(secret_id, stage=stage, version_id=version_id)
        except SecretStoreError as error:
            raise SecretStoreUnavailableError(f"reading the {stage} version failed: {error}") from None

    def _current(self, secret_id: str) -> TokenSecret:
        value = self._get(secret_id, stage=AWSCURRENT)
        if value is None:
            raise NotConnectedError(f"the secret has no AWSCURRENT value; {RECONNECT_HINT}")
        return _parse(value, "current")

    @staticmethod
    def _expiry_of(value: str, label: str) -> Expiry:
        return Expiry.of(_parse(value, label))


def _with_hint(message: str) -> str:
    return message if RECONNECT_HINT in message else f"{message}; {RECONNECT_HINT}"


def _is_placeholder(value: str) -> bool:
    """The stack's value before ``pinsync connect`` (``{"status": "not-connected"}``)."""
    try:
        document = json.loads(value)
    except ValueError:
        return False
    return isinstance(document, dict) and document.get("status") == NOT_CONNECTED_STATUS


def _parse(value: str, label: str) -> TokenSecret:
    """Parse a stored version; the error names problem fields only, never values."""
    try:
        return TokenSecret.model_validate_json(value)
    except ValidationError as error:
        fields = sorted({str(item["loc"][0]) for item in error.errors(include_input=False) if item["loc"]})
        problem = ", ".join(fields) or "whole document"
        if label == "current":
            raise NotConnectedError(
                f"the current token secret is not connected or malformed (problem fields: {problem}); {RECONNECT_HINT}"
            ) from None
        raise RotationStateError(f"the {label} version is malformed (problem fields: {problem})") from None
