"""The ports of token rotation: Secrets Manager versions, Pinterest's token endpoint, and the account check.
Implemented in ``pinsync.adapters`` (``secretsmanager_versions``, ``pinterest_oauth``) and faked in tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from pinsync.rotation.model import SecretDescription, TokenGrant


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


class OAuthTokens(Protocol):
    """Pinterest's token endpoint. Raises :class:`InvalidGrantError` or ``PinterestTransientError``."""

    def refresh(self, client_id: str, client_secret: str, refresh_token: str) -> TokenGrant: ...


class AccountCheck(Protocol):
    """Can this access token read the configured ad account? Returns what Pinterest reports about it (the ``AdAccount``
    object); raises the ``pinsync.core.errors.Pinterest*Error`` family."""

    def check(self, access_token: str) -> Mapping[str, object]: ...
