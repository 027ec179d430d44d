"""The alert function's settings (``functions/dataflow_alerts``): the environment ``template.yaml`` gives it."""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from typing import Literal

from pydantic import Field

from pinsync.adapters.sqs_redrive import AUTO_REDRIVE_MAX_MESSAGES
from pinsync.alerts.model import AlertContext
from pinsync.core.settings import Settings


class AlertSettings(Settings):
    alert_topic_arn: str = Field(min_length=1)
    state_table_name: str = Field(min_length=1)
    destination_name: str = Field(default="pinsync", min_length=1, max_length=100)
    stack_name: str = Field(default="pinsync", min_length=1)
    skipped_rate_threshold: float = Field(default=0.01, ge=0, le=1)
    suppression_minutes: int = Field(default=60, ge=1, le=10_080)
    alert_webhook_secret_id: str = ""
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    sync_log_group: str = ""
    rotation_log_group: str = ""
    dashboard_name: str = ""
    dead_letter_queue_name: str = ""
    token_secret_id: str = ""
    # Automatic redrive (pinsync.alerts.redrive): both queue URLs are needed; AutoRedrive=Disabled turns it off.
    auto_redrive: Literal["Enabled", "Disabled"] = "Enabled"
    auto_redrive_max_messages: int = Field(default=AUTO_REDRIVE_MAX_MESSAGES, ge=1, le=1_000_000)
    dead_letter_queue_url: str = ""
    audience_queue_url: str = ""
    health_log_group: str = ""
    audience_too_small_after_hours: float = Field(default=72, ge=0, le=8760)
    audience_shrink_threshold: float = Field(default=0.5, gt=0, le=1)

    @cached_property
    def context(self) -> AlertContext:
        return AlertContext(
            destination_name=self.destination_name,
            stack_name=self.stack_name,
            skipped_rate_threshold=self.skipped_rate_threshold,
            sync_log_group=self.sync_log_group,
            rotation_log_group=self.rotation_log_group,
            dashboard_name=self.dashboard_name,
            dead_letter_queue_name=self.dead_letter_queue_name,
            token_secret_id=self.token_secret_id,
            health_log_group=self.health_log_group,
            audience_too_small_after_hours=self.audience_too_small_after_hours,
            audience_shrink_threshold=self.audience_shrink_threshold,
        )

    @property
    def window(self) -> timedelta:
        return timedelta(minutes=self.suppression_minutes)
