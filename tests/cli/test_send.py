"""`pinsync send`: member files → contract messages on the queue, with no loss and no silent half-sends."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import pytest
from pinsync.sync.identities import sha256_hex
from pinsync_cli.members import MAX_MESSAGE_BYTES, SAFETY_MARGIN_BYTES, Packer, RowOptions, profile_from_row
from pinsync_cli.send import BatchSender

from tests.cli.conftest import depth, drain, fail_batches_after, profiles_of

QUALIFIED_AT = "2026-11-28T10:00:00Z"
GAID = "38400000-8cf0-11bd-b23e-10b96e40000d"


def write_csv(path: Path, rows: list[dict[str, str]], columns: list[str]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_a_100k_row_csv_arrives_whole_in_few_packed_messages(stack, run_cli, tmp_path: Path):
    rows = 100_000
    path = tmp_path / "members.csv"
    with path.open("w") as handle:
        handle.write("email,audience_id,action,qualified_at\n")
        for i in range(rows):
            handle.write(f"member{i:06d}@example.com,backfill,add,{QUALIFIED_AT}\n")

    started = time.monotonic()
    result = run_cli("send", str(path), "--progress", "plain")
    elapsed = time.monotonic() - started

    assert result.code == 0, result.err
    # Every profile has the same encoded length, so the packing rule gives the count independently:
    # a body is "[" + profiles joined by "," + "]" and stays within the 256 KiB limit minus the margin.
    one = {
        "segmentMembership": {"ups": {"backfill": {"status": "realized", "lastQualificationTime": QUALIFIED_AT}}},
        "identityMap": {"Email": [{"id": "member000000@example.com"}]},
    }
    size = len(json.dumps(one, separators=(",", ":")))
    budget = MAX_MESSAGE_BYTES - SAFETY_MARGIN_BYTES
    per_message = (budget - 2 + 1) // (size + 1)
    expected_messages = math.ceil(rows / per_message)
    assert expected_messages < rows / 1000  # packing, not one message per row

    assert depth(stack, stack.queue_url) == expected_messages
    bodies = drain(stack)
    assert len(bodies) == expected_messages
    assert max(len(body.encode()) for body in bodies) <= budget
    profiles = profiles_of(bodies)
    emails = [profile["identityMap"]["Email"][0]["id"] for profile in profiles]
    assert len(emails) == rows
    assert set(emails) == {f"member{i:06d}@example.com" for i in range(rows)}
    assert {json.dumps(p["segmentMembership"]) for p in profiles} == {json.dumps(one["segmentMembership"])}

    assert "rows read        100000" in result.out
    assert "rows rejected    0" in result.out
    assert f"messages sent    {expected_messages} (100000 rows)" in result.out
    assert "progress: 100,000/100,000 rows (100%)" in result.err
    assert elapsed < 30


BAD_ROWS = [
    {"email": "ok.one@example.com", "gaid": "", "audience_id": "seg", "action": "add"},
    {"email": "not-an-email", "gaid": "", "audience_id": "seg", "action": "add"},  # line 3
    {"email": "ok.two@example.com", "gaid": "", "audience_id": "seg", "action": "subscribe"},  # line 4
    {"email": "", "gaid": "", "audience_id": "seg", "action": "remove"},  # line 5
    {"email": "ok.three@example.com", "gaid": "not-a-uuid", "audience_id": "seg", "action": ""},  # line 6
    {"email": "ok.four@example.com", "gaid": GAID, "audience_id": "", "action": "remove"},  # line 7
]


def test_bad_rows_are_reported_with_line_numbers_and_nothing_is_sent(stack, run_cli, tmp_path: Path):
    path = write_csv(tmp_path / "bad.csv", BAD_ROWS, ["email", "gaid", "audience_id", "action"])

    result = run_cli("send", str(path))

    assert result.code == 1
    assert "line 3: invalid email" in result.err
    assert "line 4: unknown action (use add or remove)" in result.err
    assert "line 5: no identity (email, email_sha256, gaid or idfa)" in result.err
    assert "line 6: invalid gaid (UUID)" in result.err
    assert "line 7: missing audience_id" in result.err
    assert "line 2" not in result.err
    assert "nothing was sent" in result.err
    assert "rows read        6" in result.out
    assert "rows rejected    5" in result.out
    assert depth(stack, stack.queue_url) == 0
    printed = result.out + result.err
    assert "not-an-email" not in printed and "not-a-uuid" not in printed and "ok.two" not in printed


def test_skip_invalid_sends_the_valid_rows_and_still_exits_1(stack, run_cli, tmp_path: Path):
    path = write_csv(tmp_path / "bad.csv", BAD_ROWS, ["email", "gaid", "audience_id", "action"])

    result = run_cli("send", str(path), "--skip-invalid", "--audience", "fallback")

    assert result.code == 1
    assert "line 7" not in result.err  # --audience supplies the missing audience id
    profiles = profiles_of(drain(stack))
    assert [p["identityMap"] for p in profiles] == [
        {"Email": [{"id": "ok.one@example.com"}]},
        {"Email": [{"id": "ok.four@example.com"}], "GAID": [{"id": GAID}]},
    ]
    assert profiles[1]["segmentMembership"]["ups"]["fallback"]["status"] == "exited"
    assert "messages sent    1 (2 rows)" in result.out


def test_json_lines_with_the_audience_flag_and_hashed_emails(stack, run_cli, tmp_path: Path):
    path = tmp_path / "members.jsonl"
    lines = [
        {"email": " Jane.Doe@Example.com ", "action": "remove", "qualified_at": "2026-11-28T11:00:00+01:00"},
        {"Email_SHA256": sha256_hex("x@example.com"), "IDFA": GAID.upper()},
        {"email": ["a@example.com", "b@example.com"]},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")

    result = run_cli("send", str(path), "--audience", "loyal", "--hash-emails")

    assert result.code == 0, result.err
    profiles = profiles_of(drain(stack))
    assert len(profiles) == 3
    first = profiles[0]
    assert first["identityMap"] == {"Email_LC_SHA256": [{"id": sha256_hex("jane.doe@example.com")}]}
    assert first["segmentMembership"]["ups"]["loyal"] == {
        "status": "exited",
        "lastQualificationTime": "2026-11-28T10:00:00Z",
    }
    assert profiles[1]["identityMap"] == {
        "Email_LC_SHA256": [{"id": sha256_hex("x@example.com")}],
        "IDFA": [{"id": GAID.upper()}],
    }
    assert profiles[1]["segmentMembership"]["ups"]["loyal"]["status"] == "realized"
    assert profiles[1]["segmentMembership"]["ups"]["loyal"]["lastQualificationTime"].endswith("Z")
    assert len(profiles[2]["identityMap"]["Email_LC_SHA256"]) == 2


def test_ready_made_profiles_are_validated_by_the_contract(stack, run_cli, tmp_path: Path):
    good = {"segmentMembership": {"ups": {"seg": {"status": "realized"}}}, "identityMap": {"GAID": [{"id": GAID}]}}
    path = tmp_path / "profiles.jsonl"
    path.write_text(json.dumps(good) + "\n{nope\n" + json.dumps({"identityMap": {}}) + "\n" + json.dumps([good, good]))

    rejected = run_cli("send", str(path), "--format", "profiles")
    assert rejected.code == 1
    assert "line 2: invalid_json" in rejected.err
    assert "line 3: invalid_contract: segmentMembership: Field required" in rejected.err
    assert "rows rejected    2: invalid_contract 1, invalid_json 1" in rejected.out
    assert depth(stack, stack.queue_url) == 0

    sent = run_cli("send", str(path), "--format", "profiles", "--skip-invalid")
    assert sent.code == 1
    assert profiles_of(drain(stack)) == [good, good, good]
    assert "profiles         3" in sent.out


def test_lone_surrogates_are_rejected_not_sent(stack, run_cli, tmp_path: Path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"email": "a\\ud800@example.com", "audience_id": "s"}\n')
    assert "line 1: invalid email" in run_cli("send", str(rows)).err
    profiles = tmp_path / "profiles.jsonl"
    bad = '{"segmentMembership": {"ups": {"s": {"status": "realized"}}}, "identityMap": {"GAID": [{"id": "\\ud800"}]}}'
    profiles.write_text(bad + "\n")
    result = run_cli("send", str(profiles), "--format", "profiles")
    assert result.code == 1
    # the sync function's own parser refuses a lone surrogate as invalid JSON, so send does too
    assert "line 1: invalid_json: body is not JSON" in result.err
    assert depth(stack, stack.queue_url) == 0


def test_a_profile_too_large_for_a_message_is_found_before_anything_is_sent(stack, run_cli, tmp_path: Path):
    path = tmp_path / "rows.jsonl"
    rows: list[dict[str, Any]] = [{"email": f"m{i}@example.com", "audience_id": "seg"} for i in range(3_000)]
    rows.append({"email": [f"huge{i}@example.com" for i in range(12_000)], "audience_id": "seg"})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))

    result = run_cli("send", str(path), "--format", "jsonl")

    assert result.code == 1
    assert "line 3001: profile larger than the message size limit" in result.err
    assert "nothing was sent" in result.err and depth(stack, stack.queue_url) == 0


def test_an_unclosed_quote_that_swallows_rows_is_rejected_not_sent(stack, run_cli, tmp_path: Path):
    path = tmp_path / "q.csv"
    path.write_text('email,audience_id\na@example.com,"seg\nb@example.com,seg\nc@example.com,seg\n')

    result = run_cli("send", str(path), "--dry-run")

    assert result.code == 1
    assert "line 4: audience_id has control, invisible or bidirectional-override characters" in result.err  # its end
    assert "b@example.com" not in result.out + result.err


def test_dry_run_packs_and_sends_nothing(stack, run_cli, tmp_path: Path):
    rows = [{"email": f"m{i}@example.com", "audience_id": "seg"} for i in range(500)]
    path = write_csv(tmp_path / "m.csv", rows, ["email", "audience_id"])

    result = run_cli("send", str(path), "--dry-run", "--max-message-bytes", "8192")

    assert result.code == 0
    assert "messages would send 14 (500 rows)" in result.out
    assert depth(stack, stack.queue_url) == 0


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("audience_id,action\nseg,add\n", [], "no identity column"),
        ("email,action\na@example.com,add\n", [], "no audience_id column: add one or give --audience"),
        ("email,email,audience_id\n", [], "repeats column(s) email"),
    ],
)
def test_header_problems_are_usage_errors(stack, run_cli, tmp_path: Path, content, args, message):
    path = tmp_path / "m.csv"
    path.write_text(content)
    result = run_cli("send", str(path), *args)
    assert result.code == 2
    assert message in result.err


def test_usage_and_aws_errors_have_their_exit_codes(stack, run_cli, tmp_path: Path, monkeypatch):
    path = write_csv(tmp_path / "m.csv", [{"email": "a@example.com", "audience_id": "s"}], ["email", "audience_id"])
    assert run_cli("send", str(tmp_path / "missing.csv")).code == 2
    (tmp_path / "m.txt").write_text("email\n")
    assert "give --format" in run_cli("send", str(tmp_path / "m.txt")).err
    assert run_cli("send", str(path), "--qualified-at", "2026-11-28T10:00:00").code == 2
    assert run_cli("send", str(path), "--format", "xml").code == 2  # argparse

    monkeypatch.delenv("PINSYNC_QUEUE_URL")
    missing = run_cli("send", str(path))
    assert missing.code == 2
    assert "no URL of the audience queue: give --queue-url or --stack-name or $PINSYNC_QUEUE_URL" in missing.err

    gone = run_cli("send", str(path), "--queue-url", stack.queue_url + "-gone")
    assert gone.code == 4
    assert "cannot reach the queue" in gone.err

    unknown_stack = run_cli("send", str(path), "--stack-name", "no-such-stack")
    assert unknown_stack.code == 2
    assert "stack no-such-stack not found" in unknown_stack.err


# -- the pieces, without AWS -----------------------------------------------------------------------------------------


def test_packing_fills_messages_up_to_the_budget_in_order():
    packer = Packer(budget=100)
    parts = [b'{"a":"' + bytes(str(i), "ascii") * 10 + b'"}' for i in range(10)]  # 18 bytes each
    messages = [m for part in parts for m in packer.add([part])] + packer.flush()
    assert [m.profiles for m in messages] == [5, 5]  # 2 + 5 x 18 + 4 commas = 96 <= 100; a sixth would not fit
    assert all(len(m.body) <= 100 for m in messages)
    assert b"".join(m.body for m in messages).count(b"{") == 10
    assert [json.loads(m.body)[0] for m in messages] == [json.loads(parts[0]), json.loads(parts[5])]


def test_a_row_becomes_one_profile_with_now_as_default_time():
    profile = profile_from_row({"email": "a@example.com", "audience_id": "s"}, RowOptions(qualified_at=""))
    when = profile["segmentMembership"]["ups"]["s"]["lastQualificationTime"]
    assert when.endswith("Z") and when.startswith("20")


class FlakySqs:
    """SendMessageBatch that fails some entries: a retryable one once, a sender fault always."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        ids = [entry["Id"] for entry in Entries]
        self.calls.append(ids)
        first = len(self.calls) == 1
        failed = [{"Id": "1", "Code": "InternalError", "SenderFault": False}] if first else []
        failed += [{"Id": "2", "Code": "InvalidMessageContents", "SenderFault": True}] if "2" in ids else []
        failed_ids = {f["Id"] for f in failed}
        return {"Successful": [{"Id": i} for i in ids if i not in failed_ids], "Failed": failed}


