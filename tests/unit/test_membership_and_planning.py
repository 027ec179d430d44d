import time
from datetime import UTC, datetime, timedelta

import pytest
from pinsync.events import ExclusionReason
from pinsync.sync.consent import ConsentPolicy
from pinsync.sync.contract import parse_body
from pinsync.sync.identities import DEFAULT_NAMESPACES, parse_namespace_map, sha256_hex
from pinsync.sync.membership import (
    ActivationRule,
    Change,
    ChangeBudgetExceededError,
    Extraction,
    Operation,
    audience_id_problem,
    change_budget,
    coalesce,
    extract_changes,
)
from pinsync.sync.planning import chunked, minimum_requests, plan

from tests.builders import EPOCH, body, profile

NAMESPACES = parse_namespace_map(DEFAULT_NAMESPACES)


def change(audience="a", record="r1", op=Operation.ADD, minutes=0, sequence=0, message="m1"):
    return Change(audience, record, op, EPOCH + timedelta(minutes=minutes), sequence, frozenset({message}))


def extract(document, activation="*", profile_namespaces=(), sent_at=EPOCH, budget=None, consent=ConsentPolicy.OPT_OUT):
    extraction = Extraction()
    for parsed in parse_body(body(document)):
        extract_changes(
            parsed,
            message_id="m1",
            fallback_time=sent_at,
            activation=ActivationRule.parse(activation),
            namespaces=NAMESPACES,
            extraction=extraction,
            profile_namespaces=profile_namespaces,
            budget=budget,
            consent_policy=consent,
        )
    return extraction


def test_audiences_of_every_segment_namespace_are_extracted():
    document = profile({"a": "realized"}, email="a@b.co")
    document["segmentMembership"]["other"] = {"b": {"status": "exited"}}
    result = extract(document)
    assert sorted((c.audience_id, c.operation) for c in result.changes) == [
        ("a", Operation.ADD),
        ("b", Operation.REMOVE),
    ]
    assert [c.sequence for c in result.changes] == [0, 1]


PROFILE_NAMESPACES = ("ECID", "Email", "GAID")


def test_profile_key_is_the_first_preferred_namespace_hashed_with_its_name():
    result = extract(
        profile({"a": "realized"}, email="a@b.co", extra_identities={"ecid": [" 123 ", "456"]}),
        profile_namespaces=PROFILE_NAMESPACES,
    )
    assert {c.profile_key for c in result.changes} == {sha256_hex("ecid:123")}


def test_profile_key_reuses_the_record_of_an_identity_sent_to_pinterest():
    gaid = "38400000-8CF0-11BD-B23E-10B96E40000D"
    result = extract(
        profile({"a": "realized"}, email=["A@B.co", "c@d.co"], gaid=gaid), profile_namespaces=PROFILE_NAMESPACES
    )
    assert {c.profile_key for c in result.changes} == {sha256_hex("a@b.co")}
    result = extract(profile({"a": "realized"}, gaid=gaid), profile_namespaces=PROFILE_NAMESPACES)
    assert {c.profile_key for c in result.changes} == {sha256_hex(gaid.lower())}


def test_profile_key_skips_invalid_values_and_is_none_without_a_preferred_namespace():
    result = extract(profile({"a": "realized"}, email=["bad", "a@b.co"]), profile_namespaces=PROFILE_NAMESPACES)
    assert {c.profile_key for c in result.changes} == {sha256_hex("a@b.co")}
    assert {c.profile_key for c in extract(profile({"a": "realized"}, email="a@b.co")).changes} == {None}
    idfa_only = profile({"a": "realized"}, idfa="38400000-8cf0-11bd-b23e-10b96e40000d")
    assert {c.profile_key for c in extract(idfa_only, profile_namespaces=PROFILE_NAMESPACES).changes} == {None}


