"""The real sync handler with moto in-process and the Pinterest emulator over HTTP.

Given / when / then: the emulator's own membership state is the oracle, never what the client thinks it sent.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

from pinsync.sync.identities import sha256_hex
from pinsync.sync.runtime import SyncClients
from pinterest_emulator import Fault

from tests.builders import FakeContext, body, profile, sqs_event, sqs_record
from tests.fakes.dynamodb import AtomicCalls
from tests.integration.conftest import VISIBILITY_TIMEOUT_SECONDS, SyncFunction

GAID = "38400000-8cf0-11bd-b23e-10b96e40000d"


def members_of(emulator, name: str) -> set[str]:
    [customer_list] = [item for item in emulator.state.customer_lists() if item["name"] == name]
    members: set[str] = emulator.state.members(customer_list["id"])
    return members


def failures(response) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def pinterest_calls(emulator, method: str, fragment: str) -> int:
    return sum(1 for entry in emulator.state.requests_log if entry["method"] == method and fragment in entry["path"])


def test_first_add_creates_list_and_audience_and_mixed_changes_land(sync_env: SyncFunction, emulator, waits):
    # Given a new audience and profiles entering it
    first = sqs_event(
        body(profile({"spring": "realized"}, email="Jane.Doe@Example.com", gaid=GAID)),
        body(
            profile({"spring": "realized"}, email="john@example.org"),
            profile({"spring": "existing"}, email="ana@example.net"),
        ),
    )
    # When the batch is processed
    response = sync_env.invoke(first)
    # Then one customer list and one CUSTOMER_LIST audience exist, holding the hashed identities
    assert failures(response) == []
    assert members_of(emulator, "pinsync test spring") == {
        sha256_hex("jane.doe@example.com"),
        sha256_hex(GAID),
        sha256_hex("john@example.org"),
        sha256_hex("ana@example.net"),
    }
    [audience] = emulator.state.audiences()
    assert audience["audience_type"] == "CUSTOMER_LIST"
    mapping = sync_env.mapping("spring")
    assert mapping is not None and mapping["state"]["S"] == "READY"
    assert audience["rule"]["customer_list_id"] == mapping["customer_list_id"]["S"]

    # When a later batch removes one person and adds another
    second = sqs_event(
        body(profile({"spring": "exited"}, email="john@example.org", at="2026-11-28T11:00:00Z")),
        body(profile({"spring": "realized"}, email="lee@example.com", at="2026-11-28T11:00:00Z")),
    )
    assert failures(sync_env.invoke(second)) == []
    # Then the list reflects both, and each operation took one PATCH for both messages together
    assert sha256_hex("john@example.org") not in members_of(emulator, "pinsync test spring")
    assert sha256_hex("lee@example.com") in members_of(emulator, "pinsync test spring")
    assert pinterest_calls(emulator, "PATCH", "/customer_lists/") == 2
    runs = sync_env.dataflow_runs()
    assert [run["identities"]["added"] for run in runs] == [4, 1]
    assert [run["identities"]["removed"] for run in runs] == [0, 1]


def test_records_of_many_messages_are_batched_up_to_the_limit(sync_env: SyncFunction, emulator, monkeypatch, waits):
    sync_env.configure(max_records_per_request=40)
    sync_env.invoke(sqs_event(body(profile({"seg": "realized"}, email="seed@example.com"))))
    emulator.state.clear_requests_log()
    # Given 100 messages of one profile each for one audience
    event = sqs_event(*[body(profile({"seg": "realized"}, email=f"user{i}@example.com")) for i in range(100)])
    # When processed in one invocation
    assert failures(sync_env.invoke(event)) == []
    # Then 100 records travel in ceil(100 / 40) = 3 calls, not 100
    assert pinterest_calls(emulator, "PATCH", "/customer_lists/") == 3
    assert len(members_of(emulator, "pinsync test seg")) == 101


def test_partial_batch_failure_under_5xx_retries_only_the_affected_messages(sync_env: SyncFunction, emulator, waits):
    # Given two audiences with lists
    sync_env.invoke(sqs_event(body(profile({"a": "realized", "b": "realized"}, email="seed@example.com"))))
    mapping = sync_env.mapping("a")
    assert mapping is not None
    list_a = mapping["customer_list_id"]["S"]
    # and Pinterest failing every attempt on list a
    emulator.state.inject_fault(Fault(kind="error", status=503, count=10, method="PATCH", path_contains=list_a))
    event = sqs_event(
        body(profile({"a": "realized"}, email="one@example.com")),
        body(profile({"b": "realized"}, email="two@example.com")),
    )
    # When the batch is processed
    response = sync_env.invoke(event)
    # Then only the message for list a is reported for retry, after bounded backoff
    assert failures(response) == ["m1"]
    assert sha256_hex("two@example.com") in members_of(emulator, "pinsync test b")
    assert len(waits) == 3  # four attempts in all
    [_, run] = sync_env.dataflow_runs()
    assert run["identities"]["failed_by_reason"] == {"pinterest_unavailable": 1}

    # When SQS redelivers it after Pinterest recovers
    emulator.state.clear_faults()
    sync_env.elapse(VISIBILITY_TIMEOUT_SECONDS)
    assert failures(sync_env.invoke(sqs_event(event["Records"][0]["body"]))) == []
    assert sha256_hex("one@example.com") in members_of(emulator, "pinsync test a")


def test_a_429_is_waited_out_per_the_reset_header(sync_env: SyncFunction, emulator, waits):
    sync_env.invoke(sqs_event(body(profile({"seg": "realized"}, email="seed@example.com"))))
    emulator.state.inject_fault(Fault(kind="rate_limit", count=2, reset_seconds=7, method="PATCH"))
    response = sync_env.invoke(sqs_event(body(profile({"seg": "realized"}, email="late@example.com"))))
    assert failures(response) == []
    assert sha256_hex("late@example.com") in members_of(emulator, "pinsync test seg")
    assert len(waits) == 2 and all(7 <= wait <= 7.7 for wait in waits)


def test_a_429_longer_than_the_invocation_has_left_fails_the_message_for_later(sync_env: SyncFunction, emulator, waits):
    sync_env.invoke(sqs_event(body(profile({"seg": "realized"}, email="seed@example.com"))))
    emulator.state.inject_fault(Fault(kind="rate_limit", count=1, reset_seconds=20, method="PATCH"))
    response = sync_env.invoke(
        sqs_event(body(profile({"seg": "realized"}, email="late@example.com"))), FakeContext(remaining_ms=15_000)
    )
    assert failures(response) == ["m1"]
    assert waits == []


def test_a_401_is_cured_by_the_rotated_secret(sync_env: SyncFunction, emulator, waits):
    # Given an invocation that cached the current access token
    sync_env.invoke(sqs_event(body(profile({"seg": "realized"}, email="seed@example.com"))))
    # When the token is rotated (new secret value) and the old access token stops working
    from local_stack.stack import seeded_token_secret

    emulator.state.expire_access_tokens()
    rotated = seeded_token_secret(emulator)
    sync_env.client("secretsmanager").put_secret_value(
        SecretId=sync_env.secret_arn, SecretString=rotated.to_secret_string()
    )
    # Then the next invocation gets a 401, re-reads the secret once and succeeds
    response = sync_env.invoke(sqs_event(body(profile({"seg": "realized"}, email="after@example.com"))))
    assert failures(response) == []
    assert sha256_hex("after@example.com") in members_of(emulator, "pinsync test seg")
    statuses = [entry["status"] for entry in emulator.state.requests_log if entry["method"] == "PATCH"]
    assert statuses[-2:] == [401, 200]


def test_an_unusable_token_fails_the_batch_for_retry_not_for_the_dlq_reason(sync_env: SyncFunction, emulator, waits):
    sync_env.invoke(sqs_event(body(profile({"seg": "realized"}, email="seed@example.com"))))
    emulator.state.expire_access_tokens()  # and nobody rotated the secret
    response = sync_env.invoke(sqs_event(body(profile({"seg": "realized"}, email="x@example.com"))))
    assert failures(response) == ["m1"]
    [_, run] = sync_env.dataflow_runs()
    assert run["identities"]["failed_by_reason"] == {"unauthorized": 1}


def test_a_rejected_record_is_isolated_by_splitting(sync_env: SyncFunction, emulator, waits):
    sync_env.invoke(sqs_event(body(profile({"seg": "realized"}, email="seed@example.com"))))
    bad = sha256_hex("rejected@example.com")
    emulator.state.add_poison_records([bad])
    emails = [f"good{i}@example.com" for i in range(9)] + ["rejected@example.com"]
    response = sync_env.invoke(sqs_event(*[body(profile({"seg": "realized"}, email=email)) for email in emails]))
    assert failures(response) == []
    members = members_of(emulator, "pinsync test seg")
    assert bad not in members and all(sha256_hex(email) in members for email in emails[:-1])
    [_, run] = sync_env.dataflow_runs()
    assert run["identities"]["excluded_by_reason"] == {"pinterest_error_1": 1}
    assert run["identities"]["added"] == 9


def test_malformed_messages_fail_alone(sync_env: SyncFunction, emulator, waits):
    event = {
        "Records": [
            sqs_record("{broken", message_id="bad-json"),
            sqs_record('{"identityMap": {}}', message_id="bad-shape"),
            sqs_record(body(profile({"seg": "realized"}, email="fine@example.com")), message_id="good"),
        ]
    }
    response = sync_env.invoke(event)
    assert failures(response) == ["bad-json", "bad-shape"]
    assert sha256_hex("fine@example.com") in members_of(emulator, "pinsync test seg")


def test_concurrent_invocations_create_one_list(sync_env: SyncFunction, emulator, waits):
    # Given two invocations racing to create the same audience's list, the create call being slow
    clients = SyncClients.create()
    sync_env.configure(clients=replace(clients, dynamodb=AtomicCalls(clients.dynamodb)))
    emulator.state.inject_fault(
        Fault(kind="latency", seconds=0.5, count=1, method="POST", path_contains="customer_lists")
    )
    barrier = threading.Barrier(2)
    responses: dict[str, dict[str, Any]] = {}

    def invoke(name: str, email: str) -> None:
        event = {"Records": [sqs_record(body(profile({"race": "realized"}, email=email)), message_id=name)]}
        barrier.wait()
        responses[name] = sync_env.invoke(event)

    threads = [threading.Thread(target=invoke, args=(name, f"{name}@example.com")) for name in ("left", "right")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then exactly one list exists, whatever the interleaving
    assert [item["name"] for item in emulator.state.customer_lists()] == ["pinsync test race"]
    # And after SQS redelivers whatever was reported as failed, both people are in it
    for name, response in responses.items():
        if failures(response):
            event = {
                "Records": [
                    sqs_record(body(profile({"race": "realized"}, email=f"{name}@example.com")), message_id=name)
                ]
            }
            assert failures(sync_env.invoke(event)) == []
    assert members_of(emulator, "pinsync test race") == {
        sha256_hex("left@example.com"),
        sha256_hex("right@example.com"),
    }
    assert len(emulator.state.customer_lists()) == 1


def test_existing_customer_list_can_be_linked_instead_of_created(sync_env: SyncFunction, emulator, waits):
    created = emulator.state.create_customer_list(
        emulator.state.ad_account("549755885175")["id"], "crm list", "a" * 64, "EMAIL"
    )
    sync_env.runtime.mappings.link("vip", created["id"])
    assert failures(sync_env.invoke(sqs_event(body(profile({"vip": "realized"}, email="vip@example.com"))))) == []
    assert emulator.state.members(created["id"]) == {"a" * 64, sha256_hex("vip@example.com")}
    assert len(emulator.state.customer_lists()) == 1


def test_no_identifier_or_token_reaches_the_logs_or_metrics(
    sync_env: SyncFunction, emulator, waits, log_capture, capsys
):
    emulator.state.add_poison_records([sha256_hex("poison@example.com")])
    emails = ["Private.Person@Example.com", "poison@example.com", "not an email"]
    event = sqs_event(
        *[body(profile({"seg": "realized"}, email=email, gaid=GAID)) for email in emails],
        '{"identityMap": {"Email": [{"id": "leak@example.com"}]}}',
    )
    sync_env.invoke(event)
    emulator.state.expire_access_tokens()
    sync_env.invoke(sqs_event(body(profile({"seg": "exited"}, email="Private.Person@Example.com"))))
    output = log_capture.getvalue() + capsys.readouterr().out
    assert "Dataflow run" in output and "IdentitiesAdded" in output  # the capture did capture
    secret = sync_env.runtime.tokens.current()
    forbidden = {
        "private.person@example.com",
        "leak@example.com",
        "poison@example.com",
        GAID,
        sha256_hex("private.person@example.com"),
        sha256_hex("poison@example.com"),
        sha256_hex(GAID),
        secret.access_token.get_secret_value(),
        secret.refresh_token.get_secret_value(),
        secret.client_secret.get_secret_value(),
    }
    lowered = output.lower()
    assert [value for value in forbidden if value.lower() in lowered] == []


def test_recorded_activations_take_precedence_over_the_configuration(sync_env: SyncFunction, emulator, waits):
    # Given ACTIVATED_AUDIENCES=* but an operator activated only "chosen" (with a name for its list)
    sync_env.runtime.mappings.activate("chosen", name="Chosen people")
    event = sqs_event(body(profile({"chosen": "realized", "other": "realized"}, email="a@example.com")))
    # When a profile qualifies for both
    assert failures(sync_env.invoke(event)) == []
    # Then only the activated audience is synced, under the recorded name
    assert [item["name"] for item in emulator.state.customer_lists()] == ["Chosen people"]
    [run] = sync_env.dataflow_runs()
    assert run["identities"]["excluded_by_reason"] == {"not_activated": 1}
    # And a deactivated audience is no longer synced
    sync_env.runtime.mappings.deactivate("chosen")
    assert sync_env.runtime.mappings.activations() == frozenset()
    sync_env.invoke(sqs_event(body(profile({"chosen": "realized"}, email="b@example.com"))))
    assert sha256_hex("b@example.com") not in members_of(emulator, "Chosen people")


def test_a_secret_not_yet_connected_fails_messages_for_retry_and_holds_no_lease(
    sync_env: SyncFunction, emulator, waits
):
    # Given the stack's placeholder secret (nobody ran `pinsync connect` yet)
    secrets = sync_env.client("secretsmanager")
    connected = secrets.get_secret_value(SecretId=sync_env.secret_arn)["SecretString"]
    secrets.put_secret_value(SecretId=sync_env.secret_arn, SecretString='{"status": "not-connected"}')
    event = sqs_event(body(profile({"new": "realized"}, email="first@example.com")))
    # When a message for a new audience arrives
    response = sync_env.invoke(event)
    # Then it is retried later with a clear reason, and no call reached Pinterest
    assert failures(response) == ["m1"]
    assert sync_env.dataflow_runs()[-1]["identities"]["failed_by_reason"] == {"token_unavailable": 1}
    assert emulator.state.requests_log == []
    # And once connected, the redelivery creates the list at once (no creation lease left behind)
    secrets.put_secret_value(SecretId=sync_env.secret_arn, SecretString=connected)
    assert failures(sync_env.invoke(event)) == []
    assert sha256_hex("first@example.com") in members_of(emulator, "pinsync test new")


def test_a_list_is_named_after_the_name_aep_sends_with_the_audience(sync_env: SyncFunction, emulator, waits):
    # Given AEP's "Include Segment Names": the mapped audience carries its name (and AEP's time format, +0000)
    entry = profile({"b1f6": "realized"}, email="jane@example.com")
    entry["segmentMembership"]["ups"]["b1f6"] |= {"name": "  Loyal\u202e customers ", "mappingCreatedAt": 1}
    entry["segmentMembership"]["ups"]["b1f6"]["lastQualificationTime"] = "2026-11-28T10:00:00+0000"
    # When it is processed
    assert failures(sync_env.invoke(sqs_event(body(entry)))) == []
    # Then the list and audience the emulator (validating against Pinterest's spec) holds are named after it
    assert members_of(emulator, "pinsync test Loyal customers") == {sha256_hex("jane@example.com")}
    [audience] = emulator.state.audiences()
    assert audience["name"] == "pinsync test Loyal customers"
    # And a later rename in AEP is not followed: the same list keeps the members coming
    renamed = profile({"b1f6": "realized"}, email="john@example.org")
    renamed["segmentMembership"]["ups"]["b1f6"]["name"] = "Renamed"
    assert failures(sync_env.invoke(sqs_event(body(renamed)))) == []
    assert len(members_of(emulator, "pinsync test Loyal customers")) == 2
    assert len(emulator.state.audiences()) == 1
