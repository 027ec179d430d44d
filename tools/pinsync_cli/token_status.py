"""The token part of ``pinsync status``: both expiry dates, days left, and the last successful rotation.

Reads the token secret (its values stay in memory; only dates are printed). The last rotation is Secrets Manager's
``LastRotatedDate`` when it has one, else the creation time of the AWSCURRENT version (what `pinsync connect`
wrote). Other parts of ``pinsync status`` (queue depths, ...) can add rows through :func:`token_rows`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from pinsync.adapters.secretsmanager_versions import SecretsManagerVersions
from pinsync.rotation.model import AWSCURRENT, AWSPENDING
from pinsync.tokens import TokenSecret, days_between


@dataclass(frozen=True)
class TokenStatus:
    secret_id: str
    connected: bool
    access_token_expires_at: datetime | None
    access_token_days_left: float | None
    refresh_token_expires_at: datetime | None
    refresh_token_days_left: float | None
    last_rotated_at: datetime | None
    last_rotated_source: str | None
    rotation_enabled: bool
    next_rotation_at: datetime | None
    rotation_pending: bool

    def as_json(self) -> dict[str, Any]:
        return {key: _iso(value) if isinstance(value, datetime) else value for key, value in asdict(self).items()}


def token_status(store: SecretsManagerVersions, secret_id: str, now: datetime | None = None) -> TokenStatus:
    """Raises :class:`SecretStoreError` when Secrets Manager cannot be read."""
    now = now or datetime.now(UTC)
    description = store.describe(secret_id)
    value = store.get_value(secret_id, stage=AWSCURRENT)
    token: TokenSecret | None = None
    if value is not None:
        try:
            token = TokenSecret.model_validate_json(value)
        except ValueError:
            token = None
    last_rotated, source = description.last_rotated, "LastRotatedDate"
    if last_rotated is None:
        current = description.version_with(AWSCURRENT)
        created = next((v.created for v in store.versions(secret_id) if v.version_id == current), None)
        last_rotated, source = created, "AWSCURRENT CreatedDate"
    pending = description.version_with(AWSPENDING)
    return TokenStatus(
        secret_id=secret_id,
        connected=token is not None,
        access_token_expires_at=token.access_token_expires_at if token else None,
        access_token_days_left=days_between(now, token.access_token_expires_at) if token else None,
        refresh_token_expires_at=token.refresh_token_expires_at if token else None,
        refresh_token_days_left=days_between(now, token.refresh_token_expires_at) if token else None,
        last_rotated_at=last_rotated,
        last_rotated_source=source if last_rotated else None,
        rotation_enabled=description.rotation_enabled,
        next_rotation_at=description.next_rotation,
        rotation_pending=pending is not None and pending != description.version_with(AWSCURRENT),
    )


def token_rows(status: TokenStatus) -> list[tuple[str, str, str]]:
    """(item, value, detail) rows for the status table."""
    if not status.connected:
        return [("token", "NOT CONNECTED", "run `pinsync connect`")]
    rows = [
        ("access token expires", _date(status.access_token_expires_at), _days(status.access_token_days_left)),
        ("refresh token expires", _date(status.refresh_token_expires_at), _days(status.refresh_token_days_left)),
        ("last rotation", _date(status.last_rotated_at), f"from {status.last_rotated_source or '-'}"),
    ]
    if status.rotation_enabled:
        rows.append(("next rotation", _date(status.next_rotation_at), "pending now" if status.rotation_pending else ""))
    else:
        rows.append(("rotation", "DISABLED", "no RotationSchedule on the secret"))
    return rows


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _date(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def _days(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} days left"