def test_statuses_map_to_operations_and_unknown_ones_are_excluded():
    result = extract(
        profile({"in": "realized", "still": "existing", "out": "exited", "odd": "pending"}, email="a@b.co")
    )
    assert sorted((c.audience_id, c.operation) for c in result.changes) == [
        ("in", Operation.ADD),
        ("out", Operation.REMOVE),
        ("still", Operation.ADD),
    ]
    assert result.excluded == {ExclusionReason.UNKNOWN_STATUS: 1}


def test_one_change_per_audience_and_identity_with_exclusions_counted_in_the_same_unit():
    result = extract(profile({"a": "realized", "b": "realized"}, email=["a@b.co", "bad"], gaid="nope"))
    assert len(result.changes) == 2
    assert result.excluded == {"invalid_identity": 4}


def test_audiences_that_are_not_activated_are_excluded():
    result = extract(
        profile({"a": "realized", "b": "realized"}, email="a@b.co", gaid="38400000-8cf0-11bd-b23e-10b96e40000d"), "a, c"
    )
    assert {c.audience_id for c in result.changes} == {"a"}
    assert result.excluded == {ExclusionReason.NOT_ACTIVATED: 2}


@pytest.mark.parametrize(
    ("spec", "everything", "ids", "mapped"),
    [
        ("none", False, set(), False),
        (" none ", False, set(), False),
        ("*", True, set(), False),
        ("a,*", True, set(), False),
        ("mapped", False, set(), True),
        ("mapped, a ,none", False, {"a"}, True),
        ("a,,b", False, {"a", "b"}, False),
    ],
)
def test_activation_specs(spec, everything, ids, mapped):
    rule = ActivationRule.parse(spec)
    assert (rule.everything, rule.audience_ids, rule.mapped) == (everything, ids, mapped)


@pytest.mark.parametrize(
    ("marks", "allowed"),
    [
        ({"name": "Spring sale"}, True),
        ({"mappingCreatedAt": 1649856570000}, True),
        ({"mappingCreatedAt": 1649856570000, "name": "x"}, True),
        ({}, False),  # an unmapped audience of the same export
        ({"name": ""}, False),
        ({"name": None, "mappingCreatedAt": None}, False),
        ({"createdAt": 1648553325000, "updatedAt": 1648553330000}, False),  # the audience's own times, not a mapping
        ({"mappingUpdatedAt": 1649856570000}, False),  # never sent without mappingCreatedAt
    ],
)
def test_mapped_activates_only_entries_the_producer_marks_as_mapped(marks, allowed):
    document = profile({"seg": "realized"}, email="a@b.co")
    document["segmentMembership"]["ups"]["seg"].update(marks)
    result = extract(document, "mapped")
    assert bool(result.changes) is allowed
    assert result.excluded == ({} if allowed else {ExclusionReason.NOT_ACTIVATED: 1})


def test_nothing_is_activated_by_none_whatever_the_entry_says():
    document = profile({"seg": "realized"}, email="a@b.co")
    document["segmentMembership"]["ups"]["seg"].update({"name": "Spring sale", "mappingCreatedAt": 1})
    result = extract(document, "none")
    assert result.changes == [] and result.excluded == {ExclusionReason.NOT_ACTIVATED: 1}


def test_an_operator_listed_audience_is_activated_beside_the_mapped_ones():
    document = profile({"listed": "realized", "unmapped": "realized", "marked": "realized"}, email="a@b.co")
    document["segmentMembership"]["ups"]["marked"]["name"] = "Marked"
    result = extract(document, "mapped,listed")
    assert {c.audience_id for c in result.changes} == {"listed", "marked"}
    assert result.excluded == {ExclusionReason.NOT_ACTIVATED: 1}


def test_an_audience_id_too_long_for_a_dynamodb_key_is_excluded_not_fatal():
    result = extract(profile({"a" * 257: "realized", "b" * 256: "realized"}, email="a@b.co"))
    assert [c.audience_id for c in result.changes] == ["b" * 256]
    assert result.excluded == {"invalid_audience_id": 1}


