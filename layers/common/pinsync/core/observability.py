"""The one Logger, Metrics and Tracer of pinsync, every metric's name, and the rule that no identifier or token is ever
logged.

Code never logs identifiers or tokens in the first place; :class:`RedactingFilter` is the safety net that
scrubs anything shaped like one (emails, hex digests, UUID-shaped advertising ids, Pinterest tokens) from
every record before it is formatted, in case a library or a future change puts one in a message.
Metric dimensions stay low-cardinality (no account or Pinterest ids): those go into log keys instead. The one
exception is the health check's per-audience metrics, whose ``Audience`` dimension is the CDP audience id (a name the
operator chose, one per mapped audience), never an identifier.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit, single_metric

# The service dimension of every metric (and the service key of every log record). template.yaml sets
# POWERTOOLS_SERVICE_NAME to the stack name, so that two stacks in one account and Region, whose metrics share the
# namespace, keep them apart; "pinsync" where it is not set (local runs, tests).
SERVICE = os.getenv("POWERTOOLS_SERVICE_NAME") or "pinsync"
METRICS_NAMESPACE = "Pinsync"


class MetricName(StrEnum):
    """Every metric pinsync emits (namespace ``Pinsync``, dimension ``service``). The dashboard and alarms in
    ``template.yaml`` name them too; tests/infra checks that both sides agree."""

    # the sync function, per invocation
    MESSAGES_RECEIVED = "MessagesReceived"
    MESSAGES_REJECTED = "MessagesRejected"
    MESSAGES_RETRIED = "MessagesRetried"
    PROFILES_RECEIVED = "ProfilesReceived"
    IDENTITIES_ADDED = "IdentitiesAdded"
    IDENTITIES_REMOVED = "IdentitiesRemoved"
    IDENTITIES_EXCLUDED = "IdentitiesExcluded"  # also per Reason
    IDENTITIES_SKIPPED = "IdentitiesSkipped"
    IDENTITIES_FAILED = "IdentitiesFailed"  # also per Reason
    CUSTOMER_LISTS_CREATED = "CustomerListsCreated"
    EXCLUDED_SHARE = "ExcludedSharePercent"
    # the Pinterest client, per call
    PINTEREST_CALLS = "PinterestCalls"
    PINTEREST_LATENCY = "PinterestLatency"
    PINTEREST_RATE_LIMITED = "PinterestRateLimited"
    PINTEREST_CONNECTION_ERRORS = "PinterestConnectionErrors"
    # the token rotation function
    ACCESS_TOKEN_DAYS_LEFT = "AccessTokenDaysLeft"  # noqa: S105 - a name, not a credential
    REFRESH_TOKEN_DAYS_LEFT = "RefreshTokenDaysLeft"  # noqa: S105 - a name, not a credential
    TOKEN_ROTATION_FAILURES = "TokenRotationFailures"  # noqa: S105 - a name, not a credential
    # the alert function
    ALERTS_PUBLISHED = "AlertsPublished"
    ALERTS_SUPPRESSED = "AlertsSuppressed"
    ALERT_EVENTS_UNRECOGNIZED = "AlertEventsUnrecognized"
    ALERT_WEBHOOK_FAILURES = "AlertWebhookFailures"
    # the audience health function, per check (AUDIENCE_* also per Audience: the CDP audience id)
    AUDIENCES_CHECKED = "AudiencesChecked"
    AUDIENCES_UNHEALTHY = "AudiencesUnhealthy"  # too small, missing or unreadable
    AUDIENCE_SIZE = "AudienceSize"
    AUDIENCE_UPLOADED_RECORDS = "AudienceUploadedRecords"
    AUDIENCE_MISSING = "AudienceMissing"


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
    """Scrub sensitive-looking substrings from the message (a string, or a dict or list logged as is), its
    arguments and extra keys, for every handler (test captures included). What it cannot see, the text of an
    exception and its traceback, :class:`RedactingFormatter` scrubs when the line is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _redact_value(record.msg)
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
    if value is None or isinstance(value, int | float):
        return value
    return redact(str(value))  # any other object (an exception in a stack trace) is written as its text


# Keys of a formatted line that hold ids of pinsync's or Lambda's own (an SQS message id, a request id), never an
# identifier: UUID-shaped, like advertising ids, they would otherwise be scrubbed.
_UNSCRUBBED_KEYS = frozenset(
    {"message_id", "correlation_id", "function_request_id", "xray_trace_id", "function_arn", "timestamp", "location"}
)


