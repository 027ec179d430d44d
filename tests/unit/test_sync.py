"""The sync use case over in-memory ports: verdicts, counts, creation, splitting, outages."""

from dataclasses import replace
from datetime import timedelta

from pinsync.core.deadline import Deadline
from pinsync.core.errors import (
    PinterestAnswerError,
    PinterestRateLimitedError,
    PinterestRejectedError,
    PinterestTransientError,
)
from pinsync.events import Destination, detail_of
from pinsync.sync.identities import DEFAULT_NAMESPACES, parse_namespace_map, sha256_hex
from pinsync.sync.membership import ActivationRule, extract_changes
from pinsync.sync.outcome import RunOutcome
from pinsync.sync.planning import AudienceMapping, MappingState
from pinsync.sync.service import AudienceSync, InboundMessage, SyncOptions

from tests.builders import EPOCH, body, profile
from tests.fakes.ledger import InMemoryLedger
from tests.fakes.mappings import FakeMappings
from tests.fakes.pinterest import FakePinterest


def options(max_records=1000, activated="*"):
    return SyncOptions(
        activation=ActivationRule.parse(activated),
        namespaces=parse_namespace_map(DEFAULT_NAMESPACES),
        max_records=max_records,
        destination_name="dest",
        creation_lease=timedelta(minutes=5),
    )


def run(messages, pinterest=None, mappings=None, max_records=1000, owner="inv-1", remaining=60.0):
    pinterest = pinterest or FakePinterest()
    mappings = mappings if mappings is not None else FakeMappings()
    sync = AudienceSync(
        options(max_records),
        pinterest,
        mappings,
        clock=lambda: EPOCH,
        owner=owner,
        deadline=Deadline(lambda: remaining),
    )
    inbound = [InboundMessage(f"m{i}", text, EPOCH) for i, text in enumerate(messages, start=1)]
    return sync.run(inbound), pinterest, mappings


def ready(audience_id, list_id):
    return AudienceMapping(audience_id, MappingState.READY, list_id, "9")


def test_first_add_creates_the_list_and_audience_and_stores_the_mapping():
    outcome, pinterest, mappings = run([body(profile({"seg": "realized"}, email=f"u{i}@x.co")) for i in range(3)])
    [list_id] = pinterest.lists
    assert pinterest.lists[list_id] == {sha256_hex(f"u{i}@x.co") for i in range(3)}
    assert pinterest.audiences == {"dest seg": "5000"}
    assert mappings.mappings["seg"].customer_list_id == list_id
    assert mappings.mappings["seg"].state is MappingState.READY
    assert outcome.added == 3 and outcome.customer_lists_created == 1
    assert outcome.failed_message_ids(["m1", "m2", "m3"]) == []


def test_records_of_many_messages_share_requests():
    mappings = FakeMappings({"seg": ready("seg", "77")})
    pinterest = FakePinterest(lists={"77": set()})
    messages = [body(profile({"seg": "realized"}, email=f"u{i}@x.co")) for i in range(25)]
    outcome, pinterest, _ = run(messages, pinterest, mappings, max_records=10)
    assert [call[2] for call in pinterest.patches()] == [10, 10, 5]
    assert outcome.added == 25


def test_remove_without_list_is_a_counted_noop():
    outcome, pinterest, _ = run([body(profile({"seg": "exited"}, email="a@b.co"))])
    assert pinterest.calls == []
    assert outcome.skipped == {"no_customer_list": 1}
    assert outcome.failed_message_ids(["m1"]) == []


def test_poison_message_fails_alone():
    mappings = FakeMappings({"seg": ready("seg", "77")})
    pinterest = FakePinterest(lists={"77": set()})
    outcome, _, _ = run(["{not json", body(profile({"seg": "realized"}, email="a@b.co"))], pinterest, mappings)
    assert outcome.failed_message_ids(["m1", "m2"]) == ["m1"]
    assert outcome.rejected_messages == {"invalid_json": 1}
    assert outcome.added == 1


