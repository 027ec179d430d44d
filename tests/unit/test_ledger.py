from datetime import timedelta

from pinsync.sync.ledger import (
    LedgerEntry,
    against_ledger,
    entries_for,
    exit_profiles,
    expand_exits,
    mirror,
    newer_than_ledger,
)
from pinsync.sync.membership import Change, Operation, coalesce

from tests.builders import EPOCH


def change(record="r1", op=Operation.ADD, minutes=0, profile="p1", audience="a", message="m1"):
    return Change(audience, record, op, EPOCH + timedelta(minutes=minutes), 0, frozenset({message}), profile)


def entry(record="r1", member=True, minutes=0, profile="p1", audience="a"):
    return LedgerEntry(audience, record, member, EPOCH + timedelta(minutes=minutes), profile)


def test_changes_without_history_are_sent_removes_included():
    # The ledger cannot prove that y is absent: an ADD may have reached Pinterest before a crash kept it from
    # being recorded. Removing someone absent costs one idempotent call; leaving someone in is a wrong audience.
    decision = against_ledger([change("x", Operation.ADD), change("y", Operation.REMOVE)], {})
    assert [c.record for c in decision.apply] == ["x", "y"]
    assert decision.unchanged == []


def test_an_unchanged_change_newer_than_its_entry_is_recorded_so_an_older_one_turns_stale():
    held = {("a", "r1"): entry(member=False, minutes=0), ("a", "r2"): entry("r2", member=False, minutes=10)}
    exit_at_60 = change("r1", Operation.REMOVE, 60)
    redelivered = change("r2", Operation.REMOVE, 10)
    decision = against_ledger([exit_at_60, redelivered], held)
    assert decision.unchanged == [exit_at_60, redelivered]
    assert newer_than_ledger(decision.unchanged, held) == [exit_at_60]  # a redelivery rewrites nothing

    recorded = {e.key: e for e in entries_for([exit_at_60])}
    late_add = change("r1", Operation.ADD, 30)  # retried from before the exit
    assert against_ledger([late_add], {**held, **recorded}).stale == [late_add]


def test_a_change_older_than_the_ledger_is_stale():
    held = {("a", "r1"): entry(member=False, minutes=5)}
    decision = against_ledger([change(op=Operation.ADD, minutes=0)], held)
    assert decision.stale and not decision.apply


def test_same_state_is_unchanged_and_a_newer_flip_applies():
    held = {("a", "r1"): entry(member=True, minutes=0), ("a", "r2"): entry("r2", member=True, minutes=0)}
    decision = against_ledger([change("r1", Operation.ADD, 10), change("r2", Operation.REMOVE, 10)], held)
    assert [c.record for c in decision.unchanged] == ["r1"]
    assert [c.record for c in decision.apply] == ["r2"]


def test_an_exit_expands_to_every_identifier_the_profile_holds():
    exit_change = change("new-email", Operation.REMOVE, 10, message="m9")
    expanded = expand_exits([exit_change], {("a", "p1"): ["old-email", "new-email", "gaid"]})
    assert sorted(c.record for c in expanded) == ["gaid", "new-email", "old-email"]
    assert all(c.operation is Operation.REMOVE and c.message_ids == {"m9"} for c in expanded)
    assert exit_profiles([exit_change, change("z", Operation.ADD, profile="p2")]) == {("a", "p1")}


def test_an_exit_supersedes_an_older_add_of_a_held_identifier_in_the_same_batch():
    late_snapshot = change("old-email", Operation.ADD, 0, message="m1")  # still qualified, as of 10:00
    exit_change = change("new-email", Operation.REMOVE, 60, message="m2")  # the exit, at 11:00
    expanded = expand_exits([late_snapshot, exit_change], {("a", "p1"): ["old-email"]})
    [survivor] = [c for c in coalesce(expanded).changes if c.record == "old-email"]
    assert survivor.operation is Operation.REMOVE and survivor.message_ids == {"m1", "m2"}


def test_an_exit_does_not_override_a_newer_change_in_the_batch():
    readded = change("old-email", Operation.ADD, 90, message="m3")
    exit_change = change("new-email", Operation.REMOVE, 60, message="m2")
    expanded = expand_exits([readded, exit_change], {("a", "p1"): ["old-email", "new-email"]})
    assert sorted((c.record, c.operation) for c in expanded) == [
        ("new-email", Operation.REMOVE),
        ("old-email", Operation.ADD),
    ]


def test_adds_are_not_expanded_and_profiles_without_key_are_left_alone():
    changes = [change(op=Operation.ADD), change("q", Operation.REMOVE, profile=None)]
    assert expand_exits(changes, {("a", "p1"): ["other"]}) == changes


def test_entries_record_the_applied_state():
    [added, removed] = entries_for([change("r1", Operation.ADD, 1), change("r2", Operation.REMOVE, 2, profile=None)])
    assert (added.member, added.profile_key, added.qualified_at) == (True, "p1", EPOCH + timedelta(minutes=1))
    assert (removed.member, removed.profile_key) == (False, None)


def test_mirror_computes_adds_and_removes():
    assert mirror(["a", "b", "c"], ["b", "c", "d", "e"]) == ({"a"}, {"d", "e"})
