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
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError
from pinsync.adapters.sqs_redrive import (
    RECEIVE_VISIBILITY_SECONDS,
    VALID,
    RedriveReport,
    make_visible,
    move_messages,
    receive,
    verdict,
)

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
        while batch := receive(sqs, dlq_url, visibility=RECEIVE_VISIBILITY_SECONDS):
            fresh = [message for message in batch if message["MessageId"] not in seen]
            if not fresh:
                break  # the scan outlived the visibility timeout: everything was counted once
            for message in fresh:
                seen.add(message["MessageId"])
                reasons[verdict(message["Body"])] += 1
                handles.append(message["ReceiptHandle"])
                sent = int(message.get("Attributes", {}).get("SentTimestamp", 0)) or None
                if sent is not None:
                    oldest = sent if oldest is None else min(oldest, sent)
    except (ClientError, BotoCoreError) as error:
        raise aws_error("cannot read the dead-letter queue", error) from None
    finally:
        make_visible(sqs, dlq_url, handles)
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
    try:
        move_messages(sqs, dlq_url, queue_url, only_valid=only_valid, limit=limit, report=report)
    except (ClientError, BotoCoreError) as error:
        _print_report(report, out)
        raise aws_error("redrive stopped", error) from None
    except KeyboardInterrupt:  # Ctrl-C: what was moved before it, then `interrupted` (exit 130)
        _print_report(report, out)
        raise
    _print_report(report, out)
    return EXIT_PARTIAL if report.failed else EXIT_OK


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


def _arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])
