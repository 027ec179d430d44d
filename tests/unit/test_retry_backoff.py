"""Which records get which visibility, and the SQS adapter's batching and failure counting (a fake client)."""

import random
from typing import Any

from pinsync.adapters.sqs_visibility import SqsMessageVisibility
from pinsync.sync.ports import VisibilityChange
from pinsync.sync.retry_schedule import RetryPolicy, RetrySchedule
from pinsync.sync.runtime import backoff_changes

from tests.builders import sqs_record

POLICY = RetryPolicy(RetrySchedule(base_seconds=60, cap_seconds=14400), max_receive_count=20)


def record(message_id: str, receive_count: str | None) -> dict[str, Any]:
    item = sqs_record("{}", message_id=message_id)
    item["receiptHandle"] = f"handle-{message_id}"
    if receive_count is None:
        del item["attributes"]["ApproximateReceiveCount"]
    else:
        item["attributes"]["ApproximateReceiveCount"] = receive_count
    return item


def test_only_the_retried_messages_get_a_visibility_from_their_receive_count():
    event = {"Records": [record("a", "1"), record("b", "9"), record("c", "3"), record("d", "20"), record("e", None)]}

    changes = backoff_changes(event, {"a", "b", "d", "e"}, POLICY, random.Random(3))

    by_handle = {change.receipt_handle: change.seconds for change in changes}
    assert set(by_handle) == {"handle-a", "handle-b", "handle-e"}  # c not retried; d on its last allowed delivery
    assert 30 <= by_handle["handle-a"] <= 60
    assert 7200 <= by_handle["handle-b"] <= 14400
    assert 30 <= by_handle["handle-e"] <= 60  # no receive count: counted as a first delivery


class FakeSqs:
    def __init__(self, fail_ids: frozenset[str] = frozenset(), raise_on_call: int | None = None) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self._fail_ids = fail_ids
        self._raise_on_call = raise_on_call

    def change_message_visibility_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Entries)
        if self._raise_on_call == len(self.calls):
            raise TimeoutError("read timeout")
        failed = [{"Id": e["Id"], "Code": "ReceiptHandleIsInvalid", "Message": e["ReceiptHandle"]} for e in Entries]
        return {"Failed": [f for f in failed if f["Id"] in self._fail_ids]}


def changes(count: int) -> list[VisibilityChange]:
    return [VisibilityChange(receipt_handle=f"receipt-{index}-handle", seconds=index) for index in range(count)]


def test_rejected_messages_are_made_visible_at_once_whatever_their_receive_count():
    event = {"Records": [record("a", "1"), record("p", "4"), record("q", "20")]}

    changes = backoff_changes(event, {"a"}, POLICY, random.Random(3), rejected={"p", "q"})

    by_handle = {change.receipt_handle: change.seconds for change in changes}
    assert by_handle["handle-p"] == by_handle["handle-q"] == 0
    assert 30 <= by_handle["handle-a"] <= 60


def test_changes_travel_ten_to_a_call():
    sqs = FakeSqs()

    assert SqsMessageVisibility(sqs, "https://queue").change(changes(23)) == 0

    assert [len(call) for call in sqs.calls] == [10, 10, 3]
    assert sqs.calls[2][0] == {"Id": "0", "ReceiptHandle": "receipt-20-handle", "VisibilityTimeout": 20}


def test_refused_entries_and_a_failed_call_are_counted_not_raised(capsys):
    assert (
        SqsMessageVisibility(FakeSqs(fail_ids=frozenset({"1", "4"})), "q").change(changes(12)) == 3
    )  # 2 + 1 (the 2nd call has ids 0 and 1)
    sqs = FakeSqs(raise_on_call=2)

    assert SqsMessageVisibility(sqs, "q").change(changes(25)) == 15  # the 2nd call and everything after it
    assert len(sqs.calls) == 2  # no use calling on after SQS failed
    logged = capsys.readouterr().out
    assert "ReceiptHandleIsInvalid" in logged and "TimeoutError" in logged
    assert "receipt-" not in logged  # SQS's per-entry message may quote the handle: only codes are logged
