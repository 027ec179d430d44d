"""`pinsync send`: the producer side. Member rows (CSV or JSON Lines) or ready-made profiles → contract messages
on the audience queue.

The whole file is checked first: if any row is rejected, nothing is sent (exit 1) unless `--skip-invalid`. Then
profiles are packed into JSON-array messages of at most 256 KiB (minus a safety margin) and sent with
`SendMessageBatch`; entries SQS reports as failed are retried with backoff. The summary gives rows read,
rejected (line numbers and reasons, never values) and messages sent. This is also how an audience activated late is
backfilled: send its full membership.

Exit codes: 0 everything sent; 1 rows rejected or messages not sent; 2 usage error (file, header, flags);
4 AWS error (nothing more was sent after it).
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from pinsync_cli.members import (
    FORMATS,
    MAX_MESSAGE_BYTES,
    SAFETY_MARGIN_BYTES,
    InputError,
    Message,
    Packer,
    Rejection,
    RowOptions,
    encode_profile,
    iso_z,
    read_items,
)
from pinsync_cli.progress import MODES, Progress
from pinsync_cli.stack import (
    EXIT_AWS,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    CliError,
    add_target_arguments,
    aws_code,
    aws_error,
    resolve,
)

SQS_HARD_LIMIT = 1_048_576  # the largest message SQS accepts on any queue
MIN_MESSAGE_BYTES = 4_096  # the smallest message limit worth packing for (a queue's own may be set down to 1024)
MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = MAX_MESSAGE_BYTES  # the classic SendMessageBatch total, accepted everywhere
SHOWN_REJECTIONS = 20
TOO_LARGE = "profile larger than the message size limit"
RETRYABLE_CODES = {"ThrottlingException", "RequestThrottled", "ServiceUnavailable", "InternalError", "InternalFailure"}


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "send",
        help="send members (CSV / JSON Lines) or profiles to the audience queue",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", help="the member file ('-' reads standard input)")
    parser.add_argument(
        "--format",
        choices=("auto", *FORMATS),
        default="auto",
        help="csv, jsonl (member rows) or profiles (JSON Lines of streaming-export profiles); "
        "auto: by extension (.csv; .jsonl/.ndjson/.json)",
    )
    parser.add_argument("--audience", help="audience id for rows without an audience_id column/value")
    parser.add_argument(
        "--action", choices=("add", "remove"), default="add", help="action of rows without one (default add)"
    )
    parser.add_argument(
        "--qualified-at",
        help="lastQualificationTime of rows without qualified_at (ISO 8601 with timezone; default: now)",
    )
    parser.add_argument(
        "--hash-emails",
        action="store_true",
        help="hash plain emails (lowercase SHA-256) before they are put on the queue; sent as Email_LC_SHA256",
    )
    parser.add_argument("--skip-invalid", action="store_true", help="send the valid rows even if some are rejected")
    parser.add_argument("--dry-run", action="store_true", help="check and pack, send nothing")
    parser.add_argument(
        "--max-message-bytes",
        type=int,
        default=MAX_MESSAGE_BYTES,
        help=f"largest message (default {MAX_MESSAGE_BYTES}; {SAFETY_MARGIN_BYTES} bytes are kept as margin)",
    )
    parser.add_argument(
        "--progress", choices=MODES, default="auto", help="bar on a terminal, plain lines otherwise (default auto)"
    )
    add_target_arguments(parser, "queue_url")
    parser.set_defaults(func=run)
    return parser


@dataclass
class SendReport:
    rows_read: int = 0
    rows_valid: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    profiles: int = 0
    messages_sent: int = 0
    rows_sent: int = 0
    messages_failed: Counter[str] = field(default_factory=Counter)
    rows_failed: int = 0
    retries: int = 0

    def rejected_by_reason(self) -> Counter[str]:
        return Counter(rejection.reason for rejection in self.rejections)


def run(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    options = _options(args)
    budget = _budget(args.max_message_bytes)
    fmt = _format(args.format, args.file)
    with _open_input(args.file) as source:
        report = SendReport()
        _check(source, fmt, options, report, err, Packer(budget))
        if _refused(report, report.rejections, args.skip_invalid, out, err):
            return EXIT_PARTIAL
        sender: BatchSender | None = None
        if not args.dry_run and report.rows_valid:
            deployment = resolve(args)
            queue_url = deployment.require("queue_url")
            sqs = deployment.client("sqs")
            queue_budget = _queue_budget(sqs, queue_url)
            if queue_budget < budget:
                # The queue takes smaller messages than the file was checked for: check again, so that a profile
                # too large for it is found before anything is sent, as any other rejected row is.
                budget = queue_budget
                checked = set(report.rejections)
                source.seek(0)
                report = SendReport()
                _check(source, fmt, options, report, io.StringIO(), Packer(budget))  # its warnings were printed
                found = [rejection for rejection in report.rejections if rejection not in checked]
                if _refused(report, found, args.skip_invalid, out, err):
                    return EXIT_PARTIAL
            sender = BatchSender(sqs, queue_url)
        source.seek(0)
        try:
            _send(source, fmt, options, Packer(budget), sender, report, args.progress, err)
        except CliError as error:
            _summary(report, out, dry_run=sender is None)
            print(f"pinsync send: {error}", file=err)
            return error.exit_code
        except KeyboardInterrupt:  # Ctrl-C: what went before it, then `interrupted` (exit 130)
            _summary(report, out, dry_run=sender is None)
            raise
    _summary(report, out, dry_run=sender is None)
    failed = report.rejections or report.messages_failed
    return EXIT_PARTIAL if failed else EXIT_OK


def _refused(report: SendReport, shown: list[Rejection], skip_invalid: bool, out: TextIO, err: TextIO) -> bool:
    """Print the rejections `shown` (not yet printed); True (after the summary) if nothing may be sent."""
    if not shown:
        return False
    _print_rejections(shown, err)
    if skip_invalid:
        return False
    print(
        f"pinsync send: {len(report.rejections)} row(s) rejected; nothing was sent "
        "(fix them, or --skip-invalid to send the valid rows)",
        file=err,
    )
    _summary(report, out, dry_run=False)
    return True


def _options(args: argparse.Namespace) -> RowOptions:
    qualified_at = ""
    if args.qualified_at:
        try:
            moment = datetime.fromisoformat(args.qualified_at.replace("Z", "+00:00"))
        except ValueError:
            raise CliError("--qualified-at is not ISO 8601", EXIT_USAGE) from None
        if moment.tzinfo is None:
            raise CliError("--qualified-at needs a timezone (e.g. a trailing Z)", EXIT_USAGE)
        try:
            qualified_at = iso_z(moment)
        except OverflowError:
            raise CliError("--qualified-at is out of range once in UTC", EXIT_USAGE) from None
    return RowOptions(
        audience=(args.audience or "").strip() or None,
        action=args.action,
        qualified_at=qualified_at or RowOptions.now(),
        hash_emails=args.hash_emails,
    )


def _budget(max_message_bytes: int) -> int:
    if not MIN_MESSAGE_BYTES <= max_message_bytes <= SQS_HARD_LIMIT:
        raise CliError(f"--max-message-bytes must be between {MIN_MESSAGE_BYTES} and {SQS_HARD_LIMIT}", EXIT_USAGE)
    return max_message_bytes - SAFETY_MARGIN_BYTES


def _queue_budget(sqs: Any, queue_url: str) -> int:
    """The queue's own MaximumMessageSize caps the budget (and proves the queue is there before sending)."""
    try:
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["MaximumMessageSize"])["Attributes"]
    except ClientError as error:
        raise CliError(f"cannot reach the queue ({aws_code(error)})", EXIT_AWS) from None
    except BotoCoreError as error:
        raise aws_error("cannot reach the queue", error) from None
    largest = int(attributes.get("MaximumMessageSize", MAX_MESSAGE_BYTES))
    if largest < MIN_MESSAGE_BYTES:
        raise CliError(f"the queue's MaximumMessageSize ({largest}) is below {MIN_MESSAGE_BYTES} bytes", EXIT_USAGE)
    return largest - SAFETY_MARGIN_BYTES


