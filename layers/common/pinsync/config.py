"""Configuration: one pydantic-settings class per function, read from the environment once per cold start.

A missing or invalid setting raises :class:`~pinsync.errors.ConfigurationError` naming the variable, so a
misconfigured deployment fails on its first invocation with a message an operator can act on.
"""

from __future__ import annotations

from functools import cached_property

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pinsync.errors import ConfigurationError
from pinsync.identities import DEFAULT_NAMESPACES, IdentityKind, NamespaceMapError, parse_namespace_map
from pinsync.membership import ActivationRule

PINTEREST_API_BASE_URL = "https://api.pinterest.com/v5"
AD_ACCOUNT_ID_PATTERN = r"^\d{1,18}$"  # digits, at most 18: the spec's ad_account_id path parameter


class _Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)


class PinterestAccess(_Settings):
    """The ad account and API that every function calling Pinterest talks to."""

    ad_account_id: str = Field(pattern=AD_ACCOUNT_ID_PATTERN)
    pinterest_api_base_url: str = Field(default=PINTEREST_API_BASE_URL, pattern=r"^https?://\S+$")
    pinterest_timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @field_validator("pinterest_api_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")


class PinterestSettings(PinterestAccess):
    """Pinterest access through the token secret (the rotation function gets its secret from the event instead)."""

    token_secret_id: str = Field(min_length=1)
    token_cache_seconds: int = Field(default=60, ge=0, le=3600)


class SyncSettings(PinterestSettings):
    """The audience sync function (``functions/audience_sync``)."""

    state_table_name: str = Field(min_length=1)
    event_bus_name: str = Field(default="default", min_length=1)
    activated_audiences: str = Field(default="*", min_length=1)
    max_records_per_request: int = Field(default=1000, ge=1, le=100_000)
    identity_namespaces: str = Field(default=DEFAULT_NAMESPACES)
    destination_name: str = Field(default="pinsync", min_length=1, max_length=100)
    creation_lease_seconds: int = Field(default=300, ge=10, le=3600)
    profile_key_namespaces: str = Field(default="ECID,Email,Email_LC_SHA256,GAID,IDFA", min_length=1)
    ledger_retention_days: int = Field(default=90, ge=1, le=3650)

    @cached_property
    def profile_namespaces(self) -> tuple[str, ...]:
        return tuple(part.strip() for part in self.profile_key_namespaces.split(",") if part.strip())

    @field_validator("identity_namespaces")
    @classmethod
    def _valid_namespace_map(cls, value: str) -> str:
        try:
            parse_namespace_map(value)
        except NamespaceMapError as error:
            raise ValueError(str(error)) from None
        return value

    @cached_property
    def activation(self) -> ActivationRule:
        return ActivationRule.parse(self.activated_audiences)

    @cached_property
    def namespaces(self) -> dict[str, IdentityKind]:
        return parse_namespace_map(self.identity_namespaces)


def load_settings[SettingsT: _Settings](settings_class: type[SettingsT]) -> SettingsT:
    """Instantiate settings from the environment, turning validation errors into one clear message.

    Values are never echoed: a misplaced secret in the wrong variable must not end up in a log.
    """
    try:
        return settings_class()
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']).upper() or '?'}: {item['msg']}"
            for item in error.errors(include_url=False, include_input=False)
        )
        raise ConfigurationError(f"invalid configuration for {settings_class.__name__}: {problems}") from None
