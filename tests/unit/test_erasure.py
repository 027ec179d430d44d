"""Erasure (issue 13, part 3): a privacy request removes the identities, and every identifier the ledger links to
them, from every customer list; then the ledger forgets them, and an older add redelivered later cannot re-add them."""

import json
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from pinsync.core.deadline import Deadline
from pinsync.core.errors import PinterestTransientError
from pinsync.events import Destination, detail_of
from pinsync.sync.contract import MAX_ERASURE_IDENTITIES, ContractError, parse_message
from pinsync.sync.identities import sha256_hex
from pinsync.sync.ledger import Entry, LedgerItem, erasure_exits, tombstones
from pinsync.sync.membership import Change, Extraction, Operation, extract_erasure
from pinsync.sync.outcome import RunOutcome
from pinsync.sync.service import AudienceSync, InboundMessage

from tests.builders import EPOCH, body, profile
from tests.fakes.ledger import InMemoryLedger
from tests.fakes.mappings import FakeMappings
from tests.fakes.pinterest import FakePinterest
from tests.unit.test_sync import options

GAID = "38400000-8cf0-11bd-b23e-10b96e40000d"
T = EPOCH + timedelta(hours=1)


def erasure(*emails: str, request_id: str | None = "TICKET-1", at: datetime | None = None, **more: list[str]) -> str:
    identity_map = {"Email": [{"id": email} for email in emails]} if emails else {}
    identity_map |= {namespace: [{"id": value} for value in values] for namespace, values in more.items()}
    request: dict[str, object] = {"type": "erase", "identityMap": identity_map}
    if request_id is not None:
        request["requestId"] = request_id
    if at is not None:
        request["requestedAt"] = at.isoformat()
    return json.dumps({"privacyRequest": request})


# -- the message ------------------------------------------------------------------------------------------------------


def test_a_privacy_request_parses_and_a_broken_profile_is_still_reported_as_a_profile():
    request = parse_message(erasure("a@b.co", at=T))
    assert isinstance(request, dict) and request["requestId"] == "TICKET-1" and request["requestedAt"] == T
    with pytest.raises(ContractError, match="segmentMembership: Field required"):
        parse_message(json.dumps({"identityMap": {}}))


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"privacyRequest": {"type": "forget", "identityMap": {"Email": [{"id": "a@b.co"}]}}}, "privacyRequest.type"),
        ({"privacyRequest": {"type": "erase", "identityMap": {}}}, "privacyRequest.identityMap"),
        ({"privacyRequest": {"type": "erase", "identityMap": {"Email": []}}}, "0 identities"),
        ({"privacyRequest": {"type": "erase", "identityMap": {"Email": [{"id": "a@b.co"}] * 101}}}, "101 identities"),
        # the request id is echoed in an event: it may not hold an email
        (
            {"privacyRequest": {"type": "erase", "requestId": "a@b.co", "identityMap": {"E": [{"id": "x"}]}}},
            "privacyRequest.requestId",
        ),
        ({"privacyRequest": {"type": "erase", "requestedAt": "2026-11-28T10:00:00", "identityMap": {}}}, "requestedAt"),
        ({"privacyRequest": []}, "privacyRequest"),
    ],
)
def test_a_broken_privacy_request_breaks_the_contract_without_echoing_values(document, problem):
    with pytest.raises(ContractError) as raised:
        parse_message(json.dumps(document))
    assert raised.value.reason == "invalid_contract" and problem in raised.value.detail
    assert "a@b.co" not in str(raised.value)


def test_identities_are_normalised_like_a_profile_s_and_placeholders_are_never_erased():
    extraction = Extraction()
    request = parse_message(
        erasure(" Jane@Example.COM ", "null", GAID=[GAID, "00000000-0000-0000-0000-000000000000"], ECID=["1"])
    )
    assert isinstance(request, dict)
    extract_erasure(request, message_id="m1", fallback_time=T, namespaces=options().namespaces, extraction=extraction)
    [found] = extraction.erasures
    assert found.records == (sha256_hex("jane@example.com"), sha256_hex(GAID))
    assert (found.requested, found.excluded, found.at, found.request_id) == (5, 3, T, "TICKET-1")


