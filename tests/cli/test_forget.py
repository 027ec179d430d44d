"""`pinsync forget` against the local stack: the erasure goes through the queue and the real sync path, reaches every
list with every linked identifier, survives a redelivered older add, and is reported in counts only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from local_stack.stack import LocalStack
from pinsync.sync.contract import parse_message
from pinsync.sync.identities import sha256_hex

from tests.builders import body, profile
from tests.cli.conftest import ACCESS_DENIED, depth, drain, fail_batches_after, process
from tests.integration.conftest import received_json

GAID = "38400000-8cf0-11bd-b23e-10b96e40000d"
# A person in two audiences (ECID keys the profile: the GAID is linked to the email through it), and someone else
PERSON = profile(
    {"vip": "realized", "all": "realized"},
    email="jane@example.com",
    gaid=GAID,
    extra_identities={"ECID": ["jane-ecid"]},
    at="2026-11-28T10:00:00Z",
)
OTHER = profile({"vip": "realized"}, email="joe@example.com", extra_identities={"ECID": ["joe-ecid"]})


def members(stack: LocalStack) -> dict[str, set[str]]:
    return {
        customer_list["name"]: stack.emulator.state.members(customer_list["id"])
        for customer_list in stack.emulator.state.customer_lists()
    }


def put(stack: LocalStack, *documents: dict[str, object]) -> None:
    sqs = stack.client("sqs")
    for document in documents:
        sqs.send_message(QueueUrl=stack.queue_url, MessageBody=body(document))


def privacy_events(stack: LocalStack) -> list[dict[str, object]]:
    events = received_json(stack.client("sqs"), stack.runs_queue_url)
    return [event["detail"] for event in events if event["detail-type"] == "Privacy Request"]


def test_forget_removes_every_linked_identifier_from_every_list_and_an_older_add_cannot_bring_it_back(stack, run_cli):
    put(stack, PERSON, OTHER)
    process(stack)
    jane, gaid, joe = sha256_hex("jane@example.com"), sha256_hex(GAID), sha256_hex("joe@example.com")
    assert members(stack) == {"pinsync local vip": {jane, gaid, joe}, "pinsync local all": {jane, gaid}}

    # A dry run names the lists and counts, and sends nothing
    dry = run_cli("forget", "--email", " Jane@Example.com ", "--dry-run")
    assert dry.code == 0, dry.err
    assert "customer lists   2" in dry.out
    assert "audience vip: customer list" in dry.out and "2 identifiers to remove, 2 in it per the ledger" in dry.out
    assert "jane" not in (dry.out + dry.err).lower() and jane not in dry.out
    assert depth(stack, stack.queue_url) == 0

    result = run_cli("forget", "--email", "jane@example.com", "--request-id", "DSR-42")
    assert result.code == 0, result.err
    assert "messages sent    1" in result.out
    # only hashes are put on the queue
    [message] = drain(stack)
    assert "jane" not in message.lower()
    request = parse_message(message)
    assert isinstance(request, dict) and request["identityMap"] == {"Email_LC_SHA256": [{"id": jane}]}
    stack.client("sqs").send_message(QueueUrl=stack.queue_url, MessageBody=message)
    process(stack)

    assert members(stack) == {"pinsync local vip": {joe}, "pinsync local all": set()}
    [event] = privacy_events(stack)
    assert event["request_id"] == "DSR-42" and event["customer_lists"] == 2 and event["removals"] == 4
    assert event["identities"] == {"requested": 1, "excluded": 0, "removed": 2}
    assert jane not in json.dumps(event) and gaid not in json.dumps(event)

    # An older add, redelivered after the erasure, leaves her out
    put(stack, PERSON)
    process(stack)
    assert members(stack) == {"pinsync local vip": {joe}, "pinsync local all": set()}
    # The dry run now finds nothing of hers in any list
    again = run_cli("forget", "--gaid", GAID, "--dry-run")
    assert again.out.count("0 in it per the ledger") == 2


def test_identities_from_a_file_lines_and_csv_rows(stack, run_cli, tmp_path: Path):
    put(stack, PERSON, OTHER)
    process(stack)
    path = tmp_path / "erase.csv"
    path.write_text(f"kind,value\n# requested 2026-12-01\n\nemail,joe@example.com\n{GAID}\n")
    result = run_cli("forget", "--file", str(path))
    assert result.code == 0, result.err
    assert "identities       2" in result.out
    process(stack)
    assert members(stack) == {"pinsync local vip": set(), "pinsync local all": set()}


def test_invalid_or_placeholder_identities_send_nothing_unless_skipped(stack, run_cli, tmp_path: Path):
    path = tmp_path / "erase.txt"
    path.write_text("jane@example.com\n00000000-0000-0000-0000-000000000000\nfax,123\nnot-an-email@\n")
    refused = run_cli("forget", "--file", str(path), "--email", "null")
    assert refused.code == 1
    assert "line 2: gaid placeholder_identity" in refused.err and "line 3: unknown kind" in refused.err
    assert "--email #1: email placeholder_identity" in refused.err
    assert "jane" not in refused.err and "000000" not in refused.err
    assert depth(stack, stack.queue_url) == 0
    skipped = run_cli("forget", "--file", str(path), "--skip-invalid")
    assert skipped.code == 0 and "identities       1 (3 rejected)" in skipped.out
    assert depth(stack, stack.queue_url) == 1


def test_usage_errors(stack, run_cli):
    assert run_cli("forget").code == 2
    bad_id = run_cli("forget", "--email", "a@b.co", "--request-id", "jane@example.com")
    assert bad_id.code == 2 and "never an identity" in bad_id.err and "jane" not in bad_id.err


def test_file_lines_survive_crlf_quotes_case_and_hostile_values():
    import io

    from pinsync_cli.forget import Identities, read_file

    hashed = sha256_hex("joe@example.com").upper()  # a hashed email in capitals is the same record
    text = (
        "kind,value\r\n"
        '"email"," Jane@Example.com "\r\n'
        f"{hashed}\r\n"
        f"IDFA,{GAID.upper()}\r\n"
        "email,\r\n"  # empty: a placeholder
        "gaid,not-a-uuid\r\n"
        + "x"
        * 100_000
        + "@example.com\r\n"  # huge, but an email by the sync function's rule: hashed like it
        "\ufeffemail,zero\u200bwidth@example.com\r\n"  # a byte-order mark inside the file is not a kind
    )
    identities = Identities()
    read_file(io.StringIO(text), identities)

    assert list(identities.records) == [
        sha256_hex("jane@example.com"),
        sha256_hex("joe@example.com"),
        sha256_hex(GAID),
        sha256_hex("x" * 100_000 + "@example.com"),
    ]
    assert identities.rejections == [
        "line 5: email placeholder_identity",
        "line 6: gaid invalid_identity",
        "line 8: unknown kind (email, email_sha256, gaid or idfa)",
    ]


def test_a_file_that_is_not_utf8_is_a_usage_error(run_cli, tmp_path: Path):
    path = tmp_path / "erase.txt"
    path.write_bytes(b"jane@example.com\ncaf\xe9@example.com\n")
    result = run_cli("forget", "--file", str(path), "--dry-run")
    assert result.code == 2
    assert result.err == f"pinsync forget: {path} is not UTF-8 text\n"
    assert result.out == ""


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (ACCESS_DENIED, 4, "pinsync forget: SendMessageBatch failed (AccessDenied); the summary shows what was sent"),
        (KeyboardInterrupt(), 130, "pinsync forget: interrupted"),
    ],
    ids=["aws-error", "ctrl-c"],
)
def test_an_aws_error_or_ctrl_c_mid_way_says_how_many_requests_were_sent(
    stack, run_cli, tmp_path: Path, monkeypatch, error, code, message
):
    # 1,001 identities: eleven privacy requests, two SendMessageBatch calls; the second fails
    path = tmp_path / "erase.txt"
    path.write_text("".join(f"38400000-8cf0-11bd-b23e-{i:012x}\n" for i in range(1, 1_002)))
    fail_batches_after(monkeypatch, good=1, error=error)

    result = run_cli("forget", "--file", str(path), "--request-id", "TICKET-7")

    assert result.code == code
    assert depth(stack, stack.queue_url) == 10
    assert "request id       TICKET-7" in result.out
    assert "messages sent    10 (1 not sent: send them again)" in result.out
    assert message in result.err


def test_a_csv_line_over_the_field_limit_is_a_rejected_line_not_a_crash():
    import io

    from pinsync_cli.forget import Identities, read_file

    identities = Identities()
    read_file(io.StringIO("email,a@example.com\nemail," + "x" * 200_000 + "@example.com\n"), identities)

    assert list(identities.records) == [sha256_hex("a@example.com")]
    assert identities.rejections == ["line 2: not a valid CSV row"]