def test_a_rejected_record_is_isolated_by_splitting_and_excluded_with_the_code():
    mappings = FakeMappings({"seg": ready("seg", "77")})
    bad = sha256_hex("bad@x.co")
    pinterest = FakePinterest(lists={"77": set()}, poison={bad})
    messages = [body(profile({"seg": "realized"}, email=f"u{i}@x.co")) for i in range(7)]
    messages.append(body(profile({"seg": "realized"}, email="bad@x.co")))
    outcome, pinterest, _ = run(messages, pinterest, mappings)
    assert outcome.added == 7
    assert outcome.excluded == {"pinterest_error_1": 1}
    assert bad not in pinterest.lists["77"] and len(pinterest.lists["77"]) == 7
    assert outcome.failed_message_ids([f"m{i}" for i in range(1, 9)]) == []


def test_a_rejected_record_in_the_creating_call_is_isolated_too():
    bad = sha256_hex("bad@x.co")
    pinterest = FakePinterest(poison={bad})
    messages = [body(profile({"seg": "realized"}, email="bad@x.co"))]
    messages += [body(profile({"seg": "realized"}, email=f"u{i}@x.co")) for i in range(4)]
    outcome, pinterest, _ = run(messages, pinterest)
    [members] = pinterest.lists.values()
    assert len(members) == 4 and bad not in members
    assert outcome.excluded == {"pinterest_error_1": 1}
    assert outcome.added == 4


def test_transient_failure_fails_only_the_messages_involved_and_an_outage_stops_calling():
    lists = {aid: ready(aid, str(n)) for n, aid in enumerate("abc", start=1)}
    pinterest = FakePinterest(
        lists={"1": set(), "2": set(), "3": set()}, failure=PinterestTransientError("down", status=503)
    )
    messages = [body(profile({aid: "realized"}, email=f"{aid}@y.co")) for aid in "abc"]
    messages.append(body(profile({"d": "exited"}, email="z@y.co")))
    outcome, pinterest, _ = run(messages, pinterest, FakeMappings(lists))
    assert outcome.failed_message_ids(["m1", "m2", "m3", "m4"]) == ["m1", "m2", "m3"]
    assert len(pinterest.patches()) == 2  # after two failed lists in a row, the third is not attempted
    assert outcome.failed == {"pinterest_unavailable": 3}


def test_creation_lease_held_elsewhere_fails_the_changes_for_a_retry():
    mappings = FakeMappings()
    mappings.claim_creation("seg", "other-invocation", EPOCH, timedelta(minutes=5), name="dest seg")
    outcome, pinterest, _ = run([body(profile({"seg": "realized"}, email="a@b.co"))], mappings=mappings)
    # The claim left a CREATING mapping (as in DynamoDB): the list is looked for under the claimed name, not made.
    assert pinterest.calls == [("find", "dest seg", 0)]
    assert outcome.failed == {"creation_in_progress": 1}
    assert outcome.failed_message_ids(["m1"]) == ["m1"]


def test_a_list_left_by_a_crashed_run_is_adopted_not_duplicated():
    pinterest = FakePinterest(lists={"42": set()}, names={"dest seg": "42"})
    outcome, pinterest, mappings = run([body(profile({"seg": "realized"}, email="a@b.co"))], pinterest)
    assert list(pinterest.lists) == ["42"]
    assert pinterest.lists["42"] == {sha256_hex("a@b.co")}
    assert mappings.mappings["seg"].customer_list_id == "42"
    assert outcome.customer_lists_created == 0 and outcome.added == 1


def test_no_time_left_fails_changes_instead_of_starting_calls():
    mappings = FakeMappings({"seg": ready("seg", "77")})
    outcome, pinterest, _ = run(
        [body(profile({"seg": "realized"}, email="a@b.co"))], FakePinterest(lists={"77": set()}), mappings, remaining=3
    )
    assert pinterest.calls == []
    assert outcome.failed == {"deadline": 1}


