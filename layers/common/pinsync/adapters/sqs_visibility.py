"""SQS: hide messages that failed for their retry backoff (``ChangeMessageVisibilityBatch``, 10 entries a call).

The IAM action is ``sqs:ChangeMessageVisibility``: it grants the batch call too (SQS authorizes its batch actions by
their single-message action). Receipt handles are never logged, and neither are SQS's per-entry messages (they may
quote one): only counts and error codes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from pinsync.core.observability import logger
from pinsync.sync.ports import VisibilityChange

MAX_BATCH_ENTRIES = 10  # SQS's limit per ChangeMessageVisibilityBatch


class SqsMessageVisibility:
    """The :class:`pinsync.sync.ports.MessageVisibility` port on one queue."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def change(self, changes: Sequence[VisibilityChange]) -> int:
        errors: Counter[str] = Counter()
        for start in range(0, len(changes), MAX_BATCH_ENTRIES):
            chunk = changes[start : start + MAX_BATCH_ENTRIES]
            entries = [
                {"Id": str(index), "ReceiptHandle": change.receipt_handle, "VisibilityTimeout": change.seconds}
                for index, change in enumerate(chunk)
            ]
            try:
                response = self._client.change_message_visibility_batch(QueueUrl=self._queue_url, Entries=entries)
            except Exception as error:  # the batch is done: a failure here must not fail it
                # SQS unreachable or refusing (permissions): the next calls would fare no better, and time is short.
                errors[_error_code(error)] += len(changes) - start
                break
            for failed in response.get("Failed", []):
                errors[str(failed.get("Code") or "unknown")] += 1
        unchanged = sum(errors.values())
        if unchanged:
            logger.warning(
                "Could not delay the retry of some messages: they come back after the queue's visibility timeout",
                extra={"messages": unchanged, "of": len(changes), "error_codes": dict(errors)},
            )
        return unchanged


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return str(code) if code else type(error).__name__