def test_failed_entries_are_retried_and_sender_faults_are_not():
    sqs = FlakySqs()
    waits: list[float] = []
    sender = BatchSender(sqs, "url", sleep=waits.append)
    failures = sender.send([b"[1]", b"[2]", b"[3]"])
    assert failures == {2: "InvalidMessageContents"}
    assert sqs.calls == [["0", "1", "2"], ["1"]]
    assert len(waits) == 1


def test_progress_falls_back_to_plain_lines_without_a_bar_library(monkeypatch):
    import importlib
    import io

    from pinsync_cli.progress import Progress

    real = importlib.import_module

    def no_tqdm(name: str, *args: Any) -> Any:
        if name == "tqdm":
            raise ImportError(name)
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", no_tqdm)
    out = io.StringIO()
    ticks = iter([0.0, 10.0, 10.0, 10.0])
    progress = Progress(100, unit="rows", out=out, mode="bar", clock=lambda: next(ticks))
    assert progress.mode == "plain"
    progress.update(50, "3 messages")
    assert out.getvalue() == "progress: 50/100 rows (50%), 3 messages, 5 rows/s, ETA 0:00:10\n"


@pytest.mark.parametrize(
    ("data", "code", "message"),
    [
        ("\ufeff".encode() + b'{"email": "bom@example.com", "audience_id": "seg"}\n', 0, ""),
        (b"email,audience_id\ncaf\xe9@example.com,seg\n", 2, "standard input is not UTF-8 text"),
    ],
    ids=["byte-order-mark", "latin-1"],
)
def test_standard_input_is_decoded_like_a_file(stack, run_cli, monkeypatch, data, code, message):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    fmt = "jsonl" if data.startswith("\ufeff".encode()) else "csv"

    result = run_cli("send", "-", "--format", fmt, "--dry-run")

    assert result.code == code, result.err
    assert message in result.err and "caf" not in result.err


