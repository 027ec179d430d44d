"""The messages of an SQS event as the sync use case sees them: the send time a redriven message keeps."""

from datetime import UTC, datetime

import pytest
from pinsync.adapters.sqs_redrive import ORIGINAL_SENT_TIMESTAMP
from pinsync.sync.runtime import inbound_messages

from tests.builders import EPOCH, sqs_record

SENT_MS = 1_795_860_000_000  # when the message was first sent
REDRIVEN_MS = SENT_MS + 3 * 86_400_000  # three days later, a redrive sent it again


def event(attribute: dict[str, str] | None, sent_ms: int = REDRIVEN_MS) -> dict[str, object]:
    record = sqs_record("{}", message_id="m1", sent_ms=sent_ms)
    if attribute is not None:
        record["messageAttributes"] = {ORIGINAL_SENT_TIMESTAMP: attribute}
    return {"Records": [record]}


def at(milliseconds: int) -> datetime:
    return datetime.fromtimestamp(milliseconds / 1000, UTC)


def test_a_redriven_message_keeps_the_time_it_was_first_sent():
    """The send time is the qualification time of an entry without one (and an erasure's time without requestedAt):
    taken from the redrive's own send, an exit sent three days ago would win over the entries of those three days."""
    [message] = inbound_messages(event({"stringValue": str(SENT_MS), "dataType": "Number"}), EPOCH)
    assert message.sent_at == at(SENT_MS)


@pytest.mark.parametrize(
    "attribute",
    [
        None,
        {"stringValue": str(REDRIVEN_MS + 1), "dataType": "Number"},  # later than SQS's own: a producer's, not ours
        {"stringValue": "soon", "dataType": "String"},
        {"stringValue": "9" * 40, "dataType": "Number"},
        {"binaryValue": "AAAA", "dataType": "Binary"},
        {"stringValue": "\u00b2", "dataType": "Number"},  # a digit to str.isdigit, not to int()
        {"stringValue": "-5", "dataType": "Number"},
    ],
)
def test_otherwise_the_send_time_is_sqs_s_own(attribute):
    [message] = inbound_messages(event(attribute), EPOCH)
    assert message.sent_at == at(REDRIVEN_MS)


def test_a_record_without_message_attributes_is_read_as_before():
    record = sqs_record("{}", message_id="m1", sent_ms=SENT_MS)
    del record["messageAttributes"]
    [message] = inbound_messages({"Records": [record]}, EPOCH)
    assert message.sent_at == at(SENT_MS)
