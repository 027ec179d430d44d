"""Generated workloads for the benchmarks and the fault suite: CDP-shaped messages, and what they should do.

Pure and deterministic (a seed in, the same messages out). Each generated message knows the membership changes
it asks for, computed here independently of pinsync's own code, so the expected Pinterest membership is an
oracle the code under test never wrote.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

ADD_STATUSES = ("realized", "existing")
BASE_TIME = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def sha256_hex(value: str) -> str:
    """Written again here (not imported from pinsync) so the oracle does not share the code under test."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def email_of(person: int) -> str:
    return f"Person.{person}@Example.com"  # mixed case on purpose: normalisation lowercases it


def gaid_of(person: int) -> str:
    return str(uuid.UUID(int=(person * 0x9E3779B97F4A7C15) % (1 << 128), version=4))


def records_of(person: int, *, with_gaid: bool) -> list[str]:
    """What Pinterest should hold for the person: SHA-256 of the normalised identifiers."""
    found = [sha256_hex(email_of(person).strip().lower())]
    if with_gaid:
        found.append(sha256_hex(gaid_of(person)))
    return found


def profile_doc(
    person: int,
    memberships: dict[str, tuple[str, datetime]],
    *,
    with_gaid: bool,
    extra_identities: dict[str, list[str]] | None = None,
    tag: str | None = None,
) -> dict[str, Any]:
    identity_map: dict[str, list[dict[str, str]]] = {"Email": [{"id": email_of(person)}]}
    if with_gaid:
        identity_map["GAID"] = [{"id": gaid_of(person).upper()}]  # upper case on purpose
    for namespace, values in (extra_identities or {}).items():
        identity_map.setdefault(namespace, []).extend({"id": value} for value in values)
    document: dict[str, Any] = {
        "segmentMembership": {
            "ups": {
                audience: {"status": status, "lastQualificationTime": iso(moment)}
                for audience, (status, moment) in memberships.items()
            }
        },
        "identityMap": identity_map,
    }
    if tag is not None:
        document["_bench"] = tag  # the contract allows extra keys; it makes every body unique
    return document


@dataclass(frozen=True)
class ExpectedChange:
    audience: str
    record: str
    add: bool
    at: datetime


@dataclass
class GeneratedMessage:
    """One queue message: its body and, if valid, the changes and exclusions it asks for."""

    body: str
    poison: bool = False
    changes: list[ExpectedChange] = field(default_factory=list)
    exclusions: dict[str, int] = field(default_factory=dict)
    wave: int = 0


POISON_BODIES: tuple[str, ...] = (
    "{not json",
    "   ",
    "[]",
    "null",
    "42",
    '"a string"',
    '{"identityMap": {"Email": [{"id": "no-membership@example.com"}]}}',
    '{"segmentMembership": {"ups": {"a": {"status": ""}}}}',
    '{"segmentMembership": {"ups": {"a": {"status": "realized", "lastQualificationTime": "2026-11-28T10:00:00"}}}}',
    '{"segmentMembership": {"ups": {"a": {"status": 7}}}}',
    '{"segmentMembership": [1, 2, 3]}',
    '{"segmentMembership": {"ups": {"a": {"status": "realized"}}}, "identityMap": {"Email": "x@example.com"}}',
    '[{"segmentMembership": {"ups": {}}}, 5]',
    "[" * 5000 + "]" * 5000,
)


@dataclass
class Workload:
    """Messages in waves; later waves carry later qualification times than earlier ones."""

    audiences: tuple[str, ...]
    waves: list[list[GeneratedMessage]]

    def messages(self) -> list[GeneratedMessage]:
        return [message for wave in self.waves for message in wave]

    def expected_membership(self, dead: Iterable[GeneratedMessage] = ()) -> dict[str, set[str]]:
        """Per audience, the records whose latest change (by qualification time, then arrival) is an ADD.

        Messages in ``dead`` (dead-lettered) never took effect, so they do not count.
        """
        skip = {id(message) for message in dead}
        latest: dict[tuple[str, str], tuple[datetime, int, bool]] = {}
        order = 0
        for message in self.messages():
            if id(message) in skip:
                continue
            for change in message.changes:
                order += 1
                key = (change.audience, change.record)
                candidate = (change.at, order, change.add)
                if key not in latest or candidate[:2] > latest[key][:2]:
                    latest[key] = candidate
        members: dict[str, set[str]] = {audience: set() for audience in self.audiences}
        for (audience, record), (_, _, add) in latest.items():
            if add:
                members[audience].add(record)
        return members

    def total_changes(self) -> int:
        return sum(len(message.changes) for message in self.messages())


