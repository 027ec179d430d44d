"""The contract between pinsync's functions: the events they publish on EventBridge, and the reasons those events count.

Source ``pinsync``, four detail types:

- ``Dataflow Run``: the sync function's report of one invocation (counts only, never an identifier);
- ``Privacy Request``: the sync function's report of one privacy request carried out (counts only);
- ``Token Rotation``: the rotation function's report of one rotation step (outcome and expiry instants, never a token);
- ``Audience Health``: the health function's report of one check of every mapped audience on Pinterest (per CDP
  audience: sizes, statuses and times; never a Pinterest id, an account id or an identifier).

The sender builds the model and publishes :func:`detail_of` it; the alert function parses the same model
(``pinsync.alerts.inbound``), so the two sides cannot drift apart. The reason vocabularies below are the keys of the
``*_by_reason`` counts and of ``reason``; alert advice and metric dimensions use these names too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_serializer

EVENT_SOURCE = "pinsync"


def _in_utc(value: datetime) -> datetime:
    """pinsync writes its times in UTC with Z: one without a zone is taken as UTC (comparing it with an aware time would
    raise), and one that leaves the calendar once in UTC (9999-12-31T23:59:59-01:00) is invalid, not an OverflowError
    when the alert function renders it."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("outside the years 1 to 9999 in UTC") from None


UtcDatetime = Annotated[datetime, AfterValidator(_in_utc)]


class DetailType(StrEnum):
    DATAFLOW_RUN = "Dataflow Run"
    PRIVACY_REQUEST = "Privacy Request"
    TOKEN_ROTATION = "Token Rotation"  # noqa: S105 - an event name, not a credential
    AUDIENCE_HEALTH = "Audience Health"


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
    requested_at: UtcDatetime
    identities: ErasedIdentities
    removals: int = Field(default=0, ge=0)  # identifier × customer list removals, sent or found done already
    customer_lists: int = Field(default=0, ge=0)  # lists the removals concerned

    @field_serializer("requested_at")
    def _iso(self, value: datetime) -> str:
        return iso_utc(value)


class TokenExpiry(_Detail):
    access_token_expires_at: UtcDatetime
    refresh_token_expires_at: UtcDatetime

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


# Pinterest's minimum: "Each audience list needs to have at least 100 people with Pinterest accounts before you can start
# using it" (the spec's Audience.status; TOO_SMALL below it).
PINTEREST_MIN_AUDIENCE_SIZE = 100


class AudienceHealthState(StrEnum):
    """What one check found for one audience."""

    OK = "ok"  # read, at or above Pinterest's minimum
    TOO_SMALL = "too_small"  # read, below the minimum (size, or Pinterest's TOO_SMALL status)
    MISSING = "missing"  # the customer list or the Pinterest audience is gone (404)
    UNREADABLE = "unreadable"  # Pinterest could not be read this time (no decision either way)


class AudienceHealthFacts(_Detail):
    """One audience in an ``Audience Health`` report: its CDP audience id (the mapping's key, also the metric
    dimension), what Pinterest said, and what the health items remember. Times are UTC."""

    audience_id: str = Field(min_length=1)
    state: AudienceHealthState
    size: int | None = Field(default=None, ge=0)  # the Pinterest audience's size (None: no audience, or unread)
    audience_status: str | None = None  # READY, TOO_SMALL, INITIALIZING... (Pinterest's)
    customer_list_status: str | None = None  # PROCESSING, READY, TOO_SMALL, UPLOADING (Pinterest's)
    uploaded_records: int | None = Field(default=None, ge=0)  # the list's num_uploaded_user_records
    removed_records: int | None = Field(default=None, ge=0)  # the list's num_removed_user_records
    missing: list[Literal["customer_list", "audience"]] = Field(default_factory=list)
    first_seen_at: UtcDatetime  # the first check that saw the audience mapped (the time its first add is counted from)
    previous_size: int | None = Field(default=None, ge=0)
    previous_checked_at: UtcDatetime | None = None
    reason: str | None = None  # why it was unreadable (a FailureReason)

    @field_serializer("first_seen_at", "previous_checked_at")
    def _iso(self, value: datetime | None) -> str | None:
        return iso_utc(value) if value is not None else None


class AudienceHealth(_Detail):
    """``Audience Health``: one check of every audience that has a customer list, at ``checked_at``."""

    destination: Destination
    checked_at: UtcDatetime
    min_size: int = Field(default=PINTEREST_MIN_AUDIENCE_SIZE, ge=0)
    audiences: list[AudienceHealthFacts] = Field(default_factory=list)

    @field_serializer("checked_at")
    def _iso(self, value: datetime) -> str:
        return iso_utc(value)


def detail_of(event: DataflowRun | PrivacyRequest | TokenRotation | AudienceHealth) -> dict[str, Any]:
    """The ``detail`` to publish: JSON-ready, without the fields a successful step leaves unset."""
    detail = event.model_dump(mode="json")
    if isinstance(event, TokenRotation):
        for name in ("reason", "needs_reconnect", "message"):
            if detail[name] is None:
                del detail[name]
    return detail


def iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
