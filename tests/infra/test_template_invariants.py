"""Invariants of template.yaml that linters do not know about.

Each ``check_*`` function returns a list of problems (empty when the template is right) and reads the template after
the SAM transform, i.e. what CloudFormation deploys. ``test_check_detects_a_broken_template`` breaks the real template
one way at a time and expects the matching check to notice, so a green run means the checks have teeth.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import tomllib
from collections.abc import Callable
from typing import Any, Literal

import pytest
from pinsync.sync.retry_schedule import RetrySchedule
from pinsync.sync.settings import SyncSettings

from tests.infra.sam_translate import REPO_ROOT, translate_template

Template = dict[str, Any]
Check = Callable[[Template], list[str]]

SYNC_FUNCTION = "AudienceSyncFunction"

# The sync function's configuration contract with pinsync.core.settings (function-level variables).
SYNC_FUNCTION_ENV_VARS = frozenset(
    {
        "AD_ACCOUNT_ID",
        "PINTEREST_API_BASE_URL",
        "TOKEN_SECRET_ID",
        "STATE_TABLE_NAME",
        "EVENT_BUS_NAME",
        "ACTIVATED_AUDIENCES",
        "MAX_RECORDS_PER_REQUEST",
        "DESTINATION_NAME",
        "IDENTITY_NAMESPACES",
        "PROFILE_KEY_NAMESPACES",
        "LEDGER_RETENTION_DAYS",
        "CONSENT_POLICY",
        "AUDIENCE_QUEUE_URL",
        "MAX_RECEIVE_COUNT",
        "RETRY_HORIZON_HOURS",
    }
)
# Set for every function through Globals.
POWERTOOLS_ENV_VARS = frozenset({"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"})

# Parameter name -> default (None: the operator must supply a value).
REQUIRED_PARAMETERS: dict[str, object] = {
    "DestinationName": "pinsync",
    "DestinationDescription": "",
    "AdAccountId": None,
    "ActivatedAudiences": "none",
    "MaxRecordsPerRequest": 1000,
    "BatchSize": 100,
    "MaximumBatchingWindowInSeconds": 5,
    "MaximumConcurrency": 5,
    "IdentityNamespaces": "Email=email,Email_LC_SHA256=email_sha256,GAID=gaid,IDFA=idfa",
    "ProfileKeyNamespaces": "ECID,Email,Email_LC_SHA256,GAID,IDFA",
    "LedgerRetentionDays": 90,
    "ConsentPolicy": "OptOut",
    "MaxReceiveCount": 20,
    "RetryHorizonHours": 24,
    "PinterestApiBaseUrl": "https://api.pinterest.com/v5",
    "EventBusName": "default",
    "LogRetentionInDays": 30,
    "AlertEmail": "",
    "AlertTypes": "dataflow_run_failed,dataflow_run_delayed,skipped_rate_exceeded,dead_letter_queue,token_expiring,"
    "token_rotation_failed,audience_too_small,audience_shrunk,audience_missing,recovered,dead_letters_redriven",
    "AutoRedrive": "Enabled",
    "SkippedRateThreshold": 0.01,
    "MaxMessageAgeSeconds": 900,
    "AlertSuppressionMinutes": 60,
    "AlertWebhookSecretArn": "",
    "AudienceHealthSchedule": "rate(1 day)",
    "AudienceTooSmallAfterHours": 72,
    "AudienceShrinkThreshold": 0.5,
    # The HTTP front door: none unless asked for (tests/infra/test_ingest_door_template.py).
    "IngestAuthentication": "Disabled",
    "IngestRateLimit": 1000,
    "IngestBurstLimit": 2000,
}

REQUIRED_OUTPUTS = frozenset(
    {
        "AudienceQueueUrl",
        "AudienceQueueArn",
        "DeadLetterQueueUrl",
        "DeadLetterQueueArn",
        "TokenSecretArn",
        "StateTableName",
        "AudienceSyncFunctionName",
        "DestinationName",
        "AlertTopicArn",
        "DashboardName",
    }
)

CLOUDWATCH_LOGS_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)

TOKEN_FIELDS = frozenset(
    {
        "client_id",
        "client_secret",
        "access_token",
        "refresh_token",
        "access_token_expires_at",
        "refresh_token_expires_at",
        "scope",
    }
)

SQS_MAX_BATCHING_WINDOW = 300  # seconds, the AWS maximum

# IAM of the sync function: service -> actions it may be granted (no wildcards). DynamoDB: the calls of its mapping
# store and ledger (PutItem is only the CLI's `audiences activate --customer-list-id`, which is not the function).
ALLOWED_ACTIONS = {
    "dynamodb": {"GetItem", "UpdateItem", "Query", "BatchGetItem", "BatchWriteItem"},
    "secretsmanager": {"GetSecretValue"},
    "events": {"PutEvents"},
    "sqs": {"ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility", "GetQueueAttributes"},
    "logs": {"CreateLogStream", "PutLogEvents"},
    "xray": {"PutTraceSegments", "PutTelemetryRecords", "GetSamplingRules", "GetSamplingTargets"},
}
# Actions without which the function cannot run (event source mapping, logs, token, mappings, events).
REQUIRED_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:UpdateItem",
    "dynamodb:Query",
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "secretsmanager:GetSecretValue",
    "events:PutEvents",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",  # the retry backoff (and its batch call)
    "sqs:GetQueueAttributes",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
}
EVENT_BUS_ARN = "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}"


# ------------------------------------------------------------------------------------------------ template helpers


def resources_of_type(template: Template, resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template.get("Resources", {}).items() if r.get("Type") == resource_type}


def props(resource: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = resource.get("Properties", {})
    return properties


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def referenced_id(value: Any) -> str | None:
    """Logical id named by a Ref or Fn::GetAtt (either form), else None."""
    if isinstance(value, dict) and len(value) == 1:
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            attr = value["Fn::GetAtt"]
            return str(attr[0] if isinstance(attr, list) else attr.split(".", 1)[0])
    return None


def resource_token(value: Any) -> str:
    """A comparable spelling of an IAM Resource entry: "*", "Table", "Table.Arn" or the Fn::Sub string."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        attr = value["Fn::GetAtt"]
        return ".".join(attr) if isinstance(attr, list) else str(attr)
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        return str(value["Fn::Sub"])
    return json.dumps(value, sort_keys=True)


