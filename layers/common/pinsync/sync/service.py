"""The audience sync use case: one batch of queue messages in, Pinterest in step, a verdict per message out.

Follow one message: :func:`parse_message` → :func:`extract_changes` (identities normalised and hashed, exclusions
counted) → per audience, under the audience's writer lease (one invocation at a time decides and sends for an
audience): the ledger read → :func:`plan_changes` (exits expanded to every record the profile ever added, the latest
change per record, stale and unchanged changes set aside) → :func:`plan` per customer list → the list created where needed
(under the creation lease, so that concurrent invocations never create two) → requests sent, a 400 split in halves
until the bad record is isolated, the ledger written as each request is accepted (the records' owners before: see
:mod:`pinsync.sync.ledger`; a request that failed ambiguously
marks its records uncertain, and the lease is held a while so that it cannot land after a later one) →
:class:`RunOutcome`.

A privacy request (:func:`parse_message`) becomes, per audience with a customer list, removals of its records and
the exits of the profiles the ledger links to them (:func:`erasure_exits`), decided and sent like any change; once
all of it was accepted in an audience, the ledger forgets them there (:meth:`PendingWrites.forget`).

Everything here is pure: Pinterest, the mapping store, the ledger, the clock and the sleep come in through ports.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

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
from pinsync.sync.consent import ConsentPolicy
from pinsync.sync.contract import ContractError, parse_message
from pinsync.sync.identities import IdentityKind
from pinsync.sync.ledger import LedgerItem, PendingWrites, erasure_exits, keys_to_read, plan_changes
from pinsync.sync.membership import (
    ActivationRule,
    Change,
    ChangeBudgetExceededError,
    Extraction,
    Operation,
    change_budget,
    extract_changes,
    extract_erasure,
    list_name,
)
from pinsync.sync.outcome import ErasureTally, RunOutcome
from pinsync.sync.planning import AudienceMapping, MappingState, Request, plan, requests_for_list
from pinsync.sync.ports import MappingStore, MembershipLedger, PinterestAds

# A call needs at least this much time left to be worth starting.
MIN_CALL_SECONDS = 2.0
OUTAGE_AFTER_FAILURES = 2
# The ledger is written as each request is accepted: a request starts only if its records' writes fit in the time
# left too (25 items per BatchWriteItem call; a generous 50 ms per call).
LEDGER_WRITE_SECONDS_PER_ITEM = 0.002
# The writer lease lasts until the invocation's own deadline plus this margin: a holder that dies (timeout, crash)
# frees the audience then, never earlier than it could still be writing.
LEASE_MARGIN = timedelta(seconds=10)
# Ledger reads per audience: the changes' records and profiles, then the owners of those records and the records
# exits remove, then the owners of those.
LEDGER_READ_ROUNDS = 3
# Waiting for an audience another invocation holds: backoff bounds.
WAIT_FIRST_SECONDS, WAIT_MAX_SECONDS = 0.05, 2.0


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
    consent_policy: ConsentPolicy = ConsentPolicy.OPT_OUT

    def list_name(self, audience_id: str, mapping: AudienceMapping | None, producer_name: str | None = None) -> str:
        """The customer list (and audience) name: the one recorded for the audience (the operator's, or the one an
        earlier creation attempt chose), else destination name + the producer's audience name or the audience id."""
        return list_name(self.destination_name, audience_id, mapping.name if mapping else None, producer_name)


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
        sleep: Callable[[float], None] = time.sleep,
        settle: timedelta = timedelta(seconds=20),
    ) -> None:
        self._options = options
        self._pinterest = pinterest
        self._mappings = mappings
        self._clock = clock
        self._owner = owner
        self._deadline = deadline
        self._ledger = ledger
        self._sleep = sleep
        self._settle = settle  # how long an audience stays held after a request to it failed ambiguously
        self._audience: _AudienceRun | None = None  # the audience being synced, under its writer lease
        self._outage: PinterestError | None = None
        self._consecutive_failures = 0
        self._accepting: set[tuple[str, Operation]] = set()  # (customer list, operation) Pinterest accepted records for
        self._suspects: list[tuple[str, Operation, Change, PinterestRejectedError]] = []
        self._listed: frozenset[str] | None = None
        self._producer_names: Mapping[str, str] = {}  # audience id → the name a producer gave it (this batch)

    def run(self, messages: Sequence[InboundMessage]) -> RunOutcome:
        outcome = RunOutcome(messages_received=len(messages))
        extraction = self._extract(messages, outcome)
        self._producer_names = extraction.audience_names
        if extraction.denied:
            extraction.removals_of_denied(self._listed_audiences())
        if extraction.erasures:
            extraction.removals_of_erased(self._listed_audiences())
            for erasure in extraction.erasures:
                outcome.erasures[erasure.message_id] = ErasureTally(erasure)
        for reason, count in extraction.excluded.items():
            if count:  # a profile without identities counts nothing, not a zero per reason
                outcome.excluded[reason] += count
        by_audience: dict[str, list[Change]] = {}
        for change in extraction.changes:
            by_audience.setdefault(change.audience_id, []).append(change)
        if not by_audience:
            return outcome
        mappings = self._mappings.get_mappings(by_audience.keys())
        self._mappings.note_listed([audience_id for audience_id, m in mappings.items() if m.customer_list_id])
        held_elsewhere = []
        for audience_id, changes in by_audience.items():  # first the audiences no other invocation holds
            if not self._sync_audience(audience_id, changes, mappings.get(audience_id), outcome, wait=False):
                held_elsewhere.append(audience_id)
        for audience_id in held_elsewhere:  # then wait for the others, as long as the invocation's time allows
            self._sync_audience(audience_id, by_audience[audience_id], mappings.get(audience_id), outcome, wait=True)
        return outcome

    # -- one audience, under its writer lease -------------------------------------------------------------------

    def _sync_audience(
        self,
        audience_id: str,
        changes: list[Change],
        mapping: AudienceMapping | None,
        outcome: RunOutcome,
        *,
        wait: bool,
    ) -> bool:
        """Sync one audience's changes under its writer lease; False when another invocation holds it and
        ``wait`` is False (nothing was done then)."""
        if not self._acquire(audience_id, wait=wait):
            if not wait:
                return False
            outcome.fail(changes, FailureReason.AUDIENCE_BUSY)
            return True
        run = self._audience = _AudienceRun(audience_id)
        try:
            if mapping is None or not mapping.customer_list_id:  # read before the lease: the holder may have made one
                mapping = self._mappings.get_mappings([audience_id]).get(audience_id)
            self._decide_and_send(run, changes, mapping, outcome)
        except Exception as error:  # a defect, or DynamoDB failing: this audience's messages come back, not the batch
            logger.error(
                "Syncing an audience failed; its messages will be retried",
                extra={"audience_id": audience_id, "error": type(error).__name__},
            )
            outcome.fail(changes, FailureReason.INTERNAL_ERROR)
        finally:
            self._audience = None
            self._release(run)
        return True

    def _decide_and_send(
        self, run: _AudienceRun, changes: list[Change], mapping: AudienceMapping | None, outcome: RunOutcome
    ) -> None:
        items: dict[str, LedgerItem] = {}
        erased = self._erased(changes, outcome)
        implied: list[Change] = []  # the exits erasures imply: each rides on its erasure's removal of the record
        if self._ledger is not None:
            asked: set[str] = set()
            if erased:  # the records and their owners first: the profiles linking them are exited
                asked |= erased.keys()
                items |= self._ledger.read(run.audience_id, erased.keys())
                owners = {owner for record in erased if record in items for owner in items[record].owners} - asked
                asked |= owners
                items |= self._ledger.read(run.audience_id, owners)
                implied = erasure_exits(self._erasure_removals(changes, outcome), items)
                changes = [*changes, *implied]
            for _ in range(LEDGER_READ_ROUNDS):  # records and profiles, then their owners and links, then theirs
                wanted = keys_to_read(changes, items) - asked
                if not wanted:
                    break
                asked |= wanted
                items |= self._ledger.read(run.audience_id, wanted)
        decided = plan_changes(changes, items)
        folded = max(decided.folded - len(implied), 0)  # not duplicates anyone sent
        if folded:
            outcome.skipped[SkipReason.COALESCED] += folded
        outcome.exclude(decided.stale, ExclusionReason.STALE)
        outcome.skip(decided.unchanged, SkipReason.UNCHANGED)
        run.writes = PendingWrites(items, decided)
        refreshed = [change for change in decided.unchanged if change.record in decided.refreshed]
        self._write(run.writes.owners([*decided.apply, *refreshed]))  # before anything is sent
        if decided.apply:
            self._apply(run.audience_id, decided.apply, mapping, outcome)
        elif mapping is not None and mapping.state is MappingState.LIST_CREATED and mapping.customer_list_id:
            self._ensure_audience(run.audience_id, mapping.customer_list_id, mapping)
        self._write(run.writes.rest())  # newer times of unchanged records, and profile states not written yet
        if erased:
            self._tally_erasures(run.audience_id, [*decided.apply, *decided.unchanged], outcome)
            accepted = self._erased(changes, outcome, failed=outcome.failed_message_ids_set())
            if accepted:  # the erasures whose changes all went through so far: forget them
                self._write(run.writes.forget(accepted))

    @staticmethod
    def _erasure_removals(changes: Sequence[Change], outcome: RunOutcome) -> list[Change]:
        erasures = outcome.erasures.keys()
        return [c for c in changes if c.profile_key is None and not c.message_ids.isdisjoint(erasures)]

    def _erased(
        self, changes: Sequence[Change], outcome: RunOutcome, *, failed: frozenset[str] = frozenset()
    ) -> dict[str, datetime]:
        """The records this audience's erasures forget (those of messages not ``failed``), with the latest erasure
        time of each. An erasure that failed somewhere is retried whole, so it forgets on a later delivery."""
        if not outcome.erasures:
            return {}
        erased: dict[str, datetime] = {}
        for change in self._erasure_removals(changes, outcome):
            if change.message_ids.isdisjoint(failed):
                erased[change.record] = max(erased.get(change.record, change.qualified_at), change.qualified_at)
        return erased

    @staticmethod
    def _tally_erasures(audience_id: str, done: Sequence[Change], outcome: RunOutcome) -> None:
        """Count, per privacy request, the identifiers it removed (or found out already) and the lists it covered."""
        for change in done:
            if change.operation is Operation.REMOVE:
                for message_id in change.message_ids & outcome.erasures.keys():
                    outcome.erasures[message_id].removed(audience_id, change.record)

    def _acquire(self, audience_id: str, *, wait: bool) -> bool:
        """Take the audience's writer lease. While the holder works, poll with backoff; while it settles (it is done
        but a request of its may still land at Pinterest), sleep until its lease ends, if that fits in the time left.
        Otherwise give up: the changes fail and SQS brings them back after the visibility timeout."""
        delay = WAIT_FIRST_SECONDS
        while True:
            now = self._clock()
            until = now + timedelta(seconds=max(self._deadline.remaining_seconds(), 0.0)) + LEASE_MARGIN
            held = self._mappings.acquire_writer(audience_id, self._owner, now, until)
            if held is None:
                return True
            pause = max((held.until - now).total_seconds(), 0.0) + WAIT_FIRST_SECONDS if held.settling else delay
            if not wait or not self._deadline.allows(MIN_CALL_SECONDS + pause):
                return False
            self._sleep(pause)
            if not held.settling:
                delay = min(delay * 2, WAIT_MAX_SECONDS)

    def _release(self, run: _AudienceRun) -> None:
        """Free the audience; after an ambiguous failure, hold it for the settle time instead: the request may still
        land at Pinterest, and must not land after a later invocation's request for the same records."""
        until = self._clock() + (self._settle if run.settle else timedelta(0))
        try:
            self._mappings.release_writer(run.audience_id, self._owner, until, settling=run.settle)
        except Exception as error:  # the lease then ends at its expiry: later, never wrong
            logger.warning(
                "Could not release the audience's writer lease",
                extra={"audience_id": run.audience_id, "error": type(error).__name__},
            )

    def _write(self, items: Sequence[LedgerItem]) -> None:
        if self._ledger is not None and items and self._audience is not None:
            self._ledger.write(self._audience.audience_id, items)

    def _apply(
        self, audience_id: str, candidates: list[Change], mapping: AudienceMapping | None, outcome: RunOutcome
    ) -> None:
        """Plan per customer list, create the list if it is missing, send."""
        if mapping is not None and mapping.state is MappingState.CREATING and not mapping.customer_list_id:
            found = self._find_list_of_a_failed_creation(audience_id, mapping, candidates, outcome)
            if found is False:
                return
            mapping = found
        list_ids = {audience_id: mapping.customer_list_id} if mapping and mapping.customer_list_id else {}
        work = plan(candidates, list_ids, self._options.max_records)
        outcome.skip(work.removes_without_list, SkipReason.NO_CUSTOMER_LIST)
        if self._audience is not None:  # out they are, for sure: recorded, so that an older ADD arriving later is stale
            self._write(self._audience.writes.applied(work.removes_without_list))
        requests = list(work.requests)
        for adds in work.to_create.values():
            requests.extend(self._create_customer_list(audience_id, adds, mapping, outcome))
        if mapping is not None and mapping.state is MappingState.LIST_CREATED and mapping.customer_list_id:
            self._ensure_audience(audience_id, mapping.customer_list_id, mapping)
        for request in requests:
            self._send(request, outcome)
        self._judge_suspects(outcome)

    def _find_list_of_a_failed_creation(
        self, audience_id: str, mapping: AudienceMapping, changes: list[Change], outcome: RunOutcome
    ) -> AudienceMapping | Literal[False]:
        """A creation was tried and failed, perhaps only in its answer (a timeout, a lost answer): the list may exist.
        Look for it by name before anything is decided for a missing list (a REMOVE skipped for a list that exists
        would leave the person in it); adopt it when found. False when the search failed (the changes fail too)."""
        if self._outage is not None or not self._deadline.allows(MIN_CALL_SECONDS):
            outcome.fail(changes, self._outage.reason if self._outage is not None else FailureReason.DEADLINE)
            return False
        try:
            customer_list_id = self._pinterest.find_customer_list(self._options.list_name(audience_id, mapping))
        except PinterestError as error:
            self._note_outage(error)
            outcome.fail(changes, error.reason)
            return False
        if customer_list_id is None:
            return mapping
        self._mappings.record_customer_list(audience_id, customer_list_id, self._owner)
        logger.info("Customer list of an earlier creation found", extra={"audience_id": audience_id})
        return replace(mapping, state=MappingState.LIST_CREATED, customer_list_id=customer_list_id)

    def _extract(self, messages: Sequence[InboundMessage], outcome: RunOutcome) -> Extraction:
        """Each message's changes, or its rejection: nothing one message holds can fail another message."""
        extraction = Extraction()
        for message in messages:
            changes_before, excluded_before = len(extraction.changes), extraction.excluded.copy()
            denied_before, names_before = len(extraction.denied), len(extraction.audience_names)
            reason: RejectionReason | None = None  # None after a failure that is retried, not a rejection
            try:
                parsed = parse_message(message.body)
                if isinstance(parsed, dict):
                    extract_erasure(
                        parsed,
                        message_id=message.message_id,
                        fallback_time=message.sent_at,
                        namespaces=self._options.namespaces,
                        extraction=extraction,
                    )
                    continue
                profiles = parsed
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
                        consent_policy=self._options.consent_policy,
                    )
                denied = sum(len(denial.records) for denial in extraction.denied[denied_before:])
            except ContractError as error:
                self._reject(message, outcome, error.reason, error.detail)
                continue
            except ChangeBudgetExceededError as error:
                reason, detail = RejectionReason.TOO_MANY_CHANGES, f"{error} for a body of {len(message.body)} bytes"
            except Exception as error:  # a bug must not fail the other messages: this one alone goes to the DLQ
                reason, detail = RejectionReason.UNPROCESSABLE, type(error).__name__  # never the text: it may echo
            else:
                # Each denied identifier becomes removals from every listed audience: that counts against the budget
                # too. The read of the listed audiences is out of the try: DynamoDB failing it is no defect of this
                # message, which comes back (with the retry backoff) rather than being rejected.
                try:
                    listed = len(self._listed_audiences()) if denied else 0
                except Exception as error:
                    logger.warning(
                        "Reading the audiences with a list failed; the message will be retried",
                        extra={"message_id": message.message_id, "error": type(error).__name__},
                    )
                    outcome.fail_message(message.message_id, FailureReason.INTERNAL_ERROR, denied)
                else:
                    if denied * listed <= budget:
                        outcome.profiles_received += len(profiles)
                        continue
                    reason = RejectionReason.TOO_MANY_CHANGES
                    detail = f"more than {budget} changes for a body of {len(message.body)} bytes"
            del extraction.changes[changes_before:]
            del extraction.denied[denied_before:]
            for audience_id in list(extraction.audience_names)[names_before:]:
                del extraction.audience_names[audience_id]
            extraction.excluded = excluded_before
            if reason is not None:
                self._reject(message, outcome, reason, detail)
        return extraction

    def _listed_audiences(self) -> frozenset[str]:
        """Every audience with a customer list (read once per run, and only when a consent denial needs it)."""
        if self._listed is None:
            self._listed = self._mappings.listed_audiences()
        return self._listed

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
        name = self._mappings.claim_creation(
            audience_id,
            self._owner,
            self._clock(),
            self._options.creation_lease,
            name=self._options.list_name(audience_id, mapping, self._producer_names.get(audience_id)),
        )
        if name is None:
            logger.info("Customer list creation is in progress elsewhere", extra={"audience_id": audience_id})
            outcome.fail(adds, FailureReason.CREATION_IN_PROGRESS)
            return []
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
        self._ensure_audience(audience_id, customer_list_id, mapping, name)
        return requests_for_list(customer_list_id, pending, self._options.max_records)

    def _creation_failed(
        self, audience_id: str, adds: list[Change], outcome: RunOutcome, error: PinterestError, *, keep_lease: bool
    ) -> None:
        self._note_outage(error)
        if not keep_lease:
            self._mappings.release_claim(audience_id, self._owner)
        self._failed(adds, error, outcome)
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
            if not self._deadline.allows(self._call_seconds(min(size, len(pending)))):
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

    def _ensure_audience(
        self, audience_id: str, customer_list_id: str, mapping: AudienceMapping | None, name: str | None = None
    ) -> None:
        """Create the CUSTOMER_LIST audience for a list, named like it (``name``: the list's, when just created).
        A failure leaves the list usable and is retried later."""
        if self._outage is not None or not self._deadline.allows(MIN_CALL_SECONDS):
            return
        name = name or self._options.list_name(audience_id, mapping)
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
        if not self._deadline.allows(self._call_seconds(len(request.changes))):
            outcome.fail(request.changes, FailureReason.DEADLINE)
            return
        try:
            retried = self._pinterest.update_customer_list(request.customer_list_id, request.operation, request.records)
        except PinterestRejectedError as error:
            if len(request.changes) == 1:  # sent alone: judged once the run knows whether the list accepts others
                self._suspects.append((request.customer_list_id, request.operation, request.changes[0], error))
                return
            self._isolate(request, outcome)
            return
        except PinterestError as error:
            self._note_outage(error)
            self._failed(request.changes, error, outcome)
            return
        self._accepted(request, retried)
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
            if self._outage is not None or not self._deadline.allows(self._call_seconds(len(part.changes))):
                outcome.fail(part.changes, self._outage.reason if self._outage is not None else FailureReason.DEADLINE)
                continue
            try:
                retried = self._pinterest.update_customer_list(part.customer_list_id, part.operation, part.records)
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
                self._failed(part.changes, error, outcome)
                continue
            accepted = True
            self._accepted(part, retried)
            self._sent(part.changes, outcome)
        self._suspects.extend(
            (request.customer_list_id, request.operation, change, error) for change, error in suspects
        )

    def _accepted(self, request: Request, retried: bool) -> None:
        """Pinterest accepted the request. If only a retry was (``retried``: an earlier attempt failed ambiguously),
        that attempt may still land: the audience is held for the settle time, as after a failure, so that it cannot
        land after a later invocation's request. The records' state is the request's either way: not uncertain."""
        self._consecutive_failures = 0
        self._accepting.add((request.customer_list_id, request.operation))
        if retried and self._audience is not None:
            self._audience.settle = True

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
        if self._audience is not None:  # the ledger, as it goes: only what Pinterest accepted
            self._write(self._audience.writes.applied(changes))

    def _failed(self, changes: Sequence[Change], error: PinterestError, outcome: RunOutcome) -> None:
        """The changes failed (their messages come back). A timeout or a 5xx may hide a request Pinterest applied
        all the same: their records are marked uncertain, so that no later change is skipped as unchanged against
        a state Pinterest may not hold, and the audience is held for the settle time."""
        outcome.fail(changes, error.reason)
        if self._audience is not None and _ambiguous(error):
            self._audience.settle = True
            self._write(self._audience.writes.uncertain(changes))

    @staticmethod
    def _call_seconds(records: int) -> float:
        """The time a request needs left: the call, and the ledger writes of its records once it is accepted."""
        return MIN_CALL_SECONDS + records * LEDGER_WRITE_SECONDS_PER_ITEM

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


@dataclass
class _AudienceRun:
    """The audience being synced: its pending ledger writes, and whether a request to it failed ambiguously."""

    audience_id: str
    writes: PendingWrites = field(default_factory=PendingWrites)
    settle: bool = False


def _ambiguous(error: PinterestError) -> bool:
    """A failure after which Pinterest may have applied the request (a 429 was refused before anything happened)."""
    return isinstance(error, PinterestTransientError) and not isinstance(error, PinterestRateLimitedError)
