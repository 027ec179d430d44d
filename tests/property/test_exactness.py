"""Exact membership under concurrency, redelivery, reordering and Pinterest failures, against a reference model.

The truth (:func:`truth`): per audience and identifier, the latest event by ``lastQualificationTime`` that concerns
it, an exit of a profile concerning every identifier that profile ever added to the audience. The system under test
is the real :class:`pinsync.sync.service.AudienceSync` with the real DynamoDB ledger and mapping adapters (moto,
in-process) and the real Pinterest client against the Pinterest emulator (which validates every request against the
official OpenAPI description and keeps the lists' members).

Hypothesis generates a history of profile events (adds, exits, re-entries, email changes, a family email shared by
two profiles), delivers it through a simulated SQS queue (random order, duplicate deliveries, batches of 1–4 messages,
2–5 invocations at once, failed messages coming back after the visibility timeout, the dead-letter queue after
``maxReceiveCount`` deliveries), injects Pinterest failures (a 503 that applied nothing, a lost answer that applied
the request) and forces the interleaving of the concurrent invocations at every port call (:mod:`interleaving`).
When the queue is drained, each audience's customer list must hold exactly the identifiers the model says are in.

The number of examples is bounded so that it runs in ``make test`` (derandomised: the same examples every run);
``PINSYNC_MODEL_EXAMPLES=2000`` explores more, with fresh randomness.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import boto3
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from local_stack.stack import create_state_table, seeded_token_secret
from moto import mock_aws
from pinsync.adapters.dynamo_ledger import DynamoLedger
from pinsync.adapters.dynamo_mappings import DynamoMappingStore
from pinsync.adapters.pinterest_ads import PinterestClient
from pinsync.adapters.pinterest_oauth import StaticToken
from pinsync.core.deadline import Deadline
from pinsync.core.observability import NO_METRICS
from pinsync.sync.identities import DEFAULT_NAMESPACES, parse_namespace_map, sha256_hex
from pinsync.sync.membership import ActivationRule
from pinsync.sync.service import AudienceSync, InboundMessage, SyncOptions
from pinterest_emulator import DEFAULT_AD_ACCOUNT_ID, EmulatorServer, Fault
from pinterest_emulator.faults import FaultKind

from tests.builders import body, profile
from tests.integration.conftest import VISIBILITY_TIMEOUT_SECONDS, fake_aws_environment
from tests.property.interleaving import Interleaved, Scheduler, VirtualClock

REGION = "us-east-1"
AUDIENCES = ("A", "B")
DESTINATION = "model"
MAX_RECEIVES = 5  # a MaxReceiveCount (template.yaml: 20): any value above MAX_FAULTS is the same here
MAX_FAULTS = 2
# a 503 that applied nothing, and a lost answer: applied, then answered 503 (the client cannot tell)
PINTEREST_FAULTS: list[FaultKind] = ["error", "lost_answer"]
INVOCATION_SECONDS = 60.0  # template.yaml's sync function Timeout
PINTEREST_TIMEOUT = 10.0
START = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # the queue's clock; events happen earlier that day
EXAMPLES = int(os.environ.get("PINSYNC_MODEL_EXAMPLES", "40"))


# -- the history and the model ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    profile: int
    audience: str
    exited: bool
    minute: int  # distinct across the history: lastQualificationTime = 10:00 + minute
    emails: tuple[str, ...]

    @property
    def at(self) -> datetime:
        return datetime(2026, 11, 28, 10, 0, tzinfo=UTC) + timedelta(minutes=self.minute)

    def body(self) -> str:
        status = "exited" if self.exited else "realized"
        return body(
            profile(
                {self.audience: status},
                email=list(self.emails),
                extra_identities={"ECID": [f"ECID-{self.profile}"]},
                at=self.at.isoformat().replace("+00:00", "Z"),
            )
        )


@dataclass(frozen=True)
class Erase:
    """A privacy request to forget one email (``pinsync forget``), as of 10:00 + ``minute``."""

    email: str
    minute: int  # distinct from the events' minutes

    @property
    def at(self) -> datetime:
        return datetime(2026, 11, 28, 10, 0, tzinfo=UTC) + timedelta(minutes=self.minute)

    def body(self) -> str:
        request = {"type": "erase", "requestedAt": self.at.isoformat(), "identityMap": {"Email": [{"id": self.email}]}}
        return json.dumps({"privacyRequest": request})


@dataclass(frozen=True)
class Deny:
    """A message of profile ``profile`` whose consent now denies sharing (``consents.share.val`` ``n``), qualified at
    10:00 + ``minute``: it counts as of that time or the message's send time, whichever is later."""

    profile: int
    emails: tuple[str, ...]
    minute: int

    @property
    def at(self) -> datetime:
        return max(START, datetime(2026, 11, 28, 10, 0, tzinfo=UTC) + timedelta(minutes=self.minute))

    def body(self) -> str:
        qualified = (datetime(2026, 11, 28, 10, 0, tzinfo=UTC) + timedelta(minutes=self.minute)).isoformat()
        document = profile(
            {"A": "realized"},
            email=list(self.emails),
            extra_identities={"ECID": [f"ECID-{self.profile}"]},
            at=qualified.replace("+00:00", "Z"),
        )
        document["consents"] = {"share": {"val": "n"}}
        return body(document)