def test_a_request_time_far_ahead_of_the_send_time_is_refused():
    request = parse_message(erasure("a@b.co", at=T + timedelta(days=2)))
    assert isinstance(request, dict)
    with pytest.raises(ContractError, match="requestedAt"):
        extract_erasure(
            request, message_id="m", fallback_time=T, namespaces=options().namespaces, extraction=Extraction()
        )


# -- the ledger -------------------------------------------------------------------------------------------------------


def entry(member: bool, at: datetime) -> Entry:
    return Entry(member, at)


def test_an_erasure_exits_every_profile_the_ledger_links_to_the_record():
    removal = Change("a", "r1", Operation.REMOVE, T, 0, frozenset({"m"}))
    items = {
        "r1": LedgerItem("r1", links=frozenset({"r1", "r7"}), owners=frozenset({"p1", "p2", "p3", "r1"})),
        "p1": LedgerItem("p1", links=frozenset({"r1"})),
        "p2": LedgerItem("p2", links=frozenset({"r1", "r2"})),
        "p3": LedgerItem("p3", {"r1": entry(False, EPOCH)}),  # it only removed r1 once: it does not link it
    }  # r1 keys a profile of its own too (an email-keyed profile)
    assert [c.profile_key for c in erasure_exits([removal], items)] == ["p1", "p2", "r1"]
    assert erasure_exits([removal], {}) == []


def test_tombstones_keep_only_out_at_the_erasure_time_and_leave_others_and_newer_data_alone():
    old = EPOCH
    items = {
        # the erased person: ECID profile p1 linking r1 (the erased email) and r2 (a GAID), both removed at T
        "p1": LedgerItem("p1", {"r1": entry(False, T), "r2": entry(False, T)}, frozenset({"r1", "r2"}), T),
        "r1": LedgerItem("r1", owners=frozenset({"p1", "p3"})),
        "r2": LedgerItem("r2", owners=frozenset({"p1"})),
        # p3 shares r1 (a family email) but is someone else: it keeps its own item, and r1's index still names it
        "p3": LedgerItem("p3", {"r1": entry(True, old), "r9": entry(True, old)}, frozenset({"r1", "r9"})),
        "r9": LedgerItem("r9", owners=frozenset({"p3"})),
    }
    written = {item.key: item for item in tombstones({"r1": T}, items)}
    assert written == {
        "r1": LedgerItem("r1", {"r1": Entry(False, T)}, owners=frozenset({"p3"})),
        "r2": LedgerItem("r2", {"r2": Entry(False, T)}),
        "p1": LedgerItem("p1", exited_at=T),
    }


def test_a_profile_that_qualified_again_after_the_erasure_is_not_forgotten():
    later = T + timedelta(minutes=5)
    items = {
        "p1": LedgerItem("p1", {"r1": entry(False, T), "r2": entry(True, later)}, frozenset({"r1", "r2"})),
        "r1": LedgerItem("r1", owners=frozenset({"p1"})),
        "r2": LedgerItem("r2", owners=frozenset({"p1"})),
    }
    # only the erased record's own item changes: "out at T", still indexed to the live profile
    assert tombstones({"r1": T}, items) == [LedgerItem("r1", {"r1": Entry(False, T)}, owners=frozenset({"p1"}))]


def test_a_shared_profile_is_never_forgotten_through_one_of_its_records():
    items = {
        "fam": LedgerItem("fam", {"r1": entry(False, T)}, shared=True),
        "r1": LedgerItem("r1", owners=frozenset({"fam"})),
    }
    assert tombstones({"r1": T}, items) == [LedgerItem("r1", {"r1": Entry(False, T)}, owners=frozenset({"fam"}))]


# -- the use case -----------------------------------------------------------------------------------------------------


class World:
    def __init__(self) -> None:
        self.pinterest, self.mappings, self.ledger = FakePinterest(), FakeMappings(), InMemoryLedger()
        self.options = replace(options(), profile_namespaces=("ECID", "Email", "GAID"))

    def sync(self, text: str, at: datetime, message_id: str = "m1") -> RunOutcome:
        run = AudienceSync(
            self.options,
            self.pinterest,
            self.mappings,
            clock=lambda: at,
            owner="inv",
            deadline=Deadline(lambda: 60.0),
            ledger=self.ledger,
        )
        return run.run([InboundMessage(message_id, text, at)])

    def members(self, audience_id: str) -> set[str]:
        list_id = self.mappings.mappings[audience_id].customer_list_id
        assert list_id is not None
        return self.pinterest.lists[list_id]

    def ledger_records(self) -> set[str]:
        """Every record the ledger still knows something about (an entry, a link, an index)."""
        known: set[str] = set()
        for item in self.ledger.items.values():
            known |= {item.key, *item.entries, *item.links}
        return known


