"""Emulator configuration: what exists at start and the tunable limits."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

DEFAULT_AD_ACCOUNT_ID = "549755885175"
DEFAULT_CLIENT_ID = "pinsync-local-app"
DEFAULT_CLIENT_SECRET = "pinsync-local-secret"
DEFAULT_SCOPE = "ads:read,ads:write"
DAY = 86_400

# Fields that may be changed at run time (Python `EmulatorState.configure` and `POST /_emulator/config`).
TUNABLE_FIELDS = frozenset(
    {
        "rate_limit_per_second",
        "rate_limit_burst",
        "send_retry_after",
        "max_records_per_request",
        "min_matched",
        "access_token_ttl",
        "refresh_token_ttl",
        "auth_code_ttl",
        "ad_account_permissions",
    }
)
# Roles that may create and edit audiences (Pinterest help, "Add people to your ad account": Admin and Audience access;
# the owner holds every right). A user with none of them reads the ad account but is refused every write.
AUDIENCE_ROLES = frozenset({"OWNER", "ADMIN", "AUDIENCE_MANAGER"})


@dataclass
class EmulatorConfig:
    """Everything configurable about the emulator.

    `max_records_per_request` is not documented by Pinterest; the default is arbitrary, and the point of the
    setting is to let tests prove that the client splits a rejected batch.
    """

    ad_accounts: dict[str, str] = field(default_factory=lambda: {DEFAULT_AD_ACCOUNT_ID: "pinsync local ad account"})
    apps: dict[str, str] = field(default_factory=lambda: {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET})
    default_scope: str = DEFAULT_SCOPE
    access_token_ttl: int = 30 * DAY
    refresh_token_ttl: int = 60 * DAY
    auth_code_ttl: int = 600
    rate_limit_per_second: float | None = None
    rate_limit_burst: int | None = None
    send_retry_after: bool = False
    max_records_per_request: int = 10_000
    min_matched: int = 100
    request_log_limit: int = 10_000
    # The connected user's roles on every ad account (`permissions` of GET /ad_accounts/{id}; BusinessAccessRole).
    ad_account_permissions: tuple[str, ...] = ("OWNER",)

    def replace(self, **changes: Any) -> EmulatorConfig:
        unknown = set(changes) - TUNABLE_FIELDS
        if unknown:
            raise ValueError(f"unknown or read-only config fields: {sorted(unknown)}")
        new = dataclasses.replace(self, **changes)
        new.check()
        return new

    def check(self) -> None:
        if self.rate_limit_per_second is not None and self.rate_limit_per_second <= 0:
            raise ValueError("rate_limit_per_second must be > 0 or None")
        if self.rate_limit_burst is not None and self.rate_limit_burst < 1:
            raise ValueError("rate_limit_burst must be >= 1 or None")
        for name in ("max_records_per_request", "access_token_ttl", "refresh_token_ttl", "auth_code_ttl"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.min_matched < 0:
            raise ValueError("min_matched must be >= 0")
        if isinstance(self.ad_account_permissions, str) or not all(
            isinstance(role, str) for role in self.ad_account_permissions
        ):
            raise ValueError("ad_account_permissions must be a list of role names")
        self.ad_account_permissions = tuple(self.ad_account_permissions)

    def tunables(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in sorted(TUNABLE_FIELDS)}
