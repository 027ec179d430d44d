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
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from pinsync.contract import Profile
from pinsync.identities import ExcludedIdentity, HashedIdentity, IdentityKind, resolve, sha256_hex

EXCLUDED_UNKNOWN_STATUS = "unknown_status"
EXCLUDED_NOT_ACTIVATED = "not_activated"


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


@dataclass(frozen=True, slots=True)
class Change:
    """One requested membership change, with the messages that asked for it."""

    audience_id: str
    record: str
    operation: Operation
    qualified_at: datetime
    sequence: int
    message_ids: frozenset[str]
    profile_key: str | None = None  # hashed stable profile id (see profile_key()), for the membership ledger


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
    plain ratio of the two.
    """
    identities = [(namespace, value.id) for namespace, values in profile.identity_map.items() for value in values]
    resolved = [resolve(namespace, raw, namespaces) for namespace, raw in identities]
    key = profile_key(identities, resolved, profile_namespaces)
    message_ids = frozenset((message_id,))
    for audience_id, qualification in profile.qualifications():
        operation = STATUS_OPERATIONS.get(qualification.status.lower())
        if operation is None:
            extraction.excluded[EXCLUDED_UNKNOWN_STATUS] += len(resolved)
            continue
        if not activation.allows(audience_id):
            extraction.excluded[EXCLUDED_NOT_ACTIVATED] += len(resolved)
            continue
        qualified_at = qualification.last_qualification_time or fallback_time
        for identity in resolved:
            if isinstance(identity, ExcludedIdentity):
                extraction.excluded[identity.reason] += 1
                continue
            extraction.changes.append(
                Change(
                    audience_id=audience_id,
                    record=identity.record,
                    operation=operation,
                    qualified_at=qualified_at,
                    sequence=len(extraction.changes),
                    message_ids=message_ids,
                    profile_key=key,
                )
            )


def profile_key(
    identities: Sequence[tuple[str, str]],
    resolved: Sequence[HashedIdentity | ExcludedIdentity],
    namespaces: Sequence[str],
) -> str | None:
    """A stable, hashed key for the profile: its first identity in the first of ``namespaces`` it has.

    Use a namespace whose value never changes for a person (ECID, a CRM id) first: the key is what lets an exit
    remove identifiers the profile had before (an old email), so a key that changes with them defeats it. An
    identity that is hashed for Pinterest anyway is its own key (no second hash); another (ECID) is hashed here.
    """
    first: dict[str, int] = {}
    for index, (namespace, _raw) in enumerate(identities):
        first.setdefault(namespace.lower(), index)
    for namespace in namespaces:
        found = first.get(namespace.lower())
        if found is None:
            continue
        identity = resolved[found]
        if isinstance(identity, HashedIdentity):
            return identity.record
        return sha256_hex(f"{namespace.lower()}:{identities[found][1].strip().lower()}")
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
        current = latest.get(key)
        if current is None:
            latest[key] = change
            continue
        folded += 1
        winner = max(current, change, key=lambda c: (c.qualified_at, c.sequence))
        latest[key] = replace(winner, message_ids=current.message_ids | change.message_ids)
    return Coalesced(changes=list(latest.values()), folded=folded)