# -- hostile input ---------------------------------------------------------------------------------------------------


def _send_through_a_pipe(run_cli, data: bytes, file_format: str):
    """`pinsync send <(export-members) --format ...`: the path is a pipe, which cannot seek back."""
    read_end, write_end = os.pipe()
    os.write(write_end, data)
    os.close(write_end)
    try:
        return run_cli("send", f"/dev/fd/{read_end}", "--format", file_format, "--dry-run")
    finally:
        os.close(read_end)


def test_a_pipe_is_read_twice_like_a_file(run_cli):
    result = _send_through_a_pipe(run_cli, b"email,audience_id\na@example.com,seg\nb@example.com,seg\n", "csv")

    assert result.code == 0, result.err
    assert "messages would send 1 (2 rows)" in result.out


def test_a_pipe_that_is_not_utf8_is_a_usage_error(run_cli):
    result = _send_through_a_pipe(run_cli, b'{"email": "caf\xe9@example.com", "audience_id": "seg"}\n', "jsonl")

    assert result.code == 2
    assert "is not UTF-8 text" in result.err and "caf" not in result.err


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_a_qualification_time_out_of_range_in_utc_is_refused_not_a_crash(run_cli, tmp_path: Path, moment):
    # valid ISO 8601 with a timezone, but not a date once converted to UTC
    path = write_csv(tmp_path / "m.csv", [{"email": "a@example.com", "audience_id": "s"}], ["email", "audience_id"])
    flag = run_cli("send", str(path), "--dry-run", "--qualified-at", moment)
    assert flag.code == 2
    assert "pinsync send: --qualified-at" in flag.err and "Traceback" not in flag.err

    rows = tmp_path / "rows.csv"
    rows.write_text(f"email,audience_id,qualified_at\nok@example.com,s,{QUALIFIED_AT}\nx@example.com,s,{moment}\n")
    row = run_cli("send", str(rows), "--dry-run")
    assert row.code == 1
    assert "line 3: invalid qualified_at (ISO 8601 with a timezone)" in row.err
    assert "x@example.com" not in row.out + row.err


