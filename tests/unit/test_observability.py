import logging

import pytest
from pinsync.core.observability import REDACTED, RedactingFilter, quiet_sdk_loggers, redact
from pinsync.sync.identities import sha256_hex


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
