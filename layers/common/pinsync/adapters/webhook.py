"""Where alerts also go, optionally: a Slack-compatible incoming webhook.

The webhook URL is a secret (it embeds a credential): it is read from Secrets Manager, never logged, and posted to once
per alert with a short timeout; a failed post is logged and counted, not retried, so a broken webhook never delays or
repeats the SNS message.
"""

from __future__ import annotations

import json
from typing import Any

import requests
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from pinsync.alerts.model import RenderedAlert
from pinsync.core.observability import MetricName, MetricsSink, MetricUnit, logger


class WebhookNotifier:
    """POSTs ``alert.webhook_payload`` to the URL held by a secret (a plain URL, or JSON ``{"url": ...}``)."""

    def __init__(
        self,
        secret_id: str,
        *,
        session: requests.Session,
        metrics: MetricsSink,
        timeout: float = 5.0,
        max_age: int = 300,
        boto3_client: Any = None,
    ) -> None:
        self._secret_id = secret_id
        self._metrics = metrics
        self._session = session
        self._timeout = timeout
        self._max_age = max_age
        self._provider = SecretsProvider(boto3_client=boto3_client)

    def post(self, alert: RenderedAlert) -> bool:
        url = self._url()
        if url is None:
            return False
        try:
            # Not followed: a 301-303 would turn into a GET without the payload, a 307/308 could repost it elsewhere,
            # over plain HTTP too. A redirect is a failed post (status >= 300), as for any other answer.
            response = self._session.post(url, json=alert.webhook_payload, timeout=self._timeout, allow_redirects=False)
        except requests.RequestException as error:
            return self._failed(type(error).__name__)
        if response.status_code >= 300:
            return self._failed(f"http_{response.status_code}")
        return True

    def _url(self) -> str | None:
        try:
            value = self._provider.get(self._secret_id, max_age=self._max_age, VersionStage="AWSCURRENT")
        except GetParameterError:
            self._failed("secret_unreadable")
            return None
        url = _url_from(value)
        if url is None:
            self._failed("secret_not_a_url")
        return url

    def _failed(self, reason: str) -> bool:
        self._metrics.add_metric(MetricName.ALERT_WEBHOOK_FAILURES, MetricUnit.Count, 1)
        logger.warning("Alert webhook not delivered", extra={"reason": reason})
        return False


def _url_from(value: Any) -> str | None:
    # A binary secret that is not UTF-8 is no URL: a UnicodeDecodeError here would fail the invocation after the SNS
    # message went out, and its retry would send that message again.
    text = value.decode(errors="replace") if isinstance(value, bytes) else str(value or "")
    text = text.strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            return None
        text = str(document.get("url", "")).strip() if isinstance(document, dict) else ""
    return text if text.startswith("https://") and " " not in text else None