def _format(fmt: str, path: str) -> str:
    if fmt != "auto":
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in {".jsonl", ".ndjson", ".json"}:
        return "jsonl"
    raise CliError("cannot tell the format from the file name: give --format csv|jsonl|profiles", EXIT_USAGE)


@contextmanager
def _open_input(path: str) -> Iterator[IO[str]]:
    """A seekable text stream (standard input, a pipe or a FIFO is spooled, since the file is read twice)."""
    if path == "-":
        # Decoded as a file is: UTF-8 with an optional byte-order mark, and a clear error for anything else.
        stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline="")
        try:
            with _spooled(stdin, "standard input") as spool:
                yield spool
        finally:
            stdin.detach()  # leave sys.stdin usable
        return
    try:
        stream = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed below
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror}", EXIT_USAGE) from None
    with stream:
        if not stream.seekable():  # `pinsync send <(export) --format csv`: a pipe cannot seek back for a second pass
            with _spooled(stream, path) as spool:
                yield spool
            return
        try:
            yield stream
        except UnicodeDecodeError:  # decoded as it is read, by whichever command reads it
            raise CliError(f"{path} is not UTF-8 text", EXIT_USAGE) from None


@contextmanager
def _spooled(source: IO[str], name: str) -> Iterator[IO[str]]:
    spool = tempfile.TemporaryFile(mode="w+", encoding="utf-8", newline="")  # noqa: SIM115 - closed below
    with spool:
        try:
            shutil.copyfileobj(source, spool)
        except UnicodeDecodeError:
            raise CliError(f"{name} is not UTF-8 text", EXIT_USAGE) from None
        spool.seek(0)
        yield spool