def number(template: Template, value: Any, bound: Literal["low", "high", "default"]) -> int:
    """A literal number, or the bound of the parameter it references (the worst case an operator can deploy)."""
    if isinstance(value, bool):
        raise TypeError(f"not a number: {value!r}")
    if isinstance(value, int | str):
        return int(value)
    name = referenced_id(value)
    parameter = template.get("Parameters", {}).get(name or "")
    if parameter is None:
        raise ValueError(f"cannot read a number from {value!r}")
    allowed = [int(v) for v in parameter.get("AllowedValues", [])]
    if bound == "low" and ("MinValue" in parameter or allowed):
        return int(parameter["MinValue"]) if "MinValue" in parameter else min(allowed)
    if bound == "high" and ("MaxValue" in parameter or allowed):
        return int(parameter["MaxValue"]) if "MaxValue" in parameter else max(allowed)
    return int(parameter["Default"])


def sqs_event_sources(template: Template) -> dict[str, tuple[dict[str, Any], str]]:
    """Event source mappings reading an SQS queue of this template: ESM id -> (ESM properties, queue id)."""
    queues = resources_of_type(template, "AWS::SQS::Queue")
    found = {}
    for esm_id, esm in resources_of_type(template, "AWS::Lambda::EventSourceMapping").items():
        queue_id = referenced_id(props(esm).get("EventSourceArn"))
        if queue_id in queues:
            found[esm_id] = (props(esm), queue_id)
    return found


def function_id_of(esm_properties: dict[str, Any]) -> str:
    function_id = referenced_id(esm_properties.get("FunctionName"))
    assert function_id, f"event source mapping names no function of this template: {esm_properties}"
    return function_id


def log_group_of(template: Template, function_id: str) -> str | None:
    """The AWS::Logs::LogGroup the function writes to: LoggingConfig.LogGroup, or /aws/lambda/<function>."""
    log_groups = resources_of_type(template, "AWS::Logs::LogGroup")
    function = template["Resources"][function_id]
    configured = props(function).get("LoggingConfig", {}).get("LogGroup")
    if configured is not None:
        group_id = referenced_id(configured)
        return group_id if group_id in log_groups else None
    conventional = {"Fn::Sub": f"/aws/lambda/${{{function_id}}}"}
    for group_id, group in log_groups.items():
        if props(group).get("LogGroupName") == conventional:
            return group_id
    return None


# ------------------------------------------------------------------------------------------------ checks


def check_sqs_event_sources(template: Template) -> list[str]:
    problems = []
    sources = sqs_event_sources(template)
    if not sources:
        problems.append("no SQS event source mapping")
    for esm_id, (esm, queue_id) in sources.items():
        if "ReportBatchItemFailures" not in esm.get("FunctionResponseTypes", []):
            problems.append(f"{esm_id}: FunctionResponseTypes lacks ReportBatchItemFailures (failed messages deleted)")
        function = template["Resources"][function_id_of(esm)]
        timeout = number(template, props(function).get("Timeout", 3), "high")
        window = number(template, esm.get("MaximumBatchingWindowInSeconds", 0), "high")
        visibility = number(template, props(template["Resources"][queue_id]).get("VisibilityTimeout", 30), "low")
        if visibility < 6 * timeout + window:
            problems.append(
                f"{queue_id}: visibility timeout {visibility} s < 6 x function timeout {timeout} s"
                f" + batching window {window} s"
            )
        concurrency = esm.get("ScalingConfig", {}).get("MaximumConcurrency")
        if concurrency is None or number(template, concurrency, "low") < 2:
            problems.append(f"{esm_id}: ScalingConfig.MaximumConcurrency must be set and >= 2")
    return problems