@pytest.mark.parametrize(
    "audience_id",
    ["", "   ", "\t", " seg", "seg ", "seg\nment", "seg\x00", "seg\u202ement", "\u200b", "seg\u2028"],
    ids=["empty", "spaces", "tab", "leading", "trailing", "newline", "nul", "bidi-override", "zero-width", "line-sep"],
)
def test_audience_ids_that_cannot_name_a_list_are_excluded_by_the_one_rule(audience_id):
    assert audience_id_problem(audience_id) is not None
    result = extract(profile({audience_id: "realized", "fine": "realized"}, email="a@b.co"))
    assert [c.audience_id for c in result.changes] == ["fine"]
    assert result.excluded == {ExclusionReason.INVALID_AUDIENCE_ID: 1}


@pytest.mark.parametrize("audience_id", ["5b998cb9-9488-4ec3-8d95-fa8338ced490", "spring sale", "Été 2026", "a" * 256])
def test_ordinary_audience_ids_pass_the_rule(audience_id):
    assert audience_id_problem(audience_id) is None


def test_placeholders_never_key_a_profile():
    zero = "00000000-0000-0000-0000-000000000000"
    result = extract(
        profile({"a": "realized"}, email="a@b.co", gaid=zero, extra_identities={"ECID": ["", " NULL ", "undefined"]}),
        profile_namespaces=("ECID", "GAID", "Email"),
    )
    assert {c.profile_key for c in result.changes} == {sha256_hex("a@b.co")}
    assert [c.record for c in result.changes] == [sha256_hex("a@b.co")]  # the zero GAID is not sent either
    assert result.excluded == {ExclusionReason.PLACEHOLDER_IDENTITY: 1, ExclusionReason.UNMAPPED_NAMESPACE: 3}


@pytest.mark.parametrize(
    "value",
    [
        "00000000-0000-0000-0000-000000000000",
        " FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF ",
        "11111111-1111-1111-1111-111111111111",
    ],
)
def test_a_uuid_of_one_repeated_digit_keys_no_profile_in_an_unmapped_namespace_either(value):
    """A CRM id or a device id the operator does not send to Pinterest may still key profiles (ProfileKeyNamespaces);
    the empty GUID many systems store for "unknown" is shared by every such profile, so it must not key them: one
    exit would remove every identifier all of them ever added."""
    result = extract(
        profile({"a": "realized"}, email="a@b.co", extra_identities={"CRMID": [value, "crm-7"]}),
        profile_namespaces=("CRMID", "Email"),
    )
    assert {c.profile_key for c in result.changes} == {sha256_hex("crmid:crm-7")}


@pytest.mark.parametrize(
    "time",
    ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "2026-11-29T10:00:01Z", "2027-01-01T00:00:00Z"],
    ids=["year-1-positive-offset", "year-9999-negative-offset", "just-past-the-skew", "next-year"],
)
def test_a_time_that_overflows_or_lies_far_ahead_excludes_that_entry_alone(time):
    document = profile({"bad": "realized", "good": "realized"}, email="a@b.co", times={"bad": time})
    result = extract(document)  # sent at EPOCH, 2026-11-28T10:00:00Z
    assert [c.audience_id for c in result.changes] == ["good"]
    assert result.excluded == {ExclusionReason.INVALID_TIME: 1}


def test_times_are_kept_in_utc_and_may_run_a_little_ahead_of_the_send_time():
    document = profile(
        {"a": "realized", "b": "exited"},
        email="a@b.co",
        times={"a": "2026-11-28T11:00:00+01:00", "b": "2026-11-29T10:00:00Z"},  # the send time, and a day after it
    )
    changes = {c.audience_id: c.qualified_at for c in extract(document).changes}
    assert changes == {"a": EPOCH, "b": EPOCH + timedelta(days=1)}
    assert all(moment.utcoffset() == timedelta(0) for moment in changes.values())