PERSON = profile({"a": "realized", "b": "realized"}, email="a@b.co", gaid=GAID, extra_identities={"ECID": ["1"]})
OTHER = profile({"a": "realized"}, email="other@b.co", extra_identities={"ECID": ["2"]})


def test_an_erasure_removes_every_linked_identifier_everywhere_then_forgets_the_links():
    world = World()
    world.sync(body(PERSON), EPOCH)
    world.sync(body(OTHER), EPOCH)
    # When a privacy request names only the email
    outcome = world.sync(erasure("a@b.co"), T)
    # Then both lists lose the email and the GAID (linked through the ECID profile), and nothing else
    assert world.members("a") == {sha256_hex("other@b.co")} and world.members("b") == set()
    assert outcome.removed == 4 and outcome.failed_message_ids(["m1"]) == []
    assert outcome.skipped == {}  # the exits an erasure implies are not duplicates anyone sent
    # And the ledger keeps, per list, only "out at T" for the person's hashes and the exit time: no link, no owner
    person = {sha256_hex("a@b.co"), sha256_hex(GAID), sha256_hex("ecid:1")}
    for (audience_id, key), item in world.ledger.items.items():
        if key in person:
            assert item.links == frozenset() and not item.owners, (audience_id, key)
            assert item.exited_at in (None, T)
            assert all(not e.member and e.qualified_at == T for e in item.entries.values())
    assert world.ledger_records() - person == {sha256_hex("other@b.co"), sha256_hex("ecid:2")}


def test_an_older_add_redelivered_after_the_erasure_leaves_the_person_out_and_a_newer_one_adds_them_back():
    world = World()
    world.sync(body(PERSON), EPOCH)
    world.sync(body(OTHER), EPOCH)
    world.sync(erasure("a@b.co"), T)
    # an add from before the erasure, even one carrying an identifier the ledger never saw for them
    older = profile(
        {"a": "realized"}, email="new@b.co", gaid=GAID, extra_identities={"ECID": ["1"]}, at="2026-11-28T10:30:00Z"
    )
    world.sync(body(PERSON), T + timedelta(hours=1))
    world.sync(body(older), T + timedelta(hours=1))
    assert world.members("a") == {sha256_hex("other@b.co")} and world.members("b") == set()
    # a newer qualification is a new decision of the CDP: it counts
    newer = profile({"b": "realized"}, email="a@b.co", extra_identities={"ECID": ["1"]}, at="2026-11-28T12:00:00Z")
    world.sync(body(newer), T + timedelta(hours=2))
    assert world.members("b") == {sha256_hex("a@b.co")}


def test_an_erasure_that_fails_at_pinterest_is_retried_and_forgets_nothing_until_it_succeeds():
    world = World()
    world.sync(body(PERSON), EPOCH)
    world.pinterest.failure = PinterestTransientError("Pinterest is down", status=503)
    failing = world.sync(erasure("a@b.co"), T)
    world.pinterest.failure = None
    assert failing.failed_message_ids(["m1"]) == ["m1"] and failing.completed_erasures() == []
    profile_key = sha256_hex("ecid:1")
    assert any(item.links for (_, key), item in world.ledger.items.items() if key == profile_key)
    retried = world.sync(erasure("a@b.co"), T + timedelta(minutes=11))
    assert retried.failed_message_ids(["m1"]) == []
    assert world.members("a") == set() and world.members("b") == set()
    assert not any(item.links for item in world.ledger.items.values())