def check_dead_letter_queues(template: Template) -> list[str]:
    problems = []
    queues = resources_of_type(template, "AWS::SQS::Queue")
    for _, queue_id in sqs_event_sources(template).values():
        if "RedrivePolicy" not in props(queues[queue_id]):
            problems.append(f"{queue_id}: consumed by Lambda but has no RedrivePolicy (no dead-letter queue)")
    for queue_id, queue in queues.items():
        redrive = props(queue).get("RedrivePolicy")
        if redrive is None:
            continue
        dlq_id = referenced_id(redrive.get("deadLetterTargetArn"))
        if dlq_id not in queues:
            problems.append(f"{queue_id}: dead-letter target is not a queue of this stack")
            continue
        retention = number(template, props(queue).get("MessageRetentionPeriod", 345600), "high")
        dlq_retention = number(template, props(queues[dlq_id]).get("MessageRetentionPeriod", 345600), "low")
        if dlq_retention <= retention:
            problems.append(f"{dlq_id}: retention {dlq_retention} s is not longer than {queue_id}'s {retention} s")
        if number(template, redrive.get("maxReceiveCount", 0), "default") < 5:
            problems.append(f"{queue_id}: maxReceiveCount below 5 dead-letters messages during throttling")
    return problems


def _default(field: str) -> Any:
    return SyncSettings.model_fields[field].default


# The backoff the sync function applies: template.yaml leaves its base and cap at the settings' defaults.
SCHEDULE = RetrySchedule(_default("retry_base_seconds"), _default("retry_cap_seconds"))


def check_retry_horizon(template: Template) -> list[str]:
    """The audience queue's redrive policy lets the backoff outlast RetryHorizonHours, and its retention outlasts the
    longest backoff: a message failing transiently is retried for the horizon, then dead-lettered, never expired."""
    problems = []
    parameters = template.get("Parameters", {})
    if "RetryHorizonHours" not in parameters:
        return ["no RetryHorizonHours parameter"]
    queue = props(template["Resources"]["AudienceQueue"])
    receives = queue.get("RedrivePolicy", {}).get("maxReceiveCount", 0)
    horizon = {"Ref": "RetryHorizonHours"}
    for bound in ("default", "high"):
        needed = SCHEDULE.receives_needed(number(template, horizon, bound) * 3600)
        if number(template, receives, bound) < needed:
            problems.append(
                f"AudienceQueue: maxReceiveCount ({bound} {number(template, receives, bound)}) does not cover the"
                f" {bound} RetryHorizonHours {number(template, horizon, bound)}: {needed} receives needed"
            )
    retention = number(template, queue.get("MessageRetentionPeriod", 345600), "low")
    visibility = number(template, queue.get("VisibilityTimeout", 30), "high")
    longest = SCHEDULE.longest_time_to_dead_letter(number(template, receives, "high"), visibility)
    if retention <= longest:
        problems.append(
            f"AudienceQueue: retention {retention} s is shorter than the longest retry schedule ({longest} s):"
            " SQS would delete messages still being retried"
        )
    if retention <= number(template, horizon, "high") * 3600:
        problems.append(f"AudienceQueue: retention {retention} s does not exceed RetryHorizonHours")
    variables = props(template["Resources"][SYNC_FUNCTION]).get("Environment", {}).get("Variables", {})
    wiring = {
        "AUDIENCE_QUEUE_URL": {"Ref": "AudienceQueue"},
        "MAX_RECEIVE_COUNT": receives,
        "RETRY_HORIZON_HOURS": horizon,
    }
    for name, expected in wiring.items():
        if variables.get(name) != expected:
            problems.append(f"{SYNC_FUNCTION}: {name} is {variables.get(name)!r}, not {expected!r}")
    return problems


def check_queue_encryption(template: Template) -> list[str]:
    return [
        f"{queue_id}: not encrypted at rest"
        for queue_id, queue in resources_of_type(template, "AWS::SQS::Queue").items()
        if props(queue).get("SqsManagedSseEnabled") is not True and "KmsMasterKeyId" not in props(queue)
    ]


def check_queue_tls_only(template: Template) -> list[str]:
    protected: set[str] = set()
    for policy in resources_of_type(template, "AWS::SQS::QueuePolicy").values():
        for statement in as_list(props(policy).get("PolicyDocument", {}).get("Statement", [])):
            insecure = statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")
            if statement.get("Effect") == "Deny" and str(insecure).lower() == "false":
                protected.update(filter(None, (referenced_id(r) for r in as_list(statement.get("Resource")))))
    return [
        f"{queue_id}: no queue policy denies access without TLS (aws:SecureTransport false)"
        for queue_id in resources_of_type(template, "AWS::SQS::Queue")
        if queue_id not in protected
    ]