def emails_of(profile_number: int) -> list[str]:
    own = [f"p{profile_number}.{index}@example.com" for index in range(3)]
    return own + (["family@example.com"] if profile_number < 2 else [])  # profiles 0 and 1 share one


@st.composite
def histories(draw: st.DrawFn) -> list[Event]:
    size = draw(st.integers(1, 8))
    minutes = draw(st.lists(st.integers(0, 600), min_size=size, max_size=size, unique=True))
    events = []
    for minute in minutes:
        number = draw(st.integers(0, 2))
        emails = draw(st.lists(st.sampled_from(emails_of(number)), min_size=1, max_size=3, unique=True))
        events.append(Event(number, draw(st.sampled_from(AUDIENCES)), draw(st.booleans()), minute, tuple(emails)))
    return events


def truth(events: list[Event], erasure: Erase | None = None, denial: Deny | None = None) -> dict[str, set[str]]:
    """Per audience, the identifiers (hashed) the history leaves in it. An erasure of an email at T is, in every
    audience, its removal at T and an exit at T of every profile that ever added it there; a consent denial of a
    profile, in every audience, the removal of its message's emails and the exit of the profile, at its time."""
    ever_added: dict[tuple[str, int], set[str]] = {}
    for event in events:
        if not event.exited:
            ever_added.setdefault((event.audience, event.profile), set()).update(event.emails)
    latest: dict[tuple[str, str], tuple[datetime, bool]] = {}  # (audience, email) → (time, in)

    def concern(audience: str, emails: set[str], at: datetime, member: bool) -> None:
        for email in emails:
            key = (audience, email)
            if key not in latest or latest[key][0] < at:
                latest[key] = (at, member)

    for event in events:
        concerned = set(event.emails)
        if event.exited:
            concerned |= ever_added.get((event.audience, event.profile), set())
        concern(event.audience, concerned, event.at, not event.exited)
    if erasure is not None:
        for audience in AUDIENCES:
            concerned = {erasure.email}
            for (where, _profile), added in ever_added.items():
                if where == audience and erasure.email in added:
                    concerned |= added
            concern(audience, concerned, erasure.at, False)
    if denial is not None:
        for audience in AUDIENCES:
            concerned = set(denial.emails) | ever_added.get((audience, denial.profile), set())
            concern(audience, concerned, denial.at, False)
    return {
        audience: {sha256_hex(email) for (where, email), (_, member) in latest.items() if where == audience and member}
        for audience in AUDIENCES
    }


# -- the queue and the invocations --------------------------------------------------------------------------------


@dataclass
class Delivery:
    message_id: str
    body: str
    receives: int = 0


@dataclass
class World:
    dynamodb: Any
    emulator: EmulatorServer
    session: requests.Session


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    server = EmulatorServer().start()
    with pytest.MonkeyPatch.context() as patch:
        fake_aws_environment(patch)
        with mock_aws():
            yield World(boto3.client("dynamodb", region_name=REGION), server, requests.Session())
    server.stop()


_tables = itertools.count()


