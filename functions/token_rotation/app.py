"""Token rotation: the Secrets Manager rotation steps for the Pinterest OAuth token, plus a scheduled expiry check.

Never ``log_event=True``: the event may carry a ``RotationToken``; the secret's values never reach a log.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pinsync.observability import logger, metrics, tracer
from pinsync.rotation_wiring import rotation_runtime


@logger.inject_lambda_context(clear_state=True, log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return rotation_runtime().handle(event, context)
