"""The sample events in events/ are what the functions accept (so the README's examples cannot rot)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from pinsync.events import Destination, detail_of
from pinsync.rotation.invocation import ExpiryCheckEvent, RotationEvent, parse_event
from pinsync.sync.contract import ContractError, Profile, parse_body, parse_message
from pinsync.sync.identities import DEFAULT_NAMESPACES, parse_namespace_map
from pinsync.sync.membership import ActivationRule, Extraction, extract_changes, extract_erasure
from pinsync.sync.outcome import RunOutcome
from pinsync.sync.runtime import inbound_messages

from tests.builders import EPOCH

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
PROFILES = sorted((EVENTS / "profiles").glob("*/*.json"))


@pytest.mark.parametrize("path", PROFILES, ids=lambda path: path.name)
def test_sample_profiles_follow_the_contract_except_the_deliberately_broken_one(path: Path):
    if "malformed" in path.name:
        with pytest.raises(ContractError):
            parse_body(path.read_text())
    else:
        assert parse_body(path.read_text())


def test_the_sample_privacy_request_is_the_documented_one_and_parses():
    sample = (EVENTS / "privacy-request.json").read_text()
    doc = (REPO / "docs" / "message-contract.md").read_text()
    start = doc.index("```json", doc.index("## Privacy requests")) + len("```json")
    assert json.loads(doc[start : doc.index("```", start)]) == json.loads(sample)
    request = parse_message(sample)
    assert isinstance(request, dict) and request["requestId"] == "DSR-2026-0042"
    extraction = Extraction()
    extract_erasure(
        request,
        message_id="m1",
        fallback_time=EPOCH + timedelta(days=4),
        namespaces=parse_namespace_map(DEFAULT_NAMESPACES),
        extraction=extraction,
    )
    [erasure] = extraction.erasures
    assert (len(erasure.records), erasure.excluded) == (2, 0)


def test_sample_sqs_event_carries_contract_messages():
    messages = inbound_messages(json.loads((EVENTS / "sqs-audience-sync.json").read_text()), EPOCH)
    assert len(messages) == 2
    assert all(parse_body(message.body) for message in messages)


@pytest.mark.parametrize("step", ["createSecret", "setSecret", "testSecret", "finishSecret"])
def test_rotation_step_samples_parse(step: str):
    parsed = parse_event(json.loads((EVENTS / "rotation" / f"{step}.json").read_text()))
    assert isinstance(parsed, RotationEvent)


def test_expiry_check_sample_parses():
    assert isinstance(
        parse_event(json.loads((EVENTS / "rotation" / "expiry-check.json").read_text())), ExpiryCheckEvent
    )


def test_the_documented_dataflow_run_sample_is_what_the_code_computes_from_its_counts():
    readme = (REPO / "docs" / "design.md").read_text()
    start = readme.index("```json", readme.index("detail-type `Dataflow Run`")) + len("```json")
    sample = json.loads(readme[start : readme.index("```", start)])
    identities, messages = sample["identities"], sample["messages"]
    outcome = RunOutcome(
        messages_received=messages["received"],
        profiles_received=sample["profiles_received"],
        added=identities["added"],
        removed=identities["removed"],
        customer_lists_created=sample["customer_lists_created"],
    )
    outcome.excluded.update(identities["excluded_by_reason"])
    outcome.skipped.update(identities["skipped_by_reason"])
    outcome.failed.update(identities["failed_by_reason"])
    for reason, count in messages["rejected_by_reason"].items():
        for index in range(count):
            outcome.reject_message(f"{reason}-{index}", reason)
    assert detail_of(outcome.to_event(Destination.model_validate(sample["destination"]))) == sample


def extracted(profiles: list[Profile], activation: str) -> Extraction:
    extraction = Extraction()
    for profile in profiles:
        extract_changes(
            profile,
            message_id="m1",
            fallback_time=EPOCH,
            activation=ActivationRule.parse(activation),
            namespaces=parse_namespace_map(DEFAULT_NAMESPACES),
            extraction=extraction,
            profile_namespaces=("ECID", "Email", "Email_LC_SHA256", "GAID", "IDFA"),
        )
    return extraction


def test_adobes_own_http_api_export_samples_parse_and_expand_as_documented():
    """The exports of Adobe's documentation of the HTTP API destination (events/aep/): they must parse, and the
    34-character "hashed emails" of the first are excluded as invalid, every audience of it being activated."""
    full, named = (parse_body((EVENTS / "aep" / name).read_text()) for name in (
        "http-api-export.json", "http-api-export-with-names-and-timestamps.json"))  # fmt: skip
    extraction = extracted([*full, *named], "*")
    assert extraction.changes == []  # neither carries an identity Pinterest could match
    assert extraction.excluded == {"invalid_identity": 8, "unmapped_namespace": 8}


def test_adobes_sample_with_names_and_timestamps_activates_only_its_mapped_audience_under_mapped():
    """Adobe's note on "Include Segment Names": names are included only for audiences mapped to the destination;
    unmapped audiences of the export come without them. The sample has one of each."""
    [named] = parse_body((EVENTS / "aep" / "http-api-export-with-names-and-timestamps.json").read_text())
    named["identityMap"] = {"Email": [{"id": "john.doe@acme.com"}]}
    extraction = extracted([named], "mapped")
    assert [change.audience_id for change in extraction.changes] == ["5b998cb9-9488-4ec3-8d95-fa8338ced490"]
    assert extraction.excluded == {"not_activated": 1}
