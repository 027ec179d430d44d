"""`pinsync redrive`: move dead-lettered messages back to the audience queue.

Uses SQS's message move task (`StartMessageMoveTask`) where it is available; otherwise (the local stack, a
policy without the permission, or `--method manual`) receives from the dead-letter queue, sends to the source
queue and deletes each message only after its send succeeded, so nothing is lost (a message whose delete failed
may arrive twice, which the sync handles: membership is a set).

`--dry-run` receives nothing for good: it counts the messages and why they failed, judged by the contract
(`invalid_json` / `invalid_contract` can never succeed; `valid (failed repeatedly)` failed on Pinterest or
AWS and will go through once the cause is fixed), then makes them visible again. Bodies are never printed.
`--only-valid` moves only the messages that parse, leaving poison ones in the dead-letter queue.

Exit codes: 0 everything moved (or counted); 1 some messages were not moved; 2 usage error; 4 AWS error.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError
from pinsync.sync.contract import ContractError, parse_message

from pinsync_cli.send import MAX_BATCH_BYTES
from pinsync_cli.stack import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    CliError,
    add_target_arguments,
    aws_code,
    aws_error,
    resolve,
)

VALID = "valid (failed repeatedly)"
RECEIVE_VISIBILITY_SECONDS = 120
MOVE_TASK_DONE = {"COMPLETED", "FAILED", "CANCELLED"}


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "redrive",
        help="move dead-letter messages back to the audience queue (--dry-run: counts and reasons)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dry-run", action="store_true", help="count messages and reasons; move nothing")
    parser.add_argument(
        "--method",
        choices=("auto", "move-task", "manual"),
        default="auto",
        help="auto: the SQS move task when available, else receive/send/delete (default auto)",
    )
    parser.add_argument("--only-valid", action="store_true", help="leave messages that do not parse in the DLQ")
    parser.add_argument("--max-messages", type=int, help="move at most this many (manual method)")
    parser.add_argument("--no-wait", action="store_true", help="start the move task and return (move-task method)")
    add_target_arguments(parser, "queue_url", "dead_letter_queue_url")
    parser.set_defaults(func=run)
    return parser


def reason_of(body: str) -> str:
    try:
        parse_message(body)
    except ContractError as error:
        return error.reason
    return VALID


@dataclass
class RedriveReport:
    moved: Counter[str] = field(default_factory=Counter)
    left: Counter[str] = field(default_factory=Counter)  # skipped (--only-valid)
    failed: Counter[str] = field(default_factory=Counter)  # send failed: still in the DLQ
    maybe_duplicated: int = 0  # sent, but the delete from the DLQ failed


def run(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if args.max_messages is not None and args.max_messages < 1:
        raise CliError("--max-messages must be at least 1", EXIT_USAGE)
    deployment = resolve(args)
    dlq_url = deployment.require("dead_letter_queue_url")
    sqs = deployment.client("sqs")
    if args.dry_run:
        return _dry_run(sqs, dlq_url, out)
    queue_url = deployment.require("queue_url")
    manual_needed = args.only_valid or args.max_messages is not None
    if args.method == "move-task" and manual_needed:
        raise CliError("--only-valid and --max-messages need --method manual (or auto)", EXIT_USAGE)
    if args.method == "move-task" or (args.method == "auto" and not manual_needed and not deployment.is_local):
        try:
            return _move_task(sqs, dlq_url, queue_url, wait=not args.no_wait, out=out)
        except _MoveTaskUnavailable as unavailable:
            if args.method == "move-task":
                raise CliError(f"the SQS message move task is not available ({unavailable})", EXIT_USAGE) from None
            print(
                f"note: message move task not available ({unavailable}); moving messages one batch at a time", file=out
            )
    return _manual(sqs, dlq_url, queue_url, args.only_valid, args.max_messages, out)


# -- dry run --------------------------------------------------------------------------------------------------------


def _dry_run(sqs: Any, dlq_url: str, out: TextIO) -> int:
    reasons: Counter[str] = Counter()
    handles: list[str] = []
    seen: set[str] = set()
    oldest: int | None = None
    try:
        while batch := _receive(sqs, dlq_url, visibility=RECEIVE_VISIBILITY_SECONDS):
            fresh = [message for message in batch if message["MessageId"] not in seen]
            if not fresh:
                break  # the scan outlived the visibility timeout: everything was counted once
            for message in fresh:
                seen.add(message["MessageId"])
                reasons[reason_of(message["Body"])] += 1
                handles.append(message["ReceiptHandle"])
                sent = int(message.get("Attributes", {}).get("SentTimestamp", 0)) or None
                if sent is not None:
                    oldest = sent if oldest is None else min(oldest, sent)
    except (ClientError, BotoCoreError) as error:
        raise aws_error("cannot read the dead-letter queue", error) from None
    finally:
        _make_visible(sqs, dlq_url, handles)
    total = sum(reasons.values())
    print(f"dead-letter queue: {total} message(s) (dry run: nothing moved)", file=out)
    for reason, count in sorted(reasons.items()):
        hint = "will go through once the cause is fixed" if reason == VALID else "will fail again (poison)"
        print(f"  {reason:<28}{count:>8}  {hint}", file=out)
    if oldest is not None:
        print(f"  oldest sent {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(oldest / 1000))}", file=out)
    return EXIT_OK


# -- move task ------------------------------------------------------------------------------------------------------


class _MoveTaskUnavailable(Exception):
    pass


def _move_task(sqs: Any, dlq_url: str, queue_url: str, *, wait: bool, out: TextIO) -> int:
    try:
        dlq_arn = _arn(sqs, dlq_url)
        queue_arn = _arn(sqs, queue_url)
    except (ClientError, BotoCoreError) as error:
        raise aws_error("cannot read the queues", error) from None
    try:
        handle = sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=queue_arn)["TaskHandle"]
    except ClientError as error:
        raise _MoveTaskUnavailable(aws_code(error)) from None
    except BotoCoreError as error:
        raise _MoveTaskUnavailable(type(error).__name__) from None
    print(f"message move task started ({handle[:24]}...)", file=out)
    if not wait:
        return EXIT_OK
    return _wait_for_task(sqs, dlq_arn, out)


def _wait_for_task(sqs: Any, dlq_arn: str, out: TextIO, sleep: Callable[[float], None] = time.sleep) -> int:
    while True:
        try:
            tasks = sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=1).get("Results", [])
        except (ClientError, BotoCoreError) as error:
            raise aws_error("cannot follow the move task (it keeps running)", error) from None
        task = tasks[0] if tasks else {}
        status = str(task.get("Status", "UNKNOWN"))
        moved = task.get("ApproximateNumberOfMessagesMoved", 0)
        to_move = task.get("ApproximateNumberOfMessagesToMove", "?")
        if status in MOVE_TASK_DONE or not tasks:
            print(f"move task {status.lower()}: {moved} of {to_move} message(s) moved", file=out)
            if status == "FAILED":
                print(f"  reason: {task.get('FailureReason', 'unknown')}", file=out)
            return EXIT_OK if status == "COMPLETED" else EXIT_PARTIAL
        print(f"moving: {moved} of {to_move} message(s)", file=out, flush=True)
        sleep(2.0)


# -- receive / send / delete ----------------------------------------------------------------------------------------


def _manual(sqs: Any, dlq_url: str, queue_url: str, only_valid: bool, limit: int | None, out: TextIO) -> int:
    report = RedriveReport()
    held: list[str] = []  # receipt handles to make visible again at the end (skipped or not sent)
    try:
        while limit is None or sum(report.moved.values()) < limit:
            room = 10 if limit is None else min(10, limit - sum(report.moved.values()))
            batch = _receive(sqs, dlq_url, visibility=RECEIVE_VISIBILITY_SECONDS, count=room)
            if not batch:
                break
            to_send = []
            for message in batch:
                reason = reason_of(message["Body"])
                if only_valid and reason != VALID:
                    report.left[reason] += 1
                    held.append(message["ReceiptHandle"])
                else:
                    to_send.append((message, reason))
            sent_any = False
            for chunk in _by_size(to_send):  # ten received messages can be 2.5 MB; a batch takes 256 KiB
                sent_any = _move_batch(sqs, dlq_url, queue_url, chunk, report, held) or sent_any
            if to_send and not sent_any:
                break  # nothing of a whole batch could be sent: stop rather than spin
    except (ClientError, BotoCoreError) as error:
        _print_report(report, out)
        raise aws_error("redrive stopped", error) from None
    finally:
        _make_visible(sqs, dlq_url, held)
    _print_report(report, out)
    return EXIT_PARTIAL if report.failed else EXIT_OK


def _by_size(to_send: list[tuple[dict[str, Any], str]]) -> list[list[tuple[dict[str, Any], str]]]:
    """Consecutive runs of messages whose bodies and attributes fit one SendMessageBatch (MAX_BATCH_BYTES)."""
    chunks: list[list[tuple[dict[str, Any], str]]] = []
    size = 0
    for item in to_send:
        weight = _weight(item[0])
        if not chunks or size + weight > MAX_BATCH_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += weight
    return chunks


def _weight(message: dict[str, Any]) -> int:
    """What SQS counts towards the batch size: the body and each attribute's name, type and value."""
    attributes = _attributes(message).get("MessageAttributes", {})
    return len(message["Body"].encode("utf-8")) + sum(
        len(name)
        + len(str(value.get("DataType", "")))
        + len(str(value.get("StringValue", value.get("BinaryValue", ""))))
        for name, value in attributes.items()
    )