def _check(source: IO[str], fmt: str, options: RowOptions, report: SendReport, err: TextIO, packer: Packer) -> None:
    """First pass: count rows, collect rejections (an oversized profile too, so that nothing is sent before it is
    found); nothing is kept in memory."""
    try:
        if fmt == "csv":
            _warn_unknown_columns(source, options, err)
        for line, item in read_items(source, fmt, options):
            report.rows_read += 1
            if isinstance(item, Rejection):
                report.rejections.append(item)
            elif not all(packer.fits_alone(encode_profile(profile)) for profile in item):
                report.rejections.append(Rejection(line, TOO_LARGE))
            else:
                report.rows_valid += 1
    except InputError as error:
        raise CliError(str(error), EXIT_USAGE) from None
    except UnicodeDecodeError:
        raise CliError("the file is not UTF-8 text", EXIT_USAGE) from None


def _warn_unknown_columns(source: IO[str], options: RowOptions, err: TextIO) -> None:
    import csv

    from pinsync_cli.members import check_columns, shown_column

    try:
        header = next(csv.reader(io.StringIO(source.readline())), [])
    except csv.Error:
        header = []  # the reading itself reports it (a usage error)
    source.seek(0)
    if not header:
        return
    unknown = check_columns([column.strip().lower().lstrip("\ufeff") for column in header], options)
    if unknown:
        print(f"warning: ignoring unknown column(s): {', '.join(map(shown_column, unknown))}", file=err)


def _send(
    source: IO[str],
    fmt: str,
    options: RowOptions,
    packer: Packer,
    sender: BatchSender | None,
    report: SendReport,
    progress_mode: str,
    err: TextIO,
) -> None:
    """Second pass: pack the valid rows and send the messages as they fill up."""
    progress = Progress(report.rows_valid, unit="rows", out=err, mode=progress_mode if sender else "none")
    batch = Batch()

    def ship(messages: list[Message]) -> None:
        for message in messages:
            report.profiles += message.profiles
            if not batch.accepts(message):
                _ship(batch.take(), sender, report, progress)
            batch.add(message)
            if batch.full:
                _ship(batch.take(), sender, report, progress)

    try:
        for line, item in read_items(source, fmt, options):
            if isinstance(item, Rejection):
                continue
            encoded = [encode_profile(profile) for profile in item]
            if not all(packer.fits_alone(part) for part in encoded):  # the queue's own limit is smaller
                rejection = Rejection(line, TOO_LARGE)
                report.rejections.append(rejection)
                print(rejection, file=err)
                report.rows_valid -= 1
                continue
            ship(packer.add(encoded))
        ship(packer.flush())
        if batch.messages:
            _ship(batch.take(), sender, report, progress)
    finally:
        progress.close(f"{report.messages_sent} messages")