def test_a_profile_over_the_message_budget_raises_before_adding_anything():
    document = profile({f"a{i}": "realized" for i in range(10)}, email=[f"p{i}@b.co" for i in range(10)])
    with pytest.raises(ChangeBudgetExceededError):
        extract(document, budget=99)
    assert len(extract(document, budget=100).changes) == 100
    assert change_budget(10) == 1_000 and change_budget(64_000) == 2_000


def test_unusable_identities_of_a_message_full_of_audiences_are_counted_without_a_step_per_pair():
    """Identities that make no change (unmapped, invalid) are outside the change budget, so a 256 KB body may carry
    9,000 of them with 4,000 audiences. Counted one by one per audience, their 36 million exclusions took 5 s: a few
    such messages timed out their whole batch on every delivery. The counts stay per audience × identity."""
    document = {
        "segmentMembership": {"ups": {f"{i:x}": {"status": "realized"} for i in range(4_000)}},
        "identityMap": {"ECID": [{"id": str(i)} for i in range(4_500)], "Email": [{"id": "x"}] * 4_500},
    }
    started = time.perf_counter()
    result = extract(document, budget=change_budget(len(body(document))))
    elapsed = time.perf_counter() - started
    assert result.changes == []
    assert result.excluded == {"unmapped_namespace": 18_000_000, "invalid_identity": 18_000_000}
    assert elapsed < 2.0, f"{elapsed:.1f} s for one message"
    empty = {"segmentMembership": {"ups": {"a": {"status": "realized"}}}, "identityMap": {"ECID": [], "Email": []}}
    assert extract(empty).excluded == {}  # no zero counts: the Dataflow Run event lists the reasons that occurred


def test_missing_qualification_time_falls_back_to_the_message_time():
    document = profile({"a": "realized"}, email="a@b.co")
    del document["segmentMembership"]["ups"]["a"]["lastQualificationTime"]
    [only] = extract(document).changes
    assert only.qualified_at == EPOCH


def test_coalescing_keeps_the_latest_change_and_merges_message_ids():
    add_late = change(op=Operation.ADD, minutes=5, sequence=0, message="m1")
    remove_early = change(op=Operation.REMOVE, minutes=0, sequence=1, message="m2")
    duplicate = change(op=Operation.ADD, minutes=5, sequence=2, message="m3")
    other = change(record="r2", message="m4")
    result = coalesce([add_late, remove_early, duplicate, other])
    assert result.folded == 2
    by_record = {c.record: c for c in result.changes}
    assert by_record["r1"].operation is Operation.ADD
    assert by_record["r1"].message_ids == {"m1", "m2", "m3"}
    assert by_record["r2"].message_ids == {"m4"}


def test_equal_times_are_decided_by_arrival_order():
    first = change(op=Operation.ADD, sequence=0, message="m1")
    second = change(op=Operation.REMOVE, sequence=1, message="m2")
    assert coalesce([first, second]).changes[0].operation is Operation.REMOVE
    assert coalesce([second, first]).changes[0].operation is Operation.REMOVE


def test_chunking():
    changes = [change(record=f"r{i}") for i in range(5)]
    assert [len(chunk) for chunk in chunked(changes, 2)] == [2, 2, 1]
    assert chunked([], 2) == []
    with pytest.raises(ValueError):
        chunked(changes, 0)


def test_plan_groups_across_messages_per_list_and_operation():
    changes = [change("a", f"add{i}", Operation.ADD, message=f"m{i}") for i in range(5)]
    changes += [change("a", f"rem{i}", Operation.REMOVE, message=f"n{i}") for i in range(3)]
    changes += [
        change("b", "x", Operation.ADD),
        change("new", "y", Operation.ADD),
        change("new", "z", Operation.REMOVE),
    ]
    result = plan(changes, {"a": "11", "b": "22"}, max_records=2)
    assert [(r.customer_list_id, r.operation, len(r.changes)) for r in result.requests] == [
        ("11", Operation.REMOVE, 2),
        ("11", Operation.REMOVE, 1),
        ("11", Operation.ADD, 2),
        ("11", Operation.ADD, 2),
        ("11", Operation.ADD, 1),
        ("22", Operation.ADD, 1),
    ]
    assert [c.record for c in result.to_create["new"]] == ["y"]
    assert [c.record for c in result.removes_without_list] == ["z"]
    assert len(result.requests) == minimum_requests([5, 3, 1], 2)


