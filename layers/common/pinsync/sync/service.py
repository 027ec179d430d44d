"""The audience sync use case: one batch of queue messages in, Pinterest in step, a verdict per message out.

Follow one message: :func:`parse_body` → :func:`extract_changes` (identities normalised and hashed,
exclusions counted) → :func:`expand_exits` (an exit takes every identifier the ledger holds for the profile)
→ :func:`coalesce` across the whole batch → :func:`against_ledger` (stale and unchanged changes dropped) →
:func:`plan` per customer list → customer lists created where needed (under a lease, so concurrent invocations
never create two) → requests sent, a 400 split in halves until the bad record is isolated and excluded → the
ledger written for what Pinterest accepted → :class:`RunOutcome`.

Everything here is pure: Pinterest, the mapping store and the clock come in through ports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pinsync.core.deadline import Deadline
from pinsync.core.errors import (
    PinterestAnswerError,
    PinterestAuthError,
    PinterestError,
    PinterestRateLimitedError,
    PinterestRejectedError,
    PinterestTransientError,
)
from pinsync.core.observability import logger
from pinsync.events import ExclusionReason, FailureReason, RejectionReason, SkipReason, pinterest_exclusion
from pinsync.sync.contract import ContractError, parse_body
from pinsync.sync.identities import IdentityKind
from pinsync.sync.ledger import (
    against_ledger,
    entries_for,
    exit_profiles,
    expand_exits,
    newer_than_ledger,
)
from pinsync.sync.membership import (
    ActivationRule,
    Change,
    ChangeBudgetExceededError,
    Extraction,
    Operation,
    change_budget,
    coalesce,
    extract_changes,
)
from pinsync.sync.outcome import RunOutcome
from pinsync.sync.planning import AudienceMapping, MappingState, Request, plan, requests_for_list
from pinsync.sync.ports import MappingStore, MembershipLedger, PinterestAds

# A call needs at least this much time left to be worth starting.
MIN_CALL_SECONDS = 2.0
OUTAGE_AFTER_FAILURES = 2


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One SQS message as the use case sees it."""

    message_id: str
    body: str
    sent_at: datetime


@dataclass(frozen=True)
class SyncOptions:
    activation: ActivationRule
    namespaces: Mapping[str, IdentityKind]
    max_records: int
    destination_name: str
    creation_lease: timedelta
    profile_namespaces: tuple[str, ...] = ()

    def list_name(self, audience_id: str, mapping: AudienceMapping | None) -> str:
        """The customer list (and audience) name: an operator-chosen one, or destination name + audience id."""
        if mapping is not None and mapping.name:
            return mapping.name
        return f"{self.destination_name} {audience_id}"


def exclusion_reason(error: PinterestRejectedError) -> str:
    return pinterest_exclusion(error.code, error.status)