@dataclass
class Batch:
    messages: list[Message] = field(default_factory=list)
    size: int = 0

    def accepts(self, message: Message) -> bool:
        return not self.messages or self.size + len(message.body) <= MAX_BATCH_BYTES

    @property
    def full(self) -> bool:
        return len(self.messages) >= MAX_BATCH_ENTRIES

    def add(self, message: Message) -> None:
        self.messages.append(message)
        self.size += len(message.body)

    def take(self) -> list[Message]:
        messages, self.messages, self.size = self.messages, [], 0
        return messages


def _ship(messages: list[Message], sender: BatchSender | None, report: SendReport, progress: Progress) -> None:
    if sender is None:  # dry run: count what would be sent
        report.messages_sent += len(messages)
        report.rows_sent += sum(message.rows for message in messages)
        return
    failures = sender.send([message.body for message in messages])
    report.retries = sender.retries
    for index, message in enumerate(messages):
        if index in failures:
            report.messages_failed[failures[index]] += 1
            report.rows_failed += message.rows
        else:
            report.messages_sent += 1
            report.rows_sent += message.rows
    progress.update(sum(message.rows for message in messages), f"{report.messages_sent} messages")


class BatchSender:
    """`SendMessageBatch` with the failed entries retried (backoff) until `max_attempts`.

    Entries SQS blames on the sender (`SenderFault`: too large, invalid characters...) are not retried. An error
    of the whole call that boto3's own retries did not cure ends the command (:class:`CliError`, exit 4).
    """

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        *,
        max_attempts: int = 6,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._max_attempts = max_attempts
        self._sleep = sleep
        self.retries = 0

    def send(self, bodies: list[bytes]) -> dict[int, str]:
        """Send; returns {index: error code} of the bodies that could not be sent."""
        pending = {index: body.decode("ascii") for index, body in enumerate(bodies)}
        failures: dict[int, str] = {}
        for attempt in range(1, self._max_attempts + 1):
            entries = [{"Id": str(index), "MessageBody": body} for index, body in pending.items()]
            try:
                response = self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            except ClientError as error:
                code = aws_code(error)
                if code in RETRYABLE_CODES and attempt < self._max_attempts:
                    self._backoff(attempt)
                    continue
                raise CliError(f"SendMessageBatch failed ({code}); the summary shows what was sent", EXIT_AWS) from None
            except BotoCoreError as error:
                raise aws_error("SendMessageBatch failed; the summary shows what was sent", error) from None
            for entry in response.get("Successful", []):
                pending.pop(int(entry["Id"]), None)
            retry: dict[int, str] = {}
            for entry in response.get("Failed", []):
                index = int(entry["Id"])
                code = str(entry.get("Code", "Unknown"))
                if entry.get("SenderFault"):
                    failures[index] = code
                    pending.pop(index, None)
                else:
                    retry[index] = code
            if not pending:
                return failures
            if attempt < self._max_attempts:
                self._backoff(attempt)
            else:
                failures.update(retry or dict.fromkeys(pending, "Unknown"))
        return failures

    def _backoff(self, attempt: int) -> None:
        self.retries += 1
        self._sleep(min(0.2 * 2 ** (attempt - 1), 5.0))


def _print_rejections(rejections: list[Rejection], err: TextIO) -> None:
    for rejection in rejections[:SHOWN_REJECTIONS]:
        print(rejection, file=err)
    more = len(rejections) - SHOWN_REJECTIONS
    if more > 0:
        print(f"... and {more} more rejected row(s)", file=err)


def _summary(report: SendReport, out: TextIO, *, dry_run: bool) -> None:
    reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(report.rejected_by_reason().items()))
    verb = "would send" if dry_run else "sent"
    print(f"rows read        {report.rows_read}", file=out)
    print(f"rows rejected    {len(report.rejections)}" + (f": {reasons}" if reasons else ""), file=out)
    print(f"profiles         {report.profiles}", file=out)
    label = f"messages {verb}"
    print(f"{label:<16} {report.messages_sent} ({report.rows_sent} rows)", file=out)
    if report.messages_failed:
        codes = ", ".join(f"{code} {count}" for code, count in sorted(report.messages_failed.items()))
        print(f"messages failed  {sum(report.messages_failed.values())} ({report.rows_failed} rows): {codes}", file=out)
    if report.retries:
        print(f"retries          {report.retries}", file=out)