def test_the_privacy_request_event_holds_counts_only():
    world = World()
    world.sync(body(PERSON), EPOCH)
    outcome = world.sync(erasure("a@b.co", "null", at=T), T)
    [tally] = outcome.completed_erasures()
    event = detail_of(tally.to_event(Destination(name="dest", ad_account_id="549755885175")))
    assert event == {
        "destination": {"name": "dest", "ad_account_id": "549755885175"},
        "request_id": "TICKET-1",
        "action": "erase",
        "requested_at": "2026-11-28T11:00:00Z",
        "identities": {"requested": 2, "excluded": 1, "removed": 2},
        "removals": 4,
        "customer_lists": 2,
    }
    assert "a@b.co" not in json.dumps(event) and sha256_hex("a@b.co") not in json.dumps(event)


def test_an_erasure_with_no_list_anywhere_is_acknowledged_and_reported():
    world = World()
    outcome = world.sync(erasure("a@b.co"), T)
    assert world.pinterest.calls == [] and outcome.failed_message_ids(["m1"]) == []
    [tally] = outcome.completed_erasures()
    assert tally.to_event(Destination(name="d")).identities.requested == 1


def test_a_request_of_too_many_identities_is_rejected_alone():
    world = World()
    world.sync(body(PERSON), EPOCH)
    too_many = erasure(*(f"u{n}@b.co" for n in range(MAX_ERASURE_IDENTITIES + 1)))
    outcome = world.sync(too_many, T)
    assert outcome.rejected_messages == {"invalid_contract": 1}
    assert world.members("a") == {sha256_hex("a@b.co"), sha256_hex(GAID)}


def test_a_privacy_request_with_a_key_twice_is_rejected_not_half_carried_out():
    """JSON parsers keep the last of two equal keys: the identities of the first ``Email`` were dropped without a word,
    and the request reported done. Rejected, it is seen in the dead-letter queue."""
    text = (
        '{"privacyRequest": {"type": "erase", "requestId": "T-1", "identityMap": '
        '{"Email": [{"id": "a@b.co"}], "Email": [{"id": "c@d.co"}]}}}'
    )
    with pytest.raises(ContractError) as raised:
        parse_message(text)
    assert raised.value.reason == "invalid_contract" and "a@b.co" not in str(raised.value)
    world = World()
    world.sync(body(PERSON), EPOCH)
    outcome = world.sync(text, T)
    assert outcome.rejected_messages == {"invalid_contract": 1} and outcome.completed_erasures() == []


def _both(shape: str) -> str:
    """A body that is a profile and a privacy request at once, in one of three shapes."""
    request = json.loads(erasure("a@b.co"))["privacyRequest"]
    if shape == "profile":
        return json.dumps({**OTHER, "privacyRequest": request})
    if shape == "array":
        return json.dumps([{**OTHER, "privacyRequest": request}])
    return json.dumps({"segmentMembership": 1, "privacyRequest": request})  # a broken profile


@pytest.mark.parametrize("shape", ["profile", "array", "broken profile"])
def test_a_body_that_is_both_a_profile_and_a_privacy_request_is_rejected_not_half_read(shape):
    """Read as either, the other half was dropped without a word: an erasure acknowledged but never carried out, or
    a profile update lost. Neither may be guessed: the message is rejected, so it is seen in the dead-letter queue."""
    world = World()
    world.sync(body(PERSON), EPOCH)
    outcome = world.sync(_both(shape), T)
    assert outcome.rejected_messages == {"invalid_contract": 1} and outcome.failed_message_ids(["m1"]) == ["m1"]
    assert world.members("a") == {sha256_hex("a@b.co"), sha256_hex(GAID)}  # neither half was applied
    with pytest.raises(ContractError) as raised:
        parse_message(_both(shape))
    assert "privacyRequest" in raised.value.detail and "a@b.co" not in str(raised.value)


@pytest.mark.parametrize("named", ["email", "gaid"])
def test_a_profile_keyed_by_its_email_loses_every_identifier_whichever_one_is_named(named):
    world = World()  # no ECID: the email keys the profile (ProfileKeyNamespaces tries Email next)
    world.sync(body(profile({"a": "realized"}, email="a@b.co", gaid=GAID)), EPOCH)
    world.sync(body(OTHER), EPOCH)
    request = erasure("a@b.co") if named == "email" else erasure(GAID=[GAID])
    world.sync(request, T)
    assert world.members("a") == {sha256_hex("other@b.co")}
    assert not any(item.links for (_, key), item in world.ledger.items.items() if key != sha256_hex("ecid:2"))
