"""SQS: move dead-lettered messages back to the audience queue, one batch at a time, judged by the contract.

Receive from the dead-letter queue (hidden a while), send to the audience queue, and delete each message from the
dead-letter queue only after its send succeeded, so nothing is lost (a message whose delete failed may arrive twice,
which the sync handles: membership is a set). With ``only_valid``, messages the contract refuses (they can never
succeed: ``invalid_json``, ``invalid_contract``) are left where they are, so no redrive sends them round again.
SQS's own message move task moves everything, poison included; ``pinsync redrive`` offers it, the automatic redrive
of the alert function uses this. Bodies are never logged. Used by ``pinsync redrive`` and the alert function.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pinsync.alerts.model import RedriveCounts
from pinsync.sync.contract import ContractError, parse_message

VALID = "valid (failed repeatedly)"
ALREADY_REDRIVEN = "already redriven automatically"
# A message that already carries SQS's ten message attributes has no room for the mark: sent without it, a loop could
# not be seen, so the automatic redrive leaves it for `pinsync redrive` (which needs no mark).
NO_ROOM_FOR_MARK = "no room for the redrive mark"
# The message attribute the automatic redrive puts on what it sends back: a message that carries it and is
# dead-lettered again failed after a redrive, and is left for a person (no redrive loop). The sync function ignores it.
REDRIVEN_MARK = "pinsync_redriven"
# The message attribute that carries, on what a redrive sends back, the SentTimestamp of the message as first sent
# (epoch milliseconds): the sync function takes the send time as the time of entries without lastQualificationTime
# (and of an erasure without requestedAt), and the resend's own would make a days-old change newer than every one since.
ORIGINAL_SENT_TIMESTAMP = "pinsync_sent_timestamp"
_MAX_ATTRIBUTES = 10  # SQS's limit per message
RECEIVE_VISIBILITY_SECONDS = 120
AUTO_REDRIVE_MAX_MESSAGES = 10_000  # per automatic redrive (the alert function's, and pinsync connect's)
MAX_BATCH_BYTES = 262_144  # the classic SendMessageBatch total (256 KiB), accepted by every queue


def verdict(body: str) -> str:
    """:data:`VALID`, or why the contract refuses the body (it would fail again)."""
    try:
        parse_message(body)
    except ContractError as error:
        return error.reason
    return VALID


@dataclass
class RedriveReport:
    moved: Counter[str] = field(default_factory=Counter)
    left: Counter[str] = field(default_factory=Counter)  # skipped (only valid ones moved)
    failed: Counter[str] = field(default_factory=Counter)  # send failed: still in the DLQ
    maybe_duplicated: int = 0  # sent, but the delete from the DLQ failed
    complete: bool = True  # False when the limit or the time ran out with messages still to look at

    @property
    def moved_total(self) -> int:
        return sum(self.moved.values())


def move_messages(
    sqs: Any,
    dlq_url: str,
    queue_url: str,
    *,
    only_valid: bool,
    limit: int | None = None,
    time_left: Callable[[], float] | None = None,
    report: RedriveReport | None = None,
    mark: bool = False,
) -> RedriveReport:
    """Move dead-lettered messages to ``queue_url`` until the dead-letter queue has none left to look at, ``limit``
    were moved, or ``time_left()`` (seconds) drops under what a batch needs. AWS errors propagate (``report``, when
    given, then holds what was done); what was held is made visible again either way. With ``mark``, what is sent
    carries :data:`REDRIVEN_MARK`, and a message that already does is left (:data:`ALREADY_REDRIVEN`)."""
    report = report if report is not None else RedriveReport()
    held: list[str] = []  # receipt handles to make visible again at the end (skipped or not sent)
    try:
        while True:
            if (limit is not None and report.moved_total >= limit) or (time_left is not None and time_left() < 5):
                report.complete = False
                break
            room = 10 if limit is None else min(10, limit - report.moved_total)
            batch = receive(sqs, dlq_url, visibility=RECEIVE_VISIBILITY_SECONDS, count=room)
            if not batch:
                break
            to_send = []
            for message in batch:
                reason = verdict(message["Body"])
                if mark and REDRIVEN_MARK in message.get("MessageAttributes", {}):
                    report.left[ALREADY_REDRIVEN if reason == VALID else reason] += 1
                    held.append(message["ReceiptHandle"])
                elif mark and not _room_for_mark(message):
                    report.left[NO_ROOM_FOR_MARK if reason == VALID else reason] += 1
                    held.append(message["ReceiptHandle"])
                elif only_valid and reason != VALID:
                    report.left[reason] += 1
                    held.append(message["ReceiptHandle"])
                else:
                    to_send.append((message, reason))
            sent_any = False
            for chunk in _by_size(to_send):  # ten received messages can be 2.5 MB; a batch takes 256 KiB
                sent_any = _move_batch(sqs, dlq_url, queue_url, chunk, report, held, mark=mark) or sent_any
            if to_send and not sent_any:
                report.complete = False
                break  # nothing of a whole batch could be sent: stop rather than spin
    finally:
        make_visible(sqs, dlq_url, held)
    return report


def receive(sqs: Any, url: str, *, visibility: int, count: int = 10) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=count,
        VisibilityTimeout=visibility,
        WaitTimeSeconds=1,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])
    return messages


def make_visible(sqs: Any, url: str, handles: list[str]) -> None:
    for start in range(0, len(handles), 10):
        entries = [
            {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": 0}
            for index, handle in enumerate(handles[start : start + 10])
        ]
        try:
            sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
        except Exception:  # they become visible by themselves when the visibility timeout ends
            return


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
    *,
    mark: bool = False,
) -> bool:
    """Send first, delete only what was sent. Returns whether anything was sent."""
    entries = [
        {"Id": str(index), "MessageBody": message["Body"], **_attributes(message, mark=mark)}
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


def _attributes(message: dict[str, Any], *, mark: bool = False) -> dict[str, Any]:
    """The producer's message attributes, as SendMessage takes them (list values are not sendable), and the mark."""
    attributes = {
        name: {key: value[key] for key in ("DataType", "StringValue", "BinaryValue") if key in value}
        for name, value in message.get("MessageAttributes", {}).items()
        if "StringValue" in value or "BinaryValue" in value
    }
    if mark:
        attributes[REDRIVEN_MARK] = {"DataType": "String", "StringValue": "1"}
    sent = message.get("Attributes", {}).get("SentTimestamp")
    if ORIGINAL_SENT_TIMESTAMP not in attributes and sent and len(attributes) < _MAX_ATTRIBUTES:
        attributes[ORIGINAL_SENT_TIMESTAMP] = {"DataType": "Number", "StringValue": sent}  # kept by later redrives
    return {"MessageAttributes": attributes} if attributes else {}


