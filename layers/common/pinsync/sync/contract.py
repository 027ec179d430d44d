"""The message contract: what producers put on the queue.

An SQS message body is one profile in the CDP streaming-export shape, or a JSON array of them::

    {"segmentMembership": {"ups": {"<audience id>": {"status": "realized", "lastQualificationTime": "..."}}},
     "identityMap": {"email": [{"id": "jane@example.com"}]}}

or a privacy request (``pinsync forget`` sends them; a privacy tool may too)::

    {"privacyRequest": {"type": "erase", "requestId": "TICKET-1", "requestedAt": "...",
                        "identityMap": {"Email": [{"id": "jane@example.com"}]}}}

Parsing is strict about shape and lenient about extra keys (the CDP adds fields over time). A body that does not
parse is a *poison* message: it can never succeed and must end in the dead-letter queue.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal, NotRequired, TypedDict

from pydantic import AwareDatetime, Field, TypeAdapter, ValidationError

from pinsync.events import RejectionReason

# TypedDicts rather than BaseModels: pydantic-core validates them just as strictly, but hands back plain dicts,
# which halved the cost of parsing (bench/transform.py). Unknown keys are ignored.


class Qualification(TypedDict):
    """One audience's qualification of the profile. The time must carry a timezone (e.g. a trailing Z)."""

    status: Annotated[str, Field(min_length=1)]
    lastQualificationTime: NotRequired[AwareDatetime | None]
    # Marks of an audience mapped to the destination (AEP's "Include Segment Names" / "Include Segment Timestamps"):
    # read by ``ActivatedAudiences=mapped`` only, any JSON value accepted (AEP sends a string and epoch milliseconds).
    name: NotRequired[object]
    mappingCreatedAt: NotRequired[object]


class IdentityValue(TypedDict):
    """One identity of a namespace (the CDP also sends ``primary``, ``authenticatedState``, ...)."""

    id: str


class Profile(TypedDict):
    """A profile in the CDP streaming-export shape."""

    segmentMembership: dict[str, dict[str, Qualification]]
    identityMap: NotRequired[dict[str, list[IdentityValue]]]
    # XDM "Consents and Preferences" (pinsync.sync.consent reads consents.share.val); any JSON value is accepted here
    # and one of another shape counts as absent there.
    consents: NotRequired[object]
    # Kept only to be refused: a body is a profile or a privacy request, never both (see parse_body).
    privacyRequest: NotRequired[object]


# Identities one privacy request may carry: each is removed from every listed audience, with every identifier the
# ledger links to it, so the work of one message grows with the number of audiences; ``pinsync forget`` splits.
MAX_ERASURE_IDENTITIES = 100


class ErasureRequest(TypedDict):
    """Forget these identities: remove them, and every identifier the ledger links to them, from every customer list,
    as of ``requestedAt`` (the message's send time when absent). ``requestId`` is the privacy tool's reference (a
    ticket number, never an identity): it is echoed in the ``Privacy Request`` event."""

    type: Literal["erase"]
    requestId: NotRequired[Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]]
    requestedAt: NotRequired[AwareDatetime | None]
    identityMap: Annotated[dict[str, list[IdentityValue]], Field(min_length=1)]


class PrivacyMessage(TypedDict):
    privacyRequest: ErasureRequest
    segmentMembership: NotRequired[object]  # kept only to be refused: see parse_body