def test_run_detail_has_counts_and_no_identifiers():
    mappings = FakeMappings({"seg": ready("seg", "77")})
    outcome, _, _ = run(
        [body(profile({"seg": "realized"}, email=["a@b.co", "broken"])), "[]"],
        FakePinterest(lists={"77": set()}),
        mappings,
    )
    detail = detail_of(outcome.to_event(Destination(name="dest", ad_account_id="1")))
    assert detail["identities"]["added"] == 1
    assert detail["identities"]["excluded_by_reason"] == {"invalid_identity": 1}
    assert detail["messages"] == {
        "received": 2,
        "rejected": 1,
        "rejected_by_reason": {"invalid_contract": 1},
        "retried": 1,
    }
    assert detail["excluded_share"] == 0.5
    assert "a@b.co" not in str(detail) and sha256_hex("a@b.co") not in str(detail)


# -- creation: what a refusal means, and what each identity is counted as -------------------------------------------


def counted(outcome: RunOutcome) -> int:
    """Every activated identity reaches exactly one verdict."""
    return outcome.added + outcome.removed + sum(outcome.excluded.values()) + sum(outcome.failed.values())


def test_a_refusal_of_every_record_alone_is_the_lists_and_excludes_nothing():
    refused = PinterestRejectedError("invalid name", status=400, code=2)
    pinterest = FakePinterest(create_failures=[refused] * 50)
    messages = [body(profile({"seg": "realized"}, email=f"u{i}@x.co")) for i in range(100)]
    outcome, pinterest, mappings = run(messages, pinterest)
    assert outcome.excluded == {} and sum(outcome.failed.values()) == 100 == counted(outcome)
    assert len(outcome.failed_message_ids([f"m{i}" for i in range(1, 101)])) == 100  # retried, then dead-lettered
    creates = [call for call in pinterest.calls if call[0] == "create"]
    assert [size for _, _, size in creates] == [100, 50, 25, 12, 6, 3, 1, 1]  # not log2(N) calls per record
    assert mappings.leases == {}  # the lease is released for the retry


def test_a_transient_failure_after_a_record_was_refused_alone_fails_everything_once():
    bad = sha256_hex("bad@x.co")
    down = PinterestTransientError("down", status=503)
    # 1st create (both) and 2nd (bad alone) are refused by the poison check; the 3rd (the good one alone) is down.
    pinterest = FakePinterest(poison={bad}, create_failures=[])
    messages = [body(profile({"seg": "realized"}, email=e)) for e in ("bad@x.co", "good@x.co")]
    original = pinterest.create_customer_list

    def create(name, records):
        if records == [sha256_hex("good@x.co")]:
            raise down
        return original(name, records)

    pinterest.create_customer_list = create  # type: ignore[method-assign]
    outcome, _, _ = run(messages, pinterest)
    assert outcome.excluded == {} and outcome.failed == {"pinterest_unavailable": 2}
    assert counted(outcome) == 2


def test_no_time_left_fails_creation_before_any_call():
    outcome, pinterest, _ = run([body(profile({"seg": "realized"}, email="a@b.co"))], remaining=3)
    assert pinterest.calls == [] and outcome.failed == {"deadline": 1}


def test_failing_audience_creation_does_not_stop_updates_of_other_lists():
    mappings = FakeMappings(
        {
            "new1": AudienceMapping("new1", MappingState.LIST_CREATED, "1"),
            "new2": AudienceMapping("new2", MappingState.LIST_CREATED, "2"),
            "seg": ready("seg", "77"),
        }
    )
    pinterest = FakePinterest(
        lists={"1": set(), "2": set(), "77": set()}, audience_failure=PinterestTransientError("down", status=503)
    )
    messages = [body(profile({aid: "realized"}, email=f"{aid}@x.co")) for aid in ("new1", "new2", "seg")]
    outcome, pinterest, _ = run(messages, pinterest, mappings)
    assert len(pinterest.patches()) == 3 and outcome.added == 3
    assert outcome.failed_message_ids(["m1", "m2", "m3"]) == []