class AudienceSync:
    """Runs one batch. Create one per invocation (it remembers whether Pinterest is reachable)."""

    def __init__(
        self,
        options: SyncOptions,
        pinterest: PinterestAds,
        mappings: MappingStore,
        *,
        clock: Callable[[], datetime],
        owner: str,
        deadline: Deadline,
        ledger: MembershipLedger | None = None,
    ) -> None:
        self._options = options
        self._pinterest = pinterest
        self._mappings = mappings
        self._clock = clock
        self._owner = owner
        self._deadline = deadline
        self._ledger = ledger
        self._applied: list[Change] = []
        self._outage: PinterestError | None = None
        self._consecutive_failures = 0
        self._accepting: set[tuple[str, Operation]] = set()  # (customer list, operation) Pinterest accepted records for
        self._suspects: list[tuple[str, Operation, Change, PinterestRejectedError]] = []

    def run(self, messages: Sequence[InboundMessage]) -> RunOutcome:
        outcome = RunOutcome(messages_received=len(messages))
        extraction = self._extract(messages, outcome)
        for reason, count in extraction.excluded.items():
            outcome.excluded[reason] += count
        changes = extraction.changes
        if self._ledger is not None:
            changes = expand_exits(changes, self._ledger.held_by_profiles(exit_profiles(changes)))
        coalesced = coalesce(changes)
        if coalesced.folded:
            outcome.skipped[SkipReason.COALESCED] += coalesced.folded
        candidates = coalesced.changes
        refreshed: list[Change] = []  # unchanged, but newer than the ledger: their time is recorded
        if self._ledger is not None and candidates:
            entries = self._ledger.entries((c.audience_id, c.record) for c in candidates)
            decision = against_ledger(candidates, entries)
            outcome.exclude(decision.stale, ExclusionReason.STALE)
            outcome.skip(decision.unchanged, SkipReason.UNCHANGED)
            refreshed = newer_than_ledger(decision.unchanged, entries)
            candidates = decision.apply
        if candidates:
            self._apply(candidates, outcome)
        if self._ledger is not None and (self._applied or refreshed):
            # Only after Pinterest accepted: a crash before this line means a re-send on redelivery.
            self._ledger.record(entries_for([*self._applied, *refreshed]))
        return outcome

    def _apply(self, candidates: list[Change], outcome: RunOutcome) -> None:
        """Plan per customer list, create the lists that are missing, send."""
        mappings = self._mappings.get_mappings({change.audience_id for change in candidates})
        list_ids = {aid: m.customer_list_id for aid, m in mappings.items() if m.customer_list_id is not None}
        work = plan(candidates, list_ids, self._options.max_records)
        outcome.skip(work.removes_without_list, SkipReason.NO_CUSTOMER_LIST)

        requests = list(work.requests)
        for audience_id, adds in work.to_create.items():
            requests.extend(self._create_customer_list(audience_id, adds, mappings.get(audience_id), outcome))
        for mapping in mappings.values():
            if mapping.state is MappingState.LIST_CREATED and mapping.customer_list_id is not None:
                self._ensure_audience(mapping.audience_id, mapping.customer_list_id, mapping)
        for request in requests:
            self._send(request, outcome)
        self._judge_suspects(outcome)

    def _extract(self, messages: Sequence[InboundMessage], outcome: RunOutcome) -> Extraction:
        """Each message's changes, or its rejection: nothing one message holds can fail another message."""
        extraction = Extraction()
        for message in messages:
            changes_before, excluded_before = len(extraction.changes), extraction.excluded.copy()
            try:
                profiles = parse_body(message.body)
                budget = change_budget(len(message.body))
                for profile in profiles:
                    budget -= extract_changes(
                        profile,
                        message_id=message.message_id,
                        fallback_time=message.sent_at,
                        activation=self._options.activation,
                        namespaces=self._options.namespaces,
                        extraction=extraction,
                        profile_namespaces=self._options.profile_namespaces,
                        budget=budget,
                    )
            except ContractError as error:
                self._reject(message, outcome, error.reason, error.detail)
                continue
            except ChangeBudgetExceededError as error:
                reason, detail = RejectionReason.TOO_MANY_CHANGES, f"{error} for a body of {len(message.body)} bytes"
            except Exception as error:  # a bug must not fail the other messages: this one alone goes to the DLQ
                reason, detail = RejectionReason.UNPROCESSABLE, type(error).__name__  # never the text: it may echo
            else:
                outcome.profiles_received += len(profiles)
                continue
            del extraction.changes[changes_before:]
            extraction.excluded = excluded_before
            self._reject(message, outcome, reason, detail)
        return extraction

    @staticmethod
    def _reject(message: InboundMessage, outcome: RunOutcome, reason: str, detail: str) -> None:
        outcome.reject_message(message.message_id, reason)
        logger.warning(
            "Message rejected: it does not follow the message contract",
            extra={
                "correlation_id": message.message_id,  # the SQS message id correlates per-message lines
                "message_id": message.message_id,
                "reason": reason,
                "detail": detail,
            },
        )

    def _create_customer_list(
        self, audience_id: str, adds: list[Change], mapping: AudienceMapping | None, outcome: RunOutcome
    ) -> list[Request]:
        """Create the audience's customer list with its first records; the rest become PATCH requests.

        Only the holder of the creation lease creates; everyone else fails these changes transiently and
        picks up the mapping on redelivery. A list found by name (left by a run that died before recording
        it) is adopted instead of creating a second one.
        """
        if self._outage is not None:
            outcome.fail(adds, self._outage.reason)
            return []
        if not self._deadline.allows(MIN_CALL_SECONDS):
            outcome.fail(adds, FailureReason.DEADLINE)
            return []
        if not self._mappings.claim_creation(audience_id, self._owner, self._clock(), self._options.creation_lease):
            logger.info("Customer list creation is in progress elsewhere", extra={"audience_id": audience_id})
            outcome.fail(adds, FailureReason.CREATION_IN_PROGRESS)
            return []
        name = self._options.list_name(audience_id, mapping)
        pending = list(adds)  # neither sent nor excluded yet: what a failure fails
        try:
            customer_list_id = self._pinterest.find_customer_list(name)
            if customer_list_id is None:
                try:
                    customer_list_id = self._create_with_first_records(name, pending, outcome)
                except PinterestTransientError as error:
                    if isinstance(error, PinterestRateLimitedError):
                        raise  # refused before it was applied: nothing can exist
                    # A timeout or 5xx may hide a list Pinterest created anyway: keep the lease until it expires,
                    # so that the next attempt finds that list by name instead of creating a second one.
                    self._creation_failed(audience_id, pending, outcome, error, keep_lease=True)
                    return []
            if customer_list_id is None:
                self._mappings.release_claim(audience_id, self._owner)
                return []
        except PinterestError as error:
            self._creation_failed(audience_id, pending, outcome, error, keep_lease=False)
            return []
        except BaseException:
            self._mappings.release_claim(audience_id, self._owner)  # never leave the lease to block the retry
            raise
        self._mappings.record_customer_list(audience_id, customer_list_id, self._owner)
        logger.info("Customer list ready", extra={"audience_id": audience_id, "customer_list_id": customer_list_id})
        self._ensure_audience(audience_id, customer_list_id, mapping)
        return requests_for_list(customer_list_id, pending, self._options.max_records)

    def _creation_failed(
        self, audience_id: str, adds: list[Change], outcome: RunOutcome, error: PinterestError, *, keep_lease: bool
    ) -> None:
        self._note_outage(error)
        if not keep_lease:
            self._mappings.release_claim(audience_id, self._owner)
        outcome.fail(adds, error.reason)
        logger.warning(
            "Customer list creation failed",
            extra={"audience_id": audience_id, "reason": error.reason, "lease_kept": keep_lease},
        )

    def _create_with_first_records(self, name: str, pending: list[Change], outcome: RunOutcome) -> str | None:
        """POST the list with the first chunk of ``pending``; what is sent or excluded leaves ``pending``.

        A rejected chunk is halved. A record rejected on its own may be bad, or the refusal may be the list's (its
        name, say): the next record is then tried alone. If Pinterest accepts it, the first record was bad and is
        excluded; if it refuses it too, the refusal is the list's and is raised, so no record is excluded for it.
        """
        suspect: tuple[Change, PinterestRejectedError] | None = None
        size = min(self._options.max_records, len(pending))
        while pending:
            if not self._deadline.allows(MIN_CALL_SECONDS):
                if suspect is not None:
                    pending.insert(0, suspect[0])
                outcome.fail(pending, FailureReason.DEADLINE)
                pending.clear()
                return None
            chunk = pending[:size]
            try:
                customer_list_id = self._pinterest.create_customer_list(name, [c.record for c in chunk])
            except PinterestRejectedError as error:
                if len(chunk) > 1:
                    size = len(chunk) // 2
                    continue
                if suspect is not None:
                    pending.insert(0, suspect[0])
                    raise
                suspect = (pending.pop(0), error)
                size = 1
                continue
            except PinterestError:
                if suspect is not None:  # undecided: it fails (and is retried) with the rest
                    pending.insert(0, suspect[0])
                raise
            if suspect is not None:
                outcome.exclude([suspect[0]], exclusion_reason(suspect[1]))
            outcome.customer_lists_created += 1
            self._consecutive_failures = 0
            self._accepting.add((customer_list_id, Operation.ADD))
            self._sent(chunk, outcome)
            del pending[: len(chunk)]
            return customer_list_id
        if suspect is not None:  # it was the last record: nothing tells the list's fault from the record's
            outcome.fail([suspect[0]], suspect[1].reason)
        return None

    def _ensure_audience(self, audience_id: str, customer_list_id: str, mapping: AudienceMapping | None) -> None:
        """Create the CUSTOMER_LIST audience for a list. A failure leaves the list usable and is retried later."""
        if self._outage is not None or not self._deadline.allows(MIN_CALL_SECONDS):
            return
        name = self._options.list_name(audience_id, mapping)
        try:
            pinterest_audience_id = self._pinterest.find_audience(name) or self._pinterest.create_audience(
                name, customer_list_id
            )
        except PinterestError as error:
            if isinstance(error, PinterestAuthError):
                self._note_outage(error)  # the token is refused: nothing else will work either
            # Otherwise not an outage signal: the audience API failing says nothing about the lists' updates.
            logger.warning(
                "Pinterest audience creation failed; will retry on the next batch for this audience",
                extra={"audience_id": audience_id, "reason": error.reason},
            )
            return
        self._mappings.record_audience(audience_id, pinterest_audience_id)

    def _send(self, request: Request, outcome: RunOutcome) -> None:
        if self._outage is not None:
            outcome.fail(request.changes, self._outage.reason)
            return
        if not self._deadline.allows(MIN_CALL_SECONDS):
            outcome.fail(request.changes, FailureReason.DEADLINE)
            return
        try:
            self._pinterest.update_customer_list(request.customer_list_id, request.operation, request.records)
        except PinterestRejectedError as error:
            if len(request.changes) == 1:  # sent alone: judged once the run knows whether the list accepts others
                self._suspects.append((request.customer_list_id, request.operation, request.changes[0], error))
                return
            self._isolate(request, outcome)
            return
        except PinterestError as error:
            self._note_outage(error)
            outcome.fail(request.changes, error.reason)
            return
        self._accepted(request)
        self._sent(request.changes, outcome)

    def _isolate(self, request: Request, outcome: RunOutcome) -> None:
        """Find the records Pinterest refuses in a rejected request by halving it, depth first.

        Two records refused on their own before any part is accepted mean the refusal is the list's, not theirs, so
        the whole request fails (SQS retries it; the dead-letter queue and its alert follow if it persists) and
        nothing is excluded for it. A record refused on its own is otherwise a suspect, judged by
        :meth:`_judge_suspects`.
        """
        parts = list(reversed(request.halves()))
        suspects: list[tuple[Change, PinterestRejectedError]] = []
        accepted = (request.customer_list_id, request.operation) in self._accepting
        while parts:
            part = parts.pop()
            if self._outage is not None or not self._deadline.allows(MIN_CALL_SECONDS):
                outcome.fail(part.changes, self._outage.reason if self._outage is not None else FailureReason.DEADLINE)
                continue
            try:
                self._pinterest.update_customer_list(part.customer_list_id, part.operation, part.records)
            except PinterestRejectedError as error:
                if len(part.changes) > 1:
                    parts.extend(reversed(part.halves()))
                    continue
                if suspects and not accepted:
                    left = [change for rest in parts for change in rest.changes]
                    outcome.fail([*(change for change, _ in suspects), *part.changes, *left], error.reason)
                    return
                suspects.append((part.changes[0], error))
                continue
            except PinterestError as error:
                self._note_outage(error)
                outcome.fail(part.changes, error.reason)
                continue
            accepted = True
            self._accepted(part)
            self._sent(part.changes, outcome)
        self._suspects.extend(
            (request.customer_list_id, request.operation, change, error) for change, error in suspects
        )

    def _accepted(self, request: Request) -> None:
        self._consecutive_failures = 0
        self._accepting.add((request.customer_list_id, request.operation))

    def _judge_suspects(self, outcome: RunOutcome) -> None:
        """A record Pinterest refused on its own is excluded only when Pinterest's answers are evidence against that
        record: the same list accepted other records for the same operation in this run. Otherwise the refusal may
        be the list's (the request size does not change that: one record per request is common in streaming), so
        the change fails and is retried; a later batch that carries other records for the list decides it."""
        for list_id, operation, change, refusal in self._suspects:
            if (list_id, operation) in self._accepting:
                outcome.exclude([change], exclusion_reason(refusal))
            else:
                outcome.fail([change], refusal.reason)
        self._suspects.clear()

    def _sent(self, changes: Sequence[Change], outcome: RunOutcome) -> None:
        outcome.sent(changes)
        self._applied.extend(changes)

    def _note_outage(self, error: PinterestError) -> None:
        """Stop calling once Pinterest looks down: the rest of the batch is then retried by SQS.

        A 401 that survived a token re-read, or two calls in a row that exhausted their retries, count as an
        outage; a single failing call may be specific to one list, so the next list still gets its chance.
        """
        if isinstance(error, PinterestAuthError):
            self._outage = error
        elif isinstance(error, PinterestTransientError) and not isinstance(error, PinterestAnswerError):
            self._consecutive_failures += 1
            if self._consecutive_failures >= OUTAGE_AFTER_FAILURES:
                self._outage = error
