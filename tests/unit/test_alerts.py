"""Alert classification, rendering and the suppression rule: pure functions, no AWS."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pinsync.alerts.classify import classify
from pinsync.alerts.inbound import (
    AlarmStateChangeEvent,
    DataflowRunEvent,
    Unrecognized,
    parse_alert_event,
)
from pinsync.alerts.model import ALL_ALERT_TYPES, Alert, AlertContext, AlertType, Ignored, Recovery, Severity
from pinsync.alerts.render import render
from pinsync.alerts.suppression import is_suppressed, open_alert, recovered_alert
from pinsync.alerts.text import SUBJECT_MAX, log_group_url, secret_name
from pinsync.core.observability import redact

SAMPLES = Path(__file__).resolve().parents[2] / "events" / "alerts"
NOW = datetime(2026, 11, 28, 10, 10, tzinfo=UTC)

CTX = AlertContext(
    destination_name="pinsync",
    stack_name="pinsync",
    skipped_rate_threshold=0.01,
    sync_log_group="/aws/lambda/pinsync/audience-sync",
    rotation_log_group="/aws/lambda/pinsync/token-rotation",
    dashboard_name="pinsync-dataflow",
    dead_letter_queue_name="pinsync-AudienceDeadLetterQueue-AbCdEf123456",
    token_secret_id="arn:aws:secretsmanager:us-east-1:123456789012:secret:TokenSecret-Xy12AbCd34Ef-a1B2c3",
)

# sample -> (alert type, severity, suppression key) of each alert it raises
EXPECTED: dict[str, list[tuple[AlertType, Severity, str]]] = {
    "alarm-dead-letter-queue.json": [
        (AlertType.DEAD_LETTER_QUEUE, Severity.CRITICAL, "alarm:pinsync-dead-letter-queue")
    ],
    "alarm-queue-delay.json": [(AlertType.DATAFLOW_RUN_DELAYED, Severity.WARNING, "alarm:pinsync-queue-delay")],
    "alarm-sync-errors.json": [(AlertType.DATAFLOW_RUN_FAILED, Severity.CRITICAL, "alarm:pinsync-sync-errors")],
    "alarm-access-token-expiry.json": [
        (AlertType.TOKEN_EXPIRING, Severity.CRITICAL, "alarm:pinsync-access-token-expiry")
    ],
    "alarm-refresh-token-expiry.json": [
        (AlertType.TOKEN_EXPIRING, Severity.CRITICAL, "alarm:pinsync-refresh-token-expiry")
    ],
    "alarm-token-rotation-failed.json": [(AlertType.TOKEN_ROTATION_FAILED, Severity.WARNING, "token_rotation_failed")],
    "alarm-ingest-refused.json": [(AlertType.DATAFLOW_RUN_FAILED, Severity.WARNING, "alarm:pinsync-ingest-refused")],
    "dataflow-run-failed.json": [(AlertType.DATAFLOW_RUN_FAILED, Severity.WARNING, "dataflow_run_failed")],
    "dataflow-run-skipped-rate.json": [(AlertType.SKIPPED_RATE_EXCEEDED, Severity.WARNING, "skipped_rate_exceeded")],
    "token-rotation-failed.json": [(AlertType.TOKEN_ROTATION_FAILED, Severity.CRITICAL, "token_rotation_failed")],
    "secretsmanager-rotation-failed.json": [
        (AlertType.TOKEN_ROTATION_FAILED, Severity.WARNING, "token_rotation_failed")
    ],
    "secretsmanager-rotation-abandoned.json": [
        (AlertType.TOKEN_ROTATION_FAILED, Severity.WARNING, "token_rotation_failed")
    ],
    "audience-health.json": [
        (AlertType.AUDIENCE_MISSING, Severity.CRITICAL, "audience_missing:loyalty-members"),
        (AlertType.AUDIENCE_TOO_SMALL, Severity.WARNING, "audience_too_small:spring-sale"),
        (AlertType.AUDIENCE_SHRUNK, Severity.WARNING, "audience_shrunk:winter-boots"),
    ],
}


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return loaded


def decisions(event: dict[str, Any], ctx: AlertContext = CTX) -> list[Any]:
    parsed = parse_alert_event(event)
    assert not isinstance(parsed, Unrecognized), parsed
    return classify(parsed, ctx)


def alerts_of(event: dict[str, Any], ctx: AlertContext = CTX) -> list[Alert]:
    """The alerts an event raises (a health report also closes, as recoveries, the problems it no longer sees)."""
    found = [d for d in decisions(event, ctx) if not isinstance(d, Recovery)]
    assert all(isinstance(d, Alert) for d in found), found
    return found


# -- every sample event -------------------------------------------------------------------------------------------


def test_every_sample_has_an_expectation() -> None:
    names = {path.name for path in SAMPLES.glob("*.json")}

    assert names == set(EXPECTED) | {"alarm-dead-letter-queue-ok.json"}


@pytest.mark.parametrize(("name", "expected"), EXPECTED.items())
def test_sample_is_classified(name: str, expected: list[tuple[AlertType, Severity, str]]) -> None:
    found = alerts_of(sample(name))

    assert [(a.alert_type, a.severity, a.key) for a in found] == expected


@pytest.mark.parametrize("name", EXPECTED)
def test_rendered_message_is_actionable_and_carries_no_identifier(name: str) -> None:
    event = sample(name)
    for alert in alerts_of(event):
        rendered = render(alert, CTX)

        assert rendered.attributes == {"alert_type": alert.alert_type.value, "severity": alert.severity.value}
        assert len(rendered.subject) <= SUBJECT_MAX and "\n" not in rendered.subject
        assert '"pinsync"' in rendered.subject or "pinsync" in rendered.subject
        assert "What happened:" in rendered.text and "Next step:" in rendered.text
        assert "Destination: pinsync" in rendered.text
        assert "https://us-east-1.console.aws.amazon.com/" in rendered.text
        # counts and names only: no ad account id, no AWS account id, nothing the log redactor would scrub
        for text in (rendered.text, rendered.subject, json.dumps(rendered.webhook_payload)):
            assert "549755885175" not in text
            assert event["account"] not in text
            assert redact(text) == text
            assert "code 283" not in text  # the rotation event's free-text message is never forwarded


def test_dead_letter_alert_counts_the_waiting_messages() -> None:
    (alert,) = alerts_of(sample("alarm-dead-letter-queue.json"))
    text = render(alert, CTX).text

    assert "3 audience update message(s)" in text
    assert "Messages waiting: 3" in text
    assert "start-message-move-task" in text
    assert log_group_url("us-east-1", "/aws/lambda/pinsync/audience-sync") in text


def test_failed_run_alert_lists_counts_reasons_and_advice() -> None:
    (alert,) = alerts_of(sample("dataflow-run-failed.json"))
    text = render(alert, CTX).text

    assert "could not send 3 of 20 identities" in text
    assert "pinterest_unavailable 2, rate_limited 1" in text
    assert "Profiles received: 12" in text
    assert "Identities activated: 17 (15 added, 2 removed)" in text
    assert "MaximumConcurrency" in text


def test_token_rotation_needing_a_person_says_run_pinsync_connect() -> None:
    (alert,) = alerts_of(sample("token-rotation-failed.json"))

    assert "run `pinsync connect`" in alert.next_step
    assert ("Reason", "invalid_grant") in alert.facts


def test_token_expiry_alarm_reports_days_left() -> None:
    (alert,) = alerts_of(sample("alarm-refresh-token-expiry.json"))

    assert "refresh token" in alert.title
    assert "6.2 days left" in alert.what
    assert "pinsync connect" in alert.next_step


def test_lost_alerts_alarm_says_alerts_may_be_missing() -> None:
    event = sample("alarm-dead-letter-queue.json")
    event["detail"]["alarmName"] = "pinsync-lost-alerts"

    (alert,) = alerts_of(event)

    assert "may have been lost" in alert.title and "alert function's logs" in alert.next_step
    assert (alert.alert_type, alert.severity) == (AlertType.DATAFLOW_RUN_FAILED, Severity.WARNING)
    assert alert.key == "alarm:pinsync-lost-alerts"


def test_ingest_refused_alarm_counts_the_refusals_and_says_what_each_error_type_means() -> None:
    (alert,) = alerts_of(sample("alarm-ingest-refused.json"))
    rendered = render(alert, CTX)

    assert alert.title == 'The ingest door of "pinsync" refused requests'
    assert "7 request(s) to the ingest door were answered 4xx or 5xx in 5 minutes" in alert.what
    assert "retries a refused request twice, then drops it" in alert.what
    assert "did not reach the audience queue" in alert.what
    assert ("Requests refused", "7") in alert.facts
    # Each error type of the access log, with what to change.
    for words in (
        "/aws/apigateway/pinsync/ingest-access",
        "status and errorType",
        "UNAUTHORIZED or ACCESS_DENIED",
        "IngestTokenSecretArn",
        "Cognito",
        "THROTTLED means raise IngestRateLimit/IngestBurstLimit",
        "BAD_REQUEST_BODY or REQUEST_TOO_LARGE",
        "a 5xx means the queue or the authorizer failed",
        "re-export",
    ):
        assert words in alert.next_step, words
    assert log_group_url("us-east-1", "/aws/apigateway/pinsync/ingest-access") in rendered.text
    assert "Alarm" in dict(alert.links)
    # No identifier: not the API id, the account or anything the redactor would scrub.
    assert "123456789012" not in rendered.text and redact(rendered.text) == rendered.text


def test_ingest_refused_alarm_without_a_datapoint_still_alerts() -> None:
    event = sample("alarm-ingest-refused.json")
    event["detail"]["state"]["reasonData"] = "{}"

    (alert,) = alerts_of(event)

    assert alert.what.startswith("Some request(s)")
    assert ("Requests refused", "Some") in alert.facts


def test_ingest_refused_alarm_back_to_ok_recovers_its_alert_and_triggers_no_redrive() -> None:
    from pinsync.alerts.redrive import triggers_redrive

    (alert,) = alerts_of(sample("alarm-ingest-refused.json"))
    event = sample("alarm-ingest-refused.json")
    event["detail"]["state"], event["detail"]["previousState"] = (
        event["detail"]["previousState"] | {"value": "OK"},
        event["detail"]["state"] | {"value": "ALARM"},
    )

    (decision,) = decisions(event)

    assert isinstance(decision, Recovery)
    assert decision.key == alert.key == "alarm:pinsync-ingest-refused"
    # Refused requests never reached the queue: the dead-letter queue holds nothing of theirs to redrive.
    assert not triggers_redrive(decision.key, CTX)


def test_ingest_refused_alarm_of_a_stack_sharing_the_prefix_is_ignored() -> None:
    event = sample("alarm-ingest-refused.json")
    event["detail"]["alarmName"] = "pinsync-eu-ingest-refused"

    assert decisions(event) == [Ignored("other_stack_alarm")]


@pytest.mark.parametrize("purpose", ["alert-function-errors", "alert-function-throttles"])
@pytest.mark.parametrize("sample_name", ["alarm-dead-letter-queue.json", "alarm-dead-letter-queue-ok.json"])
def test_alarms_on_the_alert_function_are_left_to_cloudwatch(purpose: str, sample_name: str) -> None:
    # They notify the topic directly; an alert made by the function would repeat it (and may not come at all).
    event = sample(sample_name)
    event["detail"]["alarmName"] = f"pinsync-{purpose}"

    assert decisions(event) == [Ignored("notified_directly")]


# -- alarm transitions --------------------------------------------------------------------------------------------


def test_alarm_back_to_ok_is_a_recovery_of_the_same_key() -> None:
    (decision,) = decisions(sample("alarm-dead-letter-queue-ok.json"))

    assert isinstance(decision, Recovery)
    assert decision.key == alerts_of(sample("alarm-dead-letter-queue.json"))[0].key


@pytest.mark.parametrize(
    ("state", "previous", "reason"),
    [("OK", "INSUFFICIENT_DATA", "ok_without_alarm"), ("INSUFFICIENT_DATA", "ALARM", "insufficient_data")],
)
def test_alarm_transitions_without_news_are_ignored(state: str, previous: str, reason: str) -> None:
    event = sample("alarm-dead-letter-queue.json")
    event["detail"]["state"]["value"] = state
    event["detail"]["previousState"]["value"] = previous

    assert decisions(event) == [Ignored(reason)]


def test_alarm_of_another_stack_is_ignored() -> None:
    event = sample("alarm-dead-letter-queue.json")
    event["detail"]["alarmName"] = "other-stack-dead-letter-queue"

    assert decisions(event) == [Ignored("other_stack_alarm")]


@pytest.mark.parametrize("sample_name", ["alarm-dead-letter-queue.json", "alarm-dead-letter-queue-ok.json"])
@pytest.mark.parametrize("alarm_name", ["pinsync-eu-dead-letter-queue", "pinsync-something-new"])
def test_alarm_of_a_stack_sharing_the_prefix_is_ignored(sample_name: str, alarm_name: str) -> None:
    # AlarmStateChangeRule matches the prefix "pinsync-", which stack pinsync-eu's alarms share: only the purposes of
    # this template's alarms are this stack's.
    event = sample(sample_name)
    event["detail"]["alarmName"] = alarm_name

    assert decisions(event) == [Ignored("other_stack_alarm")]


def test_token_rotation_alarm_shares_the_key_of_the_rotation_events() -> None:
    keys = {
        alert.key
        for name in (
            "alarm-token-rotation-failed.json",
            "token-rotation-failed.json",
            "secretsmanager-rotation-failed.json",
        )
        for alert in alerts_of(sample(name))
    }

    assert keys == {"token_rotation_failed"}


# -- Dataflow Run thresholds (re-checked: the rule pattern may be looser) -------------------------------------------


def _run(failed: int, share: float, destination: str = "pinsync") -> dict[str, Any]:
    event = sample("dataflow-run-failed.json")
    event["detail"]["identities"]["failed"] = failed
    event["detail"]["excluded_share"] = share
    event["detail"]["destination"]["name"] = destination
    return event


@pytest.mark.parametrize(
    ("failed", "share", "expected"),
    [
        (0, 0.0, []),
        (0, 0.01, []),  # at the threshold is not above it
        (0, 0.0101, [AlertType.SKIPPED_RATE_EXCEEDED]),
        (1, 0.0, [AlertType.DATAFLOW_RUN_FAILED]),
        (2, 0.5, [AlertType.DATAFLOW_RUN_FAILED, AlertType.SKIPPED_RATE_EXCEEDED]),
    ],
)
def test_run_alerts_follow_failures_and_the_threshold(failed: int, share: float, expected: list[AlertType]) -> None:
    found = decisions(_run(failed, share))

    assert [d.alert_type for d in found if isinstance(d, Alert)] == expected
    if not expected:
        assert found == [Ignored("below_threshold")]


def test_threshold_comes_from_the_settings() -> None:
    strict = AlertContext(destination_name="pinsync", stack_name="pinsync", skipped_rate_threshold=0.2)

    assert decisions(_run(0, 0.111111), strict) == [Ignored("below_threshold")]


def test_run_of_another_destination_is_ignored() -> None:
    assert decisions(_run(5, 0.5, destination="other")) == [Ignored("other_destination")]


def test_successful_rotation_and_other_secrets_are_ignored() -> None:
    succeeded = sample("token-rotation-failed.json")
    succeeded["detail"]["outcome"] = "succeeded"
    other_secret = sample("secretsmanager-rotation-failed.json")
    other_secret["detail"]["additionalEventData"]["SecretId"] = "arn:aws:secretsmanager:us-east-1:1:secret:db-AbCdEf"

    assert decisions(succeeded) == [Ignored("rotation_not_failed")]
    assert decisions(other_secret) == [Ignored("other_secret")]


def test_rotation_failure_without_reconnect_is_a_warning() -> None:
    event = sample("token-rotation-failed.json")
    event["detail"].update(needs_reconnect=False, reason="pinterest_unavailable")

    (alert,) = alerts_of(event)

    assert alert.severity is Severity.WARNING
    assert "pinsync connect" not in alert.next_step


# -- parsing garbage ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ("not a dict", "not_a_dict"),
        ([1, 2], "not_a_dict"),
        (None, "not_a_dict"),
        ({}, "unknown_event"),
        ({"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}}, "unknown_event"),
        ({"source": ["pinsync"], "detail-type": "Dataflow Run"}, "unknown_event"),
    ],
)
def test_unknown_shapes_are_unrecognized(event: Any, reason: str) -> None:
    assert parse_alert_event(event) == Unrecognized(reason)


def test_missing_fields_are_named_without_their_values() -> None:
    event = sample("alarm-dead-letter-queue.json")
    del event["detail"]["alarmName"]
    event["detail"]["state"]["value"] = "SECRET-VALUE-pina_abc"

    parsed = parse_alert_event(event)

    assert isinstance(parsed, Unrecognized)
    assert parsed.reason == "invalid_fields"
    assert parsed.kind == "aws.cloudwatch/CloudWatch Alarm State Change"
    assert "detail.alarmName" in parsed.fields and "detail.state.value" in parsed.fields
    assert "SECRET" not in repr(parsed)


def test_a_pinsync_event_time_without_a_zone_is_read_as_utc_not_a_crash() -> None:
    """pinsync writes its times with Z; one without a zone (another producer on the bus) is taken as UTC, as the token
    secret's are, instead of a TypeError from subtracting it from an aware time (the function would fail and retry)."""
    event = sample("audience-health.json")
    event["detail"]["checked_at"] = "2026-11-28T06:00:00"
    event["detail"]["audiences"][1]["first_seen_at"] = "2026-11-24T06:00:00"

    assert [alert.alert_type for alert in alerts_of(event)] == [a for a, _, _ in EXPECTED["audience-health.json"]]


