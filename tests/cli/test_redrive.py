"""`pinsync redrive` on real dead-lettered messages, produced by the poller (max_receive_count 2)."""

from __future__ import annotations

import json

from local_stack.stack import seeded_token_secret
from pinsync.sync.identities import sha256_hex
from pinterest_emulator import DEFAULT_AD_ACCOUNT_ID

from tests.builders import body, profile
from tests.cli.conftest import depth, drain, fail_batches_after, process

POISON = "{not json"
SHAPELESS = json.dumps({"identityMap": {}})


def dead_letter(stack, run_cli) -> None:
    """Two poison messages and one valid message that failed on every delivery (token not connected).

    The audience is linked to an existing list first: with the token unreadable during list *creation*, the sync
    keeps its creation lease until it expires (reported to the lead), which is not what this test is about.
    """
    customer_list = stack.emulator.state.create_customer_list(DEFAULT_AD_ACCOUNT_ID, "existing", "", "EMAIL")
    assert run_cli("audiences", "activate", "seg", "--customer-list-id", customer_list["id"]).code == 0
    sqs = stack.client("sqs")
    sm = stack.client("secretsmanager")
    sm.put_secret_value(SecretId=stack.secret_arn, SecretString=json.dumps({"status": "not-connected"}))
    for message in (POISON, SHAPELESS, body(profile({"seg": "realized"}, email="late@example.com"))):
        sqs.send_message(QueueUrl=stack.queue_url, MessageBody=message)
    process(stack)
    assert depth(stack, stack.dead_letter_queue_url) == 3
    # the cause is fixed: the token is back
    sm.put_secret_value(SecretId=stack.secret_arn, SecretString=seeded_token_secret(stack.emulator).to_secret_string())


def test_dry_run_counts_reasons_moves_nothing_and_prints_no_body(stack, run_cli):
    dead_letter(stack, run_cli)

    result = run_cli("redrive", "--dry-run")

    assert result.code == 0, result.err
    assert "dead-letter queue: 3 message(s) (dry run: nothing moved)" in result.out
    assert "invalid_json                       1  will fail again (poison)" in result.out
    assert "invalid_contract                   1" in result.out
    assert "valid (failed repeatedly)          1  will go through once the cause is fixed" in result.out
    assert "late@example.com" not in result.out and "not json" not in result.out
    # every message is still there, and visible again at once
    assert len(drain(stack, stack.dead_letter_queue_url)) == 3


def test_only_valid_then_everything_moves_back_without_loss(stack, run_cli):
    dead_letter(stack, run_cli)

    only_valid = run_cli("redrive", "--only-valid")

    assert only_valid.code == 0, only_valid.err
    assert "moved 1 message(s) to the audience queue: valid (failed repeatedly) 1" in only_valid.out
    assert "left in the dead-letter queue: 2 (invalid_contract 1, invalid_json 1)" in only_valid.out
    assert depth(stack, stack.dead_letter_queue_url) == 2
    assert depth(stack, stack.queue_url) == 1

    # the redriven message now goes through
    process(stack)
    [customer_list] = stack.emulator.state.customer_lists()
    assert stack.emulator.state.members(customer_list["id"]) == {sha256_hex("late@example.com")}

    everything = run_cli("redrive")
    assert everything.code == 0, everything.err
    assert "moved 2 message(s)" in everything.out
    assert "2 of them do not parse and will end in the dead-letter queue again" in everything.out
    assert depth(stack, stack.dead_letter_queue_url) == 0
    assert sorted(drain(stack)) == sorted([POISON, SHAPELESS])


def test_max_messages_and_the_move_task_fallback(stack, run_cli):
    dead_letter(stack, run_cli)

    limited = run_cli("redrive", "--max-messages", "2", "--method", "manual")
    assert limited.code == 0
    assert "moved 2 message(s)" in limited.out
    assert depth(stack, stack.dead_letter_queue_url) == 1

    # moto has no message move task: `--method move-task` says so; auto falls back to moving batches
    refused = run_cli("redrive", "--method", "move-task")
    assert refused.code == 2
    assert "move task is not available" in refused.err
    assert depth(stack, stack.dead_letter_queue_url) == 1
    assert run_cli("redrive").code == 0
    assert depth(stack, stack.dead_letter_queue_url) == 0
    assert depth(stack, stack.queue_url) == 3


def test_redrive_needs_both_queues(stack, run_cli, monkeypatch):
    monkeypatch.delenv("PINSYNC_DEAD_LETTER_QUEUE_URL")
    result = run_cli("redrive", "--dry-run")
    assert result.code == 2
    assert "--dlq-url" in result.err


def test_messages_as_large_as_send_makes_them_are_redriven(stack, run_cli):
    # Ten 200 KB messages received together are 2 MB: more than one SendMessageBatch takes (256 KiB).
    sqs = stack.client("sqs")
    bodies = [
        body(*[profile({"seg": "realized"}, email=f"u{n}.{i}@example.com") for i in range(1_300)]) for n in range(10)
    ]
    assert all(200_000 < len(b.encode()) < 262_144 for b in bodies)
    for message in bodies:
        sqs.send_message(QueueUrl=stack.dead_letter_queue_url, MessageBody=message)

    result = run_cli("redrive", "--method", "manual")

    assert result.code == 0, result.err
    assert "moved 10 message(s)" in result.out
    assert depth(stack, stack.dead_letter_queue_url) == 0
    assert sorted(drain(stack)) == sorted(bodies)


def test_a_dead_lettered_privacy_request_is_valid_and_moves_back_with_only_valid(stack, run_cli):
    request = json.dumps({"privacyRequest": {"type": "erase", "identityMap": {"Email": [{"id": "a@example.com"}]}}})
    sqs = stack.client("sqs")
    for message in (request, POISON):
        sqs.send_message(QueueUrl=stack.dead_letter_queue_url, MessageBody=message)

    counted = run_cli("redrive", "--dry-run")
    assert (
        "valid (failed repeatedly)          1" in counted.out and "invalid_json                       1" in counted.out
    )

    moved = run_cli("redrive", "--only-valid")
    assert moved.code == 0, moved.err
    assert drain(stack) == [request] and drain(stack, stack.dead_letter_queue_url) == [POISON]


def test_ctrl_c_mid_way_says_how_many_were_moved(stack, run_cli, monkeypatch):
    sqs = stack.client("sqs")
    for i in range(25):
        sqs.send_message(QueueUrl=stack.dead_letter_queue_url, MessageBody=f"{POISON} {i}")
    fail_batches_after(monkeypatch, good=1, error=KeyboardInterrupt())

    result = run_cli("redrive", "--method", "manual")

    assert result.code == 130
    assert depth(stack, stack.queue_url) == 10
    assert "moved 10 message(s) to the audience queue" in result.out
    assert result.err == "pinsync redrive: interrupted\n"
