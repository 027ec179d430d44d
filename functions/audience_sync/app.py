"""Audience sync: SQS batch of CDP profiles → Pinterest customer lists. Partial batch response."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pinsync.observability import logger, metrics, tracer
from pinsync.wiring import sync_runtime


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return sync_runtime().handle(event, context)