def check_state_table(template: Template) -> list[str]:
    table = template["Resources"].get("StateTable")
    if table is None or table.get("Type") != "AWS::DynamoDB::Table":
        return ["StateTable: missing or not an AWS::DynamoDB::Table"]
    p = props(table)
    problems = []
    if p.get("BillingMode") != "PAY_PER_REQUEST":
        problems.append("StateTable: BillingMode is not PAY_PER_REQUEST")
    keys = {k["AttributeName"]: k["KeyType"] for k in p.get("KeySchema", [])}
    if keys != {"pk": "HASH", "sk": "RANGE"}:
        problems.append(f"StateTable: key schema {keys} is not pk (HASH) + sk (RANGE)")
    attribute_types = {a["AttributeName"]: a["AttributeType"] for a in p.get("AttributeDefinitions", [])}
    if attribute_types != {"pk": "S", "sk": "S"}:
        problems.append(f"StateTable: key attribute types {attribute_types} are not strings")
    if p.get("SSESpecification", {}).get("SSEEnabled") is not True:
        problems.append("StateTable: SSESpecification.SSEEnabled is not true")
    if p.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") is not True:
        problems.append("StateTable: point-in-time recovery is off")
    ttl = p.get("TimeToLiveSpecification", {})
    if ttl.get("AttributeName") != "expires_at" or ttl.get("Enabled") is not True:
        problems.append(f"StateTable: TTL is not enabled on expires_at ({ttl})")
    for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
        if table.get(policy) != "Retain":
            problems.append(f"StateTable: {policy} is not Retain (mappings would be lost)")
    return problems


def _role_statements(template: Template, role_id: str) -> list[dict[str, Any]]:
    role = template["Resources"][role_id]
    statements = [
        statement
        for policy in props(role).get("Policies", [])
        for statement in as_list(policy["PolicyDocument"]["Statement"])
    ]
    for policy_type in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for policy in resources_of_type(template, policy_type).values():
            if role_id in {referenced_id(r) for r in props(policy).get("Roles", [])}:
                statements.extend(as_list(props(policy)["PolicyDocument"]["Statement"]))
    return statements


def check_sync_function_iam(template: Template) -> list[str]:
    function = template["Resources"][SYNC_FUNCTION]
    role_id = referenced_id(props(function).get("Role"))
    if role_id is None or template["Resources"].get(role_id, {}).get("Type") != "AWS::IAM::Role":
        return [f"{SYNC_FUNCTION}: its role is not an AWS::IAM::Role of this stack"]
    role = template["Resources"][role_id]
    problems = []
    # AWS managed policies (AWSLambdaSQSQueueExecutionRole, AWSLambdaBasicExecutionRole...) grant on "*".
    for arn in props(role).get("ManagedPolicyArns", []):
        problems.append(f"{role_id}: managed policy {resource_token(arn)} is not scoped to this stack")
    log_group = log_group_of(template, SYNC_FUNCTION)
    allowed_resources = {
        "dynamodb": {"StateTable.Arn"},
        "secretsmanager": {"TokenSecret"},
        "events": {EVENT_BUS_ARN},
        "sqs": {"AudienceQueue.Arn"},
        "logs": {f"{log_group}.Arn"},
        "xray": {"*"},  # X-Ray has no resource-level permissions
    }
    granted: set[str] = set()
    for statement in _role_statements(template, role_id):
        if statement.get("Effect") != "Allow":
            continue
        sid = statement.get("Sid", "<no Sid>")
        if "NotAction" in statement or "NotResource" in statement:
            problems.append(f"{role_id} {sid}: NotAction/NotResource grant too much")
            continue
        resources = {resource_token(r) for r in as_list(statement.get("Resource"))}
        for action in as_list(statement.get("Action")):
            service, _, name = str(action).partition(":")
            if name not in ALLOWED_ACTIONS.get(service, set()):
                problems.append(f"{role_id} {sid}: action {action} is not needed by the sync function")
                continue
            granted.add(action)
            for resource in resources - allowed_resources[service]:
                problems.append(f"{role_id} {sid}: {action} on {resource}, not on this stack's resource")
    for action in sorted(REQUIRED_ACTIONS - granted):
        problems.append(f"{role_id}: {action} is missing")
    return problems


def check_log_groups(template: Template) -> list[str]:
    problems = []
    functions = resources_of_type(template, "AWS::Lambda::Function")
    if not functions:
        problems.append("no Lambda function")
    for function_id in functions:
        group_id = log_group_of(template, function_id)
        if group_id is None:
            problems.append(f"{function_id}: no AWS::Logs::LogGroup of this stack receives its logs")
            continue
        retention = props(template["Resources"][group_id]).get("RetentionInDays")
        if retention is None:
            problems.append(f"{group_id}: no RetentionInDays (logs kept forever)")
        elif number(template, retention, "high") not in CLOUDWATCH_LOGS_RETENTION_DAYS:
            problems.append(f"{group_id}: RetentionInDays {retention} is not a CloudWatch Logs value")
    return problems


