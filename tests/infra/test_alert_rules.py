"""The alerting side of template.yaml: rule patterns against the sample events, metric names and dimensions against
what the code emits, and the alert function's wiring.

The patterns are read from the translated template (what CloudFormation deploys), with parameters at their
defaults, so a change to a rule or to a sample event cannot drift silently. moto does not implement
``TestEventPattern``, so a small matcher for the operators the rules use lives here (exact values, prefix, numeric,
exists, anything-but and ``$or``), cross-checked against moto's internal matcher.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import boto3
import pytest
from moto import mock_aws
from moto.events.models import EventPattern
from pinsync.adapters.dynamo_alerts import alert_key
from pinsync.adapters.dynamo_mappings import ACTIVATIONS_KEY, audience_key
from pinsync.alerts.alarms import ALARM_PURPOSES, DIRECT_ALARM_PURPOSES
from pinsync.alerts.model import ALL_ALERT_TYPES
from pinsync.alerts.settings import AlertSettings
from pinsync.core.observability import MetricName

from tests.infra.sam_translate import REPO_ROOT
from tests.infra.test_template_invariants import Template, props, referenced_id, resources_of_type
from tests.integration.conftest import fake_aws_environment

SAMPLES = REPO_ROOT / "events" / "alerts"
PINSYNC_PACKAGE = REPO_ROOT / "layers" / "common" / "pinsync"
ALERT_FUNCTION = "DataflowAlertsFunction"
STACK_NAME = "pinsync"  # samconfig.toml stack_name; the samples' alarm names use it
OTHER_STACK_NAME = "pinsync-eu"  # a second stack in the same account and Region, whose names start with "pinsync-"
PSEUDO = {"AWS::StackName": STACK_NAME, "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012",
          "AWS::Partition": "aws"}  # fmt: skip
PARAMETER_VALUES = {"DestinationName": "pinsync", "AdAccountId": "123"}

# Metric names emitted by the rotation function (pinsync/rotation/runtime.py): found below like the others; listed
# here too so the test says what the dashboard expects from it.
ROTATION_METRICS = {"AccessTokenDaysLeft", "RefreshTokenDaysLeft", "TokenRotationFailures"}


# ------------------------------------------------------------------------------------------------ pattern matcher


def _leaf_matches(value: Any, present: bool, condition: Any) -> bool:
    if not isinstance(condition, dict):
        return present and value == condition
    (operator, operand), *_ = condition.items()
    if operator == "exists":
        return present is bool(operand)
    if not present:
        return False
    if operator == "prefix":
        return isinstance(value, str) and value.startswith(operand)
    if operator == "numeric":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        comparisons = {"<": float.__lt__, "<=": float.__le__, "=": float.__eq__, ">=": float.__ge__, ">": float.__gt__}
        pairs = zip(operand[::2], operand[1::2], strict=True)
        return all(comparisons[op](float(value), float(bound)) for op, bound in pairs)
    if operator == "anything-but":
        excluded = operand if isinstance(operand, list) else [operand]
        if isinstance(operand, dict):
            return not _leaf_matches(value, present, operand)
        return value not in excluded
    raise NotImplementedError(f"pattern operator {operator}")


def _field_matches(value: Any, present: bool, conditions: list[Any]) -> bool:
    values = value if isinstance(value, list) and value else [value]
    return any(_leaf_matches(item, present, condition) for item in values for condition in conditions)


def matches(pattern: dict[str, Any], event: Any) -> bool:
    """EventBridge semantics: every key of the pattern must match; lists are alternatives; ``$or`` is any-of."""
    if not isinstance(event, dict):
        event = {}
    for key, expected in pattern.items():
        if key == "$or":
            if not any(matches(alternative, event) for alternative in expected):
                return False
        elif isinstance(expected, dict):
            if not matches(expected, event.get(key) if isinstance(event.get(key), dict) else {}):
                return False
        elif not _field_matches(event.get(key), key in event, expected):
            return False
    return True


# ------------------------------------------------------------------------------------------------ template reading


def resolve(value: Any, template: Template, stack_name: str = STACK_NAME) -> Any:
    """Resolve Ref / Fn::Sub / Fn::GetAtt of parameters and pseudo-parameters to literal values."""
    defaults = {name: p.get("Default") for name, p in template.get("Parameters", {}).items()}
    known = {**{k: str(v) for k, v in defaults.items() if v is not None}, **PARAMETER_VALUES, **PSEUDO}
    known["AWS::StackName"] = stack_name
    if isinstance(value, dict) and len(value) == 1:
        (function, argument), *_ = value.items()
        if function == "Ref":
            return known[argument]
        if function == "Fn::Sub":
            text = argument if isinstance(argument, str) else argument[0]
            return re.sub(r"\$\{([^}!]+)\}", lambda m: known.get(m.group(1), f"<{m.group(1)}>"), text)
    if isinstance(value, dict):
        return {key: resolve(item, template, stack_name) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, template, stack_name) for item in value]
    return value


def rule_patterns(template: Template) -> dict[str, dict[str, Any]]:
    patterns = {}
    for rule_id, rule in resources_of_type(template, "AWS::Events::Rule").items():
        if "EventPattern" not in props(rule):
            continue  # a schedule (e.g. the token expiry check), not an event rule
        pattern = resolve(props(rule)["EventPattern"], template)
        patterns[rule_id] = json.loads(pattern) if isinstance(pattern, str) else pattern
    return patterns


def alert_rules(template: Template) -> dict[str, dict[str, Any]]:
    return {
        rule_id: rule
        for rule_id, rule in resources_of_type(template, "AWS::Events::Rule").items()
        if any(referenced_id(t["Arn"]) == ALERT_FUNCTION for t in props(rule).get("Targets", []))
    }


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return loaded


def samples() -> Iterator[str]:
    return iter(sorted(path.name for path in SAMPLES.glob("*.json")))


def expected_rule(name: str) -> str:
    if name.startswith("alarm-"):
        return "AlarmStateChangeRule"
    if name.startswith("dataflow-run-"):
        return "DataflowRunRule"
    if name.startswith("token-rotation-"):
        return "TokenRotationFailedRule"
    if name.startswith("audience-health"):
        return "AudienceHealthRule"
    return "SecretRotationFailedRule"


# ------------------------------------------------------------------------------------------------ matcher self-test


@pytest.mark.parametrize(
    ("pattern", "event", "expected"),
    [
        ({"a": ["x"]}, {"a": "x"}, True),
        ({"a": ["x"]}, {"a": "y"}, False),
        ({"a": ["x"]}, {"a": ["y", "x"]}, True),
        ({"a": [{"prefix": "st-"}]}, {"a": "st-1"}, True),
        ({"a": [{"prefix": "st-"}]}, {"a": "other"}, False),
        ({"a": [{"numeric": [">", 0]}]}, {"a": 1}, True),
        ({"a": [{"numeric": [">", 0]}]}, {"a": 0}, False),
        ({"a": [{"numeric": [">", 0]}]}, {"a": "1"}, False),
        ({"a": [{"numeric": [">", 0, "<=", 5]}]}, {"a": 6}, False),
        ({"a": [{"exists": False}]}, {}, True),
        ({"a": [{"exists": True}]}, {}, False),
        ({"a": [{"anything-but": ["x"]}]}, {"a": "y"}, True),
        ({"a": [{"anything-but": ["x"]}]}, {"a": "x"}, False),
        ({"d": {"b": ["x"]}}, {"d": {"b": "x"}}, True),
        ({"d": {"b": ["x"]}}, {"d": "flat"}, False),
        ({"d": {"$or": [{"b": [1]}, {"c": [2]}]}}, {"d": {"c": 2}}, True),
        ({"d": {"$or": [{"b": [1]}, {"c": [2]}]}}, {"d": {"c": 3}}, False),
    ],
)
def test_matcher(pattern: dict[str, Any], event: dict[str, Any], expected: bool) -> None:
    assert matches(pattern, event) is expected
    assert EventPattern.load(json.dumps(pattern)).matches_event(cast(Any, event)) is expected  # moto agrees


# ------------------------------------------------------------------------------------------------ rules vs samples


def test_every_alert_rule_targets_the_function_with_retries_and_a_dead_letter_queue(cfn_template: Template) -> None:
    rules = alert_rules(cfn_template)

    assert set(rules) == {
        "AlarmStateChangeRule",
        "DataflowRunRule",
        "TokenRotationFailedRule",
        "AudienceHealthRule",
        "SecretRotationFailedRule",
    }
    permissions = {
        referenced_id(props(p)["SourceArn"])
        for p in resources_of_type(cfn_template, "AWS::Lambda::Permission").values()
        if props(p)["Principal"] == "events.amazonaws.com" and referenced_id(props(p)["FunctionName"]) == ALERT_FUNCTION
    }
    assert permissions == set(rules)
    for rule in rules.values():
        (target,) = props(rule)["Targets"]
        assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
        assert referenced_id(target["DeadLetterConfig"]["Arn"]) == "AlertEventsDeadLetterQueue"


def test_the_dead_letter_queue_accepts_exactly_the_alert_rules(cfn_template: Template) -> None:
    policy = props(cfn_template["Resources"]["AlertEventsDeadLetterQueuePolicy"])["PolicyDocument"]
    allow = next(s for s in policy["Statement"] if s["Effect"] == "Allow")

    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    sources = {referenced_id(arn) for arn in allow["Condition"]["ArnEquals"]["aws:SourceArn"]}
    assert sources == set(alert_rules(cfn_template))


@pytest.mark.parametrize("name", list(samples()))
def test_sample_matches_exactly_its_rule(name: str, cfn_template: Template) -> None:
    event = sample(name)

    matched = {rule_id for rule_id, pattern in rule_patterns(cfn_template).items() if matches(pattern, event)}
    moto_matched = {
        rule_id
        for rule_id, pattern in rule_patterns(cfn_template).items()
        if EventPattern.load(json.dumps(pattern)).matches_event(cast(Any, event))
    }

    assert matched == {expected_rule(name)}
    assert moto_matched == matched


def _variant(name: str, path: list[str], value: Any) -> dict[str, Any]:
    event = sample(name)
    node = event
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return event


@pytest.mark.parametrize(
    ("event", "rule", "expected"),
    [
        (_variant("dataflow-run-failed.json", ["detail", "identities", "failed"], 0), "DataflowRunRule", False),
        (_variant("dataflow-run-skipped-rate.json", ["detail", "excluded_share"], 0.01), "DataflowRunRule", False),
        (_variant("dataflow-run-skipped-rate.json", ["detail", "excluded_share"], 0.0101), "DataflowRunRule", True),
        (_variant("dataflow-run-failed.json", ["detail", "destination", "name"], "other"), "DataflowRunRule", False),
        (_variant("token-rotation-failed.json", ["detail", "outcome"], "succeeded"), "TokenRotationFailedRule", False),
        (_variant("token-rotation-failed.json", ["detail", "destination", "name"], "x"), "TokenRotationFailedRule", False),
        (_variant("alarm-dead-letter-queue.json", ["detail", "alarmName"], "other-dead-letter-queue"),
         "AlarmStateChangeRule", False),
        (_variant("alarm-dead-letter-queue.json", ["detail", "alarmName"], "pinsync-access-token-expiry"),
         "AlarmStateChangeRule", True),
        (_variant("alarm-dead-letter-queue.json", ["detail", "state", "value"], "INSUFFICIENT_DATA"),
         "AlarmStateChangeRule", False),
        (_variant("secretsmanager-rotation-failed.json", ["detail", "eventName"], "RotationSucceeded"),
         "SecretRotationFailedRule", False),
        (_variant("audience-health.json", ["detail", "destination", "name"], "other"), "AudienceHealthRule", False),
        (_variant("audience-health.json", ["detail", "audiences"], []), "AudienceHealthRule", True),
    ],
)  # fmt: skip
def test_rules_filter_what_needs_no_alert(
    event: dict[str, Any], rule: str, expected: bool, cfn_template: Template
) -> None:
    assert matches(rule_patterns(cfn_template)[rule], event) is expected


def test_numeric_threshold_is_the_parameter(sam_template: Template) -> None:
    pattern = sam_template["Resources"]["DataflowRunRule"]["Properties"]["EventPattern"]["Fn::Sub"]

    assert "${SkippedRateThreshold}" in pattern and "${DestinationName}" in pattern
    assert float(sam_template["Parameters"]["SkippedRateThreshold"]["Default"]) == 0.01


# ------------------------------------------------------------------------------------------------ alarms


def test_alarms_are_named_for_the_alert_function(cfn_template: Template) -> None:
    names = {
        alarm_id: resolve(props(alarm)["AlarmName"], cfn_template)
        for alarm_id, alarm in resources_of_type(cfn_template, "AWS::CloudWatch::Alarm").items()
    }

    assert {"pinsync-dead-letter-queue", "pinsync-queue-delay", "pinsync-sync-errors"} <= set(names.values())
    for name in names.values():
        assert name.startswith(f"{STACK_NAME}-")
        purpose = name.removeprefix(f"{STACK_NAME}-")
        assert purpose in set(ALARM_PURPOSES) | DIRECT_ALARM_PURPOSES, f"{name}: the alert function has no mapping"
    pattern = rule_patterns(cfn_template)["AlarmStateChangeRule"]
    assert pattern["detail"]["alarmName"] == [{"prefix": f"{STACK_NAME}-"}]


def alarm_names(template: Template, stack_name: str = STACK_NAME) -> set[str]:
    return {
        resolve(props(alarm)["AlarmName"], template, stack_name)
        for alarm in resources_of_type(template, "AWS::CloudWatch::Alarm").values()
    }


def test_every_template_alarm_purpose_is_known_to_the_alert_function(cfn_template: Template) -> None:
    # The function ignores an alarm whose purpose it does not know (another stack's): a template alarm missing from
    # ALARM_PURPOSES would never alert.
    purposes = {name.removeprefix(f"{STACK_NAME}-") for name in alarm_names(cfn_template)}

    assert purposes == set(ALARM_PURPOSES) | DIRECT_ALARM_PURPOSES


def test_the_alarms_on_the_alert_path_notify_the_topic_directly(cfn_template: Template) -> None:
    # If the alert function is broken or throttled, or its events dead-letter, nobody would hear of it through the
    # function: these alarms publish to the topic themselves, when they fire and when they clear.
    alarms = resources_of_type(cfn_template, "AWS::CloudWatch::Alarm")
    by_purpose = {
        resolve(props(a)["AlarmName"], cfn_template).removeprefix(f"{STACK_NAME}-"): a for a in alarms.values()
    }
    direct = {"alert-function-errors": "Errors", "alert-function-throttles": "Throttles", "lost-alerts": None}
    for purpose, metric in direct.items():
        alarm = props(by_purpose[purpose])
        assert alarm["AlarmActions"] == [{"Ref": "AlertTopic"}], purpose
        assert alarm["OKActions"] == [{"Ref": "AlertTopic"}], purpose
        if metric is not None:
            assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Lambda", metric)
            assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": ALERT_FUNCTION}}]
    assert props(by_purpose["lost-alerts"])["Dimensions"][0]["Value"] == {
        "Fn::GetAtt": ["AlertEventsDeadLetterQueue", "QueueName"]
    }
    # every other alarm goes through the function only (one formatted alert, filterable by type)
    others = [p for p, a in by_purpose.items() if p not in direct]
    assert others and all("AlarmActions" not in props(by_purpose[p]) for p in others)


def test_cloudwatch_can_publish_to_the_encrypted_topic_and_the_function_too(cfn_template: Template) -> None:
    # CloudWatch cannot use the AWS managed aws/sns key: the topic needs a key whose policy lets it encrypt.
    topic = props(cfn_template["Resources"]["AlertTopic"])
    assert topic["KmsMasterKeyId"] == {"Ref": "AlertTopicKey"}
    key = props(cfn_template["Resources"]["AlertTopicKey"])
    assert key["EnableKeyRotation"] is True
    [cloudwatch] = [
        s for s in key["KeyPolicy"]["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert sorted(cloudwatch["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert cloudwatch["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert all(s["Principal"] != "*" and s["Principal"] != {"AWS": "*"} for s in key["KeyPolicy"]["Statement"])
    role = props(cfn_template["Resources"]["DataflowAlertsFunctionRole"])
    statements = [
        s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"] if isinstance(s, dict)
    ]
    [kms] = [s for s in statements if s.get("Sid") == "EncryptAlertsForTheTopic"]
    assert kms["Resource"] == {"Fn::GetAtt": ["AlertTopicKey", "Arn"]}
    assert sorted(kms["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]


def test_no_alarm_purpose_can_be_another_stacks_alarm() -> None:
    # Stack "pinsync-eu"'s alarm "pinsync-eu-<purpose>" reaches stack "pinsync" with the purpose "eu-<purpose>": it
    # could only pass for one of pinsync's own if a purpose ended with "-" and another purpose.
    assert [(p, q) for p in ALARM_PURPOSES for q in ALARM_PURPOSES if p.endswith(f"-{q}")] == []


@pytest.mark.parametrize("state", ["ALARM", "OK"])
def test_alarms_of_a_stack_sharing_the_prefix_are_delivered_but_ignored(state: str, cfn_template: Template) -> None:
    from pinsync.alerts.classify import classify
    from pinsync.alerts.inbound import parse_alert_event
    from pinsync.alerts.model import AlertContext, Ignored

    ctx = AlertContext(destination_name="pinsync", stack_name=STACK_NAME)
    pattern = rule_patterns(cfn_template)["AlarmStateChangeRule"]
    for name in sorted(alarm_names(cfn_template, OTHER_STACK_NAME)):
        event = _variant("alarm-dead-letter-queue.json", ["detail", "alarmName"], name)
        event["detail"]["state"]["value"] = state
        event["detail"]["previousState"]["value"] = "OK" if state == "ALARM" else "ALARM"

        assert matches(pattern, event), name  # EventBridge delivers it: "pinsync-eu-..." starts with "pinsync-"
        assert classify(parse_alert_event(event), ctx) == [Ignored("other_stack_alarm")], name  # type: ignore[arg-type]


def test_alarm_thresholds(cfn_template: Template) -> None:
    alarms = {
        props(a)["AlarmName"]["Fn::Sub"]: props(a)
        for a in resources_of_type(cfn_template, "AWS::CloudWatch::Alarm").values()
    }

    dlq = alarms["${AWS::StackName}-dead-letter-queue"]
    delay = alarms["${AWS::StackName}-queue-delay"]
    errors = alarms["${AWS::StackName}-sync-errors"]
    assert (dlq["MetricName"], dlq["Threshold"], dlq["ComparisonOperator"]) == (
        "ApproximateNumberOfMessagesVisible",
        0,
        "GreaterThanThreshold",
    )
    assert referenced_id(dlq["Dimensions"][0]["Value"]) == "AudienceDeadLetterQueue"
    assert (delay["MetricName"], delay["Threshold"]) == (
        "ApproximateAgeOfOldestMessage",
        {"Ref": "MaxMessageAgeSeconds"},
    )
    assert referenced_id(delay["Dimensions"][0]["Value"]) == "AudienceQueue"
    assert (errors["Namespace"], errors["MetricName"], errors["Threshold"]) == ("AWS/Lambda", "Errors", 0)
    assert referenced_id(errors["Dimensions"][0]["Value"]) == "AudienceSyncFunction"
    assert ALARM_PURPOSES["queue-delay"][0].value == "dataflow_run_delayed"


# ------------------------------------------------------------------------------------------------ metrics


def _module_constants(tree: ast.Module) -> dict[str, str]:
    return {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def code_metric_names() -> set[str]:
    """Every metric the pinsync package emits: the members of ``MetricName`` some module of the package uses (the
    registry alone proves nothing: a member nothing references is never emitted)."""
    sources = "\n".join(path.read_text() for path in PINSYNC_PACKAGE.rglob("*.py") if path.name != "observability.py")
    return {member.value for member in MetricName if f"MetricName.{member.name}" in sources}


def dashboard(template: Template, stack_name: str = STACK_NAME) -> dict[str, Any]:
    body = props(template["Resources"]["DataflowDashboard"])["DashboardBody"]["Fn::Sub"]
    text = body.replace("${AWS::StackName}", stack_name)
    text = re.sub(r"\$\{[^}]+\}", "0", text)  # every other substitution is a name or a number
    loaded: dict[str, Any] = json.loads(text)
    return loaded


# (metric name, dimension names, value of the service dimension, where)
TemplateMetric = tuple[str, tuple[str, ...], str | None, str]


def template_pinsync_metrics(template: Template, stack_name: str = STACK_NAME) -> list[TemplateMetric]:
    """Every Pinsync metric the dashboard and alarms of a stack named ``stack_name`` read, with the service they
    filter on (None: a SEARCH that does not restrict the service, so it would also graph other stacks' metrics)."""
    used: list[TemplateMetric] = []
    for widget in dashboard(template, stack_name)["widgets"]:
        for entry in widget.get("properties", {}).get("metrics", []):
            if isinstance(entry[0], dict):
                expression = entry[0]["expression"]
                service = re.search(r'service="([^"]*)"', expression)
                for dims, name in re.findall(r'\{Pinsync,([^}]*)\} MetricName="(\w+)"', expression):
                    dimensions = tuple(sorted(d.strip() for d in dims.split(",")))
                    used.append((name, dimensions, service and service.group(1), "dashboard SEARCH"))
            elif entry[0] == "Pinsync":
                fields = [item for item in entry[1:] if not isinstance(item, dict)]
                name, dims = fields[0], fields[1:]
                assert dims[::2] == ["service"], f"{name}: dashboard dimensions {dims}"
                used.append((name, ("service",), dims[1], "dashboard"))
    for alarm_id, alarm in resources_of_type(template, "AWS::CloudWatch::Alarm").items():
        if props(alarm).get("Namespace") == "Pinsync":
            dims = resolve(props(alarm).get("Dimensions", []), template, stack_name)
            assert [d["Name"] for d in dims] == ["service"], f"{alarm_id}: {dims}"
            used.append((props(alarm)["MetricName"], ("service",), dims[0]["Value"], alarm_id))
    return used


def powertools_environment(template: Template, function_id: str, stack_name: str) -> dict[str, str]:
    """The POWERTOOLS_* variables a function of a stack named ``stack_name`` runs with (Globals included)."""
    variables = props(template["Resources"][function_id])["Environment"]["Variables"]
    return {
        name: str(resolve(value, template, stack_name))
        for name, value in variables.items()
        if name.startswith("POWERTOOLS_")
    }


_EMIT_RUN_METRICS = """
from pinsync.core.observability import EMF_METRICS, metrics
from pinsync.sync.outcome import RunOutcome
from pinsync.sync.report import record_metrics

outcome = RunOutcome(messages_received=2, profiles_received=2, added=1)
outcome.excluded["invalid_identity"] += 1
outcome.failed["rate_limited"] += 1
record_metrics(outcome, EMF_METRICS)
metrics.flush_metrics()
"""


def emitted_emf(environment: dict[str, str]) -> set[tuple[str, str, tuple[str, ...], str | None]]:
    """(namespace, metric, dimension names, service) of the EMF lines the sync report really prints, in a fresh
    interpreter with ``environment`` (the code reads POWERTOOLS_SERVICE_NAME when it is imported, as in Lambda)."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("POWERTOOLS_")}
    printed = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", _EMIT_RUN_METRICS],
        env={**inherited, "POWERTOOLS_TRACE_DISABLED": "true", **environment},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    found = set()
    for line in printed.splitlines():
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                for metric in directive["Metrics"]:
                    service = document.get("service") if "service" in dimension_set else None
                    found.add((directive["Namespace"], metric["Name"], tuple(sorted(dimension_set)), service))
    return found


def test_every_pinsync_metric_in_the_template_is_emitted_by_the_code(cfn_template: Template) -> None:
    defined = code_metric_names()
    used = template_pinsync_metrics(cfn_template)

    assert defined >= ROTATION_METRICS
    assert {"PinterestRateLimited", "PinterestLatency", "AlertEventsUnrecognized"} <= defined
    unknown = sorted({f"{name} ({where})" for name, _, _, where in used if name not in defined})
    assert unknown == []


def test_dashboard_covers_the_dataflow(cfn_template: Template) -> None:
    names = {name for name, _, _, _ in template_pinsync_metrics(cfn_template)}

    assert {
        "ProfilesReceived", "IdentitiesAdded", "IdentitiesRemoved", "IdentitiesExcluded", "IdentitiesFailed",
        "PinterestCalls", "PinterestRateLimited", "PinterestLatency", "AccessTokenDaysLeft", "RefreshTokenDaysLeft",
    } <= names  # fmt: skip
    sqs = [
        (entry[1], entry[3])
        for widget in dashboard(cfn_template)["widgets"]
        for entry in widget.get("properties", {}).get("metrics", [])
        if entry[0] == "AWS/SQS"
    ]
    assert {m for m, _ in sqs} == {"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"}
    body = props(cfn_template["Resources"]["DataflowDashboard"])["DashboardBody"]["Fn::Sub"]
    assert "${AudienceDeadLetterQueue.QueueName}" in body and "${AudienceQueue.QueueName}" in body
    latency = [e[-1].get("stat") for w in dashboard(cfn_template)["widgets"]
               for e in w.get("properties", {}).get("metrics", []) if e[1:2] == ["PinterestLatency"]]  # fmt: skip
    assert sorted(latency) == ["p50", "p99"]


@pytest.mark.parametrize("stack_name", [STACK_NAME, OTHER_STACK_NAME])
def test_namespace_and_dimensions_match_the_emf_the_code_prints(cfn_template: Template, stack_name: str) -> None:
    # Two stacks in one account and Region: each stack's dashboard and alarms read the metrics its own functions
    # emit (the service dimension is per stack), never the other's.
    emitted = emitted_emf(powertools_environment(cfn_template, "AudienceSyncFunction", stack_name))
    report_names = {name for _, name, _, _ in emitted}
    used = template_pinsync_metrics(cfn_template, stack_name)

    assert {service for *_, service in emitted} == {stack_name}
    misread = sorted({f"{name} ({where}): {service}" for name, _, service, where in used if service != stack_name})
    assert misread == [], "reads another stack's service"
    for name, dims, service, where in used:
        if name in report_names:
            assert ("Pinsync", name, dims, service) in emitted, f"{name} {dims} read by {where} is not emitted that way"
    assert ("Pinsync", "IdentitiesExcluded", ("Reason", "service"), stack_name) in emitted
    assert ("Pinsync", "ProfilesReceived", ("service",), stack_name) in emitted


def test_every_function_gets_the_same_per_stack_service(cfn_template: Template) -> None:
    # The rotation and alert functions' metrics (token days left, alerts) are read with the same service filter.
    services = {
        function_id: powertools_environment(cfn_template, function_id, OTHER_STACK_NAME)["POWERTOOLS_SERVICE_NAME"]
        for function_id in resources_of_type(cfn_template, "AWS::Lambda::Function")
    }

    assert set(services.values()) == {OTHER_STACK_NAME}, services


def test_service_is_pinsync_without_the_variable() -> None:
    # Local runs and tests set no POWERTOOLS_SERVICE_NAME.
    assert {service for *_, service in emitted_emf({})} == {"pinsync"}


def test_globals_set_the_namespace_the_code_uses_and_a_service_per_stack(sam_template: Template) -> None:
    from pinsync.core.observability import METRICS_NAMESPACE

    variables = sam_template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == METRICS_NAMESPACE
    assert variables["POWERTOOLS_SERVICE_NAME"] == {"Ref": "AWS::StackName"}


# ------------------------------------------------------------------------------------------------ topic and function


def test_topic_is_encrypted_and_email_is_filtered_by_alert_type(cfn_template: Template, sam_template: Template) -> None:
    topic = props(cfn_template["Resources"]["AlertTopic"])
    subscription = cfn_template["Resources"]["AlertEmailSubscription"]
    parameters = sam_template["Parameters"]

    assert topic["KmsMasterKeyId"] == {"Ref": "AlertTopicKey"}
    assert subscription["Condition"] == "HasAlertEmail"
    assert props(subscription)["FilterPolicy"] == {
        "Fn::Sub": [
            '{"alert_type": [{"exists": false}, "${Types}"]}',
            {"Types": {"Fn::Join": ['", "', {"Fn::Split": [",", {"Ref": "AlertTypes"}]}]}},
        ]
    }
    assert parameters["AlertEmail"]["Default"] == ""
    assert tuple(parameters["AlertTypes"]["Default"].split(",")) == ALL_ALERT_TYPES
    assert re.fullmatch(parameters["AlertTypes"]["AllowedPattern"], "dead_letter_queue,recovered")
    assert not re.fullmatch(parameters["AlertTypes"]["AllowedPattern"], "dead_letter_queue, recovered")


def test_alert_function_environment_is_its_settings(sam_template: Template) -> None:
    function = props(sam_template["Resources"][ALERT_FUNCTION])
    variables = set(function["Environment"]["Variables"])

    assert variables <= {name.upper() for name in AlertSettings.model_fields}
    assert {"ALERT_TOPIC_ARN", "STATE_TABLE_NAME", "DESTINATION_NAME", "SKIPPED_RATE_THRESHOLD", "SUPPRESSION_MINUTES",
            "ALERT_WEBHOOK_SECRET_ID"} <= variables  # fmt: skip
    assert function["Layers"] == [{"Ref": "CommonLayer"}]
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": "DataflowAlertsLogGroup"}


def test_alert_function_role_is_least_privilege(cfn_template: Template) -> None:
    role = props(cfn_template["Resources"]["DataflowAlertsFunctionRole"])
    statements = role["Policies"][0]["PolicyDocument"]["Statement"]
    plain = {s["Sid"]: s for s in statements if "Sid" in s}
    conditional = {s["Fn::If"][1]["Sid"]: s["Fn::If"] for s in statements if "Fn::If" in s}
    webhook = {"Fn::If": conditional.pop("ReadAlertWebhookSecret")}

    assert "ManagedPolicyArns" not in role
    assert (
        plain["PublishAlerts"]["Action"] == "sns:Publish"
        and referenced_id(plain["PublishAlerts"]["Resource"]) == "AlertTopic"
    )
    assert set(plain["AlertSuppressionState"]["Action"]) == {
        "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}  # fmt: skip
    assert plain["AlertSuppressionState"]["Resource"] == {"Fn::GetAtt": ["StateTable", "Arn"]}
    # Open alerts only: not the audience mappings or the membership ledger that share the table.
    assert plain["AlertSuppressionState"]["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["ALERT#*"]}}  # fmt: skip
    assert plain["WriteOwnLogs"]["Resource"] == {"Fn::GetAtt": ["DataflowAlertsLogGroup", "Arn"]}
    condition, granted, otherwise = webhook["Fn::If"]
    assert condition == "HasAlertWebhook" and otherwise == {"Ref": "AWS::NoValue"}
    assert (granted["Action"], granted["Resource"]) == (
        "secretsmanager:GetSecretValue",
        {"Ref": "AlertWebhookSecretArn"},
    )
    wildcard = [s["Sid"] for s in statements if s.get("Resource") == "*"]
    assert wildcard == ["WriteTraces"]
    # The automatic redrive, only when AutoRedrive is Enabled: the dead-letter queue in, the audience queue out
    assert {sid: (c, g["Action"], g["Resource"], o) for sid, (c, g, o) in conditional.items()} == {
        "RedriveDeadLetters": (
            "RedrivesAutomatically",
            ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"],
            {"Fn::GetAtt": ["AudienceDeadLetterQueue", "Arn"]},
            {"Ref": "AWS::NoValue"},
        ),
        "RedriveToTheAudienceQueue": (
            "RedrivesAutomatically",
            "sqs:SendMessage",
            {"Fn::GetAtt": ["AudienceQueue", "Arn"]},
            {"Ref": "AWS::NoValue"},
        ),
    }


def test_alert_role_grants_the_calls_and_keys_of_the_alert_state(cfn_template: Template) -> None:
    statements = props(cfn_template["Resources"]["DataflowAlertsFunctionRole"])["Policies"][0]["PolicyDocument"]
    (table,) = [s for s in statements["Statement"] if s.get("Sid") == "AlertSuppressionState"]
    source = (PINSYNC_PACKAGE / "adapters" / "dynamo_alerts.py").read_text()
    called = {
        "dynamodb:" + "".join(word.title() for word in method.split("_"))
        for method in re.findall(r"self\._client\.(\w+)\(", source)
    }
    key_patterns = table["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]

    assert called == set(table["Action"])
    assert any(fnmatch.fnmatchcase(alert_key("alarm:pinsync-queue-delay")["pk"]["S"], p) for p in key_patterns)
    others = (audience_key("a1")["pk"], ACTIVATIONS_KEY["pk"], "LEDGER#a1#0", "PROFILE#a1#p1")  # mappings, ledger
    assert not [key for key in others for p in key_patterns if fnmatch.fnmatchcase(key, p)]


def test_alert_function_gets_the_health_thresholds(sam_template: Template) -> None:
    variables = props(sam_template["Resources"][ALERT_FUNCTION])["Environment"]["Variables"]
    parameters = sam_template["Parameters"]

    assert variables["AUDIENCE_TOO_SMALL_AFTER_HOURS"] == {"Ref": "AudienceTooSmallAfterHours"}
    assert variables["AUDIENCE_SHRINK_THRESHOLD"] == {"Ref": "AudienceShrinkThreshold"}
    fields = AlertSettings.model_fields
    assert (
        float(parameters["AudienceTooSmallAfterHours"]["Default"]) == fields["audience_too_small_after_hours"].default
    )
    assert float(parameters["AudienceShrinkThreshold"]["Default"]) == fields["audience_shrink_threshold"].default
    for name, value in (("AUDIENCE_TOO_SMALL_AFTER_HOURS", "AudienceTooSmallAfterHours"),
                        ("AUDIENCE_SHRINK_THRESHOLD", "AudienceShrinkThreshold")):  # fmt: skip
        for bound in ("MinValue", "MaxValue"):  # every value the parameter admits, the function accepts
            AlertSettings.of(alert_topic_arn="t", state_table_name="s", **{name.lower(): parameters[value][bound]})


def test_health_role_is_least_privilege(cfn_template: Template) -> None:
    role = props(cfn_template["Resources"]["AudienceHealthFunctionRole"])
    statements = {s["Sid"]: s for s in role["Policies"][0]["PolicyDocument"]["Statement"]}
    source = (PINSYNC_PACKAGE / "adapters" / "dynamo_health.py").read_text()
    called = {
        "dynamodb:" + "".join(word.title() for word in method.split("_"))
        for method in re.findall(r"self\._client\.(\w+)\(", source)
    } - {"dynamodb:Scan"}  # all_records is the CLI's
    mapping_calls = {"dynamodb:GetItem", "dynamodb:BatchGetItem"}  # listed_audiences, get_mappings
    granted = {
        a for s in statements.values() for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }

    assert "ManagedPolicyArns" not in role
    assert {a for a in granted if a.startswith("dynamodb:")} == called | mapping_calls
    assert set(statements) == {"WriteOwnLogs", "ReadMappingsAndHealth", "WriteHealthItems", "ReadPinterestToken",
                               "PutAudienceHealthEvents", "WriteTraces"}  # fmt: skip
    read = statements["ReadMappingsAndHealth"]["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    write = statements["WriteHealthItems"]["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    assert any(fnmatch.fnmatchcase(audience_key("a1")["pk"], p) for p in write)
    assert any(fnmatch.fnmatchcase("AUDIENCES", p) for p in read)
    others = (ACTIVATIONS_KEY["pk"], "LEDGER#a1#0", alert_key("k")["pk"]["S"])  # ledger, activations, open alerts
    assert not [key for key in others for p in [*read, *write] if fnmatch.fnmatchcase(key, p)]
    assert referenced_id(statements["ReadPinterestToken"]["Resource"]) == "TokenSecret"
    assert statements["PutAudienceHealthEvents"]["Action"] == "events:PutEvents"
    assert [s for s, st in statements.items() if st["Resource"] == "*"] == ["WriteTraces"]


def test_health_function_runs_on_its_schedule(sam_template: Template) -> None:
    function = props(sam_template["Resources"]["AudienceHealthFunction"])
    (event,) = function["Events"].values()

    assert event["Type"] == "Schedule" and event["Properties"]["Schedule"] == {"Ref": "AudienceHealthSchedule"}
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": "AudienceHealthLogGroup"}
    assert sam_template["Outputs"]["AudienceHealthFunctionName"]["Value"] == {"Ref": "AudienceHealthFunction"}


def test_outputs_name_the_topic_and_the_dashboard(sam_template: Template) -> None:
    outputs = sam_template["Outputs"]

    assert outputs["AlertTopicArn"]["Value"] == {"Ref": "AlertTopic"}
    assert outputs["DashboardName"]["Value"] == {"Ref": "DataflowDashboard"}


def test_every_alert_type_has_a_sample_or_follows_a_recovery() -> None:
    from pinsync.alerts.classify import classify
    from pinsync.alerts.inbound import parse_alert_event
    from pinsync.alerts.model import AlertContext

    ctx = AlertContext(destination_name="pinsync", stack_name=STACK_NAME)
    produced = set()
    for name in samples():
        parsed = parse_alert_event(sample(name))
        produced |= {getattr(d, "alert_type", None) for d in classify(parsed, ctx)}  # type: ignore[arg-type]

    # recovered and dead_letters_redriven follow a recovery (tests/integration/test_auto_redrive.py)
    assert {t.value for t in produced if t} | {"recovered", "dead_letters_redriven"} == set(ALL_ALERT_TYPES)


def test_no_sample_is_left_out() -> None:
    assert Path(SAMPLES).is_dir() and len(list(samples())) >= 12


def test_metric_check_has_teeth(sam_template: Template) -> None:
    import copy

    from tests.infra.sam_translate import translate_template

    broken = copy.deepcopy(sam_template)
    body = broken["Resources"]["DataflowDashboard"]["Properties"]["DashboardBody"]
    body["Fn::Sub"] = body["Fn::Sub"].replace('"PinterestRateLimited"', '"PinterestThrottled"')

    used = template_pinsync_metrics(translate_template(broken))

    assert "PinterestThrottled" in {name for name, _, _, _ in used} - code_metric_names()


def test_service_check_has_teeth(sam_template: Template) -> None:
    import copy

    from tests.infra.sam_translate import translate_template

    broken = copy.deepcopy(sam_template)
    body = broken["Resources"]["DataflowDashboard"]["Properties"]["DashboardBody"]
    body["Fn::Sub"] = body["Fn::Sub"].replace('"ProfilesReceived", "service", "${AWS::StackName}"',
                                              '"ProfilesReceived", "service", "pinsync"')  # fmt: skip
    body["Fn::Sub"] = body["Fn::Sub"].replace(r'MetricName=\"IdentitiesExcluded\" service=\"${AWS::StackName}\"',
                                              r'MetricName=\"IdentitiesExcluded\"')  # fmt: skip

    used = template_pinsync_metrics(translate_template(broken), OTHER_STACK_NAME)

    assert ("ProfilesReceived", ("service",), "pinsync", "dashboard") in used
    assert ("IdentitiesExcluded", ("Reason", "service"), None, "dashboard SEARCH") in used


def test_the_email_filter_passes_the_chosen_types_and_cloudwatchs_own_notices(
    cfn_template: Template, sam_template: Template, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The filter policy as CloudFormation resolves it for AlertTypes=dead_letter_queue,recovered, judged by moto's SNS
    # filtering: the chosen types pass, others do not, and an alarm's own notice (no attributes) passes.
    text, variables = props(cfn_template["Resources"]["AlertEmailSubscription"])["FilterPolicy"]["Fn::Sub"]
    assert variables["Types"]["Fn::Join"][0] == '", "'
    policy = text.replace("${Types}", '", "'.join(["dead_letter_queue", "recovered"]))
    fake_aws_environment(monkeypatch)
    with mock_aws():
        sns, sqs = boto3.client("sns", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=arn,
            Attributes={"FilterPolicy": policy, "FilterPolicyScope": "MessageAttributes", "RawMessageDelivery": "true"},
        )

        def publish(body: str, alert_type: str | None) -> None:
            attributes = {"alert_type": {"DataType": "String", "StringValue": alert_type}} if alert_type else {}
            sns.publish(TopicArn=topic, Message=body, MessageAttributes=attributes)

        publish("chosen", "dead_letter_queue")
        publish("not chosen", "token_expiring")
        publish("cloudwatch alarm notice", None)
        received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
        assert sorted(message["Body"] for message in received) == ["chosen", "cloudwatch alarm notice"]
