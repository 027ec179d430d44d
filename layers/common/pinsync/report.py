"""The per-invocation report: EMF metrics and one ``Dataflow Run`` event, counts only.

Metric names are constants here because the dashboard and alarms in ``template.yaml`` read them (a test checks
they agree). Counts carry the ``service`` dimension; per-reason counts are separate metrics with the dimensions
``service`` and ``Reason`` (a handful of values). Never an audience or account id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from pinsync.observability import METRICS_NAMESPACE, SERVICE, logger, metrics
from pinsync.outcome import RunOutcome
from pinsync.ports import RunReporter

DATAFLOW_RUN = "Dataflow Run"

MESSAGES_RECEIVED = "MessagesReceived"
MESSAGES_REJECTED = "MessagesRejected"
MESSAGES_RETRIED = "MessagesRetried"
PROFILES_RECEIVED = "ProfilesReceived"
IDENTITIES_ADDED = "IdentitiesAdded"
IDENTITIES_REMOVED = "IdentitiesRemoved"
IDENTITIES_EXCLUDED = "IdentitiesExcluded"
IDENTITIES_SKIPPED = "IdentitiesSkipped"
IDENTITIES_FAILED = "IdentitiesFailed"
CUSTOMER_LISTS_CREATED = "CustomerListsCreated"
EXCLUDED_SHARE = "ExcludedSharePercent"
# Emitted by the Pinterest client (pinsync.adapters.pinterest) for every call.
PINTEREST_CALLS = "PinterestCalls"
PINTEREST_LATENCY = "PinterestLatency"
PINTEREST_RATE_LIMITED = "PinterestRateLimited"
PINTEREST_CONNECTION_ERRORS = "PinterestConnectionErrors"


def record_metrics(outcome: RunOutcome) -> None:
    counts = {
        MESSAGES_RECEIVED: outcome.messages_received,
        MESSAGES_REJECTED: sum(outcome.rejected_messages.values()),
        MESSAGES_RETRIED: len(outcome.failed_message_ids_set()),
        PROFILES_RECEIVED: outcome.profiles_received,
        IDENTITIES_ADDED: outcome.added,
        IDENTITIES_REMOVED: outcome.removed,
        IDENTITIES_EXCLUDED: sum(outcome.excluded.values()),
        IDENTITIES_SKIPPED: sum(outcome.skipped.values()),
        IDENTITIES_FAILED: sum(outcome.failed.values()),
        CUSTOMER_LISTS_CREATED: outcome.customer_lists_created,
    }
    for name, value in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    metrics.add_metric(name=EXCLUDED_SHARE, unit=MetricUnit.Percent, value=round(outcome.excluded_share() * 100, 3))
    _by_reason(IDENTITIES_EXCLUDED, outcome.excluded)
    _by_reason(IDENTITIES_FAILED, outcome.failed)


def _by_reason(name: str, counts: Mapping[str, int]) -> None:
    # service is set explicitly, to the value ``metrics`` uses (the stack name in Lambda): single_metric adds it on
    # its own only when POWERTOOLS_SERVICE_NAME is set, and the dashboard's SEARCH matches one exact dimension set.
    for reason, value in counts.items():
        with single_metric(
            name=name,
            unit=MetricUnit.Count,
            value=value,
            namespace=METRICS_NAMESPACE,
            default_dimensions={"service": SERVICE},
        ) as metric:
            metric.add_dimension(name="Reason", value=reason)


def publish_run(outcome: RunOutcome, reporter: RunReporter, destination: Mapping[str, Any]) -> dict[str, Any]:
    detail = {"destination": dict(destination), **outcome.as_detail()}
    reporter.publish(DATAFLOW_RUN, detail)
    logger.info("Dataflow run", extra={"run": detail})
    return detail
