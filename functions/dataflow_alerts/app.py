"""Dataflow alerts: alarm state changes, Dataflow Run / Token Rotation reports and Secrets Manager rotation failures
→ one actionable message on the alert topic (and the optional webhook), not repeated within the suppression window.

Never ``log_event=True``: the payload of an event the function does not understand must not reach a log.
"""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pinsync.alerts_wiring import alert_runtime
from pinsync.observability import logger, metrics, tracer


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, clear_state=True, log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    return alert_runtime().handle(event, context)