def test_a_queue_with_a_smaller_message_size_is_checked_against_before_anything_is_sent(stack, run_cli, tmp_path):
    sqs = stack.client("sqs")
    small = sqs.create_queue(QueueName="small", Attributes={"MaximumMessageSize": "8192"})["QueueUrl"]
    # The second row fits the default 256 KiB budget but not this queue's 8 KiB minus the margin
    rows = [{"email": "a@example.com", "audience_id": "s"}, {"email": "x" * 7_000 + "@example.com", "audience_id": "s"}]
    path = write_csv(tmp_path / "m.csv", rows, ["email", "audience_id"])

    result = run_cli("send", str(path), "--queue-url", small)

    assert result.code == 1
    assert "line 3: profile larger than the message size limit" in result.err
    assert "nothing was sent" in result.err
    assert depth(stack, small) == 0
    assert "xxxx" not in result.out + result.err

    skipped = run_cli("send", str(path), "--queue-url", small, "--skip-invalid")
    assert skipped.code == 1
    assert [p["identityMap"] for p in profiles_of(drain(stack, small))] == [{"Email": [{"id": "a@example.com"}]}]


def test_a_queue_too_small_for_any_message_is_a_configuration_error(stack, run_cli, tmp_path):
    tiny = stack.client("sqs").create_queue(QueueName="tiny", Attributes={"MaximumMessageSize": "1024"})["QueueUrl"]
    path = write_csv(tmp_path / "m.csv", [{"email": "a@example.com", "audience_id": "s"}], ["email", "audience_id"])

    result = run_cli("send", str(path), "--queue-url", tiny)

    assert result.code == 2
    assert result.err == "pinsync send: the queue's MaximumMessageSize (1024) is below 4096 bytes\n"
    assert depth(stack, tiny) == 0


