"""The sync function's settings (``functions/audience_sync``): the environment ``template.yaml`` gives it."""

from __future__ import annotations

from functools import cached_property

from pydantic import Field, field_validator

from pinsync.core.settings import PinterestAccess
from pinsync.sync.consent import ConsentPolicy
from pinsync.sync.identities import DEFAULT_NAMESPACES, IdentityKind, NamespaceMapError, parse_namespace_map
from pinsync.sync.membership import ActivationRule


class PinterestSettings(PinterestAccess):
    """Pinterest access through the token secret (the rotation function gets its secret from the event instead)."""

    token_secret_id: str = Field(min_length=1)
    token_cache_seconds: int = Field(default=60, ge=0, le=3600)


class SyncSettings(PinterestSettings):
    """The audience sync function (``functions/audience_sync``)."""

    state_table_name: str = Field(min_length=1)
    event_bus_name: str = Field(default="default", min_length=1)
    activated_audiences: str = Field(default="none", min_length=1)
    max_records_per_request: int = Field(default=1000, ge=1, le=100_000)
    identity_namespaces: str = Field(default=DEFAULT_NAMESPACES)
    destination_name: str = Field(default="pinsync", min_length=1, max_length=100)
    creation_lease_seconds: int = Field(default=300, ge=10, le=3600)
    profile_key_namespaces: str = Field(default="ECID,Email,Email_LC_SHA256,GAID,IDFA", min_length=1)
    ledger_retention_days: int = Field(default=90, ge=1, le=3650)
    consent_policy: ConsentPolicy = ConsentPolicy.OPT_OUT

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
