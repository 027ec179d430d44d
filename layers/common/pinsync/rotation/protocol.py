"""Token rotation: the Secrets Manager rotation protocol for the Pinterest OAuth token, as a pure use case.

Secrets Manager calls the rotation function four times per rotation, each time with the same
``ClientRequestToken`` (the id of the new secret version, labelled ``AWSPENDING`` by Secrets Manager):

- ``createSecret``: refresh at Pinterest (continuous refresh: a *new* refresh token comes back and the old one is
  revoked) and store the result as ``AWSPENDING`` at once. Replayed with the same token, it reuses the stored
  value and never calls Pinterest again.
- ``setSecret``: nothing to push anywhere for OAuth.
- ``testSecret``: prove the pending access token can read the ad account and manage its audiences
  (``pinsync.access``: the granted scopes and the user's roles on the ad account).
- ``finishSecret``: move ``AWSCURRENT`` to the new version (the old one becomes ``AWSPREVIOUS``).

Every step starts with the same guard (as in aws-samples' SecretsManagerRotationTemplate): rotation enabled, the
token is a version of the secret, nothing to do if it is already ``AWSCURRENT``, and it must be ``AWSPENDING``.
A failed step raises :class:`RotationError` and never touches ``AWSCURRENT``.

No boto3 and no HTTP here: the three ports (``pinsync.rotation.ports``) are implemented in ``pinsync.adapters`` and
faked in ``tests/fakes``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from pydantic import ValidationError

from pinsync.access import audience_access_problem
from pinsync.core.errors import (
    InvalidGrantError,
    PinterestAnswerError,
    PinterestAuthError,
    PinterestError,
    PinterestPermanentError,
    PinterestRejectedError,
    PinterestTransientError,
    SecretStoreError,
)
from pinsync.rotation.model import (
    AWSCURRENT,
    AWSPENDING,
    RECONNECT_HINT,
    Expiry,
    NotConnectedError,
    PendingNotStoredError,
    PendingTokenRejectedError,
    PinterestUnavailableError,
    ReconnectRequiredError,
    RotationStateError,
    RotationStep,
    SecretDescription,
    SecretStoreUnavailableError,
    StepResult,
)
from pinsync.rotation.ports import AccountCheck, OAuthTokens, SecretVersions
from pinsync.tokens import NOT_CONNECTED_STATUS, TokenSecret


class TokenRotationProtocol:
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
        except PinterestAnswerError as error:  # 2xx: the refresh happened, the old refresh token is likely spent
            raise PendingNotStoredError(
                f"Pinterest answered the refresh with something that is not a token response ({error}); the previous "
                f"refresh token is likely spent, so unless the next rotation succeeds {RECONNECT_HINT}"
            ) from None
        except PinterestTransientError as error:
            raise PinterestUnavailableError(f"the token endpoint failed: {error}") from None
        except PinterestError as error:
            raise ReconnectRequiredError(_with_hint(f"the token endpoint refused the refresh: {error}")) from None
        # Straight away: the new refresh token exists only in memory until this put succeeds. Whatever fails from here
        # on is reported as such (with the event that asks for a reconnect), never as a crash without one.
        try:
            pending = grant.to_secret(current.client_id, current.client_secret, now, current.scope)
            self._secrets.put_pending(secret_id, token, pending.to_secret_string(), rotation_token=rotation_token)
        except SecretStoreError as error:
            detail = str(error)
        except (ValueError, OverflowError) as error:
            detail = type(error).__name__  # never the text: a validation error quotes its input, here tokens
        else:
            return StepResult(RotationStep.CREATE, changed=True, pending=Expiry.of(pending))
        raise PendingNotStoredError(
            f"Pinterest issued new tokens but storing them as AWSPENDING failed ({detail}); the previous refresh "
            f"token is revoked, so {RECONNECT_HINT} before the current access token expires"
        )

    def _test(self, secret_id: str, token: str) -> StepResult:
        value = self._get(secret_id, stage=AWSPENDING, version_id=token)
        if value is None or _is_placeholder(value):
            # Secrets Manager's own test of the rotation configuration (RotateImmediately false: on deploy and
            # when the schedule changes) runs testSecret alone, on a version createSecret never filled; a real
            # rotation reaches testSecret only after createSecret stored a token. Nothing to test, nothing failed.
            return StepResult(RotationStep.TEST, changed=False)
        pending = _parse(value, "pending")
        try:
            account = self._account.check(pending.access_token.get_secret_value())
        except PinterestTransientError as error:
            raise PinterestUnavailableError(f"reading the ad account with the new token failed: {error}") from None
        except (PinterestAuthError, PinterestPermanentError, PinterestRejectedError) as error:
            raise PendingTokenRejectedError(
                f"the new access token cannot read the ad account ({error}); check that the connected Pinterest "
                f"user has access to it, then {RECONNECT_HINT}"
            ) from None
        problem = audience_access_problem(account, pending.scope)
        if problem is not None:
            raise PendingTokenRejectedError(
                f"the new access token reads the ad account but cannot manage its audiences: {problem}; then "
                f"{RECONNECT_HINT}"
            )
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