def test_a_patch_refused_for_every_record_alone_is_the_lists_and_excludes_nothing():
    mappings = FakeMappings({"seg": ready("seg", "77")})
    pinterest = FakePinterest(lists={"77": set()}, failure=PinterestRejectedError("list refused", status=400, code=2))
    messages = [body(profile({"seg": "realized"}, email=f"u{i}@x.co")) for i in range(100)]
    outcome, pinterest, _ = run(messages, pinterest, mappings)
    assert outcome.excluded == {} and sum(outcome.failed.values()) == 100 == counted(outcome)
    assert [size for _, _, size in pinterest.patches()] == [100, 50, 25, 12, 6, 3, 1, 2, 1]  # not log2(N) per record


def test_bad_records_refused_alone_are_excluded_once_the_list_accepted_others():
    mappings = FakeMappings({"seg": ready("seg", "77")})
    bad = {sha256_hex("u3@x.co"), sha256_hex("u40@x.co")}
    pinterest = FakePinterest(lists={"77": set()}, poison=bad)
    messages = [body(profile({"seg": "realized"}, email=f"u{i}@x.co")) for i in range(64)]
    outcome, pinterest, _ = run(messages, pinterest, mappings)
    assert outcome.excluded == {"pinterest_error_1": 2} and outcome.added == 62 == len(pinterest.lists["77"])
    assert outcome.failed_message_ids([f"m{i}" for i in range(1, 65)]) == []


# -- one message never fails another -----------------------------------------------------------------------------


def test_a_message_that_asks_for_too_many_changes_is_rejected_alone():
    mappings = FakeMappings({"seg": ready("seg", "77")})
    pinterest = FakePinterest(lists={"77": set()})
    # 72 KB of many audiences x many identities: 40 audiences x 1,000 emails = 40,000 changes
    huge = body(profile({f"a{i}": "realized" for i in range(40)}, email=[f"u{i}@x.co" for i in range(1_000)]))
    assert len(huge) < 80_000
    outcome, pinterest, _ = run([huge, body(profile({"seg": "realized"}, email="fine@x.co"))], pinterest, mappings)
    assert outcome.failed_message_ids(["m1", "m2"]) == ["m1"]
    assert outcome.rejected_messages == {"too_many_changes": 1}
    assert pinterest.lists["77"] == {sha256_hex("fine@x.co")}
    assert outcome.excluded == {}  # the rejected message's exclusions are not counted either


def test_an_unexpected_error_in_one_message_rejects_that_message_alone(monkeypatch):
    def exploding(profile, **kwargs):
        if kwargs["message_id"] == "m1":
            raise KeyError("jane.doe@example.com")  # a bug whose text would echo a value
        return extract_changes(profile, **kwargs)

    monkeypatch.setattr("pinsync.sync.service.extract_changes", exploding)
    mappings = FakeMappings({"seg": ready("seg", "77")})
    pinterest = FakePinterest(lists={"77": set()})
    messages = [body(profile({"seg": "realized"}, email=f"u{i}@x.co")) for i in range(2)]
    outcome, pinterest, _ = run(messages, pinterest, mappings)
    assert outcome.failed_message_ids(["m1", "m2"]) == ["m1"]
    assert outcome.rejected_messages == {"unprocessable": 1}
    assert pinterest.lists["77"] == {sha256_hex("u1@x.co")}


