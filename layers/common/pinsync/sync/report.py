"""The per-invocation report: metrics, one ``Dataflow Run`` event and a ``Privacy Request`` event per privacy request
carried out, counts only.

Counts carry the ``service`` dimension; the per-reason counts of excluded and failed identities are separate metrics
with the dimensions ``service`` and ``Reason`` (a handful of values). Never an audience or account id.
"""

from __future__ import annotations

from pinsync.core.observability import MetricName, MetricsSink, MetricUnit, logger
from pinsync.core.ports import EventPublisher
from pinsync.events import DataflowRun, Destination, DetailType, detail_of
from pinsync.sync.outcome import RunOutcome


def record_metrics(outcome: RunOutcome, metrics: MetricsSink) -> None:
    counts = {
        MetricName.MESSAGES_RECEIVED: outcome.messages_received,
        MetricName.MESSAGES_REJECTED: sum(outcome.rejected_messages.values()),
        MetricName.MESSAGES_RETRIED: len(outcome.failed_message_ids_set()),
        MetricName.PROFILES_RECEIVED: outcome.profiles_received,
        MetricName.IDENTITIES_ADDED: outcome.added,
        MetricName.IDENTITIES_REMOVED: outcome.removed,
        MetricName.IDENTITIES_EXCLUDED: sum(outcome.excluded.values()),
        MetricName.IDENTITIES_SKIPPED: sum(outcome.skipped.values()),
        MetricName.IDENTITIES_FAILED: sum(outcome.failed.values()),
        MetricName.CUSTOMER_LISTS_CREATED: outcome.customer_lists_created,
    }
    for name, value in counts.items():
        metrics.add_metric(name, MetricUnit.Count, value)
    metrics.add_metric(MetricName.EXCLUDED_SHARE, MetricUnit.Percent, round(outcome.excluded_share() * 100, 3))
    for reason, value in outcome.excluded.items():
        metrics.add_reason_metric(MetricName.IDENTITIES_EXCLUDED, value, reason)
    for reason, value in outcome.failed.items():
        metrics.add_reason_metric(MetricName.IDENTITIES_FAILED, value, reason)


def publish_run(outcome: RunOutcome, publisher: EventPublisher, destination: Destination) -> DataflowRun:
    run = outcome.to_event(destination)
    detail = detail_of(run)
    publisher.publish(DetailType.DATAFLOW_RUN, detail)
    logger.info("Dataflow run", extra={"run": detail})
    for tally in outcome.completed_erasures():
        request = detail_of(tally.to_event(destination))
        publisher.publish(DetailType.PRIVACY_REQUEST, request)
        logger.info("Privacy request carried out", extra={"privacy_request": request})
    return run
