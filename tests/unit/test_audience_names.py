"""Naming a new customer list and audience after the name a producer gives the audience (AEP's "Include Segment
Names": each mapped audience entry carries ``name``): ``<DestinationName> <name>``, the operator's name winning, the
first chosen name kept for every later attempt (a retry finds the list it may have created), renames not followed."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pinsync.core.errors import PinterestTransientError
from pinsync.sync.membership import MAX_LIST_NAME_LENGTH, display_name, list_name
from pinsync.sync.planning import AudienceMapping, MappingState

from tests.builders import EPOCH, profile
from tests.fakes.mappings import FakeMappings
from tests.fakes.pinterest import FakePinterest
from tests.unit.test_sync import run


def named(audiences: dict[str, tuple[str, object]], email: str = "a@b.co", **extra: Any) -> str:
    """A message whose audience entries carry ``name`` (status, name)."""
    built = profile({aid: status for aid, (status, _) in audiences.items()}, email=email, **extra)
    for audience_id, (_, name) in audiences.items():
        built["segmentMembership"]["ups"][audience_id]["name"] = name
    return json.dumps(built)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Loyal customers", "Loyal customers"),
        ("  Loyal\tcustomers \n", "Loyal customers"),
        ("Käufer 🛍️ 2026", "Käufer 🛍️ 2026"),
        ("a\u202eevil", "a evil"),  # a bidi override would reverse the name in Ads Manager
        ("zero\u200bwidth", "zero width"),
        ("nul\x00byte", "nul byte"),
        ("", None),
        ("   ", None),
        ("\u200b\u202e", None),
        (None, None),
        (42, None),
        ({"en": "x"}, None),
        (["x"], None),
    ],
)
def test_display_name(raw: object, expected: str | None) -> None:
    assert display_name(raw) == expected


@given(st.text(max_size=2_000))
def test_display_name_is_always_printable_trimmed_and_bounded(raw: str) -> None:
    name = display_name(raw)
    if name is not None:
        assert name and name.isprintable() and name == name.strip()
        assert len(name) <= MAX_LIST_NAME_LENGTH and "  " not in name


def test_list_name_precedence_and_bound() -> None:
    assert list_name("dest", "seg-1") == "dest seg-1"
    assert list_name("dest", "seg-1", producer="Loyal") == "dest Loyal"
    assert list_name("dest", "seg-1", chosen="Operator's", producer="Loyal") == "Operator's"
    long = list_name("d" * 100, "seg", producer="n" * MAX_LIST_NAME_LENGTH)
    assert len(long) == MAX_LIST_NAME_LENGTH and long.startswith("d" * 100 + " n")
    # Without a producer's name, the name lists got before names existed: never cut (a creation begun before an
    # upgrade must be found under it)
    assert list_name("d" * 100, "a" * 256) == "d" * 100 + " " + "a" * 256


def test_a_new_list_and_its_audience_are_named_after_the_producers_name() -> None:
    outcome, pinterest, mappings = run([named({"seg": ("realized", "  Loyal   customers ")})])
    assert [call[1] for call in pinterest.calls if call[0] == "create"] == ["dest Loyal customers"]
    assert pinterest.audiences == {"dest Loyal customers": "5000"}
    assert mappings.mappings["seg"].name == "dest Loyal customers"  # recorded: later attempts use it
    assert outcome.added == 1 and outcome.customer_lists_created == 1


def test_without_a_usable_name_the_audience_id_names_the_list() -> None:
    for unusable in ("", "\u202e", 7, None):
        _, pinterest, _ = run([named({"seg": ("realized", unusable)})])
        assert pinterest.audiences == {"dest seg": "5000"}


def test_the_operators_name_wins() -> None:
    mappings = FakeMappings({"seg": AudienceMapping("seg", MappingState.CREATING, name="Chosen by ops")})
    _, pinterest, _ = run([named({"seg": ("realized", "Loyal")})], mappings=mappings)
    assert pinterest.audiences == {"Chosen by ops": "5000"}


def test_an_existing_list_is_not_renamed() -> None:
    mappings = FakeMappings({"seg": AudienceMapping("seg", MappingState.READY, "77", "9")})
    pinterest = FakePinterest(lists={"77": set()})
    outcome, pinterest, _ = run([named({"seg": ("realized", "Renamed in AEP")})], pinterest, mappings)
    assert [call[0] for call in pinterest.calls] == ["ADD"] and outcome.added == 1


def test_the_first_message_with_a_name_in_a_batch_names_the_list() -> None:
    messages = [
        named({"seg": ("realized", "First")}, email="a@b.co"),
        named({"seg": ("realized", "Second")}, email="c@d.co"),
    ]
    _, pinterest, _ = run(messages)
    assert list(pinterest.audiences) == ["dest First"]


def test_a_rejected_message_does_not_name_the_list() -> None:
    too_many = profile({"seg": "realized"}, email=[f"u{i}@x.co" for i in range(1_001)])
    rejected = json.dumps([json.loads(named({"seg": ("realized", "From a rejected message")})), too_many])
    outcome, pinterest, _ = run([rejected, named({"seg": ("realized", "Accepted")}, email="z@y.co")])
    assert outcome.rejected_messages == {"too_many_changes": 1}
    assert list(pinterest.audiences) == ["dest Accepted"]


def test_a_retry_without_the_name_finds_the_list_a_failed_creation_may_have_made() -> None:
    """A creation that timed out may have made the list: the retry looks for it under the name chosen the first
    time, even when the redelivered (or next) message carries no name or another one."""
    pinterest = FakePinterest(create_failures=[PinterestTransientError("timed out")])
    mappings = FakeMappings()
    outcome, pinterest, mappings = run([named({"seg": ("realized", "Loyal")})], pinterest, mappings)
    assert outcome.failed and mappings.mappings["seg"].name == "dest Loyal"
    pinterest.lists["42"] = set()  # Pinterest did create it before the answer was lost
    pinterest.names["dest Loyal"] = "42"
    mappings.writers.clear()  # the ambiguous failure's settle time has passed (the fake's clock stands still)
    mappings.settling.clear()
    outcome, pinterest, mappings = run(
        [named({"seg": ("realized", "Renamed meanwhile")}, email="c@d.co")], pinterest, mappings, owner="inv-2"
    )
    assert mappings.mappings["seg"].customer_list_id == "42"
    assert [call for call in pinterest.calls if call[0] == "create"] == [("create", "dest Loyal", 1)]
    assert pinterest.audiences == {"dest Loyal": "5000"}


def test_claim_keeps_the_first_recorded_name() -> None:
    store = FakeMappings()
    lease = timedelta(minutes=5)
    assert store.claim_creation("seg", "a", EPOCH, lease, name="dest One") == "dest One"
    assert store.claim_creation("seg", "b", EPOCH, lease, name="dest Two") is None  # held by a
    assert store.claim_creation("seg", "b", EPOCH + 2 * lease, lease, name="dest Two") == "dest One"