def test_an_overflowing_time_excludes_its_entry_and_the_batch_goes_on():
    mappings = FakeMappings({"seg": ready("seg", "77")})
    pinterest = FakePinterest(lists={"77": set()})
    bad = body(profile({"seg": "realized"}, email="year1@x.co", at="0001-01-01T00:00:00+05:00"))
    good = body(profile({"seg": "realized"}, email="ok@x.co"))
    outcome, pinterest, _ = run([bad, good], pinterest, mappings)
    assert outcome.failed_message_ids(["m1", "m2"]) == []
    assert outcome.excluded == {"invalid_time": 1}
    assert pinterest.lists["77"] == {sha256_hex("ok@x.co")}


def test_answers_that_break_the_contract_fail_their_own_audience_not_the_batch():
    mappings = FakeMappings({"zz": ready("zz", "77")})
    broken = PinterestAnswerError("the page's items is not a list")
    pinterest = FakePinterest(lists={"77": set()}, lookup_failures={"dest a1": broken, "dest a2": broken})
    messages = [body(profile({audience: "realized"}, email=f"{audience}@x.co")) for audience in ("a1", "a2", "zz")]
    outcome, pinterest, _ = run(messages, pinterest, mappings)
    assert outcome.failed_message_ids(["m1", "m2", "m3"]) == ["m1", "m2"]
    assert outcome.failed == {"invalid_answer": 2}
    assert pinterest.lists["77"] == {sha256_hex("zz@x.co")}  # two failures in a row, and still not an outage


# -- a refusal is evidence against a record only when the list accepts others, whatever the request size ---------


def test_a_one_record_patch_refused_with_nothing_to_compare_is_retried_not_excluded():
    # Given streaming, one record per batch, and Pinterest refusing the request (a bad record, or the list's fault)
    mappings = FakeMappings({"seg": ready("seg", "77")})
    pinterest = FakePinterest(lists={"77": set()}, failure=PinterestRejectedError("refused", status=400, code=2))
    outcome, _, _ = run([body(profile({"seg": "realized"}, email="a@x.co"))], pinterest, mappings)
    # Then nothing tells the record's fault from the list's: the message is retried, never silently acknowledged
    assert outcome.excluded == {} and outcome.failed == {"rejected": 1}
    assert outcome.failed_message_ids(["m1"]) == ["m1"]


def test_a_one_record_refusal_is_excluded_once_another_request_to_the_list_is_accepted():
    mappings = FakeMappings({"seg": ready("seg", "77")})
    bad = sha256_hex("bad@x.co")
    pinterest = FakePinterest(lists={"77": set()}, poison={bad})
    # max_records=1: every record travels alone, the bad one first
    messages = [body(profile({"seg": "realized"}, email=e)) for e in ("bad@x.co", "u1@x.co", "u2@x.co")]
    outcome, pinterest, _ = run(messages, pinterest, mappings, max_records=1)
    assert outcome.excluded == {"pinterest_error_1": 1} and outcome.added == 2
    assert outcome.failed_message_ids(["m1", "m2", "m3"]) == []


def test_a_one_record_list_creation_refused_is_retried_not_excluded():
    pinterest = FakePinterest(poison={sha256_hex("only@x.co")})
    outcome, pinterest, mappings = run([body(profile({"seg": "realized"}, email="only@x.co"))], pinterest)
    assert outcome.excluded == {} and outcome.failed == {"rejected": 1}
    assert pinterest.lists == {} and mappings.leases == {}  # the lease is released for the retry


# -- the writer lease: one invocation at a time decides and sends for an audience --------------------------------


class Clock:
    """A clock that moves only when the use case sleeps."""

    def __init__(self) -> None:
        self.now = EPOCH
        self.slept: list[float] = []

    def __call__(self):
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


def leased_run(messages, mappings, pinterest, clock, *, remaining=60.0, ledger=None, owner="inv-1"):
    started = clock.now
    sync = AudienceSync(
        options(),
        pinterest,
        mappings,
        clock=clock,
        owner=owner,
        deadline=Deadline(lambda: remaining - (clock.now - started).total_seconds()),
        ledger=ledger,
        sleep=clock.sleep,
        settle=timedelta(seconds=20),
    )
    return sync.run([InboundMessage(f"m{i}", text, EPOCH) for i, text in enumerate(messages, start=1)])