def _move_batch(
    sqs: Any,
    dlq_url: str,
    queue_url: str,
    to_send: list[tuple[dict[str, Any], str]],
    report: RedriveReport,
    held: list[str],
) -> bool:
    """Send first, delete only what was sent. Returns whether anything was sent."""
    entries = [
        {"Id": str(index), "MessageBody": message["Body"], **_attributes(message)}
        for index, (message, _reason) in enumerate(to_send)
    ]
    response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
    sent = {int(entry["Id"]) for entry in response.get("Successful", [])}
    for index, (message, reason) in enumerate(to_send):
        if index not in sent:
            report.failed[reason] += 1
            held.append(message["ReceiptHandle"])
    if not sent:
        return False
    deletes = [{"Id": str(index), "ReceiptHandle": to_send[index][0]["ReceiptHandle"]} for index in sorted(sent)]
    deleted = sqs.delete_message_batch(QueueUrl=dlq_url, Entries=deletes)
    report.maybe_duplicated += len(deleted.get("Failed", []))
    for index in sent:
        report.moved[to_send[index][1]] += 1
    return True


def _attributes(message: dict[str, Any]) -> dict[str, Any]:
    """The producer's message attributes, as SendMessage takes them (list values are not sendable)."""
    attributes = {
        name: {key: value[key] for key in ("DataType", "StringValue", "BinaryValue") if key in value}
        for name, value in message.get("MessageAttributes", {}).items()
        if "StringValue" in value or "BinaryValue" in value
    }
    return {"MessageAttributes": attributes} if attributes else {}