@pytest.mark.parametrize(
    ("name", "path", "field"),
    [
        ("audience-health.json", ("audiences", 3, "previous_checked_at"), "detail.audiences.3.previous_checked_at"),
        ("audience-health.json", ("checked_at",), "detail.checked_at"),
        (
            "token-rotation-failed.json",
            ("current", "access_token_expires_at"),
            "detail.current.access_token_expires_at",
        ),
    ],
)
def test_a_pinsync_event_time_beyond_the_calendar_in_utc_is_unrecognized_not_a_crash(
    name: str, path: tuple[str | int, ...], field: str
) -> None:
    """9999-12-31T23:59:59-01:00 is valid ISO 8601 but year 10000 in UTC: rendering it raised OverflowError."""
    event = sample(name)
    parent: Any = event["detail"]
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = "9999-12-31T23:59:59-01:00"

    parsed = parse_alert_event(event)

    assert isinstance(parsed, Unrecognized) and parsed.reason == "invalid_fields"
    assert parsed.fields == (field,)


def test_samples_parse_into_their_models() -> None:
    assert isinstance(parse_alert_event(sample("alarm-queue-delay.json")), AlarmStateChangeEvent)
    assert isinstance(parse_alert_event(sample("dataflow-run-skipped-rate.json")), DataflowRunEvent)