def test_an_audience_held_by_a_working_invocation_is_waited_for_with_backoff():
    mappings = FakeMappings({"seg": ready("seg", "77")})
    clock = Clock()
    mappings.acquire_writer("seg", "other", clock.now, clock.now + timedelta(seconds=1))  # it ends in 1 s
    outcome = leased_run(
        [body(profile({"seg": "realized"}, email="a@x.co"))], mappings, FakePinterest(lists={"77": set()}), clock
    )
    assert outcome.added == 1 and outcome.failed == {}
    assert clock.slept[:3] == [0.05, 0.1, 0.2]  # polled with backoff until the other lease ended
    assert mappings.writers["seg"] == ("inv-1", clock.now)  # released


def test_an_audience_busy_for_longer_than_the_invocation_can_wait_fails_its_changes_only():
    mappings = FakeMappings({"seg": ready("seg", "77"), "other": ready("other", "78")})
    clock = Clock()
    mappings.acquire_writer("seg", "holder", clock.now, clock.now + timedelta(minutes=5))
    messages = [
        body(profile({"seg": "realized"}, email="a@x.co")),
        body(profile({"other": "realized"}, email="b@x.co")),
    ]
    pinterest = FakePinterest(lists={"77": set(), "78": set()})
    outcome = leased_run(messages, mappings, pinterest, clock, remaining=30.0)
    assert outcome.failed == {"audience_busy": 1} and outcome.added == 1
    assert outcome.failed_message_ids(["m1", "m2"]) == ["m1"]
    assert pinterest.lists["77"] == set()


def test_an_ambiguous_failure_holds_the_audience_for_the_settle_time_and_the_next_invocation_waits_it_out():
    mappings = FakeMappings({"seg": ready("seg", "77")})
    clock = Clock()
    pinterest = FakePinterest(lists={"77": set()}, failure=PinterestTransientError("timed out", status=None))
    failed = leased_run([body(profile({"seg": "realized"}, email="a@x.co"))], mappings, pinterest, clock)
    assert failed.failed == {"pinterest_unavailable": 1}
    assert mappings.writers["seg"] == ("inv-1", clock.now + timedelta(seconds=20)) and "seg" in mappings.settling
    # The next invocation sleeps until the settle ends (once: no polling), then syncs
    pinterest.failure = None
    outcome = leased_run(
        [body(profile({"seg": "realized"}, email="b@x.co"))], mappings, pinterest, clock, owner="inv-2"
    )
    assert clock.slept == [20.05] and outcome.added == 1
    # and one that cannot wait that long gives up at once, for a later delivery
    clock.now += timedelta(seconds=1)
    pinterest.failure = PinterestTransientError("timed out", status=None)
    leased_run([body(profile({"seg": "realized"}, email="c@x.co"))], mappings, pinterest, clock, owner="inv-3")
    pinterest.failure = None
    late = leased_run(
        [body(profile({"seg": "realized"}, email="d@x.co"))], mappings, pinterest, clock, remaining=15.0, owner="inv-4"
    )
    assert late.failed == {"audience_busy": 1} and clock.slept == [20.05]


def test_a_429_is_no_ambiguous_failure_and_does_not_hold_the_audience():
    mappings = FakeMappings({"seg": ready("seg", "77")})
    clock = Clock()
    pinterest = FakePinterest(lists={"77": set()}, failure=PinterestRateLimitedError("slow down", status=429))
    leased_run([body(profile({"seg": "realized"}, email="a@x.co"))], mappings, pinterest, clock)
    assert mappings.writers["seg"] == ("inv-1", clock.now) and "seg" not in mappings.settling