class Run:
    """One example: a fresh table and emulator, the queue, the scheduler and the fault plan."""

    def __init__(self, world: World, choose: Callable[[int], int], faults: dict[int, FaultKind] | None = None) -> None:
        self.world = world
        self.table = f"model-{next(_tables)}"
        create_state_table(world.dynamodb, self.table)
        world.emulator.state.reset()
        self.token = seeded_token_secret(world.emulator).access_token.get_secret_value()
        self.clock = VirtualClock(START)
        self.scheduler = Scheduler(choose, self.clock)
        self.faults = faults or {}  # Pinterest write call number → the failure it meets
        self.pinterest_calls = 0
        self.dead_letters: list[Delivery] = []

    def invoke(self, batch: list[Delivery], owner: str) -> set[str]:
        """One invocation of the sync use case on a batch; the message ids it reports failed."""
        started = self.clock()

        def remaining() -> float:
            return INVOCATION_SECONDS - (self.clock() - started).total_seconds()

        deadline = Deadline(remaining)
        client = PinterestClient(
            base_url=self.world.emulator.base_url,
            ad_account_id=DEFAULT_AD_ACCOUNT_ID,
            tokens=StaticToken(self.token),
            session=self.world.session,
            deadline=deadline,
            metrics=NO_METRICS,
            timeout=PINTEREST_TIMEOUT,
            sleep=lambda _seconds: None,  # the client's own retries happen within one scheduled call
            rng=random.Random(0),
        )
        sync = AudienceSync(
            SyncOptions(
                activation=ActivationRule.parse("*"),
                namespaces=parse_namespace_map(DEFAULT_NAMESPACES),
                max_records=2,  # small requests: more calls, more places to fail and interleave
                destination_name=DESTINATION,
                creation_lease=timedelta(minutes=5),
                profile_namespaces=("ECID", "Email"),
            ),
            Interleaved(client, self.scheduler, before=self._inject_fault),
            Interleaved(DynamoMappingStore(self.world.dynamodb, self.table), self.scheduler),
            clock=self.clock,
            owner=owner,
            deadline=deadline,
            ledger=Interleaved(
                DynamoLedger(self.world.dynamodb, self.table, clock=self.clock, sleep=lambda _seconds: None),
                self.scheduler,
            ),
            sleep=self.scheduler.sleep,
            settle=timedelta(seconds=2 * PINTEREST_TIMEOUT),
        )
        messages = [InboundMessage(delivery.message_id, delivery.body, START) for delivery in batch]
        return set(sync.run(messages).failed_message_ids([message.message_id for message in messages]))

    def _inject_fault(self, call: str) -> None:
        self.world.emulator.state.clear_faults()
        if call not in ("update_customer_list", "create_customer_list"):
            return
        index, self.pinterest_calls = self.pinterest_calls, self.pinterest_calls + 1
        kind = self.faults.get(index)
        if kind is not None:  # every attempt of this call (the client retries 5xx) fails the same way
            self.world.emulator.state.inject_fault(Fault(kind=kind, status=503, count=10))

    def drain(self, queue: list[Delivery], data: st.DataObject) -> None:
        """Deliver until the queue is empty: concurrent invocations per round, failures back after the timeout."""
        rounds = 0
        while queue:
            rounds += 1
            assert rounds < 50, "the queue did not drain"
            invocations = data.draw(st.integers(2, 5), label="invocations")
            batches: list[list[Delivery]] = []
            while queue and len(batches) < invocations:
                size = data.draw(st.integers(1, 4), label="batch size")
                batches.append([queue.pop(0) for _ in range(min(size, len(queue)))])
            names = [f"inv-{rounds}-{n}" for n in range(len(batches))]
            results = self.scheduler.run(
                {name: partial(self.invoke, batch, name) for name, batch in zip(names, batches, strict=True)}
            )
            self.world.emulator.state.clear_faults()
            returned: list[Delivery] = []
            for n, batch in enumerate(batches):
                for delivery in batch:
                    delivery.receives += 1
                    if delivery.message_id in results[names[n]]:
                        (self.dead_letters if delivery.receives >= MAX_RECEIVES else returned).append(delivery)
            if returned:  # they come back after the visibility timeout, in any order, after what is queued
                self.clock.advance(VISIBILITY_TIMEOUT_SECONDS)
                queue.extend(data.draw(st.permutations(returned), label="redelivery order"))

    def members(self, audience: str) -> set[str]:
        lists = [
            item for item in self.world.emulator.state.customer_lists() if item["name"] == f"{DESTINATION} {audience}"
        ]
        assert len(lists) <= 1, "two customer lists for one audience"
        return self.world.emulator.state.members(lists[0]["id"]) if lists else set()


