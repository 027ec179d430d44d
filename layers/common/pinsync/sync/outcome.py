"""Run counts and per-message verdicts.

A message is acknowledged only when every change it contributed to was sent or accounted for (excluded or
skipped with a reason). A message with any transiently failed change is reported as a batch item failure so
SQS delivers it again; a poison message is always reported, so it reaches the dead-letter queue after
``maxReceiveCount`` deliveries without holding up the rest of the batch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pinsync.events import (
    DataflowRun,
    Destination,
    ErasedIdentities,
    ExclusionReason,
    IdentityCounts,
    MessageCounts,
    PrivacyRequest,
)
from pinsync.sync.membership import Change, Erasure, Operation

_NOT_IN_THE_RATE = frozenset({ExclusionReason.UNMAPPED_NAMESPACE, ExclusionReason.CONSENT_DENIED})


@dataclass
class ErasureTally:
    """What one privacy request did in this invocation: per customer list, the identifiers it removed."""

    erasure: Erasure
    records: set[str] = field(default_factory=set)
    removals: set[tuple[str, str]] = field(default_factory=set)  # (audience id, record)

    def removed(self, audience_id: str, record: str) -> None:
        self.records.add(record)
        self.removals.add((audience_id, record))

    def to_event(self, destination: Destination) -> PrivacyRequest:
        """The ``Privacy Request`` event: counts only."""
        erasure = self.erasure
        return PrivacyRequest(
            destination=destination,
            request_id=erasure.request_id,
            requested_at=erasure.at,
            identities=ErasedIdentities(
                requested=erasure.requested, excluded=erasure.excluded, removed=len(self.records)
            ),
            removals=len(self.removals),
            customer_lists=len({audience_id for audience_id, _ in self.removals}),
        )


@dataclass
class RunOutcome:
    """Everything one invocation did, in counts (no identifiers), plus the messages to retry."""

    messages_received: int = 0
    profiles_received: int = 0
    added: int = 0
    removed: int = 0
    excluded: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    rejected_messages: Counter[str] = field(default_factory=Counter)
    customer_lists_created: int = 0
    erasures: dict[str, ErasureTally] = field(default_factory=dict)  # message id → its privacy request's tally
    _failed_message_ids: set[str] = field(default_factory=set)
    _rejected_message_ids: set[str] = field(default_factory=set)

    def sent(self, changes: Iterable[Change]) -> None:
        for change in changes:
            if change.operation is Operation.ADD:
                self.added += 1
            else:
                self.removed += 1

    def exclude(self, changes: Iterable[Change], reason: str) -> None:
        _count(self.excluded, reason, sum(1 for _ in changes))

    def skip(self, changes: Iterable[Change], reason: str) -> None:
        _count(self.skipped, reason, sum(1 for _ in changes))

    def fail(self, changes: Iterable[Change], reason: str) -> None:
        for change in changes:
            self.failed[reason] += 1
            self._failed_message_ids.update(change.message_ids)

    def fail_message(self, message_id: str, reason: str, identities: int) -> None:
        """A message that failed before any change was made of it (its ``identities`` count as failed): it comes
        back, like a message of failed changes."""
        _count(self.failed, reason, identities)
        self._failed_message_ids.add(message_id)

    def reject_message(self, message_id: str, reason: str) -> None:
        self.rejected_messages[reason] += 1
        self._failed_message_ids.add(message_id)
        self._rejected_message_ids.add(message_id)

    def failed_message_ids_set(self) -> frozenset[str]:
        return frozenset(self._failed_message_ids)

    def failed_message_ids(self, message_order: Sequence[str]) -> list[str]:
        """Messages to report as batch item failures, in the order they arrived."""
        return [message_id for message_id in message_order if message_id in self._failed_message_ids]

    def transiently_failed_message_ids(self) -> frozenset[str]:
        """Reported messages that may succeed later (retried with a backoff), i.e. not rejected."""
        return frozenset(self._failed_message_ids - self._rejected_message_ids)

    def rejected_message_ids(self) -> frozenset[str]:
        """Reported messages that can never succeed: back at once, so they reach the dead-letter queue quickly."""
        return frozenset(self._rejected_message_ids)

    @property
    def activated(self) -> int:
        return self.added + self.removed

    def excluded_share(self) -> float:
        """Excluded identities over all identities that reached a verdict (the seed's "skipped rate").

        Identities of unmapped namespaces (ECID and the like, present in nearly every CDP profile) are counted
        but left out of the rate: they were never candidates for Pinterest, and would keep it near 50%. So are
        consent denials: honouring a person's choice is the right outcome, not a data problem to alert on.
        """
        excluded = sum(count for reason, count in self.excluded.items() if reason not in _NOT_IN_THE_RATE)
        total = self.activated + excluded + sum(self.failed.values())
        return excluded / total if total else 0.0

    def to_event(self, destination: Destination) -> DataflowRun:
        """The ``Dataflow Run`` event: counts only."""
        return DataflowRun(
            destination=destination,
            messages=MessageCounts(
                received=self.messages_received,
                rejected=sum(self.rejected_messages.values()),
                rejected_by_reason=dict(self.rejected_messages),
                retried=len(self._failed_message_ids),
            ),
            profiles_received=self.profiles_received,
            identities=IdentityCounts(
                activated=self.activated,
                added=self.added,
                removed=self.removed,
                excluded=sum(self.excluded.values()),
                excluded_by_reason=dict(self.excluded),
                skipped=sum(self.skipped.values()),
                skipped_by_reason=dict(self.skipped),
                failed=sum(self.failed.values()),
                failed_by_reason=dict(self.failed),
            ),
            excluded_share=round(self.excluded_share(), 6),
            customer_lists_created=self.customer_lists_created,
        )

    def completed_erasures(self) -> list[ErasureTally]:
        """The privacy requests carried out in full (their messages are acknowledged)."""
        return [tally for message_id, tally in self.erasures.items() if message_id not in self._failed_message_ids]


def _count(counter: Counter[str], reason: str, amount: int) -> None:
    if amount:
        counter[reason] += amount
