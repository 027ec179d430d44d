"""The local stack end to end: moto server, the emulator, the poller standing in for the event source mapping."""

from __future__ import annotations

import io
import json
import socket
import threading
from pathlib import Path

import pytest
from local_stack.demo import run_demo
from local_stack.poller import SqsPoller
from local_stack.stack import LocalSettings, local_stack
from pinsync.sync.identities import sha256_hex

from tests.builders import body, profile

EVENTS = Path(__file__).resolve().parents[2] / "events"


def test_a_stack_whose_emulator_cannot_start_leaves_no_server_running():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        before = set(threading.enumerate())
        with pytest.raises((OSError, SystemExit)), local_stack(LocalSettings(emulator_port=taken.getsockname()[1])):
            pass  # werkzeug exits when its port is taken
        assert set(threading.enumerate()) - before == set()  # moto's server thread stopped too


def test_a_malformed_message_reaches_the_dead_letter_queue_and_the_rest_goes_through():
    with local_stack(LocalSettings(max_receive_count=2)) as stack:
        sqs = stack.client("sqs")
        sqs.send_message(QueueUrl=stack.queue_url, MessageBody="{not json")
        sqs.send_message(
            QueueUrl=stack.queue_url, MessageBody=body(profile({"seg": "realized"}, email="ok@example.com"))
        )
        poller = SqsPoller(sqs, stack.queue_url, stack.sync_handler())
        poller.run_until_drained(timeout=30)
        dead = sqs.receive_message(QueueUrl=stack.dead_letter_queue_url, MaxNumberOfMessages=10)["Messages"]
        assert [message["Body"] for message in dead] == ["{not json"]
        [customer_list] = stack.emulator.state.customer_lists()
        assert stack.emulator.state.members(customer_list["id"]) == {sha256_hex("ok@example.com")}
        assert poller.stats.handler_errors == 0
        assert poller.stats.failed_messages == 2  # delivered twice, reported twice, then dead-lettered


def test_an_unmapped_audience_of_an_aep_export_makes_no_list_when_only_mapped_audiences_are_activated():
    # Given Adobe's own sample export with "Include Segment Names" and "Include Segment Timestamps" on: one audience
    # mapped to the destination (name, mappingCreatedAt) and one unmapped that shares its merge policy
    export = json.loads((EVENTS / "aep" / "http-api-export-with-names-and-timestamps.json").read_text())
    export["identityMap"] = {"Email": [{"id": "john.doe@acme.com"}]}
    with local_stack(LocalSettings(activated_audiences="mapped", max_receive_count=2)) as stack:
        sqs = stack.client("sqs")
        sqs.send_message(QueueUrl=stack.queue_url, MessageBody=json.dumps(export))
        # When the function drains the queue
        poller = SqsPoller(sqs, stack.queue_url, stack.sync_handler())
        poller.run_until_drained(timeout=30)
        # Then only the mapped audience has a list, named after the audience's AEP name and holding the profile;
        # the unmapped one made nothing
        [customer_list] = stack.emulator.state.customer_lists()
        assert customer_list["name"] == "pinsync local First name equals John"
        assert [audience["name"] for audience in stack.emulator.state.audiences()] == [customer_list["name"]]
        assert stack.emulator.state.members(customer_list["id"]) == {sha256_hex("john.doe@acme.com")}
        assert len(stack.emulator.state.audiences()) == 1
        assert (poller.stats.failed_messages, poller.stats.handler_errors) == (0, 0)


def test_consent_withdrawn_after_an_add_removes_every_identifier_of_the_profile_from_every_list():
    gaid = "38400000-8cf0-11bd-b23e-10b96e40000d"
    person = profile(
        {"spring": "realized", "loyal": "realized"},
        email="jane@example.com",
        gaid=gaid,
        extra_identities={"ECID": ["14575006536349286404619648085736425115"]},
        at="2026-11-28T10:00:00Z",
    )
    with local_stack(LocalSettings(max_receive_count=2)) as stack:
        sqs = stack.client("sqs")
        poller = SqsPoller(sqs, stack.queue_url, stack.sync_handler())

        def send(document: dict[str, object]) -> None:
            sqs.send_message(QueueUrl=stack.queue_url, MessageBody=json.dumps(document))
            poller.run_until_drained(timeout=30)

        def members() -> dict[str, set[str]]:
            state = stack.emulator.state
            return {item["name"]: state.members(item["id"]) for item in state.customer_lists()}

        # Given a profile added to two audiences with its email and GAID, and another person in one of them
        send(person)
        send(profile({"spring": "realized"}, email="john@example.com", extra_identities={"ECID": ["2"]}))
        assert members()["pinsync local loyal"] == {sha256_hex("jane@example.com"), sha256_hex(gaid)}
        # When the CDP exports the profile again, with its email only, one audience, and consent to share withdrawn
        withdrawn = profile(
            {"spring": "realized"},
            email="jane@example.com",
            extra_identities={"ECID": ["14575006536349286404619648085736425115"]},
            at="2026-11-28T11:00:00Z",
        )
        withdrawn["consents"] = {"share": {"val": "n"}, "marketing": {"any": {"val": "y"}}}
        send(withdrawn)
        # Then every identifier of the profile left every list; the other person stays
        assert members() == {"pinsync local spring": {sha256_hex("john@example.com")}, "pinsync local loyal": set()}
        # And the first export, redelivered late, does not bring the person back
        send(person)
        assert members() == {"pinsync local spring": {sha256_hex("john@example.com")}, "pinsync local loyal": set()}
        assert (poller.stats.failed_messages, poller.stats.handler_errors) == (0, 0)


def test_demo_prints_the_dataflow_summary_and_leaks_nothing(tmp_path: Path):
    out = io.StringIO()
    log_path = tmp_path / "demo.log"
    summary = run_demo(out=out, log_path=log_path)
    printed = out.getvalue()
    # The sample profiles: 9 profiles, 8 identities added then 1 removed in the second wave
    assert (summary.profiles, summary.added, summary.removed) == (9, 8, 1)
    # The first wave's single profiles went through the ingest door, one POST each, all answered 200
    assert summary.through_door == 6
    assert "through ingest door    6 profile(s), one POST each, all answered 200" in printed
    access = [json.loads(line) for line in (tmp_path / "demo-ingest-access.log").read_text().splitlines()]
    assert [(entry["resourcePath"], entry["status"]) for entry in access] == [("/ingest/profiles", 200)] * 6
    assert summary.excluded == {"invalid_identity": 2, "not_activated": 1, "unknown_status": 1, "unmapped_namespace": 1}
    assert "dead-letter queue      1 message(s): invalid_json 1" in printed
    assert "'pinsync local spring-sale': 6 members" in printed
    assert "'pinsync local loyal-customers': 1 members" in printed
    assert printed.rstrip().endswith("local stack stopped")
    logs = log_path.read_text() + (tmp_path / "demo-ingest-access.log").read_text()
    assert "Dataflow run" in logs
    samples = ["jane.doe@example.com", "john.smith@example.org", "ana.silva@example.net", "lee.wong@example.com"]
    samples += ["38400000-8cf0-11bd-b23e-10b96e40000d", "6d92078a-8246-4ba4-ae5b-76104861e7dc"]
    forbidden = samples + [sha256_hex(value) for value in samples]
    everything = (printed + logs).lower()
    assert [value for value in forbidden if value in everything] == []
