"""The sync function's settings (``functions/audience_sync``): the environment ``template.yaml`` gives it."""

from __future__ import annotations

from functools import cached_property

from pydantic import Field, field_validator

from pinsync.core.settings import PinterestAccess
from pinsync.sync.consent import ConsentPolicy
from pinsync.sync.identities import DEFAULT_NAMESPACES, IdentityKind, NamespaceMapError, parse_namespace_map
from pinsync.sync.membership import ActivationRule
from pinsync.sync.retry_schedule import SQS_MAX_VISIBILITY_SECONDS, RetryPolicy, RetrySchedule


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
    # Retry backoff of failed messages (pinsync.sync.retry_schedule). Without the queue URL, failed messages come
    # back after the queue's visibility timeout. max_receive_count is the queue's redrive maxReceiveCount, and
    # retry_horizon_hours what it must cover (checked at a cold start); template.yaml sets the three from the stack,
    # and leaves the base and cap at these defaults (the local stack and the tests make them tiny).
    # Not validated as a URL: `sam local` passes the queue's logical id; a wrong one only costs the backoff (warned).
    audience_queue_url: str = ""
    retry_horizon_hours: float = Field(default=24, gt=0, le=36)
    max_receive_count: int = Field(default=20, ge=1, le=30)
    retry_base_seconds: int = Field(default=60, ge=0, le=SQS_MAX_VISIBILITY_SECONDS)
    retry_cap_seconds: int = Field(default=4 * 3600, ge=0, le=SQS_MAX_VISIBILITY_SECONDS)

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
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(RetrySchedule(self.retry_base_seconds, self.retry_cap_seconds), self.max_receive_count)

    @cached_property
    def namespaces(self) -> dict[str, IdentityKind]:
        return parse_namespace_map(self.identity_namespaces)