def check_sync_function_environment(template: Template) -> list[str]:
    variables = props(template["Resources"][SYNC_FUNCTION]).get("Environment", {}).get("Variables", {})
    expected = SYNC_FUNCTION_ENV_VARS | POWERTOOLS_ENV_VARS
    names = set(variables)
    return [f"{SYNC_FUNCTION}: unexpected environment variable {name}" for name in sorted(names - expected)] + [
        f"{SYNC_FUNCTION}: missing environment variable {name}" for name in sorted(expected - names)
    ]


ALL_CHECKS: list[Check] = [
    check_sqs_event_sources,
    check_dead_letter_queues,
    check_retry_horizon,
    check_queue_encryption,
    check_queue_tls_only,
    check_state_table,
    check_sync_function_iam,
    check_log_groups,
    check_sync_function_environment,
]


# ------------------------------------------------------------------------------------------------ tests


@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda check: check.__name__)
def test_template_passes(check: Check, cfn_template: Template) -> None:
    assert check(cfn_template) == []


def _sync_function(t: Template) -> dict[str, Any]:
    return props(t["Resources"][SYNC_FUNCTION])


def _sqs_event(t: Template) -> dict[str, Any]:
    return props(_sync_function(t)["Events"]["AudienceUpdates"])


def _sync_statement(t: Template, sid: str) -> dict[str, Any]:
    statements = props(t["Resources"]["AudienceSyncFunctionRole"])["Policies"][0]["PolicyDocument"]["Statement"]
    statement: dict[str, Any] = next(s for s in statements if s["Sid"] == sid)
    return statement


def _queue(t: Template, queue_id: str = "AudienceQueue") -> dict[str, Any]:
    return props(t["Resources"][queue_id])


def _table(t: Template) -> dict[str, Any]:
    return props(t["Resources"]["StateTable"])


