"""The one Logger, Metrics and Tracer of pinsync, and the rule that no identifier or token is ever logged.

Code never logs identifiers or tokens in the first place; :class:`RedactingFilter` is the safety net that
scrubs anything shaped like one (emails, hex digests, UUID-shaped advertising ids, Pinterest tokens) from
every record before it is formatted, in case a library or a future change puts one in a message.
Metric dimensions stay low-cardinality (no audience or account ids): those go into log keys instead.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

# The service dimension of every metric (and the service key of every log record). template.yaml sets
# POWERTOOLS_SERVICE_NAME to the stack name, so that two stacks in one account and Region, whose metrics share the
# namespace, keep them apart; "pinsync" where it is not set (local runs, tests).
SERVICE = os.getenv("POWERTOOLS_SERVICE_NAME") or "pinsync"
METRICS_NAMESPACE = "Pinsync"

_SENSITIVE = re.compile(
    r"[^\s@\"',;:<>()\[\]{}]+@[^\s@\"',;:<>()\[\]{}]+\.[a-z]{2,}"  # email addresses
    r"|\b[0-9a-f]{32,128}\b"  # MD5 / SHA-1 / SHA-256 digests
    r"|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"  # GAID / IDFA
    r"|\bpin[ar][._-][A-Za-z0-9._~+/=-]+"  # Pinterest access / refresh tokens
    r"|\b(?:Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+",  # authorization headers
    re.IGNORECASE,
)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    return _SENSITIVE.sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    """Scrub sensitive-looking substrings from the message, its arguments and extra keys."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if record.args:
            record.args = (
                tuple(_redact_value(arg) for arg in record.args) if isinstance(record.args, tuple) else record.args
            )
        for key, value in list(vars(record).items()):
            if key not in _UNSCRUBBED_ATTRIBUTES and isinstance(value, str | dict | list | tuple):
                setattr(record, key, _redact_value(value))
        return True


# Standard record attributes, plus keys pinsync sets to ids of its own (SQS message ids are UUID-shaped, like
# advertising ids, and would otherwise be scrubbed).
_UNSCRUBBED_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "message_id",
    "correlation_id",
}


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(item) for item in value)
    return value


class _CurrentStdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stdout`` is at emit time (as EMF metrics do), not the one seen at import,
    so the local stack and tests can redirect the function's output like Lambda's runtime captures it."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def quiet_sdk_loggers() -> None:
    """botocore logs request and response bodies at DEBUG, and those bodies can be the token secret or records:
    keep the SDK at WARNING even when a function's log level is DEBUG. Called by every function's wiring."""
    for name in ("botocore", "boto3", "urllib3"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger(name).getEffectiveLevel()))


logger = Logger(service=SERVICE, logger_handler=_CurrentStdoutHandler())
logger.addFilter(RedactingFilter())
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)

__all__ = ["METRICS_NAMESPACE", "SERVICE", "MetricUnit", "logger", "metrics", "quiet_sdk_loggers", "redact", "tracer"]
