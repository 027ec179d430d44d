"""The contract between pinsync's functions: the events they publish on EventBridge, and the reasons those events count.

Source ``pinsync``, three detail types:

- ``Dataflow Run``: the sync function's report of one invocation (counts only, never an identifier);
- ``Privacy Request``: the sync function's report of one privacy request carried out (counts only);
- ``Token Rotation``: the rotation function's report of one rotation step (outcome and expiry instants, never a token).

The sender builds the model and publishes :func:`detail_of` it; the alert function parses the same model
(``pinsync.alerts.inbound``), so the two sides cannot drift apart. The reason vocabularies below are the keys of the
``*_by_reason`` counts and of ``reason``; alert advice and metric dimensions use these names too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

EVENT_SOURCE = "pinsync"


class DetailType(StrEnum):
    DATAFLOW_RUN = "Dataflow Run"
    PRIVACY_REQUEST = "Privacy Request"
    TOKEN_ROTATION = "Token Rotation"  # noqa: S105 - an event name, not a credential


# -- reasons ---------------------------------------------------------------------------------------------------------


class RejectionReason(StrEnum):
    """Why a whole message can never succeed (it ends in the dead-letter queue)."""

    INVALID_JSON = "invalid_json"
    INVALID_CONTRACT = "invalid_contract"
    TOO_MANY_CHANGES = "too_many_changes"
    UNPROCESSABLE = "unprocessable"


class ExclusionReason(StrEnum):
    """Why an identity is not sent (counted per audience × identity). Pinterest's own refusals of a record are
    ``pinterest_error_<code>`` (:func:`pinterest_exclusion`)."""

    INVALID_IDENTITY = "invalid_identity"
    PLACEHOLDER_IDENTITY = "placeholder_identity"
    UNMAPPED_NAMESPACE = "unmapped_namespace"
    UNKNOWN_STATUS = "unknown_status"
    NOT_ACTIVATED = "not_activated"
    INVALID_AUDIENCE_ID = "invalid_audience_id"
    INVALID_TIME = "invalid_time"
    STALE = "stale"
    CONSENT_DENIED = "consent_denied"


class SkipReason(StrEnum):
    """Why a change needs no Pinterest call (its work is done)."""

    COALESCED = "coalesced"
    UNCHANGED = "unchanged"
    NO_CUSTOMER_LIST = "no_customer_list"


class FailureReason(StrEnum):
    """Why a change failed this time (its message is retried)."""

    PINTEREST_ERROR = "pinterest_error"
    PINTEREST_UNAVAILABLE = "pinterest_unavailable"
    INVALID_ANSWER = "invalid_answer"
    RATE_LIMITED = "rate_limited"
    UNAUTHORIZED = "unauthorized"
    TOKEN_UNAVAILABLE = "token_unavailable"  # noqa: S105 - a reason, not a credential
    REJECTED = "rejected"
    PINTEREST_REFUSED = "pinterest_refused"
    INVALID_GRANT = "invalid_grant"
    DEADLINE = "deadline"
    CREATION_IN_PROGRESS = "creation_in_progress"
    AUDIENCE_BUSY = "audience_busy"
    INTERNAL_ERROR = "internal_error"


class RotationFailure(StrEnum):
    """Why a token rotation step failed (``Token Rotation`` ``reason``)."""

    ROTATION_FAILED = "rotation_failed"
    INVALID_STATE = "invalid_state"
    NOT_CONNECTED = "not_connected"
    INVALID_GRANT = "invalid_grant"
    PINTEREST_UNAVAILABLE = "pinterest_unavailable"
    PENDING_NOT_STORED = "pending_not_stored"
    TEST_FAILED = "test_failed"
    SECRETS_MANAGER_ERROR = "secrets_manager_error"


PINTEREST_EXCLUSION_PREFIX = "pinterest_error_"


def pinterest_exclusion(code: int | None, status: int | None) -> str:
    """The exclusion reason of a record Pinterest refused: its error code, else the HTTP status."""
    return f"{PINTEREST_EXCLUSION_PREFIX}{code if code is not None else status}"


# -- event models ----------------------------------------------------------------------------------------------------


class _Detail(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Destination(_Detail):
    """The connection an event is about. Alerts read the name only (they never carry the ad account id)."""

    name: str = Field(min_length=1)
    ad_account_id: str = ""


class MessageCounts(_Detail):
    received: int = Field(ge=0)
    rejected: int = Field(default=0, ge=0)
    rejected_by_reason: dict[str, int] = Field(default_factory=dict)
    retried: int = Field(default=0, ge=0)


class IdentityCounts(_Detail):
    activated: int = Field(ge=0)
    added: int = Field(default=0, ge=0)
    removed: int = Field(default=0, ge=0)
    excluded: int = Field(ge=0)
    excluded_by_reason: dict[str, int] = Field(default_factory=dict)
    skipped: int = Field(default=0, ge=0)
    skipped_by_reason: dict[str, int] = Field(default_factory=dict)
    failed: int = Field(ge=0)
    failed_by_reason: dict[str, int] = Field(default_factory=dict)


class DataflowRun(_Detail):
    """``Dataflow Run``: what one sync invocation did, in counts."""

    destination: Destination
    messages: MessageCounts
    profiles_received: int = Field(ge=0)
    identities: IdentityCounts
    excluded_share: float = Field(ge=0, le=1)
    customer_lists_created: int = Field(default=0, ge=0)


class ErasedIdentities(_Detail):
    requested: int = Field(ge=0)  # identities in the request
    excluded: int = Field(default=0, ge=0)  # unusable ones (invalid, placeholder, unmapped namespace)
    removed: int = Field(default=0, ge=0)  # distinct identifiers removed, the ones the ledger linked to them included


class PrivacyRequest(_Detail):
    """``Privacy Request``: one erasure carried out, in every customer list pinsync keeps, in counts."""

    destination: Destination
    request_id: str | None = None  # the privacy tool's reference, never an identity
    action: Literal["erase"] = "erase"
    requested_at: datetime
    identities: ErasedIdentities
    removals: int = Field(default=0, ge=0)  # identifier × customer list removals, sent or found done already
    customer_lists: int = Field(default=0, ge=0)  # lists the removals concerned

    @field_serializer("requested_at")
    def _iso(self, value: datetime) -> str:
        return iso_utc(value)


class TokenExpiry(_Detail):
    access_token_expires_at: datetime
    refresh_token_expires_at: datetime

    @field_serializer("access_token_expires_at", "refresh_token_expires_at")
    def _iso(self, value: datetime) -> str:
        return iso_utc(value)


class TokenRotation(_Detail):
    """``Token Rotation``: one rotation step's outcome. ``reason``, ``needs_reconnect`` and ``message`` are set (and
    published) only when it failed; alerts never read ``message`` (free text), only the reason."""

    destination: Destination
    step: str = Field(min_length=1)
    outcome: Literal["succeeded", "skipped", "failed"]
    rotated: bool = False
    current: TokenExpiry | None = None
    pending: TokenExpiry | None = None
    reason: str | None = None
    needs_reconnect: bool | None = None
    message: str | None = None


def detail_of(event: DataflowRun | PrivacyRequest | TokenRotation) -> dict[str, Any]:
    """The ``detail`` to publish: JSON-ready, without the fields a successful step leaves unset."""
    detail = event.model_dump(mode="json")
    if isinstance(event, TokenRotation):
        for name in ("reason", "needs_reconnect", "message"):
            if detail[name] is None:
                del detail[name]
    return detail


def iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