def test_a_missing_header_row_does_not_echo_the_identifiers_read_as_column_names(run_cli, tmp_path: Path):
    # A file without its header row: its first row is read as the header, and its values as column names
    path = tmp_path / "no-header.csv"
    path.write_text(f"email,{GAID},jane.doe@example.com,{sha256_hex('joe@example.com')},segment\n")

    result = run_cli("send", str(path), "--audience", "vip", "--dry-run")

    assert "warning: ignoring unknown column(s):" in result.err
    assert "is the header row missing?" in result.err
    for value in (GAID, "jane.doe", sha256_hex("joe@example.com")):
        assert value not in result.out + result.err
    assert "segment" in result.err  # a name that is not an identifier is still shown
    repeated = tmp_path / "repeated.csv"
    repeated.write_text("email,audience_id,jane.doe@example.com,jane.doe@example.com\n")
    refused = run_cli("send", str(repeated), "--dry-run")
    assert refused.code == 2
    assert "the header repeats column(s) (an identifier: is the header row missing?)" in refused.err
    assert "jane.doe" not in refused.err


def test_ctrl_c_mid_way_says_how_much_was_sent(stack, run_cli, tmp_path: Path, monkeypatch):
    rows = [{"email": f"m{i}@example.com", "audience_id": "seg"} for i in range(500)]
    path = write_csv(tmp_path / "m.csv", rows, ["email", "audience_id"])
    fail_batches_after(monkeypatch, good=1, error=KeyboardInterrupt())

    result = run_cli("send", str(path), "--max-message-bytes", "8192")

    assert result.code == 130
    assert depth(stack, stack.queue_url) == 10
    assert "messages sent    10 (" in result.out
    assert result.err.endswith("pinsync send: interrupted\n")


def test_a_header_cell_over_the_csv_field_limit_is_a_usage_error(run_cli, tmp_path: Path):
    path = tmp_path / "m.csv"
    path.write_text("email,audience_id," + "x" * 200_000 + "\na@example.com,seg,1\n")

    result = run_cli("send", str(path), "--dry-run")

    assert result.code == 2
    assert result.err.startswith("pinsync send: line 1: the header is not valid CSV (field larger than field limit")
    assert result.err.count("\n") == 1


def test_a_json_line_that_repeats_a_key_is_rejected_not_half_read(run_cli, tmp_path: Path):
    # Keys are matched case-insensitively (as CSV headers are): a second "email" would silently replace the first
    path = tmp_path / "rows.jsonl"
    path.write_text(
        '{"email": "ok@example.com", "audience_id": "s"}\n'
        '{"email": "first@example.com", "Email": "second@example.com", "audience_id": "s"}\n'
        '{"gaid": "' + GAID + '", "gaid": "' + GAID.replace("3", "4") + '", "audience_id": "s"}\n'
    )

    result = run_cli("send", str(path), "--dry-run")

    assert result.code == 1
    assert "line 2: repeats a key (keys are case-insensitive)" in result.err
    assert "line 3: repeats a key (keys are case-insensitive)" in result.err
    assert "first@" not in result.err and "second@" not in result.err and GAID not in result.err