# -- suppression rule and recovery --------------------------------------------------------------------------------


def test_suppression_window() -> None:
    (alert,) = alerts_of(sample("alarm-dead-letter-queue.json"))
    opened = open_alert(alert, NOW, timedelta(minutes=60))

    assert not is_suppressed(None, NOW)
    assert is_suppressed(opened, NOW + timedelta(minutes=59))
    assert not is_suppressed(opened, NOW + timedelta(minutes=60))
    assert opened.expires_at > opened.suppress_until  # TTL keeps it for a late recovery
    assert (opened.key, opened.alert_type, opened.severity) == (alert.key, "dead_letter_queue", "critical")


def test_recovered_alert_names_what_recovered() -> None:
    (alert,) = alerts_of(sample("alarm-dead-letter-queue.json"))
    (recovery,) = decisions(sample("alarm-dead-letter-queue-ok.json"))
    opened = open_alert(alert, alert.occurred_at, timedelta(minutes=60))

    recovered = recovered_alert(recovery, opened, CTX)
    rendered = render(recovered, CTX)

    assert (recovered.alert_type, recovered.severity) == (AlertType.RECOVERED, Severity.INFO)
    assert rendered.subject == '[pinsync INFO] Recovered: Messages in the dead-letter queue of "pinsync"'
    assert "back to OK" in rendered.text and "dead_letter_queue" in rendered.text
    assert "opened 85 min before" in rendered.text
    assert "The alert is closed." in rendered.text


