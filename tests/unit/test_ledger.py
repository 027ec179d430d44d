"""The ledger's decisions (``plan_changes``) and its write-behind (``PendingWrites``), pure."""

from datetime import timedelta

from pinsync.sync.ledger import (
    MAX_LINKS,
    Entry,
    LedgerItem,
    PendingWrites,
    keys_to_read,
    members,
    mirror,
    plan_changes,
    state_of,
)
from pinsync.sync.membership import Change, Operation

from tests.builders import EPOCH

ADD, REMOVE = Operation.ADD, Operation.REMOVE


def at(minutes: int):
    return EPOCH + timedelta(minutes=minutes)


def change(record="r1", op=ADD, minutes=0, profile="p1", message="m1"):
    return Change("a", record, op, at(minutes), 0, frozenset({message}), profile)


def entry(member=True, minutes=0, uncertain=False):
    return Entry(member, at(minutes), uncertain)


def profile(key="p1", entries=None, links=(), exited=None, shared=False):
    return LedgerItem(
        key,
        entries=entries or {},
        links=frozenset(links),
        exited_at=at(exited) if exited is not None else None,
        shared=shared,
    )


def index(record, *owners):
    return LedgerItem(record, owners=frozenset(owners))


def items(*held: LedgerItem) -> dict[str, LedgerItem]:
    return {item.key: item for item in held}


def held_by_p1(*records, member=True, minutes=0, exited=None):
    """Profile p1 holding ``records`` (in or out since ``minutes``), and their indexes."""
    states = {record: entry(member, minutes) for record in records}
    return items(profile("p1", states, links=records, exited=exited), *(index(record, "p1") for record in records))


def decided(plan):
    return sorted((c.record, c.operation.value, c.qualified_at) for c in plan.apply)


def test_changes_without_history_are_sent_removes_included():
    # The ledger cannot prove that y is absent: an ADD may have reached Pinterest before a crash kept it from
    # being recorded. Removing someone absent costs one idempotent call; leaving someone in is a wrong audience.
    plan = plan_changes([change("x", ADD, profile=None), change("y", REMOVE, profile=None)], {})
    assert [c.record for c in plan.apply] == ["x", "y"]
    assert plan.homes == {"x": "x", "y": "y"}  # without a profile key, a record is its own single-record profile


def test_a_change_older_than_the_state_is_stale_and_the_same_state_is_unchanged():
    held = items(
        profile("r1", {"r1": entry(False, 5)}), profile("r2", {"r2": entry(True)}), profile("r3", {"r3": entry(True)})
    )
    plan = plan_changes(
        [
            change("r1", ADD, 0, profile=None),
            change("r2", ADD, 10, profile=None),
            change("r3", REMOVE, 10, profile=None),
        ],
        held,
    )
    assert [c.record for c in plan.stale] == ["r1"]
    assert [c.record for c in plan.unchanged] == ["r2"]
    assert [c.record for c in plan.apply] == ["r3"]


def test_an_unchanged_change_newer_than_the_state_is_refreshed_so_an_older_one_turns_stale():
    held = items(profile("r1", {"r1": entry(False, 0)}), profile("r2", {"r2": entry(False, 10)}))
    plan = plan_changes([change("r1", REMOVE, 60, profile=None), change("r2", REMOVE, 10, profile=None)], held)
    assert [c.record for c in plan.unchanged] == ["r1", "r2"]
    assert plan.refreshed == {"r1": entry(False, 60)}  # a redelivery (same time) rewrites nothing
    [written] = PendingWrites(held, plan).rest()
    assert [c.record for c in plan_changes([change("r1", ADD, 30, profile=None)], items(written)).stale] == ["r1"]


def test_an_uncertain_state_is_never_skipped_as_unchanged():
    # A timeout may have applied the REMOVE after all: the ledger still says "in", but Pinterest may not hold it
    plan = plan_changes([change("r1", ADD, 10, profile=None)], items(profile("r1", {"r1": entry(uncertain=True)})))
    assert [c.record for c in plan.apply] == ["r1"] and plan.unchanged == []


def test_a_record_state_is_its_latest_entry_across_the_profiles_its_index_names():
    # A family email: profile p0 added it at 10:00, profile p1 removed it at 10:30 (its exit carried it)
    held = items(
        profile("p0", {"family": entry(True, 0)}, links=["family"]),
        profile("p1", {"family": entry(False, 30)}),
        index("family", "p0", "p1"),
    )
    assert state_of("family", held) == entry(False, 30)
    # so p0's ADD from 10:20 is stale, and its ADD from 10:40 is applied (Pinterest does not hold the email)
    assert [c.record for c in plan_changes([change("family", ADD, 20, profile="p0")], held).stale] == ["family"]
    assert decided(plan_changes([change("family", ADD, 40, profile="p0")], held)) == [("family", "ADD", at(40))]


def test_reading_follows_indexes_to_their_owners_and_exits_to_their_links():
    exit_ = change("new-email", REMOVE, 10, profile="p1")
    assert keys_to_read([exit_], {}) == {"new-email", "p1"}
    first = items(profile("p1", links=["old-email"]), index("new-email", "p9"))
    assert keys_to_read([exit_], first) == {"old-email", "p9"}
    second = first | items(index("old-email", "p1", "p7"), profile("p9"))
    assert keys_to_read([exit_], second) == {"p7"}


