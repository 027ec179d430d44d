"""Membership changes: what a profile asks of each audience, and how a batch of them collapses.

A :class:`Change` is one (audience, hashed identifier) that should be added to or removed from the audience's
customer list. Within one invocation every (audience, identifier) keeps only its latest change by
``lastQualificationTime`` (arrival order breaks ties), so a batch never sends both an ADD and a REMOVE for one
person, and duplicates cost nothing. The messages of folded changes ride along with the survivor: their work is
done exactly when the survivor's is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from pinsync.events import ExclusionReason, RejectionReason
from pinsync.sync.consent import ConsentPolicy, denies_sharing
from pinsync.sync.contract import ContractError, ErasureRequest, Profile, Qualification
from pinsync.sync.identities import (
    HashedIdentity,
    IdentityKind,
    is_placeholder,
    record_function,
    resolve,
    sha256_hex,
)

# Audience ids end up in DynamoDB keys (2,048 bytes at most): a longer one would fail the whole batch's reads.
MAX_AUDIENCE_ID_LENGTH = 256
# A customer list or audience name pinsync creates: Pinterest's spec (CustomerListRequest.name,
# AudienceCreateRequest.name) sets no maxLength, so the bound is ours, generous for "<DestinationName> <name>".
MAX_LIST_NAME_LENGTH = 255
# A qualification time further ahead of the message's send time than this is refused (``invalid_time``): it would
# pin the membership until that time, whatever the CDP says in between. A day, not minutes: a producer that writes
# local time with a Z (up to 14 hours off) is misconfigured, but its updates should not all be refused for it.
MAX_FUTURE_SKEW = timedelta(days=1)
# One message may ask for at most this many changes (audiences × identities, over all its profiles), or one per
# BYTES_PER_CHANGE bytes of its body if that allows more: a 72 KB body of many audiences × many identities would
# otherwise expand to millions of changes. With Lambda's 6 MB payload limit, an invocation then carries at most
# about 200,000 changes.
MIN_CHANGES_PER_MESSAGE = 1_000
BYTES_PER_CHANGE = 32


def change_budget(body_length: int) -> int:
    """How many changes one message of this many bytes (characters) may ask for."""
    return max(MIN_CHANGES_PER_MESSAGE, body_length // BYTES_PER_CHANGE)


class ChangeBudgetExceededError(ValueError):
    """The message asks for more changes than its budget (see :func:`change_budget`)."""


def audience_id_problem(audience_id: str) -> str | None:
    """Why an audience id cannot be used (it names Pinterest lists and keys the state table), said to follow
    "audience id", or None.

    The one rule for the sync function and the CLI (which trims a value first)."""
    if not audience_id.strip():
        return "is empty"
    if len(audience_id) > MAX_AUDIENCE_ID_LENGTH:
        return f"is longer than {MAX_AUDIENCE_ID_LENGTH} characters"
    if audience_id != audience_id.strip():
        return "has surrounding whitespace"
    if not audience_id.isprintable():
        return "has control, invisible or bidirectional-override characters"
    return None


def display_name(raw: object) -> str | None:
    """The audience name a producer sent (AEP's "Include Segment Names"), made fit to name a Pinterest list: control,
    format and bidirectional-override characters become spaces, runs of whitespace one space, trimmed and cut to
    :data:`MAX_LIST_NAME_LENGTH`. None when nothing usable is left (or the value is not a string)."""
    if not isinstance(raw, str):
        return None
    cleaned = " ".join("".join(ch if ch.isprintable() else " " for ch in raw[: MAX_LIST_NAME_LENGTH * 4]).split())
    return cleaned[:MAX_LIST_NAME_LENGTH].rstrip() or None


def list_name(destination_name: str, audience_id: str, chosen: str | None = None, producer: str | None = None) -> str:
    """The name of the customer list (and audience) pinsync creates for an audience: the name already chosen for it
    (by the operator, or recorded at an earlier creation attempt) wins; else ``<destination> <producer's name>``;
    else ``<destination> <audience id>`` (as before producers could name audiences: not cut, so that a creation
    begun before an upgrade is still found under its name). A producer's name is cut to :data:`MAX_LIST_NAME_LENGTH`."""
    if chosen:
        return chosen
    if producer:
        return f"{destination_name} {producer}"[:MAX_LIST_NAME_LENGTH].rstrip()
    return f"{destination_name} {audience_id}"


class Operation(StrEnum):
    """Pinterest's ``UserListOperationType``."""

    ADD = "ADD"
    REMOVE = "REMOVE"


STATUS_OPERATIONS: Mapping[str, Operation] = {
    "realized": Operation.ADD,
    "existing": Operation.ADD,
    "exited": Operation.REMOVE,
}


EVERYTHING, NOTHING, MAPPED = "*", "none", "mapped"
# What a producer puts on an audience entry mapped to this destination. Adobe Experience Platform adds ``name``
# ("Include Segment Names") and ``mappingCreatedAt``/``mappingUpdatedAt`` ("Include Segment Timestamps") to the
# audiences mapped to the destination only; unmapped audiences that share a merge policy appear without them
# (experienceleague.adobe.com, destinations/catalog/streaming/http-destination, "Exported data").
MAPPING_MARKS = ("mappingCreatedAt", "name")


@dataclass(frozen=True, slots=True)
class ActivationRule:
    """Which audiences are synced: none (the default), all (``*``), the ones the producer marks as mapped to this
    destination (``mapped``), and/or a fixed set of ids."""

    everything: bool = False
    audience_ids: frozenset[str] = frozenset()
    mapped: bool = False

    @classmethod
    def parse(cls, spec: str) -> ActivationRule:
        """A comma-separated list of audience ids and the words ``*`` (everything), ``mapped`` and ``none`` (which
        adds nothing: ``none`` alone activates nothing)."""
        parts = frozenset(part.strip() for part in spec.split(",") if part.strip())
        if EVERYTHING in parts:
            return cls(everything=True)
        return cls(audience_ids=parts - {NOTHING, MAPPED}, mapped=MAPPED in parts)

    def allows(self, audience_id: str, entry: Mapping[str, object]) -> bool:
        """Whether a change of ``audience_id`` may be synced; ``entry`` is the audience's entry in the profile."""
        if self.everything or audience_id in self.audience_ids:
            return True
        return self.mapped and any(entry.get(mark) not in (None, "") for mark in MAPPING_MARKS)

    def in_force(self, recorded: frozenset[str] | None) -> ActivationRule:
        """The rule that applies: activations recorded in the state table (``pinsync audiences activate``) replace
        the configured rule once any was recorded (an empty set then activates nothing)."""
        if recorded is None:
            return self
        return ActivationRule(audience_ids=recorded)


class Change(NamedTuple):
    """One requested membership change, with the messages that asked for it.

    A NamedTuple, immutable like a frozen dataclass but 3x cheaper to build: a frozen dataclass sets every field
    through ``object.__setattr__``, which made building Changes the largest cost of the transform after parsing
    (bench/transform.py). Derive a changed copy with ``_replace``.
    """

    audience_id: str
    record: str
    operation: Operation
    qualified_at: datetime
    sequence: int
    message_ids: frozenset[str]
    profile_key: str | None = None  # hashed stable profile id (see _profile_key()), for the membership ledger


class DeniedProfile(NamedTuple):
    """A profile whose consent denies sharing: its identifiers leave every list that holds them, as of ``at``."""

    records: tuple[str, ...]
    profile_key: str | None
    at: datetime
    message_ids: frozenset[str]


class Erasure(NamedTuple):
    """A privacy request to forget ``records`` (and every identifier the ledger links to them), as of ``at``."""

    records: tuple[str, ...]
    at: datetime
    message_id: str
    request_id: str | None
    requested: int  # identities in the request
    excluded: int  # of which unusable (invalid, placeholder, unmapped namespace): nothing to remove for them


@dataclass
class Extraction:
    """Changes found in a batch, and the identities excluded on the way (by reason)."""

    changes: list[Change] = field(default_factory=list)
    excluded: Counter[str] = field(default_factory=Counter)
    audience_problems: dict[str, str | None] = field(default_factory=dict)  # audience id → audience_id_problem()
    denied: list[DeniedProfile] = field(default_factory=list)  # removed from every list (pinsync.sync.consent)
    erasures: list[Erasure] = field(default_factory=list)  # privacy requests
    # audience id → the first usable name a producer gave it (display_name()), for naming a list it creates
    audience_names: dict[str, str] = field(default_factory=dict)

    def removals_of_denied(self, listed_audiences: Iterable[str]) -> None:
        """Turn each denied profile into removals of its identifiers from every audience that has a customer list
        (the profile key makes each an exit: the ledger removes every identifier that profile added there too)."""
        for denied in self.denied:
            self._remove_everywhere(listed_audiences, denied.records, denied.at, denied.message_ids, denied.profile_key)

    def removals_of_erased(self, listed_audiences: Iterable[str]) -> None:
        """Turn each erasure into removals of its records from every audience that has a customer list (the sync use
        case adds the exits of the profiles the ledger links to them: ``pinsync.sync.ledger.erasure_exits``)."""
        for erasure in self.erasures:
            self._remove_everywhere(listed_audiences, erasure.records, erasure.at, frozenset((erasure.message_id,)))

    def _remove_everywhere(
        self,
        audiences: Iterable[str],
        records: Sequence[str],
        at: datetime,
        message_ids: frozenset[str],
        profile_key: str | None = None,
    ) -> None:
        changes = self.changes
        for audience_id in sorted(audiences):
            for record in records:
                changes.append(
                    Change(audience_id, record, Operation.REMOVE, at, len(changes), message_ids, profile_key)
                )


def extract_erasure(
    request: ErasureRequest,
    *,
    message_id: str,
    fallback_time: datetime,
    namespaces: Mapping[str, IdentityKind],
    extraction: Extraction,
) -> None:
    """Append a privacy request's :class:`Erasure` to ``extraction``: its identities normalised and hashed as a
    profile's are (placeholders never: many people share them). Raises :class:`ContractError` when ``requestedAt``
    cannot be used (as a qualification time, it may be at most :data:`MAX_FUTURE_SKEW` ahead of the send time)."""
    records: list[str] = []
    excluded = requested = 0
    for namespace, values in request["identityMap"].items():
        requested += len(values)
        for value in values:
            resolved = resolve(namespace, value["id"], namespaces)
            if isinstance(resolved, HashedIdentity):
                records.append(resolved.record)
            else:
                excluded += 1
    at = _qualified_at(
        {"status": "erase", "lastQualificationTime": request.get("requestedAt")},
        fallback_time,
        fallback_time + MAX_FUTURE_SKEW,
    )
    if at is None:
        raise ContractError(
            RejectionReason.INVALID_CONTRACT, "privacyRequest.requestedAt: more than a day ahead of the send time"
        )
    unique = tuple(dict.fromkeys(records))
    extraction.erasures.append(Erasure(unique, at, message_id, request.get("requestId"), requested, excluded))


def extract_changes(
    profile: Profile,
    *,
    message_id: str,
    fallback_time: datetime,
    activation: ActivationRule,
    namespaces: Mapping[str, IdentityKind],
    extraction: Extraction,
    profile_namespaces: Sequence[str] = (),
    budget: int | None = None,
    consent_policy: ConsentPolicy = ConsentPolicy.OPT_OUT,
) -> int:
    """Append one profile's changes (one per audience × identity) and exclusions to ``extraction``; return how many
    changes were added.

    Exclusions are counted per audience × identity, the same unit as activations, so the skip rate is a plain ratio
    of the two. ``fallback_time`` is the message's send time: the qualification time of an audience without one, and
    the reference for refusing times too far ahead. Raises :class:`ChangeBudgetExceededError`, before adding
    anything, when the profile would add more than ``budget`` changes. A profile whose consent denies sharing
    (``consent_policy``) adds no change: it is recorded in ``extraction.denied`` and every audience entry of it is
    excluded as ``consent_denied``. This is the transform's hot loop
    (bench/transform.py), hence plain strings and local names rather than an object per identity.
    """
    records: list[str] = []
    rejected: list[str] = []  # exclusion reasons of this profile's identities
    first: dict[str, str] = {}  # key namespace (lowercased) → its first usable value, hashed for the profile key
    for namespace, values in profile.get("identityMap", {}).items():
        lowered = namespace.lower()
        kind = namespaces.get(lowered)
        if kind is None:
            rejected.extend(ExclusionReason.UNMAPPED_NAMESPACE for _ in values)
            if lowered not in first:
                for value in values:
                    normalised = value["id"].strip().lower()
                    if not is_placeholder(normalised):
                        first[lowered] = sha256_hex(f"{lowered}:{normalised}")
                        break
            continue
        to_record = record_function(kind)
        for value in values:
            record = to_record(value["id"])
            if type(record) is str:
                records.append(record)
                first.setdefault(lowered, record)  # an identity hashed for Pinterest anyway is its own key
            else:
                rejected.append(record)
    key = _profile_key(first, profile_namespaces) if profile_namespaces else None
    changes = extraction.changes
    excluded = extraction.excluded
    identities = len(records) + len(rejected)
    # Added per audience one step per reason, not one per identity: unusable identities make no change, so the change
    # budget does not bound them, and a body may carry thousands of them with thousands of audiences.
    rejected_by_reason = Counter(rejected).items() if rejected else ()
    segments = profile["segmentMembership"].values()
    if budget is not None and len(records) * sum(len(entries) for entries in segments) > budget:
        raise ChangeBudgetExceededError(f"more than {budget} changes")
    message_ids = frozenset((message_id,))
    latest_allowed = fallback_time + MAX_FUTURE_SKEW
    if consent_policy is not ConsentPolicy.IGNORE and denies_sharing(profile.get("consents"), consent_policy):
        excluded[ExclusionReason.CONSENT_DENIED] += identities * sum(len(audiences) for audiences in segments)
        times = (_qualified_at(q, fallback_time, latest_allowed) for entries in segments for q in entries.values())
        at = max([fallback_time, *(time for time in times if time is not None)])
        extraction.denied.append(DeniedProfile(tuple(records), key, at, message_ids))
        return 0
    checked = extraction.audience_problems
    added = 0
    for entries in segments:
        for audience_id, qualification in entries.items():
            problem = checked.get(audience_id, False)
            if problem is False:
                problem = checked[audience_id] = audience_id_problem(audience_id)
            if problem is not None:
                excluded[ExclusionReason.INVALID_AUDIENCE_ID] += identities
                continue
            operation = STATUS_OPERATIONS.get(qualification["status"].lower())
            if operation is None:
                excluded[ExclusionReason.UNKNOWN_STATUS] += identities
                continue
            if not activation.allows(audience_id, qualification):
                excluded[ExclusionReason.NOT_ACTIVATED] += identities
                continue
            qualified_at = _qualified_at(qualification, fallback_time, latest_allowed)
            if qualified_at is None:
                excluded[ExclusionReason.INVALID_TIME] += identities
                continue
            if "name" in qualification and audience_id not in extraction.audience_names:
                name = display_name(qualification["name"])
                if name is not None:
                    extraction.audience_names[audience_id] = name
            for reason, count in rejected_by_reason:
                excluded[reason] += count
            sequence = len(changes)
            for record in records:
                changes.append(Change(audience_id, record, operation, qualified_at, sequence, message_ids, key))
                sequence += 1
            added += len(records)
    return added


def _qualified_at(qualification: Qualification, fallback_time: datetime, latest_allowed: datetime) -> datetime | None:
    """The entry's time in UTC (the message's send time when it has none), or None when it cannot be used."""
    try:
        # Comparable, and stored, in UTC; year 1 with a positive offset or year 9999 with a negative one overflow
        # here, as a time far ahead would pin the membership: the entry is refused, alone.
        qualified_at = (qualification.get("lastQualificationTime") or fallback_time).astimezone(UTC)
    except OverflowError:
        return None
    return qualified_at if qualified_at <= latest_allowed else None


def _profile_key(first: Mapping[str, str], namespaces: Sequence[str]) -> str | None:
    """A stable, hashed key for the profile: its first usable identity in the first of ``namespaces`` it has.

    Use a namespace whose value never changes for a person (ECID, a CRM id) first: the key is what lets an exit
    remove identifiers the profile had before (an old email), so a key that changes with them defeats it. A
    placeholder (an empty ECID, the all-zero advertising id) never keys a profile: it would merge different people.
    """
    for namespace in namespaces:
        found = first.get(namespace.lower())
        if found is not None:
            return found
    return None


@dataclass(frozen=True)
class Coalesced:
    """The surviving changes, and how many were folded into them (duplicates and superseded changes)."""

    changes: list[Change]
    folded: int


def coalesce(changes: Iterable[Change]) -> Coalesced:
    """Keep the latest change per (audience, record); merge the message ids of every folded change."""
    latest: dict[tuple[str, str], Change] = {}
    folded = 0
    for change in changes:
        key = (change.audience_id, change.record)
        current = latest.setdefault(key, change)
        if current is change:
            continue
        folded += 1
        winner = max(current, change, key=lambda c: (c.qualified_at, c.sequence))
        latest[key] = winner._replace(message_ids=current.message_ids | change.message_ids)
    return Coalesced(changes=list(latest.values()), folded=folded)