# -- rendering details --------------------------------------------------------------------------------------------


def test_slack_payload_shape() -> None:
    (alert,) = alerts_of(sample("dataflow-run-skipped-rate.json"))

    payload = render(alert, CTX).webhook_payload

    assert payload["text"].startswith(":warning: Skipped rate above 1%")
    assert [block["type"] for block in payload["blocks"]] == ["header", "section", "section", "section", "context"]
    assert payload["blocks"][0]["text"] == {"type": "plain_text", "text": alert.title}
    assert all(len(block.get("fields", [])) <= 10 for block in payload["blocks"])


def test_subject_is_ascii_and_bounded() -> None:
    ctx = AlertContext(destination_name="Soldes d'été " + "x" * 120, stack_name="pinsync")
    event = copy.deepcopy(_run(1, 0.0, destination=ctx.destination_name))

    (alert,) = alerts_of(event, ctx)
    subject = render(alert, ctx).subject

    assert len(subject) == SUBJECT_MAX and subject.endswith("...")
    assert subject.isascii()


def test_secret_name_drops_account_and_suffix() -> None:
    assert secret_name("arn:aws:secretsmanager:us-east-1:123456789012:secret:pinsync/token-a1B2c3") == "pinsync/token"
    assert secret_name("pinsync/token") == "pinsync/token"


def test_alert_types_are_the_documented_eleven() -> None:
    assert ALL_ALERT_TYPES == (
        "dataflow_run_failed",
        "dataflow_run_delayed",
        "skipped_rate_exceeded",
        "dead_letter_queue",
        "token_expiring",
        "token_rotation_failed",
        "audience_too_small",
        "audience_shrunk",
        "audience_missing",
        "recovered",
        "dead_letters_redriven",
    )


def test_only_recoveries_of_the_dataflow_or_the_token_trigger_a_redrive() -> None:
    from pinsync.alerts.redrive import triggers_redrive

    assert triggers_redrive("alarm:pinsync-queue-delay", CTX) and triggers_redrive("alarm:pinsync-sync-errors", CTX)
    assert triggers_redrive("token_rotation_failed", CTX)
    assert not triggers_redrive("alarm:pinsync-dead-letter-queue", CTX)  # a redrive is what clears it
    assert not triggers_redrive("alarm:pinsync-eu-queue-delay", CTX)  # another stack's
    assert not triggers_redrive("dataflow_run_failed", CTX)