def model_settings(examples: int) -> settings:
    """Bounded for make test, derandomised there (the same examples every run); fresh with PINSYNC_MODEL_EXAMPLES."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize="PINSYNC_MODEL_EXAMPLES" not in os.environ,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@model_settings(EXAMPLES)
@given(histories(), st.data())
def test_membership_ends_equal_to_the_model(world: World, events: list[Event], data: st.DataObject) -> None:
    run = Run(
        world,
        choose=lambda n: data.draw(st.integers(0, n - 1), label="next"),
        # At most MAX_FAULTS, so that no message can fail MAX_RECEIVES times: a fault fails one round's messages
        faults=data.draw(
            st.dictionaries(st.integers(0, 11), st.sampled_from(PINTEREST_FAULTS), max_size=MAX_FAULTS),
            label="faults",
        ),
    )
    deliveries = [Delivery(f"m{index}", event.body()) for index, event in enumerate(events)]
    duplicated = data.draw(st.lists(st.sampled_from(deliveries), max_size=3), label="duplicate deliveries")
    queue = data.draw(
        st.permutations([*deliveries, *(Delivery(d.message_id, d.body) for d in duplicated)]), label="arrival order"
    )

    run.drain(list(queue), data)

    assert run.dead_letters == [], "a message reached the dead-letter queue under a bounded number of faults"
    expected = truth(events)
    for audience in AUDIENCES:
        assert run.members(audience) == expected[audience], f"audience {audience}"


def after_history(world: World, events: list[Event], data: st.DataObject, last: Delivery) -> Run:
    """Drain the history, then ``last`` delivered with redeliveries of older messages (adds it must win against,
    exits, in any order, concurrently, with Pinterest failures)."""
    run = Run(
        world,
        choose=lambda n: data.draw(st.integers(0, n - 1), label="next"),
        faults=data.draw(
            st.dictionaries(st.integers(0, 15), st.sampled_from(PINTEREST_FAULTS), max_size=MAX_FAULTS),
            label="faults",
        ),
    )
    deliveries = [Delivery(f"m{index}", event.body()) for index, event in enumerate(events)]
    run.drain(data.draw(st.permutations(deliveries), label="arrival order"), data)
    redelivered = data.draw(st.lists(st.sampled_from(deliveries), max_size=4), label="redelivered after")
    queue = [last, *(Delivery(d.message_id, d.body) for d in redelivered)]
    run.drain(data.draw(st.permutations(queue), label="last order"), data)
    assert run.dead_letters == [], "a message reached the dead-letter queue under a bounded number of faults"
    return run


@model_settings(EXAMPLES // 2)
@given(histories(), st.data())
def test_an_erasure_ends_equal_to_the_model_whatever_is_redelivered_after_it(
    world: World, events: list[Event], data: st.DataObject
) -> None:
    """Issue 13: after a history, a privacy request for one email (at a time anywhere in the history)."""
    used = {event.minute for event in events}
    erasure = Erase(
        data.draw(st.sampled_from([email for number in range(3) for email in emails_of(number)]), label="erased"),
        data.draw(st.integers(0, 600).filter(lambda minute: minute not in used), label="erasure minute"),
    )

    run = after_history(world, events, data, Delivery("erase", erasure.body()))

    expected = truth(events, erasure=erasure)
    for audience in AUDIENCES:
        assert run.members(audience) == expected[audience], f"audience {audience}"


@model_settings(EXAMPLES // 2)
@given(histories(), st.data())
def test_a_consent_denial_ends_equal_to_the_model_whatever_is_redelivered_after_it(
    world: World, events: list[Event], data: st.DataObject
) -> None:
    """Issue 13: after a history, a message of one profile whose consent denies sharing (carrying some of its
    emails, at a time anywhere in the history): every identifier of the profile leaves every list."""
    used = {event.minute for event in events}
    number = data.draw(st.integers(0, 2), label="denying profile")
    denial = Deny(
        number,
        tuple(data.draw(st.lists(st.sampled_from(emails_of(number)), min_size=1, max_size=2, unique=True))),
        # after 12:00, the messages' send time: the denial's time is then its own, distinct from every event's
        data.draw(st.integers(121, 600).filter(lambda minute: minute not in used), label="denial minute"),
    )

    run = after_history(world, events, data, Delivery("deny", denial.body()))

    expected = truth(events, denial=denial)
    for audience in AUDIENCES:
        assert run.members(audience) == expected[audience], f"audience {audience}"


def test_an_exit_and_a_re_entry_synced_at_once_end_with_the_re_entry(world: World) -> None:
    """Issue 12, defect 1: an exit at 10:05 and a re-entry at 10:10 in two invocations at once. Without a writer per
    audience both read the ledger ("in since 10:00") before either wrote: the re-entry was skipped as unchanged, the
    exit applied, and the person stayed out for good. Here the two take turns at every port call."""
    turns = itertools.cycle([0, 1])
    run = Run(world, choose=lambda n: next(turns) % n)
    added = Event(0, "A", exited=False, minute=0, emails=("jo@example.com",))
    exited = Event(0, "A", exited=True, minute=5, emails=("jo@example.com",))
    back = Event(0, "A", exited=False, minute=10, emails=("jo@example.com",))
    assert run.scheduler.run({"add": lambda: run.invoke([Delivery("m0", added.body())], "add")}) == {"add": set()}
    assert run.members("A") == {sha256_hex("jo@example.com")}

    failed = run.scheduler.run(
        {
            "exit": lambda: run.invoke([Delivery("m1", exited.body())], "exit"),
            "re-entry": lambda: run.invoke([Delivery("m2", back.body())], "re-entry"),
        }
    )

    assert failed == {"exit": set(), "re-entry": set()}
    assert run.members("A") == truth([added, exited, back])["A"] == {sha256_hex("jo@example.com")}