def generate(
    *,
    seed: int,
    people: int,
    audiences: Sequence[str],
    waves: int = 2,
    profiles_per_message: int = 1,
    exit_share: float = 0.3,
    gaid_share: float = 0.5,
    duplicate_share: float = 0.1,
    excluded_share: float = 0.05,
    poison: int = 0,
    first_person: int = 0,
) -> Workload:
    """Wave 1 adds every person to one or two audiences; each later wave exits a share of the current members
    and (re-)adds others, an hour later. Duplicates repeat a message body as a new message; poison messages are
    mixed in at random positions of wave 1; some profiles carry an identifier that must be excluded."""
    rng = random.Random(seed)  # noqa: S311 - workload generation, not cryptography
    persons = range(first_person, first_person + people)
    has_gaid = {person: rng.random() < gaid_share for person in persons}
    member_of: dict[int, set[str]] = {person: set() for person in persons}
    result: list[list[GeneratedMessage]] = []
    serial = 0
    for wave in range(waves):
        at = BASE_TIME + timedelta(hours=wave)
        profiles: list[tuple[dict[str, Any], list[ExpectedChange], dict[str, int]]] = []
        for person in persons:
            memberships: dict[str, tuple[str, datetime]] = {}
            if wave == 0:
                for audience in rng.sample(list(audiences), k=min(len(audiences), rng.choice((1, 2)))):
                    memberships[audience] = (rng.choice(ADD_STATUSES), at)
            else:
                for audience in sorted(member_of[person]):
                    if rng.random() < exit_share:
                        memberships[audience] = ("exited", at)
                if rng.random() < exit_share / 2:
                    audience = rng.choice(list(audiences))
                    if audience not in member_of[person]:
                        memberships[audience] = ("realized", at)
            if not memberships:
                continue
            extra: dict[str, list[str]] = {}
            exclusions: dict[str, int] = {}
            if rng.random() < excluded_share:
                if rng.random() < 0.5:
                    extra["Email"] = ["not-an-email"]
                    exclusions["invalid_identity"] = len(memberships)
                else:
                    extra["Phone"] = ["+15550100"]
                    exclusions["unmapped_namespace"] = len(memberships)
            serial += 1
            document = profile_doc(
                person, memberships, with_gaid=has_gaid[person], extra_identities=extra, tag=f"{seed}-{serial}"
            )
            changes = [
                ExpectedChange(audience, record, status != "exited", moment)
                for audience, (status, moment) in memberships.items()
                for record in records_of(person, with_gaid=has_gaid[person])
            ]
            for audience, (status, _) in memberships.items():
                if status == "exited":
                    member_of[person].discard(audience)
                else:
                    member_of[person].add(audience)
            profiles.append((document, changes, exclusions))
        rng.shuffle(profiles)
        messages: list[GeneratedMessage] = []
        for start in range(0, len(profiles), profiles_per_message):
            group = profiles[start : start + profiles_per_message]
            documents = [document for document, _, _ in group]
            message_exclusions: dict[str, int] = {}
            for _, _, found in group:
                for reason, count in found.items():
                    message_exclusions[reason] = message_exclusions.get(reason, 0) + count
            message = GeneratedMessage(
                body=json.dumps(documents[0] if len(documents) == 1 else documents),
                changes=[change for _, changes, _ in group for change in changes],
                exclusions=message_exclusions,
                wave=wave,
            )
            messages.append(message)
            if rng.random() < duplicate_share:
                messages.append(
                    GeneratedMessage(message.body, False, list(message.changes), dict(message_exclusions), wave)
                )
        if wave == 0:
            for index in range(poison):
                body = POISON_BODIES[index % len(POISON_BODIES)]
                if index >= len(POISON_BODIES):
                    body = f"{{not json {index}"
                messages.insert(rng.randrange(len(messages) + 1), GeneratedMessage(body, poison=True, wave=wave))
        result.append(messages)
    return Workload(audiences=tuple(audiences), waves=result)


def identities_in(workload: Workload) -> set[str]:
    """Every plain identifier the workload puts on the queue (for leak checks)."""
    found: set[str] = set()
    for message in workload.messages():
        if message.poison:
            continue
        document = json.loads(message.body)
        for profile in document if isinstance(document, list) else [document]:
            for values in profile.get("identityMap", {}).values():
                found.update(value["id"] for value in values)
    return found
