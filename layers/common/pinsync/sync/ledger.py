"""The membership ledger: what pinsync last applied for each (audience, identifier), and deciding against it.

Standard SQS queues and retries reorder deliveries, and peers show that removals only work when every identifier
ever sent for a profile is removed. So, per (audience, hashed identifier), the ledger keeps the last applied state
(in or out), its ``lastQualificationTime`` and the profile it came from, and the sync path:

- expands an exit to every identifier the ledger holds for that profile in that audience (:func:`expand_exits`);
- drops a change older than what the ledger holds (``stale``), and an ADD for someone already in or a REMOVE for
  someone already out (``unchanged``), so redeliveries and duplicates cost no Pinterest call
  (:func:`against_ledger`). A REMOVE for someone the ledger does not know is sent: the ledger cannot prove they
  are absent (an ADD may have reached Pinterest just before a crash that kept it from being recorded);
- records what Pinterest accepted, only after it accepted it (:func:`entries_for`), and the newer time of an
  unchanged change (:func:`newer_than_ledger`), so that an older change delivered later is recognised as stale.

Only hashes are stored. Pure functions; the storage is the ``MembershipLedger`` port (``pinsync.sync.ports``),
on DynamoDB in ``pinsync.adapters.dynamo_ledger``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from pinsync.sync.membership import Change, Operation

LedgerKey = tuple[str, str]  # (audience id, record)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    audience_id: str
    record: str
    member: bool
    qualified_at: datetime
    profile_key: str | None = None

    @property
    def key(self) -> LedgerKey:
        return (self.audience_id, self.record)


def exit_profiles(changes: Iterable[Change]) -> set[tuple[str, str]]:
    """(audience, profile) pairs that exit in this batch: their held identifiers must go too."""
    return {
        (change.audience_id, change.profile_key)
        for change in changes
        if change.operation is Operation.REMOVE and change.profile_key is not None
    }


def expand_exits(changes: Sequence[Change], held: Mapping[tuple[str, str], Sequence[str]]) -> list[Change]:
    """Add a REMOVE for every held identifier of an exiting profile, unless the batch already has a change for
    that identifier at least as new as the exit.

    The added changes share the exit's time and messages, so coalescing and verdicts treat them as its own: an
    older ADD of the same identifier in the batch (a late snapshot) is superseded, not left standing.
    """
    newest: dict[tuple[str, str], datetime] = {}
    for change in changes:
        key = (change.audience_id, change.record)
        if key not in newest or change.qualified_at > newest[key]:
            newest[key] = change.qualified_at
    expanded = list(changes)
    for change in changes:
        if change.operation is not Operation.REMOVE or change.profile_key is None:
            continue
        for record in held.get((change.audience_id, change.profile_key), ()):
            key = (change.audience_id, record)
            if key in newest and newest[key] >= change.qualified_at:
                continue
            newest[key] = change.qualified_at
            expanded.append(change._replace(record=record, sequence=len(expanded)))
    return expanded


@dataclass(frozen=True)
class LedgerDecision:
    apply: list[Change]
    stale: list[Change]
    unchanged: list[Change]


def against_ledger(changes: Iterable[Change], entries: Mapping[LedgerKey, LedgerEntry]) -> LedgerDecision:
    """Split coalesced changes into those to send, those older than the ledger, and those that change nothing
    (the identifier is already in, or already out, as of an entry no newer than the change)."""
    apply: list[Change] = []
    stale: list[Change] = []
    unchanged: list[Change] = []
    for change in changes:
        entry = entries.get((change.audience_id, change.record))
        wants_in = change.operation is Operation.ADD
        if entry is None:
            apply.append(change)  # unknown: an ADD is new, a REMOVE is sent because absence cannot be proven
        elif change.qualified_at < entry.qualified_at:
            stale.append(change)
        elif entry.member == wants_in:
            unchanged.append(change)
        else:
            apply.append(change)
    return LedgerDecision(apply=apply, stale=stale, unchanged=unchanged)


def newer_than_ledger(changes: Iterable[Change], entries: Mapping[LedgerKey, LedgerEntry]) -> list[Change]:
    """The unchanged changes that are newer than their entry: recording their time (no Pinterest call needed)
    makes an older change that SQS delivers later stale instead of applying it."""
    return [
        change
        for change in changes
        if (entry := entries.get((change.audience_id, change.record))) is not None
        and change.qualified_at > entry.qualified_at
    ]


def entries_for(applied: Iterable[Change]) -> list[LedgerEntry]:
    """The ledger entries that record changes Pinterest accepted."""
    return [
        LedgerEntry(
            audience_id=change.audience_id,
            record=change.record,
            member=change.operation is Operation.ADD,
            qualified_at=change.qualified_at,
            profile_key=change.profile_key,
        )
        for change in applied
    ]


def mirror(desired: Iterable[str], held: Iterable[str]) -> tuple[set[str], set[str]]:
    """Reconcile: (records to add, records to remove) to make the audience equal ``desired``."""
    wanted, current = set(desired), set(held)
    return wanted - current, current - wanted
