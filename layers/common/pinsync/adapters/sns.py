"""Where alerts go first: the SNS topic. Message attributes ``alert_type`` and ``severity`` let subscriptions filter
(the email subscription's filter policy reads ``alert_type``)."""

from __future__ import annotations

from typing import Any

from pinsync.alerts.model import RenderedAlert


class SnsNotifier:
    def __init__(self, client: Any, topic_arn: str) -> None:
        self._client = client
        self._topic_arn = topic_arn

    def publish(self, alert: RenderedAlert) -> str:
        """Publish one alert; errors propagate (the event is retried by EventBridge)."""
        response = self._client.publish(
            TopicArn=self._topic_arn,
            Subject=alert.subject,
            Message=alert.text,
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value} for name, value in alert.attributes.items()
            },
        )
        return str(response.get("MessageId", ""))
