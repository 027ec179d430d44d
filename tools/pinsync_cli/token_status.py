"""The token part of ``pinsync status``: both expiry dates, days left, and the last successful rotation.

Reads the token secret (its values stay in memory; only dates are printed). The last rotation is Secrets Manager's
``LastRotatedDate`` when it has one, else the creation time of the AWSCURRENT version (what `pinsync connect`
wrote). Other parts of ``pinsync status`` (queue depths, ...) can add rows through :func:`token_rows`.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from pinsync.adapters.secret_versions import SecretsManagerVersions
from pinsync.rotation import AWSCURRENT, AWSPENDING, SecretStoreError
from pinsync.tokens import TokenSecret, days_between

from pinsync_cli.connect import (
    EXIT_AWS,
    EXIT_OK,
    CommandError,
    add_deployment_arguments,
    resolve_secret_id,
    secrets_manager,
)


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


def render_table(rows: list[tuple[str, str, str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    return "\n".join(f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}".rstrip() for a, b, c in rows)


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "status", help="token expiry and last rotation of a deployment", description=__doc__
    )
    add_deployment_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON (for scripts)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace, *, out: TextIO | None = None, now: datetime | None = None) -> int:
    out = out or sys.stdout
    try:
        secret_id = resolve_secret_id(args)
        status = token_status(secrets_manager(), secret_id, now)
    except CommandError as error:
        print(f"pinsync status: {error}", file=out)
        return error.exit_code
    except SecretStoreError as error:
        print(f"pinsync status: cannot read the token secret ({error})", file=out)
        return EXIT_AWS
    if args.json:
        print(json.dumps({"token": status.as_json()}, indent=2), file=out)
    else:
        print(render_table(token_rows(status)), file=out)
    return EXIT_OK


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _date(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def _days(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} days left"
