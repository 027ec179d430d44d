"""The sample events in events/ are what the functions accept (so the README's examples cannot rot)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pinsync.contract import ContractError, parse_body
from pinsync.rotation_wiring import ExpiryCheckEvent, RotationEvent, parse_event
from pinsync.wiring import inbound_messages

EVENTS = Path(__file__).resolve().parents[2] / "events"
PROFILES = sorted((EVENTS / "profiles").glob("*/*.json"))


@pytest.mark.parametrize("path", PROFILES, ids=lambda path: path.name)
def test_sample_profiles_follow_the_contract_except_the_deliberately_broken_one(path: Path):
    if "malformed" in path.name:
        with pytest.raises(ContractError):
            parse_body(path.read_text())
    else:
        assert parse_body(path.read_text())


def test_sample_sqs_event_carries_contract_messages():
    messages = inbound_messages(json.loads((EVENTS / "sqs-audience-sync.json").read_text()))
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
