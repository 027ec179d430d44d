"""Builders so tests state intent, not JSON."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

EPOCH = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def profile(
    audiences: dict[str, str] | None = None,
    *,
    email: str | list[str] | None = None,
    gaid: str | None = None,
    idfa: str | None = None,
    hashed_email: str | None = None,
    extra_identities: dict[str, list[str]] | None = None,
    at: str = "2026-11-28T10:00:00Z",
    times: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A profile in the CDP streaming-export shape. ``audiences`` maps audience id → status."""
    identity_map: dict[str, list[dict[str, str]]] = {}
    emails = [email] if isinstance(email, str) else (email or [])
    if emails:
        identity_map["Email"] = [{"id": value} for value in emails]
    if gaid:
        identity_map["GAID"] = [{"id": gaid}]
    if idfa:
        identity_map["IDFA"] = [{"id": idfa}]
    if hashed_email:
        identity_map["Email_LC_SHA256"] = [{"id": hashed_email}]
    for namespace, values in (extra_identities or {}).items():
        identity_map[namespace] = [{"id": value} for value in values]
    ups = {
        audience_id: {"status": status, "lastQualificationTime": (times or {}).get(audience_id, at)}
        for audience_id, status in (audiences or {}).items()
    }
    return {"segmentMembership": {"ups": ups}, "identityMap": identity_map}


def body(*profiles: dict[str, Any]) -> str:
    return json.dumps(profiles[0] if len(profiles) == 1 else list(profiles))


def sqs_record(message_body: str, message_id: str | None = None, sent_ms: int = 1_795_860_000_000) -> dict[str, Any]:
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "handle",
        "body": message_body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": str(sent_ms),
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": str(sent_ms),
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:pinsync-audience",
        "awsRegion": "us-east-1",
    }


def sqs_event(*bodies: str) -> dict[str, Any]:
    return {"Records": [sqs_record(item, message_id=f"m{index}") for index, item in enumerate(bodies, start=1)]}


class FakeContext:
    """Just enough of a LambdaContext for powertools and the deadline."""

    function_name = "pinsync-audience-sync"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:pinsync-audience-sync"

    def __init__(self, remaining_ms: int = 60_000, request_id: str | None = None) -> None:
        self._remaining_ms = remaining_ms
        self.aws_request_id = request_id or str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining_ms