# (id, how to break the SAM template, check expected to notice, text expected in one of its problems)
BREAKAGES: list[tuple[str, Callable[[Template], object], Check, str]] = [
    ("no-partial-batch-response", lambda t: _sqs_event(t).pop("FunctionResponseTypes"),
     check_sqs_event_sources, "ReportBatchItemFailures"),
    ("visibility-ignores-batching-window", lambda t: _queue(t).update(VisibilityTimeout=360),
     check_sqs_event_sources, "visibility timeout 360"),
    ("function-timeout-raised", lambda t: _sync_function(t).update(Timeout=300),
     check_sqs_event_sources, "6 x function timeout 300"),
    ("concurrency-one", lambda t: _sqs_event(t)["ScalingConfig"].update(MaximumConcurrency=1),
     check_sqs_event_sources, "MaximumConcurrency"),
    ("no-dead-letter-queue", lambda t: _queue(t).pop("RedrivePolicy"),
     check_dead_letter_queues, "no RedrivePolicy"),
    ("dlq-retention-not-longer", lambda t: _queue(t, "AudienceDeadLetterQueue").update(MessageRetentionPeriod=345600),
     check_dead_letter_queues, "is not longer"),
    ("receives-below-horizon", lambda t: t["Parameters"]["MaxReceiveCount"].update(Default=5),
     check_retry_horizon, "does not cover the default RetryHorizonHours 24: 20 receives needed"),
    ("horizon-beyond-receives", lambda t: t["Parameters"]["RetryHorizonHours"].update(MaxValue=72),
     check_retry_horizon, "does not cover the high RetryHorizonHours 72"),
    ("receives-outlast-retention", lambda t: t["Parameters"]["MaxReceiveCount"].update(MaxValue=1000),
     check_retry_horizon, "shorter than the longest retry schedule"),
    ("retention-one-day", lambda t: _queue(t).update(MessageRetentionPeriod=86400),
     check_retry_horizon, "SQS would delete messages still being retried"),
    ("receive-count-not-passed", lambda t: _sync_function(t)["Environment"]["Variables"].update(MAX_RECEIVE_COUNT=5),
     check_retry_horizon, "MAX_RECEIVE_COUNT is 5"),
    ("no-backoff-queue-url", lambda t: _sync_function(t)["Environment"]["Variables"].pop("AUDIENCE_QUEUE_URL"),
     check_retry_horizon, "AUDIENCE_QUEUE_URL is None"),
    ("queue-unencrypted", lambda t: _queue(t).update(SqsManagedSseEnabled=False),
     check_queue_encryption, "AudienceQueue: not encrypted"),
    ("no-tls-policy", lambda t: t["Resources"].pop("AudienceQueuesTlsOnlyPolicy"),
     check_queue_tls_only, "AudienceDeadLetterQueue: no queue policy"),
    ("table-unencrypted", lambda t: _table(t)["SSESpecification"].update(SSEEnabled=False),
     check_state_table, "SSEEnabled"),
    ("table-no-pitr", lambda t: _table(t).pop("PointInTimeRecoverySpecification"),
     check_state_table, "point-in-time recovery"),
    ("table-ttl-renamed", lambda t: _table(t)["TimeToLiveSpecification"].update(AttributeName="ttl"),
     check_state_table, "expires_at"),
    ("table-deletable", lambda t: t["Resources"]["StateTable"].update(DeletionPolicy="Delete"),
     check_state_table, "DeletionPolicy"),
    ("table-wildcard-resource", lambda t: _sync_statement(t, "ReadWriteStateTable").update(Resource="*"),
     check_sync_function_iam, "dynamodb:GetItem on *"),
    ("table-wildcard-action", lambda t: _sync_statement(t, "ReadWriteStateTable").update(Action="dynamodb:*"),
     check_sync_function_iam, "action dynamodb:* is not needed"),
    ("table-put-item", lambda t: _sync_statement(t, "ReadWriteStateTable")["Action"].append("dynamodb:PutItem"),
     check_sync_function_iam, "action dynamodb:PutItem is not needed"),
    ("table-delete-item", lambda t: _sync_statement(t, "ReadWriteStateTable")["Action"].append("dynamodb:DeleteItem"),
     check_sync_function_iam, "action dynamodb:DeleteItem is not needed"),
    ("no-ledger-query", lambda t: _sync_statement(t, "ReadWriteStateTable")["Action"].remove("dynamodb:Query"),
     check_sync_function_iam, "dynamodb:Query is missing"),
    ("secret-of-another-stack", lambda t: _sync_statement(t, "ReadPinterestToken").update(
        Resource="arn:aws:secretsmanager:us-east-1:111111111111:secret:other"),
     check_sync_function_iam, "secretsmanager:GetSecretValue on arn:aws:secretsmanager"),
    ("any-event-bus", lambda t: _sync_statement(t, "PutDataflowRunEvents").update(
        Resource={"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/*"}),
     check_sync_function_iam, "events:PutEvents on arn"),
    ("sam-managed-policy", lambda t: props(t["Resources"]["AudienceSyncFunctionRole"]).update(
        ManagedPolicyArns=["arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"]),
     check_sync_function_iam, "AWSLambdaSQSQueueExecutionRole"),
    ("no-change-visibility", lambda t: _sync_statement(t, "ConsumeAudienceQueue")["Action"].remove(
        "sqs:ChangeMessageVisibility"),
     check_sync_function_iam, "sqs:ChangeMessageVisibility is missing"),
    ("no-secret-read", lambda t: _sync_statement(t, "ReadPinterestToken").update(Action="secretsmanager:ListSecrets"),
     check_sync_function_iam, "secretsmanager:GetSecretValue is missing"),
    ("log-group-not-used", lambda t: _sync_function(t).pop("LoggingConfig"),
     check_log_groups, "AudienceSyncFunction: no AWS::Logs::LogGroup"),
    ("log-retention-dropped", lambda t: props(t["Resources"]["AudienceSyncLogGroup"]).pop("RetentionInDays"),
     check_log_groups, "no RetentionInDays"),
    ("extra-env-var", lambda t: _sync_function(t)["Environment"]["Variables"].update(DEBUG_TOKEN="x"),
     check_sync_function_environment, "unexpected environment variable DEBUG_TOKEN"),
    ("env-var-renamed", lambda t: _sync_function(t)["Environment"]["Variables"].update(
        TOKEN_SECRET_ARN=_sync_function(t)["Environment"]["Variables"].pop("TOKEN_SECRET_ID")),
     check_sync_function_environment, "missing environment variable TOKEN_SECRET_ID"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("break_template", "check", "expected"), [b[1:] for b in BREAKAGES], ids=[b[0] for b in BREAKAGES]
)
def test_check_detects_a_broken_template(
    break_template: Callable[[Template], object], check: Check, expected: str, sam_template: Template
) -> None:
    broken = copy.deepcopy(sam_template)
    break_template(broken)

    problems = check(translate_template(broken))

    assert any(expected in problem for problem in problems), problems


def test_sync_function_sets_exactly_the_contract_variables(sam_template: Template) -> None:
    variables = _sync_function(sam_template)["Environment"]["Variables"]

    assert set(variables) == SYNC_FUNCTION_ENV_VARS


def test_sync_function_variables_point_at_this_stack(sam_template: Template) -> None:
    variables = _sync_function(sam_template)["Environment"]["Variables"]

    assert variables["TOKEN_SECRET_ID"] == {"Ref": "TokenSecret"}  # Ref of a secret is its ARN
    assert variables["STATE_TABLE_NAME"] == {"Ref": "StateTable"}
    assert variables["EVENT_BUS_NAME"] == {"Ref": "EventBusName"}
    assert variables["AD_ACCOUNT_ID"] == {"Ref": "AdAccountId"}
    assert variables["DESTINATION_NAME"] == {"Ref": "DestinationName"}
    assert variables["IDENTITY_NAMESPACES"] == {"Ref": "IdentityNamespaces"}
    assert variables["PROFILE_KEY_NAMESPACES"] == {"Ref": "ProfileKeyNamespaces"}
    assert variables["LEDGER_RETENTION_DAYS"] == {"Ref": "LedgerRetentionDays"}
    assert variables["AUDIENCE_QUEUE_URL"] == {"Ref": "AudienceQueue"}  # Ref of a queue is its URL
    assert variables["MAX_RECEIVE_COUNT"] == _queue(sam_template)["RedrivePolicy"]["maxReceiveCount"]


def test_globals_configure_powertools_and_runtime(sam_template: Template) -> None:
    function_globals = sam_template["Globals"]["Function"]

    assert function_globals["Runtime"] == "python3.12"
    assert function_globals["Architectures"] == ["arm64"]
    assert function_globals["Tracing"] == "Active"
    assert function_globals["LoggingConfig"]["LogFormat"] == "JSON"
    assert set(function_globals["Environment"]["Variables"]) == POWERTOOLS_ENV_VARS
    assert function_globals["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"] == "Pinsync"


def test_sqs_event_is_tuned_by_parameters(sam_template: Template) -> None:
    event = _sqs_event(sam_template)

    assert event["Queue"] == {"Fn::GetAtt": ["AudienceQueue", "Arn"]}
    assert event["BatchSize"] == {"Ref": "BatchSize"}
    assert event["MaximumBatchingWindowInSeconds"] == {"Ref": "MaximumBatchingWindowInSeconds"}
    assert event["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "MaximumConcurrency"}
    assert _queue(sam_template)["RedrivePolicy"]["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}


def test_batching_window_allows_batches_over_ten(sam_template: Template) -> None:
    # SQS event sources reject BatchSize > 10 without a batching window of at least 1 s.
    parameters = sam_template["Parameters"]

    if int(parameters["BatchSize"]["MaxValue"]) > 10:
        assert int(parameters["MaximumBatchingWindowInSeconds"]["MinValue"]) >= 1
    assert int(parameters["MaximumBatchingWindowInSeconds"]["MaxValue"]) <= SQS_MAX_BATCHING_WINDOW
    assert int(parameters["MaximumConcurrency"]["MinValue"]) >= 2


@pytest.mark.parametrize(("name", "default"), REQUIRED_PARAMETERS.items())
def test_parameter_exists_with_its_default(name: str, default: object, sam_template: Template) -> None:
    parameter = sam_template["Parameters"].get(name)

    assert parameter is not None, f"parameter {name} is missing"
    if default is None:
        assert "Default" not in parameter
    elif isinstance(default, float):
        assert float(parameter["Default"]) == default
    elif isinstance(default, int):
        assert int(parameter["Default"]) == default
    else:
        assert parameter["Default"] == default


def test_ad_account_id_must_be_digits(sam_template: Template) -> None:
    assert sam_template["Parameters"]["AdAccountId"]["AllowedPattern"] == r"^\d{1,18}$"


@pytest.mark.parametrize(
    ("parameter", "value", "admitted"),
    [
        ("AlertWebhookSecretArn", "", True),
        ("AlertWebhookSecretArn", "arn:aws:secretsmanager:us-east-1:123456789012:secret:pinsync/slack-a1B2c3", True),
        ("AlertWebhookSecretArn", "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:hook-ABCDEF", True),
        # A partial ARN (no "-" and the 6 characters Secrets Manager appends) matches no Resource of the policy.
        ("AlertWebhookSecretArn", "arn:aws:secretsmanager:us-east-1:123456789012:secret:pinsync/slack", False),
        ("AlertWebhookSecretArn", "arn:aws:secretsmanager:us-east-1:123456789012:secret:slack-webhook", False),
        ("AlertWebhookSecretArn", "arn:aws:secretsmanager:us-east-1:123456789012:secret:hook-a1B2c3*", False),
        ("AlertWebhookSecretArn", "pinsync/slack-a1B2c3", False),
        ("RotationSchedule", "rate(7 days)", True),
        ("RotationSchedule", "rate(1 day)", True),
        ("RotationSchedule", "rate(25 days)", True),
        ("RotationSchedule", "cron(0 3 ? * MON *)", True),
        # Secrets Manager rotates at most every 4 hours; the access token lives 30 days.
        ("RotationSchedule", "rate(2 hours)", False),
        ("RotationSchedule", "rate(12 hours)", False),
        ("RotationSchedule", "rate(26 days)", False),
        ("RotationSchedule", "rate(45 days)", False),
        ("RotationSchedule", "rate(0 days)", False),
        ("RotationSchedule", "rate(07 days)", False),
        ("RotationSchedule", "rate(1 days)", False),
        ("RotationSchedule", "rate(7 day)", False),
        ("RotationSchedule", "rate(7 days) ", False),
        ("AudienceHealthSchedule", "rate(1 day)", True),
        ("AudienceHealthSchedule", "rate(6 hours)", True),
        ("AudienceHealthSchedule", "rate(1 hour)", True),
        ("AudienceHealthSchedule", "cron(0 5 * * ? *)", True),
        ("AudienceHealthSchedule", "rate(1 days)", False),  # EventBridge wants the singular for 1
        ("AudienceHealthSchedule", "rate(30 minutes)", False),  # hourly at most: reads cost rate limit
        ("AudienceHealthSchedule", "daily", False),
    ],
)
def test_parameter_pattern(parameter: str, value: str, admitted: bool, sam_template: Template) -> None:
    pattern = sam_template["Parameters"][parameter]["AllowedPattern"]

    assert bool(re.fullmatch(pattern, value)) is admitted
    assert re.fullmatch(pattern, str(sam_template["Parameters"][parameter]["Default"]))


def test_log_retention_offers_exactly_the_cloudwatch_values(sam_template: Template) -> None:
    allowed = {int(v) for v in sam_template["Parameters"]["LogRetentionInDays"]["AllowedValues"]}

    assert allowed == CLOUDWATCH_LOGS_RETENTION_DAYS


def test_outputs(sam_template: Template) -> None:
    assert set(sam_template["Outputs"]) >= REQUIRED_OUTPUTS


def test_token_secret_is_a_placeholder_without_credentials(sam_template: Template) -> None:
    secret = sam_template["Resources"]["TokenSecret"]
    placeholder = json.loads(props(secret)["SecretString"])

    assert placeholder == {"status": "not-connected"}
    assert not TOKEN_FIELDS & set(placeholder)
    assert secret["DeletionPolicy"] == "Retain"  # the token took a person's OAuth consent to obtain


def test_layer_is_built_for_the_function_runtime_and_architecture(sam_template: Template) -> None:
    layer = sam_template["Resources"]["CommonLayer"]
    function_globals = sam_template["Globals"]["Function"]

    assert _sync_function(sam_template)["Layers"] == [{"Ref": "CommonLayer"}]
    assert props(layer)["ContentUri"] == "layers/common/"
    assert function_globals["Runtime"] in props(layer)["CompatibleRuntimes"]
    assert props(layer)["CompatibleArchitectures"] == function_globals["Architectures"]
    # Built by layers/common/Makefile (the lock minus the runtime's botocore), for the functions' runtime and
    # architecture: x86_64 wheels (pydantic-core) would not load in an arm64 function.
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert [layer["Metadata"]["BuildArchitecture"]] == function_globals["Architectures"] == ["arm64"]
    makefile = (REPO_ROOT / "layers/common/Makefile").read_text()
    python = function_globals["Runtime"].removeprefix("python")
    assert "build-CommonLayer:" in makefile
    assert f"--platform manylinux2014_aarch64 --implementation cp --python-version {python}" in makefile
    assert "--no-deps --require-hashes" in makefile


def _samconfig_overrides() -> dict[str, str]:
    with (REPO_ROOT / "samconfig.toml").open("rb") as handle:
        config = tomllib.load(handle)
    entries = config["default"]["deploy"]["parameters"]["parameter_overrides"]
    pairs = (entry.partition("=") for entry in (entries if isinstance(entries, list) else shlex.split(entries)))
    return {name: value.strip('"') for name, _, value in pairs}


def test_samconfig_overrides_are_valid_template_parameters(sam_template: Template) -> None:
    parameters = sam_template["Parameters"]

    for name, value in _samconfig_overrides().items():
        assert name in parameters, f"samconfig.toml overrides unknown parameter {name}"
        parameter = parameters[name]
        if "AllowedPattern" in parameter:
            assert re.fullmatch(parameter["AllowedPattern"], value), f"{name}={value}"
        if "AllowedValues" in parameter:
            assert value in {str(v) for v in parameter["AllowedValues"]}, f"{name}={value}"
        if parameter["Type"] == "Number":
            assert float(parameter.get("MinValue", value)) <= float(value) <= float(parameter.get("MaxValue", value))


def test_samconfig_supplies_every_parameter_without_default(sam_template: Template) -> None:
    required = {name for name, parameter in sam_template["Parameters"].items() if "Default" not in parameter}

    assert required <= set(_samconfig_overrides())


def test_samconfig_receives_cover_its_retry_horizon(sam_template: Template) -> None:
    overrides = _samconfig_overrides()
    parameters = sam_template["Parameters"]
    receives = int(overrides.get("MaxReceiveCount", parameters["MaxReceiveCount"]["Default"]))
    horizon = float(overrides.get("RetryHorizonHours", parameters["RetryHorizonHours"]["Default"]))

    assert receives >= SCHEDULE.receives_needed(horizon * 3600)