def _print_report(report: RedriveReport, out: TextIO) -> None:
    def reasons(counts: Counter[str]) -> str:
        return ", ".join(f"{reason} {count}" for reason, count in sorted(counts.items()))

    moved = sum(report.moved.values())
    print(f"moved {moved} message(s) to the audience queue" + (f": {reasons(report.moved)}" if moved else ""), file=out)
    poison = moved - report.moved[VALID]
    if poison:
        print(f"  note: {poison} of them do not parse and will end in the dead-letter queue again", file=out)
    if report.left:
        print(f"left in the dead-letter queue: {sum(report.left.values())} ({reasons(report.left)})", file=out)
    if report.failed:
        print(f"not moved (send failed, still in the DLQ): {sum(report.failed.values())}", file=out)
    if report.maybe_duplicated:
        print(f"  {report.maybe_duplicated} sent but not deleted from the DLQ: they may arrive twice", file=out)


# -- plumbing -------------------------------------------------------------------------------------------------------


def _receive(sqs: Any, url: str, *, visibility: int, count: int = 10) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=count,
        VisibilityTimeout=visibility,
        WaitTimeSeconds=1,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])
    return messages


def _make_visible(sqs: Any, url: str, handles: list[str]) -> None:
    for start in range(0, len(handles), 10):
        entries = [
            {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": 0}
            for index, handle in enumerate(handles[start : start + 10])
        ]
        try:
            sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
        except (ClientError, BotoCoreError):
            return  # they become visible by themselves when the visibility timeout ends


def _arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])
