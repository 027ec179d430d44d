import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from pinsync.core.observability import REDACTED, RedactingFilter, instrumented, logger, quiet_sdk_loggers, redact
from pinsync.sync.identities import sha256_hex

from tests.builders import FakeContext


@pytest.mark.parametrize(
    "sensitive",
    [
        "jane.doe@example.com",
        sha256_hex("jane.doe@example.com"),
        "38400000-8cf0-11bd-b23e-10b96e40000d",
        "pina_AbC123.def-456",
        "pinr.eyJhbGciOiJSUzI1NiJ9",
        "Bearer abc.def",
        "Basic cGluc3luYzpzZWNyZXQ=",
    ],
)
def test_sensitive_shapes_are_redacted(sensitive: str):
    assert redact(f"before {sensitive} after") == f"before {REDACTED} after"


def test_ordinary_text_is_left_alone():
    text = "customer list 5497558000001 for audience spring-sale: 42 added, reason invalid_identity"
    assert redact(text) == text


def test_the_filter_scrubs_message_arguments_and_extra_keys_but_not_message_ids():
    record = logging.LogRecord("pinsync", logging.INFO, __file__, 1, "sent to %s", ("a@b.co",), None)
    record.__dict__.update(detail={"nested": ["x@y.io"]}, message_id="38400000-8cf0-11bd-b23e-10b96e40000d")
    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == f"sent to {REDACTED}"
    assert record.__dict__["detail"] == {"nested": [REDACTED]}
    assert record.__dict__["message_id"] == "38400000-8cf0-11bd-b23e-10b96e40000d"


def test_sdk_loggers_never_log_bodies_even_at_debug():
    logging.getLogger("botocore").setLevel(logging.DEBUG)
    quiet_sdk_loggers()
    assert logging.getLogger("botocore").getEffectiveLevel() >= logging.WARNING
    assert logging.getLogger("urllib3").getEffectiveLevel() >= logging.WARNING


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """What pinsync's logger writes, formatted as in Lambda."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logger.registered_formatter)
    stdlib_logger = logging.getLogger(logger.name)
    stdlib_logger.addHandler(handler)
    yield buffer
    stdlib_logger.removeHandler(handler)


def test_no_setting_logs_the_event(monkeypatch: pytest.MonkeyPatch, lines: io.StringIO, capsys) -> None:
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")  # what an operator may set to debug

    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"batchItemFailures": []}

    handler = instrumented()(lambda_handler)
    event = {"Records": [{"messageId": "m1", "body": '{"identityMap": {"Email": [{"id": "jane.doe@example.com"}]}}'}]}

    handler(event, FakeContext())

    written = lines.getvalue() + capsys.readouterr().out
    assert "jane.doe@example.com" not in written and "identityMap" not in written


def test_exceptions_and_non_string_messages_are_scrubbed_when_written(lines: io.StringIO) -> None:
    logger.info({"email": "jane.doe@example.com", "count": 3, "ok": True})
    try:
        raise KeyError(sha256_hex("jane.doe@example.com"))  # a defect whose text echoes a value
    except KeyError:
        logger.exception("failed", extra={"message_id": "38400000-8cf0-11bd-b23e-10b96e40000d"})

    written = lines.getvalue()
    assert "jane.doe@example.com" not in written and sha256_hex("jane.doe@example.com") not in written
    first, second = (json.loads(line) for line in written.splitlines())
    assert first["message"] == {"email": REDACTED, "count": 3, "ok": True}
    assert second["message_id"] == "38400000-8cf0-11bd-b23e-10b96e40000d"  # the SQS message id stays readable
    assert second["exception_name"] == "KeyError" and REDACTED in second["exception"]
