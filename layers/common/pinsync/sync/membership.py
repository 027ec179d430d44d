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
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from pinsync.events import ExclusionReason
from pinsync.sync.contract import Profile
from pinsync.sync.identities import IdentityKind, record_function, sha256_hex

# Audience ids end up in DynamoDB keys (2,048 bytes at most): a longer one would fail the whole batch's reads.
MAX_AUDIENCE_ID_LENGTH = 256


class Operation(StrEnum):
    """Pinterest's ``UserListOperationType``."""

    ADD = "ADD"
    REMOVE = "REMOVE"


STATUS_OPERATIONS: Mapping[str, Operation] = {
    "realized": Operation.ADD,
    "existing": Operation.ADD,
    "exited": Operation.REMOVE,
}


@dataclass(frozen=True, slots=True)
class ActivationRule:
    """Which audiences are synced: all (``*``) or a fixed set."""

    everything: bool
    audience_ids: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, spec: str) -> ActivationRule:
        ids = frozenset(part.strip() for part in spec.split(",") if part.strip())
        if "*" in ids:
            return cls(everything=True)
        return cls(everything=False, audience_ids=ids)

    def allows(self, audience_id: str) -> bool:
        return self.everything or audience_id in self.audience_ids

    def in_force(self, recorded: frozenset[str] | None) -> ActivationRule:
        """The rule that applies: activations recorded in the state table (``pinsync audiences activate``) replace
        the configured rule once any was recorded (an empty set then activates nothing)."""
        if recorded is None:
            return self
        return ActivationRule(everything=False, audience_ids=recorded)


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


@dataclass
class Extraction:
    """Changes found in a batch, and the identities excluded on the way (by reason)."""

    changes: list[Change] = field(default_factory=list)
    excluded: Counter[str] = field(default_factory=Counter)


def extract_changes(
    profile: Profile,
    *,
    message_id: str,
    fallback_time: datetime,
    activation: ActivationRule,
    namespaces: Mapping[str, IdentityKind],
    extraction: Extraction,
    profile_namespaces: Sequence[str] = (),
) -> None:
    """Append one profile's changes (one per audience × identity) and exclusions to ``extraction``.

    Exclusions are counted per audience × identity, the same unit as activations, so the skip rate is a
    plain ratio of the two. This is the transform's hot loop (bench/transform.py), hence plain strings and
    local names rather than an object per identity.
    """
    records: list[str] = []
    rejected: list[str] = []  # exclusion reasons of this profile's identities
    first: dict[str, tuple[str, str | None]] = {}  # namespace (lowercased) → its first (raw value, record)
    for namespace, values in profile.get("identityMap", {}).items():
        lowered = namespace.lower()
        kind = namespaces.get(lowered)
        if kind is None:
            rejected.extend(ExclusionReason.UNMAPPED_NAMESPACE for _ in values)
            if values and lowered not in first:
                first[lowered] = (values[0]["id"], None)
            continue
        to_record = record_function(kind)
        for value in values:
            raw = value["id"]
            record = to_record(raw.strip().lower())
            if lowered not in first:
                first[lowered] = (raw, record)
            if record is None:
                rejected.append(ExclusionReason.INVALID_IDENTITY)
            else:
                records.append(record)
    key = _profile_key(first, profile_namespaces) if profile_namespaces else None
    message_ids = frozenset((message_id,))
    changes = extraction.changes
    excluded = extraction.excluded
    identities = len(records) + len(rejected)
    sequence = len(changes)
    for segments in profile["segmentMembership"].values():
        for audience_id, qualification in segments.items():
            operation = STATUS_OPERATIONS.get(qualification["status"].lower())
            if operation is None:
                excluded[ExclusionReason.UNKNOWN_STATUS] += identities
                continue
            if not activation.allows(audience_id):
                excluded[ExclusionReason.NOT_ACTIVATED] += identities
                continue
            if len(audience_id) > MAX_AUDIENCE_ID_LENGTH:
                excluded[ExclusionReason.INVALID_AUDIENCE_ID] += identities
                continue
            qualified_at = qualification.get("lastQualificationTime") or fallback_time
            for reason in rejected:
                excluded[reason] += 1
            for record in records:
                changes.append(Change(audience_id, record, operation, qualified_at, sequence, message_ids, key))
                sequence += 1


def _profile_key(first: Mapping[str, tuple[str, str | None]], namespaces: Sequence[str]) -> str | None:
    """A stable, hashed key for the profile: its first identity in the first of ``namespaces`` it has.

    Use a namespace whose value never changes for a person (ECID, a CRM id) first: the key is what lets an exit
    remove identifiers the profile had before (an old email), so a key that changes with them defeats it. An
    identity that is hashed for Pinterest anyway is its own key (no second hash); another (ECID) is hashed here.
    """
    for namespace in namespaces:
        found = first.get(namespace.lower())
        if found is None:
            continue
        raw, record = found
        if record is not None:
            return record
        return sha256_hex(f"{namespace.lower()}:{raw.strip().lower()}")
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