def test_a_defect_while_syncing_one_audience_fails_its_changes_and_releases_it():
    class BrokenLedger(InMemoryLedger):
        def read(self, audience_id, keys):
            if audience_id == "seg":
                raise KeyError("a defect")
            return super().read(audience_id, keys)

    mappings = FakeMappings({"seg": ready("seg", "77"), "other": ready("other", "78")})
    clock = Clock()
    messages = [
        body(profile({"seg": "realized"}, email="a@x.co")),
        body(profile({"other": "realized"}, email="b@x.co")),
    ]
    outcome = leased_run(
        messages, mappings, FakePinterest(lists={"77": set(), "78": set()}), clock, ledger=BrokenLedger()
    )
    assert outcome.failed == {"internal_error": 1} and outcome.added == 1
    assert mappings.writers["seg"] == ("inv-1", clock.now)


GAID = "38400000-8cf0-11bd-b23e-10b96e40000d"


def test_a_profile_whose_consent_denies_sharing_leaves_every_list_with_every_identifier_it_added():
    pinterest, mappings, ledger = FakePinterest(), FakeMappings(), InMemoryLedger()
    consented = replace(options(), profile_namespaces=("ECID", "Email", "GAID"))

    def sync(document, at):
        run = AudienceSync(
            consented,
            pinterest,
            mappings,
            clock=lambda: at,
            owner="inv",
            deadline=Deadline(lambda: 60.0),
            ledger=ledger,
        )
        return run.run([InboundMessage("m1", body(document), at)])

    def members(audience_id):
        list_id = mappings.mappings[audience_id].customer_list_id
        assert list_id is not None
        return pinterest.lists[list_id]

    # Given a person (ECID 1, an email and a GAID) in audiences a and b, and someone else in a
    person = profile({"a": "realized", "b": "realized"}, email="a@b.co", gaid=GAID, extra_identities={"ECID": ["1"]})
    sync(person, EPOCH)
    sync(profile({"a": "realized"}, email="other@b.co", extra_identities={"ECID": ["2"]}), EPOCH)
    # When a later message of the same profile, carrying only the email and audience a, says "do not share"
    denial = profile({"a": "realized"}, email="a@b.co", extra_identities={"ECID": ["1"]}, at="2026-11-28T11:00:00Z")
    denial["consents"] = {"share": {"val": "n"}}
    outcome = sync(denial, EPOCH + timedelta(hours=1))
    # Then both lists lose every identifier of that profile (the GAID through the ledger), and nothing else
    assert members("a") == {sha256_hex("other@b.co")}
    assert members("b") == set()
    assert outcome.removed == 4 and outcome.added == 0  # two identifiers from two lists
    assert outcome.excluded == {"consent_denied": 2}  # the email and the ECID of the one entry
    assert outcome.excluded_share() == 0.0  # honouring a choice is not a data problem
    assert outcome.failed_message_ids(["m1"]) == []
    # And the older add, redelivered afterwards, leaves the person out
    sync(person, EPOCH + timedelta(hours=2))
    assert members("a") == {sha256_hex("other@b.co")} and members("b") == set()


def test_a_denial_with_no_list_anywhere_is_acknowledged_with_nothing_to_do():
    denial = profile({"a": "realized"}, email="a@b.co")
    denial["consents"] = {"share": {"val": "dn"}}
    outcome, pinterest, _ = run([body(denial)])
    assert pinterest.calls == []
    assert outcome.excluded == {"consent_denied": 1}
    assert outcome.failed_message_ids(["m1"]) == []


class UnreadableListedIndex(FakeMappings):
    def listed_audiences(self) -> frozenset[str]:
        raise ConnectionError("the state table did not answer")


