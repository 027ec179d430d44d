"""`pinsync reconcile` against the local stack: mirror semantics through the real sync path, and the guard."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from local_stack.stack import LocalStack
from pinsync.sync.identities import sha256_hex

from tests.cli.conftest import ACCESS_DENIED, depth, fail_batches_after, process


def write_csv(path: Path, emails: list[str]) -> str:
    path.write_text("email\n" + "".join(f"{email}\n" for email in emails))
    return str(path)


def members(stack: LocalStack) -> set[str]:
    [customer_list] = stack.emulator.state.customer_lists()
    return stack.emulator.state.members(customer_list["id"])


def test_reconcile_sends_only_the_difference_and_the_audience_ends_equal_to_the_snapshot(stack, run_cli, tmp_path):
    # Given an audience synced with five people
    first = [f"p{i}@example.com" for i in range(5)]
    assert run_cli("send", write_csv(tmp_path / "first.csv", first), "--audience", "vip").code == 0
    process(stack)
    assert members(stack) == {sha256_hex(email) for email in first}
    # When the snapshot says p0..p3 and p5, p6 (p4 left, two joined)
    snapshot = write_csv(tmp_path / "snapshot.csv", [*first[:4], "p5@example.com", "p6@example.com"])
    dry = run_cli("reconcile", "vip", "--from", snapshot, "--dry-run")
    assert dry.code == 0
    assert "to add           2" in dry.out and "to remove        1 (20.0% of the audience)" in dry.out
    assert "p4@example.com" not in dry.out + dry.err
    result = run_cli("reconcile", "vip", "--from", snapshot, "--max-remove-share", "0.25")
    assert result.code == 0, result.err
    process(stack)
    # Then the emulator's membership equals the snapshot, and unchanged members cost no call
    wanted = {sha256_hex(email) for email in [*first[:4], "p5@example.com", "p6@example.com"]}
    assert members(stack) == wanted
    patches = [entry for entry in stack.emulator.state.requests_log if entry["method"] == "PATCH"]
    assert sorted((entry["operation_type"], entry["records"]) for entry in patches) == [("ADD", 2), ("REMOVE", 1)]


def test_the_mass_removal_guard_refuses_a_truncated_snapshot_unless_forced(stack, run_cli, tmp_path):
    people = [f"p{i}@example.com" for i in range(10)]
    run_cli("send", write_csv(tmp_path / "all.csv", people), "--audience", "vip")
    process(stack)
    truncated = write_csv(tmp_path / "truncated.csv", people[:2])
    refused = run_cli("reconcile", "vip", "--from", truncated)
    assert refused.code == 1
    assert "refusing to remove 80.0% of the audience" in refused.err
    assert (
        stack.client("sqs").get_queue_attributes(
            QueueUrl=stack.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        == "0"
    )
    forced = run_cli("reconcile", "vip", "--from", truncated, "--force")
    assert forced.code == 0
    process(stack)
    assert members(stack) == {sha256_hex(email) for email in people[:2]}


def test_a_snapshot_with_bad_rows_is_refused(stack, run_cli, tmp_path):
    result = run_cli("reconcile", "vip", "--from", write_csv(tmp_path / "bad.csv", ["ok@example.com", "not-an-email"]))
    assert result.code == 1
    assert "line 3" in result.err


def write_jsonl(path: Path, rows: Sequence[Mapping[str, object]]) -> str:
    import json

    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def test_dropping_one_email_of_a_profile_keeps_the_other(stack, run_cli, tmp_path):
    # Given a profile with two emails (the first is its ledger profile key) and eight other members
    rows: list[dict[str, object]] = [{"email": ["first@example.com", "second@example.com"]}]
    rows += [{"email": f"o{i}@example.com"} for i in range(8)]
    assert run_cli("send", write_jsonl(tmp_path / "a.jsonl", rows), "--format", "jsonl", "--audience", "vip").code == 0
    process(stack)
    # When the snapshot keeps only the second email
    snapshot = write_jsonl(tmp_path / "s.jsonl", [{"email": "second@example.com"}, *rows[1:]])
    result = run_cli("reconcile", "vip", "--from", snapshot, "--format", "jsonl", "--max-remove-share", "0.2")
    assert result.code == 0, result.err
    process(stack)
    # Then the exit of the first email does not take the second with it (the profile key links them)
    assert members(stack) == {
        sha256_hex(row) for row in ["second@example.com", *(f"o{i}@example.com" for i in range(8))]
    }


def test_rows_that_remove_or_exit_are_not_members_of_the_snapshot(stack, run_cli, tmp_path):
    emails = [f"p{i}@example.com" for i in range(10)]
    assert run_cli("send", write_csv(tmp_path / "a.csv", emails), "--audience", "vip").code == 0
    process(stack)
    rows = [{"email": email, "action": "remove" if email == "p9@example.com" else "add"} for email in emails]
    snapshot = write_jsonl(tmp_path / "s.jsonl", rows)

    result = run_cli("reconcile", "vip", "--from", snapshot, "--format", "jsonl")

    assert result.code == 0, result.err
    assert "to remove        1 (10.0% of the audience)" in result.out
    process(stack)
    assert sha256_hex("p9@example.com") not in members(stack) and len(members(stack)) == 9


# -- hostile input: usage errors, each one line with exit 2, before the state table is read ------------------------


def test_an_unreadable_snapshot_or_header_is_a_usage_error(run_cli, tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"email\ncaf\xe9@example.com\n")
    no_identity = tmp_path / "no-identity.csv"
    no_identity.write_text("audience_id,action\nvip,add\n")
    repeated = tmp_path / "repeated.csv"
    repeated.write_text("email,EMAIL\na@example.com,b@example.com\n")

    for path, message in [
        (latin, "is not UTF-8 text"),
        (no_identity, "the header has no identity column"),
        (repeated, "the header repeats column(s) email"),
    ]:
        result = run_cli("reconcile", "vip", "--from", str(path))
        assert result.code == 2, (path.name, result.err)
        assert result.err.startswith("pinsync reconcile: ") and result.err.count("\n") == 1  # one line
        assert message in result.err and "caf" not in result.err


def test_an_audience_id_the_sync_function_would_refuse_is_a_usage_error(run_cli, tmp_path):
    snapshot = write_csv(tmp_path / "s.csv", ["a@example.com"])
    for audience, problem in [
        ("vip\u202e", "has control, invisible or bidirectional-override characters"),
        ("v" * 10_000, "is longer than"),
        (" vip ", "has surrounding whitespace"),
    ]:
        result = run_cli("reconcile", audience, "--from", snapshot, "--dry-run")
        assert result.code == 2
        assert f"pinsync reconcile: the audience id {problem}" in result.err
        assert result.out == ""


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (
            ACCESS_DENIED,
            4,
            "pinsync reconcile: SendMessageBatch failed (AccessDenied); the summary shows what was sent",
        ),
        (KeyboardInterrupt(), 130, "pinsync reconcile: interrupted"),
    ],
    ids=["aws-error", "ctrl-c"],
)
def test_an_aws_error_or_ctrl_c_mid_way_says_how_many_messages_were_sent(
    stack, run_cli, tmp_path, monkeypatch, error, code, message
):
    # 150 new members in small messages (a 4 KiB queue budget): more than one SendMessageBatch; the second fails
    snapshot = write_csv(tmp_path / "s.csv", [f"n{i}@example.com" for i in range(150)])
    monkeypatch.setattr("pinsync_cli.reconcile._queue_budget", lambda sqs, url: 4_096 - 2_048)
    fail_batches_after(monkeypatch, good=1, error=error)

    result = run_cli("reconcile", "vip", "--from", snapshot)

    assert result.code == code
    assert depth(stack, stack.queue_url) == 10
    assert "messages sent    10 (" in result.out and "not sent" in result.out
    assert message in result.err


def test_a_snapshot_profile_too_large_for_a_message_is_refused_before_anything_is_sent(stack, run_cli, tmp_path):
    # Given an audience of ten, and a snapshot that drops one of them and has a member with 50,000 emails (one profile
    # of about 1.3 MB: no SQS message can carry it)
    emails = [f"p{i}@example.com" for i in range(10)]
    assert run_cli("send", write_csv(tmp_path / "a.csv", emails), "--audience", "vip").code == 0
    process(stack)
    rows: list[dict[str, object]] = [{"email": email} for email in emails[1:]]
    rows.append({"email": [f"huge{i}@example.com" for i in range(50_000)]})
    snapshot = write_jsonl(tmp_path / "s.jsonl", rows)

    result = run_cli("reconcile", "vip", "--from", snapshot)

    # Then nothing is sent (not the exit without the adds that must follow it), and the line is named
    assert result.code == 1
    assert "line 10: profile larger than the message size limit" in result.err
    assert "a snapshot must be whole" in result.err
    assert depth(stack, stack.queue_url) == 0
    assert "huge" not in result.out + result.err


def test_a_profile_too_large_for_the_queue_is_refused_before_anything_is_sent(stack, run_cli, tmp_path):
    small = stack.client("sqs").create_queue(QueueName="small", Attributes={"MaximumMessageSize": "8192"})["QueueUrl"]
    snapshot = write_csv(tmp_path / "s.csv", ["a@example.com", "x" * 7_000 + "@example.com"])

    result = run_cli("reconcile", "vip", "--from", snapshot, "--queue-url", small)

    assert result.code == 1
    assert "line 3: profile larger than the message size limit" in result.err
    assert depth(stack, small) == 0
    assert "xxxx" not in result.out + result.err