def test_an_exit_removes_every_record_the_profile_ever_added_at_the_exit_time():
    held = held_by_p1("old-email", "gaid")
    plan = plan_changes([change("new-email", REMOVE, 10, message="m9")], held)
    assert decided(plan) == [(r, "REMOVE", at(10)) for r in ("gaid", "new-email", "old-email")]
    assert all(c.message_ids == {"m9"} for c in plan.apply)
    assert plan.exits == {"p1": at(10)}


def test_an_exit_covers_the_records_added_in_the_same_batch_before_it():
    # A late snapshot (10:00, the old email) and the exit (11:00, only the new email) in one batch
    plan = plan_changes([change("old-email", ADD, 0), change("new-email", REMOVE, 60)], {})
    assert decided(plan) == [("new-email", "REMOVE", at(60)), ("old-email", "REMOVE", at(60))]
    assert plan.folded == 1
    assert plan.links == {"p1": frozenset({"old-email"})}


def test_an_exit_does_not_override_a_newer_change_in_the_batch():
    held = held_by_p1("r1", "r2")
    plan = plan_changes([change("r2", REMOVE, 10), change("r1", ADD, 20, message="m2")], held)
    assert decided(plan) == [("r2", "REMOVE", at(10))]
    assert [c.record for c in plan.unchanged] == ["r1"]  # re-added at 20, newer than the exit at 10


def test_a_late_add_before_the_stored_exit_becomes_a_remove_at_the_exit_time():
    # The exit was processed first and did not know this record yet; the retried ADD from before it arrives now
    held = held_by_p1("r1", member=False, minutes=60, exited=60)
    assert decided(plan_changes([change("r9", ADD, 30)], held)) == [("r9", "REMOVE", at(60))]
    # while an ADD after the exit is a re-entry
    assert decided(plan_changes([change("r9", ADD, 90)], held)) == [("r9", "ADD", at(90))]


def test_a_late_add_of_a_record_as_new_as_the_exit_is_stale():
    held = held_by_p1("r1", member=False, minutes=60, exited=60)
    plan = plan_changes([change("r1", ADD, 0)], held)
    assert [c.record for c in plan.stale] == ["r1"] and plan.apply == []


def test_a_late_add_of_a_record_another_profile_changed_before_the_exit_is_still_covered():
    # p1 exited at 10:50 before its ADD of the family email (10:20) arrived; p2 had added that email at 10:30
    held = held_by_p1("r1", member=False, minutes=50, exited=50) | items(
        profile("p2", {"family": entry(True, 30)}, links=["family"]), index("family", "p2")
    )
    assert decided(plan_changes([change("family", ADD, 20)], held)) == [("family", "REMOVE", at(50))]


def test_a_profile_holding_more_than_the_limit_is_shared_never_expanded_and_its_records_stand_alone():
    adds = [change(f"r{i}", ADD, 0) for i in range(MAX_LINKS + 1)]
    plan = plan_changes(adds, {})
    assert plan.newly_shared == {"p1"} and plan.links == {}
    assert set(plan.homes.values()) == {f"r{i}" for i in range(MAX_LINKS + 1)}
    shared = items(profile("p1", shared=True))
    exit_ = change("r0", REMOVE, 10)
    assert keys_to_read([exit_], shared) == {"r0"}
    assert decided(plan_changes([exit_], shared)) == [("r0", "REMOVE", at(10))]


def test_pending_writes_name_new_owners_before_the_send_then_write_one_item_per_profile():
    held = held_by_p1("gaid")
    plan = plan_changes([change("email", ADD, 10), change("gaid", ADD, 10)], held)
    writes = PendingWrites(held, plan)
    assert [(item.key, item.owners) for item in writes.owners(plan.apply)] == [("email", frozenset({"p1"}))]
    [written] = writes.applied(plan.apply)  # two records, one profile: one item
    assert written.key == "p1"
    assert written.entries == {"email": entry(True, 10), "gaid": entry(True, 10)}
    assert written.links == {"email", "gaid"}
    assert writes.rest() == []


def test_an_exit_is_one_item_write_however_many_records_it_removes():
    held = held_by_p1(*(f"r{i}" for i in range(10)))
    plan = plan_changes([change("r0", REMOVE, 10)], held)
    writes = PendingWrites(held, plan)
    assert writes.owners(plan.apply) == []
    [written] = writes.applied(plan.apply)
    assert written.exited_at == at(10) and not any(e.member for e in written.entries.values())


def test_pending_writes_mark_known_states_uncertain_in_the_change_home():
    held = held_by_p1("r1")
    plan = plan_changes([change("r1", REMOVE, 10, profile="p2"), change("unknown", REMOVE, 10, profile="p2")], held)
    writes = PendingWrites(held, plan)
    writes.owners(plan.apply)
    [written] = writes.uncertain(plan.apply)
    assert written.key == "p2" and written.entries == {"r1": entry(True, 0, uncertain=True)}
    assert writes.uncertain(plan.apply) == []  # already uncertain: nothing more to write
    state = state_of("r1", {**held, "p2": written, "r1": index("r1", "p1", "p2")})
    assert state is not None and state.uncertain


def test_members_are_the_records_whose_latest_entry_is_in():
    assert members(
        [
            profile("p0", {"a": entry(True, 0), "b": entry(True, 0)}),
            profile("p1", {"a": entry(False, 10), "c": entry(True, 5)}),
            index("a", "p0", "p1"),
        ]
    ) == {"b", "c"}


def test_mirror_computes_adds_and_removes():
    assert mirror({"a", "b"}, {"b", "c"}) == ({"a"}, {"c"})