def test_request_halves_split_evenly():
    request = plan([change(record=f"r{i}") for i in range(5)], {"a": "1"}, 10).requests[0]
    left, right = request.halves()
    assert (len(left.changes), len(right.changes)) == (2, 3)
    assert left.records + right.records == request.records


def test_a_profile_that_denies_sharing_adds_nothing_and_is_kept_for_removal_everywhere():
    document = profile(
        {"a": "realized", "b": "exited"},
        email="a@b.co",
        gaid="38400000-8cf0-11bd-b23e-10b96e40000d",
        extra_identities={"ECID": ["123"]},
        times={"a": "2026-11-28T10:00:05Z", "b": "2026-11-28T09:00:00Z"},
    )
    document["consents"] = {"share": {"val": "n"}}
    result = extract(document, "a", PROFILE_NAMESPACES, sent_at=EPOCH)
    assert result.changes == []
    # every entry counts its identities as consent_denied, activated or not
    assert result.excluded == {ExclusionReason.CONSENT_DENIED: 6}
    [denied] = result.denied
    assert set(denied.records) == {sha256_hex("a@b.co"), sha256_hex("38400000-8cf0-11bd-b23e-10b96e40000d")}
    assert denied.profile_key == sha256_hex("ecid:123")
    assert denied.at == max(EPOCH, datetime(2026, 11, 28, 10, 0, 5, tzinfo=UTC))  # never older than an add of it
    assert denied.message_ids == {"m1"}


def test_a_denial_time_ignores_entries_too_far_ahead_or_overflowing():
    document = profile({"a": "realized", "b": "realized"}, email="a@b.co", times={"a": "2099-01-01T00:00:00Z"})
    document["segmentMembership"]["ups"]["b"]["lastQualificationTime"] = "0001-01-01T00:00:00+01:00"
    document["consents"] = {"share": {"val": "dn"}}
    [denied] = extract(document, sent_at=EPOCH).denied
    assert denied.at == EPOCH


def test_removals_of_denied_profiles_cover_every_listed_audience_as_exits():
    document = profile({"a": "realized"}, email="a@b.co", extra_identities={"ECID": ["1"]})
    document["consents"] = {"share": {"val": "n"}}
    result = extract(document, profile_namespaces=PROFILE_NAMESPACES)
    result.removals_of_denied({"x", "a", "y"})
    assert [(c.audience_id, c.operation) for c in result.changes] == [
        ("a", Operation.REMOVE),
        ("x", Operation.REMOVE),
        ("y", Operation.REMOVE),
    ]
    assert {c.profile_key for c in result.changes} == {sha256_hex("ecid:1")}
    assert [c.sequence for c in result.changes] == [0, 1, 2]


@pytest.mark.parametrize(
    ("value", "policy", "denied"),
    [("y", ConsentPolicy.OPT_IN, False), ("u", ConsentPolicy.OPT_IN, True), ("n", ConsentPolicy.IGNORE, False)],
)
def test_the_policy_decides(value, policy, denied):
    document = profile({"a": "realized"}, email="a@b.co")
    document["consents"] = {"share": {"val": value}}
    result = extract(document, consent=policy)
    assert bool(result.denied) is denied and bool(result.changes) is not denied


def test_without_consent_fields_a_profile_behaves_as_before_unless_consent_is_required():
    document = profile({"a": "realized"}, email="a@b.co")
    assert len(extract(document).changes) == 1
    assert extract(document, consent=ConsentPolicy.OPT_IN).excluded == {ExclusionReason.CONSENT_DENIED: 1}