def _room_for_mark(message: dict[str, Any]) -> bool:
    return len(message.get("MessageAttributes", {})) < _MAX_ATTRIBUTES


class SqsDeadLetters:
    """The alert function's :class:`pinsync.alerts.ports.DeadLetters`: the messages the contract accepts move back,
    marked, at most ``max_messages`` per redrive; a marked one dead-lettered again is left for a person."""

    def __init__(self, client: Any, dlq_url: str, queue_url: str, *, max_messages: int) -> None:
        self._client = client
        self._dlq_url = dlq_url
        self._queue_url = queue_url
        self._max_messages = max_messages

    def redrive(self, time_left: Callable[[], float]) -> RedriveCounts:
        report = move_messages(
            self._client,
            self._dlq_url,
            self._queue_url,
            only_valid=True,
            limit=self._max_messages,
            time_left=time_left,
            mark=True,
        )
        return RedriveCounts(
            moved=report.moved_total,
            left=sum(
                count for reason, count in report.left.items() if reason not in (ALREADY_REDRIVEN, NO_ROOM_FOR_MARK)
            ),
            failed=sum(report.failed.values()),
            complete=report.complete,
            already_redriven=report.left[ALREADY_REDRIVEN],
            no_room_for_mark=report.left[NO_ROOM_FOR_MARK],
        )