def test_a_failed_read_of_the_listed_index_retries_the_denial_instead_of_rejecting_it():
    """The read a consent denial needs (which audiences have a list) failing is no defect of the message: it comes
    back, with the retry backoff, and the rest of the batch goes on. It was rejected as ``unprocessable`` (a defect),
    made visible at once and rushed to the dead-letter queue, its person's removals left undone."""
    denial = profile({"a": "realized"}, email="a@b.co", gaid=GAID)
    denial["consents"] = {"share": {"val": "n"}}
    other = profile({"a": "realized"}, email="other@b.co")
    outcome, pinterest, _ = run([body(denial), body(other)], mappings=UnreadableListedIndex())
    assert outcome.rejected_messages == {}
    assert outcome.failed_message_ids(["m1", "m2"]) == ["m1"] and outcome.transiently_failed_message_ids() == {"m1"}
    assert outcome.failed == {"internal_error": 2} and outcome.excluded == {}  # its two identifiers, not counted twice
    assert outcome.added == 1 and [sorted(members) for members in pinterest.lists.values()] == [
        [sha256_hex("other@b.co")]
    ]


def test_a_list_made_before_the_listed_index_existed_joins_it_when_synced():
    mappings = FakeMappings({"seg": ready("seg", "77")})
    assert mappings.listed_audiences() == frozenset()
    run([body(profile({"seg": "realized"}, email="a@b.co"))], FakePinterest(lists={"77": set()}), mappings)
    assert mappings.listed_audiences() == {"seg"}


def test_a_denial_that_would_remove_more_than_its_message_may_ask_is_rejected_alone():
    # Given 600 audiences with a list (a denial turns into removals from every one of them)
    mappings = FakeMappings()
    mappings.note_listed([f"a{n}" for n in range(600)])
    small = profile({"a0": "realized"}, email="one@b.co")
    small["consents"] = {"share": {"val": "n"}}
    large = profile({"a0": "realized"}, email="two@b.co", gaid=GAID)  # 2 identifiers x 600 lists > 1,000
    large["consents"] = {"share": {"val": "n"}}
    outcome, pinterest, _ = run([body(large), body(small)], mappings=mappings)
    # Then the large one alone is refused with a reason, and the small one's 600 removals go on
    assert outcome.rejected_messages == {"too_many_changes": 1}
    assert outcome.failed_message_ids(["m1", "m2"]) == ["m1"]
    assert outcome.skipped == {"no_customer_list": 600}  # these lists are only listed, not mapped, in this fake
    assert pinterest.calls == []


def test_an_update_accepted_on_a_retry_after_an_ambiguous_attempt_holds_the_audience_for_the_settle_time():
    """The client retried a timed-out PATCH and the retry was accepted: the timed-out attempt may still land at
    Pinterest, and must not land after the next invocation's request for the same records."""
    mappings = FakeMappings({"seg": ready("seg", "77")})
    clock = Clock()
    ledger = InMemoryLedger()
    pinterest = FakePinterest(lists={"77": set()}, retried=True)
    outcome = leased_run(
        [body(profile({"seg": "realized"}, email="a@x.co"))], mappings, pinterest, clock, ledger=ledger
    )
    assert outcome.added == 1 and outcome.failed == {}
    assert mappings.writers["seg"] == ("inv-1", clock.now + timedelta(seconds=20)) and "seg" in mappings.settling


def test_a_reason_with_nothing_to_count_is_left_out_of_the_run_and_its_metrics():
    """A profile without identities counts nothing under its audiences' reasons: a zero under `unknown_status` would
    still reach the Dataflow Run event and a metric per reason."""
    profiles = [
        profile({"seg": "queued", "other": "realized"}),
        profile({"seg": "realized"}, email="a@b.co"),
    ]
    outcome, _, _ = run(
        [body(*profiles)], FakePinterest(lists={"77": set()}), FakeMappings({"seg": ready("seg", "77")})
    )
    assert outcome.added == 1
    assert all(outcome.excluded.values()), dict(outcome.excluded)
    detail = detail_of(outcome.to_event(Destination(name="dest", ad_account_id="1")))
    assert 0 not in detail["identities"]["excluded_by_reason"].values()