class RedactingFormatter(LambdaPowertoolsFormatter):
    """powertools' JSON formatter, scrubbing the whole line before it is written: the message whatever its type,
    every key, and the exception and its traceback (an exception's text can quote a value: ``KeyError('a@b.co')``)."""

    def serialize(self, log: Mapping[str, Any]) -> str:
        return super().serialize(
            {key: value if key in _UNSCRUBBED_KEYS else _redact_value(value) for key, value in log.items()}
        )


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


logger = Logger(service=SERVICE, logger_handler=_CurrentStdoutHandler(), logger_formatter=RedactingFormatter())
logger.addFilter(RedactingFilter())
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)


# -- metrics sinks: what adapters and use cases are given, so that a CLI or a test can pass one that records nothing ---


class MetricsSink(Protocol):
    def add_metric(self, name: str, unit: MetricUnit, value: float) -> None: ...

    def add_reason_metric(self, name: str, value: float, reason: str) -> None:
        """A count with the dimensions ``service`` and ``Reason`` (a handful of values, never an id)."""
        ...

    def add_audience_metric(self, name: str, unit: MetricUnit, value: float, audience_id: str) -> None:
        """A value with the dimensions ``service`` and ``Audience`` (the CDP audience id, never an identifier)."""
        ...


class EmfMetrics:
    """The function's metrics, as CloudWatch embedded metric format lines flushed by :func:`instrumented`."""

    def add_metric(self, name: str, unit: MetricUnit, value: float) -> None:
        metrics.add_metric(name=name, unit=unit, value=value)

    def add_reason_metric(self, name: str, value: float, reason: str) -> None:
        # service is set explicitly, to the value ``metrics`` uses (the stack name in Lambda): single_metric adds it
        # on its own only when POWERTOOLS_SERVICE_NAME is set, and the dashboard's SEARCH matches one exact
        # dimension set.
        with single_metric(
            name=name,
            unit=MetricUnit.Count,
            value=value,
            namespace=METRICS_NAMESPACE,
            default_dimensions={"service": SERVICE},
        ) as metric:
            metric.add_dimension(name="Reason", value=reason)

    def add_audience_metric(self, name: str, unit: MetricUnit, value: float, audience_id: str) -> None:
        with single_metric(
            name=name, unit=unit, value=value, namespace=METRICS_NAMESPACE, default_dimensions={"service": SERVICE}
        ) as metric:
            metric.add_dimension(name="Audience", value=audience_id)


class NoMetrics:
    """Records nothing: for the CLI, where nothing would flush EMF lines."""

    def add_metric(self, name: str, unit: MetricUnit, value: float) -> None:
        return None

    def add_reason_metric(self, name: str, value: float, reason: str) -> None:
        return None

    def add_audience_metric(self, name: str, unit: MetricUnit, value: float, audience_id: str) -> None:
        return None


EMF_METRICS = EmfMetrics()
NO_METRICS = NoMetrics()

Handler = TypeVar("Handler", bound=Callable[..., Any])


def instrumented(*, correlation_id_path: str | None = None) -> Callable[[Handler], Handler]:
    """The decorators every pinsync function wears, in one place: Lambda context in the logs (state cleared per
    invocation; the event is never logged, whatever ``POWERTOOLS_LOGGER_LOG_EVENT`` says, because it holds
    identifiers or tokens), an X-Ray segment that records neither the response nor the error text, and the metrics
    flushed (with the cold-start metric) at the end."""

    def decorate(handler: Handler) -> Handler:
        traced = tracer.capture_lambda_handler(capture_response=False, capture_error=False)(handler)
        measured = metrics.log_metrics(capture_cold_start_metric=True)(traced)
        logged = logger.inject_lambda_context(
            correlation_id_path=correlation_id_path, clear_state=True, log_event=False
        )(measured)
        return logged  # type: ignore[no-any-return]

    return decorate


__all__ = [
    "EMF_METRICS",
    "METRICS_NAMESPACE",
    "NO_METRICS",
    "SERVICE",
    "MetricName",
    "MetricUnit",
    "MetricsSink",
    "instrumented",
    "logger",
    "metrics",
    "quiet_sdk_loggers",
    "redact",
    "tracer",
]