class ContractError(ValueError):
    """A message body that does not follow the contract. ``reason`` is safe to log; the body is not."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


_PROFILE: TypeAdapter[Profile] = TypeAdapter(Profile)
_PROFILES: TypeAdapter[list[Profile]] = TypeAdapter(list[Profile])
_PRIVACY: TypeAdapter[PrivacyMessage] = TypeAdapter(PrivacyMessage)


def parse_message(body: str) -> list[Profile] | ErasureRequest:
    """Parse one message body: profiles, or a privacy request. Raises :class:`ContractError`.

    Profiles are tried first (they are nearly every message); a body that is not a profile is read as a privacy
    request only when it has the ``privacyRequest`` key, so a broken profile is still reported as one."""
    try:
        return parse_body(body)
    except ContractError as profile_error:
        if profile_error.reason != RejectionReason.INVALID_CONTRACT or body.lstrip().startswith("["):
            raise
        try:
            message = _PRIVACY.validate_json(body)
        except ValidationError as error:
            problems = error.errors(include_url=False, include_input=False)
            if any(problem["loc"] == ("privacyRequest",) and problem["type"] == "missing" for problem in problems):
                raise profile_error from None
            raise ContractError(RejectionReason.INVALID_CONTRACT, describe_validation_error(error)) from None
        if "segmentMembership" in message:
            raise ContractError(RejectionReason.INVALID_CONTRACT, _PROFILE_AND_REQUEST) from None
        if _has_a_key_twice(body):
            raise ContractError(RejectionReason.INVALID_CONTRACT, "privacyRequest: a key appears twice") from None
        request = message["privacyRequest"]
    identities = sum(len(values) for values in request["identityMap"].values())
    if not 0 < identities <= MAX_ERASURE_IDENTITIES:
        raise ContractError(
            RejectionReason.INVALID_CONTRACT,
            f"privacyRequest.identityMap: {identities} identities, expected 1 to {MAX_ERASURE_IDENTITIES}",
        )
    return request


def parse_body(body: str) -> list[Profile]:
    """Parse one message body into profiles, or raise :class:`ContractError`.

    pydantic parses the JSON itself (faster than ``json.loads`` then validation, and stricter: a lone UTF-16
    surrogate such as ``"\\ud800"`` is invalid JSON rather than a string that later fails to hash). The error detail
    names the failing location and the kind of error only, never the offending value, because values are personal
    data.
    """
    adapter = _PROFILES if body.lstrip().startswith("[") else _PROFILE
    try:
        parsed = adapter.validate_json(body)
    except ValidationError as error:
        problems = error.errors(include_url=False, include_input=False)
        if any(problem["type"] == "json_invalid" for problem in problems):
            raise ContractError(RejectionReason.INVALID_JSON, f"body is not JSON ({problems[0]['msg']})") from None
        raise ContractError(RejectionReason.INVALID_CONTRACT, describe_validation_error(error)) from None
    profiles = parsed if isinstance(parsed, list) else [parsed]
    if not profiles:
        raise ContractError(RejectionReason.INVALID_CONTRACT, "empty array of profiles")
    # Read as either, the other half would be dropped without a word (an erasure acknowledged but never carried out,
    # or a profile update lost): neither is guessed, the message goes to the dead-letter queue where it is seen.
    if any("privacyRequest" in profile for profile in profiles):
        raise ContractError(RejectionReason.INVALID_CONTRACT, _PROFILE_AND_REQUEST)
    return profiles


_PROFILE_AND_REQUEST = "privacyRequest: a message is profiles or a privacy request, not both"


class _KeyTwiceError(ValueError):
    pass


def _has_a_key_twice(body: str) -> bool:
    """Whether an object of the (valid JSON) body has a key twice. Parsers keep the last value, so a privacy request
    would drop the identities of an earlier ``Email`` and be reported done: it is refused instead. Privacy requests
    only (they are few): profiles, nearly every message, are not parsed twice."""

    def unique(pairs: list[tuple[str, object]]) -> dict[str, object]:
        if len({key for key, _ in pairs}) != len(pairs):
            raise _KeyTwiceError
        return dict(pairs)

    try:
        json.loads(body, object_pairs_hook=unique)
    except _KeyTwiceError:
        return True
    except (ValueError, RecursionError):  # what pydantic read, json may still refuse: pydantic's reading stands
        return False
    return False


def describe_validation_error(error: ValidationError, limit: int = 3) -> str:
    """Locations and messages of a pydantic error, without the input values pydantic would include."""
    parts = []
    for item in error.errors(include_url=False, include_input=False)[:limit]:
        location = ".".join(_safe_location_part(part) for part in item["loc"]) or "<root>"
        parts.append(f"{location}: {item['msg']}")
    more = error.error_count() - limit
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)


_CONTRACT_FIELD_NAMES = frozenset(
    {
        "segmentMembership",
        "identityMap",
        "status",
        "lastQualificationTime",
        "id",
        "privacyRequest",
        "type",
        "requestId",
        "requestedAt",
    }
)


def _safe_location_part(part: str | int) -> str:
    """Dict keys come from the sender and could be anything, so only contract field names are shown."""
    if isinstance(part, int) or part in _CONTRACT_FIELD_NAMES:
        return str(part)
    return "<key>"
