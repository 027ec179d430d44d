"""The HTTP front door in template.yaml (IngestAuthentication): what each mode deploys, read from the template after
the SAM transform with its conditions resolved, and the literals it shares with ``pinsync.ingest.door``.

The transform keeps every resource and leaves ``Condition`` and ``Fn::If`` to CloudFormation; :func:`deployed`
resolves them for given parameter values, so each test sees what CloudFormation would create. As in
test_template_invariants, each ``check_*`` returns problems and ``test_check_detects_a_broken_door`` breaks the
template one way at a time, so a green run means the checks have teeth.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from pinsync.alerts.alarms import ALARM_PURPOSES, ingest_access_log_group
from pinsync.alerts.model import AlertType, Severity
from pinsync.ingest.door import (
    BEARER_PATTERN,
    MIN_TOKEN_LENGTH,
    OAUTH_SCOPE,
    RESOURCE,
    STAGE,
    Answers,
    IngestTokenSecret,
    bearer_token,
)
from pinsync.ingest.settings import IngestAuthorizerSettings

from tests.infra.test_template_invariants import (
    _role_statements,
    as_list,
    props,
    referenced_id,
    resource_token,
    resources_of_type,
)

Template = dict[str, Any]
MODES = ["Disabled", "BearerToken", "OAuth2ClientCredentials"]
ENABLED_MODES = MODES[1:]
DOOR_TYPE_PREFIXES = ("AWS::ApiGateway::", "AWS::Cognito::")
EXISTING_FUNCTIONS = {
    "AudienceSyncFunction",
    "TokenRotationFunction",
    "DataflowAlertsFunction",
    "AudienceHealthFunction",
}
INGEST_OUTPUTS = {
    "Disabled": set(),
    "BearerToken": {"IngestUrl", "IngestTokenSecretArn"},
    "OAuth2ClientCredentials": {"IngestUrl", "IngestTokenUrl", "IngestClientId", "IngestUserPoolId"},
}
# API Gateway's own refusals -> the door's answer (door.py's table).
GATEWAY_RESPONSES = {
    "UNAUTHORIZED": Answers.UNAUTHORIZED,
    "ACCESS_DENIED": Answers.FORBIDDEN,
    "BAD_REQUEST_BODY": Answers.BAD_REQUEST_BODY,
    "REQUEST_TOO_LARGE": Answers.TOO_LARGE,
    "UNSUPPORTED_MEDIA_TYPE": Answers.UNSUPPORTED_MEDIA_TYPE,
    "THROTTLED": Answers.THROTTLED,
    # the authorizer function failed (bearer mode: the secret could not be read); the type it is reported as is not
    # documented, so both answer the same
    "AUTHORIZER_FAILURE": Answers.AUTHORIZER_UNAVAILABLE,
    "AUTHORIZER_CONFIGURATION_ERROR": Answers.AUTHORIZER_UNAVAILABLE,
}
# $context variables an access log line may carry: request metadata, never a body, header, credential or claim.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationStatus": "$context.integrationStatus",
    "integrationLatency": "$context.integrationLatency",
    "errorType": "$context.error.responseType",
    "authorizerError": "$context.authorizer.error",
}
QUEUE_URI = "arn:${AWS::Partition}:apigateway:${AWS::Region}:sqs:path/${AWS::AccountId}/${AudienceQueue.QueueName}"


# ------------------------------------------------------------------------------------------------ resolving conditions

_NO_VALUE = object()


def _parameter_values(template: Template, overrides: dict[str, str]) -> dict[str, str]:
    values = {name: str(p["Default"]) for name, p in template.get("Parameters", {}).items() if "Default" in p}
    return values | overrides


def _operand(value: Any, parameters: dict[str, str]) -> str:
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return parameters[value["Ref"]]
    if isinstance(value, str):
        return value
    raise ValueError(f"cannot evaluate {value!r} in a condition")


def _condition(template: Template, name: str, parameters: dict[str, str]) -> bool:
    def evaluate(expression: Any) -> bool:
        [(function, arguments)] = expression.items()
        if function == "Fn::Equals":
            return _operand(arguments[0], parameters) == _operand(arguments[1], parameters)
        if function == "Fn::Not":
            return not evaluate(arguments[0])
        if function == "Fn::And":
            return all(evaluate(a) for a in arguments)
        if function == "Fn::Or":
            return any(evaluate(a) for a in arguments)
        if function == "Condition":
            return _condition(template, arguments, parameters)
        raise ValueError(f"unknown condition function {function}")

    return evaluate(template["Conditions"][name])


def _resolve(value: Any, truth: Callable[[str], bool]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"Fn::If"}:
            name, when_true, when_false = value["Fn::If"]
            return _resolve(when_true if truth(name) else when_false, truth)
        if value == {"Ref": "AWS::NoValue"}:
            return _NO_VALUE
        resolved = {key: _resolve(item, truth) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}
    if isinstance(value, list):
        return [item for item in (_resolve(v, truth) for v in value) if item is not _NO_VALUE]
    return value


def deployed(template: Template, **parameters: str) -> Template:
    """The resources and outputs CloudFormation creates for these parameter values, with every Fn::If resolved."""
    values = _parameter_values(template, parameters)
    cache: dict[str, bool] = {}

    def truth(name: str) -> bool:
        if name not in cache:
            cache[name] = _condition(template, name, values)
        return cache[name]

    result = {key: value for key, value in template.items() if key not in ("Resources", "Outputs")}
    for section in ("Resources", "Outputs"):
        kept = {k: v for k, v in template.get(section, {}).items() if "Condition" not in v or truth(v["Condition"])}
        result[section] = _resolve(kept, truth)
    return result


@pytest.fixture(scope="module")
def modes(cfn_template: Template) -> dict[str, Template]:
    return {mode: deployed(cfn_template, IngestAuthentication=mode) for mode in MODES}


def door_resources(template: Template) -> dict[str, dict[str, Any]]:
    return {
        rid: r
        for rid, r in template["Resources"].items()
        if rid.startswith("Ingest") or r["Type"].startswith(DOOR_TYPE_PREFIXES)
    }


def one(template: Template, resource_type: str) -> tuple[str, dict[str, Any]]:
    [(rid, resource)] = resources_of_type(template, resource_type).items()
    return rid, props(resource)


def _grants(template: Template, role_id: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Every (action, resource token) the role's Allow statements grant, and a problem for each NotAction or
    NotResource grant (it cannot be listed, so it is too much)."""
    problems: list[str] = []
    grants: list[tuple[str, str]] = []
    for statement in _role_statements(template, role_id):
        if statement.get("Effect") != "Allow":
            continue
        if "NotAction" in statement or "NotResource" in statement:
            problems.append(f"{role_id}: NotAction/NotResource grant too much")
            continue
        for action in as_list(statement.get("Action")):
            grants.extend((str(action), resource_token(r)) for r in as_list(statement.get("Resource")))
    return problems, grants


# ------------------------------------------------------------------------------------------------ checks


def check_integration_role(template: Template) -> list[str]:
    """The role API Gateway assumes for the integration: sqs:SendMessage on the audience queue, and nothing else."""
    _, method = one(template, "AWS::ApiGateway::Method")
    role_id = referenced_id(method["Integration"].get("Credentials"))
    role = template["Resources"].get(role_id or "")
    if role is None or role["Type"] != "AWS::IAM::Role":
        return ["IngestMethod: the integration's credentials are not a role of this stack"]
    problems = [f"{role_id}: managed policy {resource_token(a)}" for a in props(role).get("ManagedPolicyArns", [])]
    for policy_type in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for policy_id, policy in resources_of_type(template, policy_type).items():
            if role_id in {referenced_id(r) for r in props(policy).get("Roles", [])}:
                problems.append(f"{role_id}: extra policy {policy_id}")
    principals = {
        str(p)
        for s in as_list(props(role)["AssumeRolePolicyDocument"]["Statement"])
        for p in as_list(s.get("Principal", {}).get("Service"))
    }
    if principals != {"apigateway.amazonaws.com"}:
        problems.append(f"{role_id}: assumed by {sorted(principals)}, not only API Gateway")
    statement_problems, granted = _grants(template, role_id or "")
    problems += statement_problems
    for action, resource in granted:
        if (action, resource) != ("sqs:SendMessage", "AudienceQueue.Arn"):
            problems.append(f"{role_id}: {action} on {resource} is more than sending to the audience queue")
    if ("sqs:SendMessage", "AudienceQueue.Arn") not in granted:
        problems.append(f"{role_id}: sqs:SendMessage on AudienceQueue.Arn is missing")
    return problems


def check_gateway_responses(template: Template) -> list[str]:
    """Each refusal API Gateway makes itself answers door.Answers' status and body, and quotes nothing."""
    problems = []
    found = {}
    for rid, resource in resources_of_type(template, "AWS::ApiGateway::GatewayResponse").items():
        properties = props(resource)
        found[properties["ResponseType"]] = properties
        if referenced_id(properties.get("RestApiId")) != "IngestApi":
            problems.append(f"{rid}: not a response of IngestApi")
        if properties.get("ResponseParameters"):
            problems.append(f"{rid}: sets response parameters (headers may echo the request)")
    for response_type, answer in GATEWAY_RESPONSES.items():
        declared = found.get(response_type)
        if declared is None:
            problems.append(f"{response_type}: no gateway response (API Gateway's default body)")
            continue
        if str(declared.get("StatusCode")) != str(answer.status):
            problems.append(f"{response_type}: status {declared.get('StatusCode')}, not {answer.status}")
        templates = declared.get("ResponseTemplates", {})
        if templates != {"application/json": answer.body()}:
            problems.append(f"{response_type}: body {templates}, not {answer.body()}")
    for response_type, properties in found.items():
        text = json.dumps(properties.get("ResponseTemplates", {}))
        if "$" in text:
            problems.append(f"{response_type}: its body quotes the request or its error ({text})")
    if "DEFAULT_5XX" in found:
        problems.append("DEFAULT_5XX: an authorizer or configuration failure is not the queue's unavailability")
    return problems


def check_access_log(template: Template) -> list[str]:
    """The stage's access log: one JSON object of request metadata; execution logs and data trace off."""
    _, stage = one(template, "AWS::ApiGateway::Stage")
    problems = []
    log_format = stage.get("AccessLogSetting", {}).get("Format", "")
    variables = set(re.findall(r"\$[A-Za-z_][A-Za-z0-9_.]*", log_format))
    for variable in sorted(variables - set(ACCESS_LOG_FIELDS.values())):
        problems.append(f"access log: {variable} is not request metadata (bodies, headers, claims stay out)")
    try:
        line = json.loads(re.sub(r"\$[A-Za-z_][A-Za-z0-9_.]*", "x", log_format))
    except json.JSONDecodeError as error:
        problems.append(f"access log: not JSON once its variables are filled in ({error})")
    else:
        if line.keys() != ACCESS_LOG_FIELDS.keys():
            problems.append(f"access log: fields {sorted(line)}")
    if referenced_id(stage.get("AccessLogSetting", {}).get("DestinationArn")) != "IngestAccessLogGroup":
        problems.append("access log: not written to IngestAccessLogGroup")
    for setting in stage.get("MethodSettings", []):
        if setting.get("LoggingLevel") != "OFF":
            problems.append(f"execution logging {setting.get('LoggingLevel')}: INFO logs request bodies and headers")
        if setting.get("DataTraceEnabled") is not False:
            problems.append("data trace is not off: it logs request bodies and headers")
    if not stage.get("MethodSettings"):
        problems.append("no MethodSettings: execution logging and throttling are not set")
    return problems


def check_authorizer_function_role(template: Template) -> list[str]:
    """The authorizer function: reads the ingest token secret, writes its own logs and traces, nothing else."""
    function = props(template["Resources"]["IngestAuthorizerFunction"])
    role_id = referenced_id(function.get("Role")) or ""
    role = template["Resources"].get(role_id)
    if role is None or role["Type"] != "AWS::IAM::Role":
        return ["IngestAuthorizerFunction: its role is not a role of this stack"]
    log_group = referenced_id(function.get("LoggingConfig", {}).get("LogGroup"))
    allowed = {
        "secretsmanager:GetSecretValue": {"IngestTokenSecret"},
        "logs:CreateLogStream": {f"{log_group}.Arn"},
        "logs:PutLogEvents": {f"{log_group}.Arn"},
        **{
            f"xray:{a}": {"*"}
            for a in ("PutTraceSegments", "PutTelemetryRecords", "GetSamplingRules", "GetSamplingTargets")
        },
    }
    problems = [f"{role_id}: managed policy {resource_token(a)}" for a in props(role).get("ManagedPolicyArns", [])]
    statement_problems, grants = _grants(template, role_id)
    problems += statement_problems
    granted = set()
    for action, resource in grants:
        if resource not in allowed.get(action, set()):
            problems.append(f"{role_id}: {action} on {resource} is not needed")
        else:
            granted.add(action)
    if "secretsmanager:GetSecretValue" not in granted:
        problems.append(f"{role_id}: cannot read the ingest token secret")
    return problems


# ------------------------------------------------------------------------------------------------ tests: modes


def test_disabled_creates_no_door_at_all(modes: dict[str, Template], cfn_template: Template) -> None:
    disabled = modes["Disabled"]

    assert door_resources(disabled) == {}
    assert set(resources_of_type(disabled, "AWS::Lambda::Function")) == EXISTING_FUNCTIONS
    assert {o for o in disabled["Outputs"] if o.startswith("Ingest")} == set()
    assert cfn_template["Parameters"]["IngestAuthentication"]["Default"] == "Disabled"
    # Every door resource and output of the template is conditional: no mode offers an unauthenticated door.
    assert all("Condition" in r for r in door_resources(cfn_template).values())
    assert all("Condition" in o for name, o in cfn_template["Outputs"].items() if name.startswith("Ingest"))


@pytest.mark.parametrize("mode", ENABLED_MODES)
def test_the_route_is_post_profiles_on_the_ingest_stage(mode: str, modes: dict[str, Template]) -> None:
    template = modes[mode]
    _, resource = one(template, "AWS::ApiGateway::Resource")
    _, method = one(template, "AWS::ApiGateway::Method")
    _, stage = one(template, "AWS::ApiGateway::Stage")
    _, api = one(template, "AWS::ApiGateway::RestApi")

    assert resource["PathPart"] == RESOURCE
    assert resource["ParentId"] == {"Fn::GetAtt": ["IngestApi", "RootResourceId"]}
    assert method["HttpMethod"] == "POST"
    assert referenced_id(method["ResourceId"]) == "IngestProfilesResource"
    assert stage["StageName"] == STAGE
    assert api["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    assert template["Outputs"]["IngestUrl"]["Value"] == {
        "Fn::Sub": f"https://${{IngestApi}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{STAGE}/{RESOURCE}"
    }


def test_bearer_mode_authorizes_with_the_token_authorizer(modes: dict[str, Template]) -> None:
    template = modes["BearerToken"]
    _, method = one(template, "AWS::ApiGateway::Method")
    authorizer_id, authorizer = one(template, "AWS::ApiGateway::Authorizer")

    assert method["AuthorizationType"] == "CUSTOM"
    assert referenced_id(method["AuthorizerId"]) == authorizer_id == "IngestBearerAuthorizer"
    assert "AuthorizationScopes" not in method
    assert authorizer["Type"] == "TOKEN"
    assert authorizer["IdentitySource"] == "method.request.header.Authorization"
    assert authorizer["IdentityValidationExpression"] == BEARER_PATTERN
    assert authorizer["AuthorizerResultTtlInSeconds"] == 300
    assert "IngestAuthorizerFunction.Arn" in authorizer["AuthorizerUri"]["Fn::Sub"]
    assert resources_of_type(template, "AWS::Cognito::UserPool") == {}


def test_oauth_mode_requires_the_scope_of_the_cognito_client(modes: dict[str, Template]) -> None:
    template = modes["OAuth2ClientCredentials"]
    _, method = one(template, "AWS::ApiGateway::Method")
    authorizer_id, authorizer = one(template, "AWS::ApiGateway::Authorizer")
    _, server = one(template, "AWS::Cognito::UserPoolResourceServer")
    client_id, client = one(template, "AWS::Cognito::UserPoolClient")
    _, pool = one(template, "AWS::Cognito::UserPool")

    assert method["AuthorizationType"] == "COGNITO_USER_POOLS"
    assert referenced_id(method["AuthorizerId"]) == authorizer_id == "IngestCognitoAuthorizer"
    assert method["AuthorizationScopes"] == [OAUTH_SCOPE]
    assert authorizer["ProviderARNs"] == [{"Fn::GetAtt": ["IngestUserPool", "Arn"]}]
    assert authorizer["IdentitySource"] == "method.request.header.Authorization"
    assert [f"{server['Identifier']}/{scope['ScopeName']}" for scope in server["Scopes"]] == [OAUTH_SCOPE]
    assert client["AllowedOAuthScopes"] == [OAUTH_SCOPE]
    assert client["AllowedOAuthFlows"] == ["client_credentials"]
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert client["GenerateSecret"] is True
    assert client["SupportedIdentityProviders"] == ["COGNITO"]
    assert "IngestResourceServer" in as_list(template["Resources"][client_id]["DependsOn"])
    assert pool["AdminCreateUserConfig"] == {"AllowAdminCreateUserOnly": True}  # nobody signs up
    assert resources_of_type(template, "AWS::Lambda::Function").keys() == EXISTING_FUNCTIONS
    assert resources_of_type(template, "AWS::SecretsManager::Secret").keys() == {"TokenSecret"}


@pytest.mark.parametrize("mode", MODES)
def test_outputs_per_mode_and_no_secret_value(mode: str, modes: dict[str, Template]) -> None:
    outputs = modes[mode]["Outputs"]

    assert {name for name in outputs if name.startswith("Ingest")} == INGEST_OUTPUTS[mode]
    text = json.dumps(outputs)
    assert "resolve:secretsmanager" not in text
    assert "ClientSecret" not in text


def test_the_token_url_is_the_cognito_domain_of_the_pool(modes: dict[str, Template]) -> None:
    template = modes["OAuth2ClientCredentials"]
    _, domain = one(template, "AWS::Cognito::UserPoolDomain")

    # Ref of an AWS::Cognito::UserPoolDomain is the domain prefix.
    assert template["Outputs"]["IngestTokenUrl"]["Value"] == {
        "Fn::Sub": "https://${IngestUserPoolDomain}.auth.${AWS::Region}.amazoncognito.com/oauth2/token"
    }
    assert domain["Domain"]["Fn::Sub"][0] == "pinsync-${Id}"


# ------------------------------------------------------------------------------------------------ tests: the route


@pytest.mark.parametrize("mode", ENABLED_MODES)
def test_the_integration_sends_the_body_to_the_audience_queue(mode: str, modes: dict[str, Template]) -> None:
    _, method = one(modes[mode], "AWS::ApiGateway::Method")
    integration = method["Integration"]

    assert integration["Type"] == "AWS"
    assert integration["IntegrationHttpMethod"] == "POST"
    assert integration["Uri"] == {"Fn::Sub": QUEUE_URI}
    assert integration["Credentials"] == {"Fn::GetAtt": ["IngestIntegrationRole", "Arn"]}
    assert integration["PassthroughBehavior"] == "NEVER"  # any other Content-Type: 415
    assert integration["RequestParameters"] == {
        "integration.request.header.Content-Type": "'application/x-www-form-urlencoded'"
    }
    assert integration["RequestTemplates"] == {
        "application/json": "Action=SendMessage&MessageBody=$util.urlEncode($input.body)"
    }


@pytest.mark.parametrize("mode", ENABLED_MODES)
def test_the_body_must_be_one_json_object(mode: str, modes: dict[str, Template]) -> None:
    template = modes[mode]
    _, method = one(template, "AWS::ApiGateway::Method")
    validator_id, validator = one(template, "AWS::ApiGateway::RequestValidator")
    model_id, model = one(template, "AWS::ApiGateway::Model")

    assert referenced_id(method["RequestValidatorId"]) == validator_id
    assert validator["ValidateRequestBody"] is True
    assert {k: referenced_id(v) for k, v in method["RequestModels"].items()} == {"application/json": model_id}
    assert model["ContentType"] == "application/json"
    assert model["Schema"] == {"$schema": "http://json-schema.org/draft-04/schema#", "type": "object"}


def test_integration_responses_answer_as_the_door_says(modes: dict[str, Template]) -> None:
    _, method = one(modes["BearerToken"], "AWS::ApiGateway::Method")
    responses = {r.get("SelectionPattern"): r for r in method["Integration"]["IntegrationResponses"]}
    declared = {str(r["StatusCode"]) for r in method["MethodResponses"]}

    success = responses[None]
    assert success["StatusCode"] == "200"
    assert json.loads(
        success["ResponseTemplates"]["application/json"].replace(
            "$input.path('$.SendMessageResponse.SendMessageResult.MessageId')", "id"
        )
    ) == {"messageId": "id"}
    client_error = responses[r"4\d{2}"]["ResponseTemplates"]["application/json"]
    assert responses[r"4\d{2}"]["StatusCode"] == str(Answers.QUEUE_UNAVAILABLE.status)
    # SQS's message for an oversized body says "must be shorter than N bytes"; the error code is MessageTooLong.
    too_large = client_error.index('"shorter than"'), client_error.index('"MessageTooLong"')
    override_413 = client_error.index(f"$context.responseOverride.status = {Answers.TOO_LARGE.status}")
    assert max(too_large) < override_413 < client_error.index(Answers.TOO_LARGE.body())
    # Characters SQS refuses, or an empty body (MessageBody missing): the producer's body can never be sent.
    for code in ("InvalidMessageContents", "MissingParameter"):
        assert client_error.index(f'"{code}"') < client_error.index(Answers.BAD_REQUEST_BODY.body())
    assert client_error.index(f"$context.responseOverride.status = {Answers.BAD_REQUEST_BODY.status}") < (
        client_error.index(Answers.BAD_REQUEST_BODY.body())
    )
    assert client_error.rstrip().endswith(f"#else\n{Answers.QUEUE_UNAVAILABLE.body()}\n#end")
    assert "$input.body" not in client_error.replace("$input.body.contains(", "")  # SQS's error text is not echoed
    server_error = responses[r"5\d{2}"]
    assert server_error["StatusCode"] == str(Answers.QUEUE_UNAVAILABLE.status)
    assert server_error["ResponseTemplates"] == {"application/json": Answers.QUEUE_UNAVAILABLE.body()}
    assert {"200", "400", "413", "503"} <= declared


# ------------------------------------------------------------------------------------------------ tests: the stage


@pytest.mark.parametrize("mode", ENABLED_MODES)
def test_throttling_uses_the_parameters(mode: str, modes: dict[str, Template], cfn_template: Template) -> None:
    _, stage = one(modes[mode], "AWS::ApiGateway::Stage")
    [settings] = stage["MethodSettings"]
    parameters = cfn_template["Parameters"]

    assert (settings["ResourcePath"], settings["HttpMethod"]) == ("/*", "*")
    assert settings["ThrottlingRateLimit"] == {"Ref": "IngestRateLimit"}
    assert settings["ThrottlingBurstLimit"] == {"Ref": "IngestBurstLimit"}
    assert settings["MetricsEnabled"] is True
    assert (parameters["IngestRateLimit"]["MinValue"], parameters["IngestRateLimit"]["MaxValue"]) == (1, 10000)
    assert (parameters["IngestBurstLimit"]["MinValue"], parameters["IngestBurstLimit"]["MaxValue"]) == (1, 5000)


@pytest.mark.parametrize(
    ("mode", "deployment"),
    [("BearerToken", "IngestDeploymentBearer"), ("OAuth2ClientCredentials", "IngestDeploymentOAuth")],
)
def test_each_mode_deploys_its_own_deployment(mode: str, deployment: str, modes: dict[str, Template]) -> None:
    template = modes[mode]
    stage_id, stage = one(template, "AWS::ApiGateway::Stage")

    assert set(resources_of_type(template, "AWS::ApiGateway::Deployment")) == {deployment}
    assert referenced_id(stage["DeploymentId"]) == deployment
    depends = set(as_list(template["Resources"][deployment]["DependsOn"]))
    assert {
        "IngestMethod",
        *(f"Ingest{n}Response" for n in ("Unauthorized", "AccessDenied", "BadRequestBody")),
    } <= depends
    assert set(resources_of_type(template, "AWS::ApiGateway::GatewayResponse")) <= depends
    assert "IngestApiGatewayAccount" in as_list(template["Resources"][stage_id]["DependsOn"])


def test_the_account_logging_role_outlives_the_stack(modes: dict[str, Template]) -> None:
    template = modes["BearerToken"]
    _, account = one(template, "AWS::ApiGateway::Account")
    role = template["Resources"][referenced_id(account["CloudWatchRoleArn"]) or ""]

    assert (role["DeletionPolicy"], role["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert [arn["Fn::Sub"].rsplit("/", 1)[-1] for arn in props(role)["ManagedPolicyArns"]] == [
        "AmazonAPIGatewayPushToCloudWatchLogs"
    ]
    log_group = props(template["Resources"]["IngestAccessLogGroup"])
    assert log_group["RetentionInDays"] == {"Ref": "LogRetentionInDays"}


# ------------------------------------------------------------------------------------------------ tests: the alarm


def _refused_alarms(template: Template) -> dict[str, dict[str, Any]]:
    return {
        rid: props(alarm)
        for rid, alarm in resources_of_type(template, "AWS::CloudWatch::Alarm").items()
        if props(alarm)["AlarmName"] == {"Fn::Sub": "${AWS::StackName}-ingest-refused"}
    }


def test_the_refused_alarm_exists_only_with_the_door(modes: dict[str, Template], cfn_template: Template) -> None:
    assert _refused_alarms(modes["Disabled"]) == {}
    for mode in ENABLED_MODES:
        assert set(_refused_alarms(modes[mode])) == {"IngestRefusedAlarm"}
    assert cfn_template["Resources"]["IngestRefusedAlarm"]["Condition"] == "IngestEnabled"


@pytest.mark.parametrize("mode", ENABLED_MODES)
def test_the_refused_alarm_sums_the_4xx_and_5xx_of_this_api_and_stage(mode: str, modes: dict[str, Template]) -> None:
    template = modes[mode]
    [alarm] = _refused_alarms(template).values()
    api = props(template["Resources"]["IngestApi"])
    stage = props(template["Resources"]["IngestStage"])
    metrics = {m["Id"]: m for m in alarm["Metrics"]}
    [result] = [m for m in alarm["Metrics"] if m.get("ReturnData", True)]
    watched = {}
    for metric_id in re.findall(r"[a-z]\w*", result["Expression"]):
        stat = metrics[metric_id]["MetricStat"]
        dimensions = {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]}
        assert stat["Metric"]["Namespace"] == "AWS/ApiGateway"
        assert (stat["Stat"], stat["Period"]) == ("Sum", 300)
        # Ref of a stage: its name. The method's own metrics: scans of other paths of the public URL are not lost
        # profiles (detailed metrics: MetricsEnabled below).
        assert dimensions == {
            "ApiName": api["Name"],
            "Stage": {"Ref": "IngestStage"},
            "Resource": f"/{RESOURCE}",
            "Method": "POST",
        }
        assert metrics[metric_id]["ReturnData"] is False
        watched[stat["Metric"]["MetricName"]] = metric_id
    assert stage["StageName"] == STAGE
    assert set(watched) == {"4XXError", "5XXError"}
    assert re.fullmatch(r"(\w+) \+ (\w+)", result["Expression"])
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (1, 1)
    assert alarm["TreatMissingData"] == "notBreaching"
    assert "AlarmActions" not in alarm  # routed through the alert function, like the dataflow's alarms
    assert stage["MethodSettings"][0]["MetricsEnabled"] is True


def test_the_refused_alarm_is_one_the_alert_function_knows(cfn_template: Template) -> None:
    assert ALARM_PURPOSES["ingest-refused"] == (AlertType.DATAFLOW_RUN_FAILED, Severity.WARNING)
    # The alert points at the door's access log: the template's log group.
    log_group = props(cfn_template["Resources"]["IngestAccessLogGroup"])["LogGroupName"]["Fn::Sub"]
    assert log_group.replace("${AWS::StackName}", "pinsync") == ingest_access_log_group("pinsync")


# ------------------------------------------------------------------------------------------------ tests: bearer mode


def test_the_generated_token_is_what_the_door_accepts(modes: dict[str, Template]) -> None:
    generate = props(modes["BearerToken"]["Resources"]["IngestTokenSecret"])["GenerateSecretString"]

    assert generate["SecretStringTemplate"] == "{}"
    assert generate["GenerateStringKey"] == "token"
    assert generate["PasswordLength"] >= MIN_TOKEN_LENGTH
    assert generate["ExcludePunctuation"] is True
    # What Secrets Manager generates (letters and digits, with punctuation excluded) fits the secret's model and the
    # authorizer's IdentityValidationExpression.
    token = ("aZ09" * 20)[: generate["PasswordLength"]]
    secret_string = json.dumps(json.loads(generate["SecretStringTemplate"]) | {generate["GenerateStringKey"]: token})
    assert IngestTokenSecret.model_validate_json(secret_string).token.get_secret_value() == token
    assert bearer_token(f"Bearer {token}") == token


def test_the_authorizer_function_is_wired_like_the_others(modes: dict[str, Template]) -> None:
    template = modes["BearerToken"]
    function = props(template["Resources"]["IngestAuthorizerFunction"])
    permissions = {
        rid: props(r)
        for rid, r in resources_of_type(template, "AWS::Lambda::Permission").items()
        if referenced_id(props(r)["FunctionName"]) == "IngestAuthorizerFunction"
    }

    assert function["Handler"] == "app.lambda_handler"
    assert function["Architectures"] == ["arm64"]
    assert function["Runtime"] == "python3.12"
    assert function["Layers"] == props(template["Resources"]["AudienceSyncFunction"])["Layers"]  # the CommonLayer
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": "IngestAuthorizerLogGroup"}
    variables = function["Environment"]["Variables"]
    assert variables["INGEST_TOKEN_SECRET_ID"] == {"Ref": "IngestTokenSecret"}  # Ref of a secret is its ARN
    assert set(variables) - {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"} <= {
        name.upper() for name in IngestAuthorizerSettings.model_fields
    }
    assert "POWERTOOLS_LOGGER_LOG_EVENT" not in variables  # the event holds the token
    [permission] = permissions.values()
    assert permission["Principal"] == "apigateway.amazonaws.com"
    assert permission["SourceArn"]["Fn::Sub"].endswith(":${IngestApi}/authorizers/${IngestBearerAuthorizer}")
    assert props(template["Resources"]["IngestAuthorizerLogGroup"])["RetentionInDays"] == {"Ref": "LogRetentionInDays"}


# ------------------------------------------------------------------------------------------------ checks with teeth

ALL_CHECKS = [check_integration_role, check_gateway_responses, check_access_log]


@pytest.mark.parametrize("mode", ENABLED_MODES)
@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda check: check.__name__)
def test_the_door_passes(check: Callable[[Template], list[str]], mode: str, modes: dict[str, Template]) -> None:
    assert check(modes[mode]) == []


def test_the_authorizer_function_role_passes(modes: dict[str, Template]) -> None:
    assert check_authorizer_function_role(modes["BearerToken"]) == []


def _integration_statement(t: Template) -> dict[str, Any]:
    statement: dict[str, Any] = _role_statements(t, "IngestIntegrationRole")[0]
    return statement


def _authorizer_statement(t: Template, sid: str) -> dict[str, Any]:
    return next(s for s in _role_statements(t, "IngestAuthorizerFunctionRole") if s["Sid"] == sid)


def _response(t: Template, response_type: str) -> dict[str, Any]:
    return next(
        props(r)
        for r in resources_of_type(t, "AWS::ApiGateway::GatewayResponse").values()
        if props(r)["ResponseType"] == response_type
    )


def _stage(t: Template) -> dict[str, Any]:
    return props(t["Resources"]["IngestStage"])


# (id, how to break the BearerToken door, check expected to notice, text expected in one of its problems)
BREAKAGES: list[tuple[str, Callable[[Template], object], Callable[[Template], list[str]], str]] = [
    ("queue-wildcard-action", lambda t: _integration_statement(t).update(Action="sqs:*"),
     check_integration_role, "sqs:* on AudienceQueue.Arn"),
    ("queue-receive-too", lambda t: _integration_statement(t).update(Action=["sqs:SendMessage", "sqs:ReceiveMessage"]),
     check_integration_role, "sqs:ReceiveMessage on AudienceQueue.Arn"),
    ("any-queue", lambda t: _integration_statement(t).update(Resource="*"),
     check_integration_role, "sqs:SendMessage on *"),
    ("dead-letter-queue-too", lambda t: _integration_statement(t).update(
        Resource=[{"Fn::GetAtt": ["AudienceQueue", "Arn"]}, {"Fn::GetAtt": ["AudienceDeadLetterQueue", "Arn"]}]),
     check_integration_role, "on AudienceDeadLetterQueue.Arn"),
    ("kms-too", lambda t: props(t["Resources"]["IngestIntegrationRole"])["Policies"][0]["PolicyDocument"][
        "Statement"].append({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}),
     check_integration_role, "kms:Decrypt on *"),
    ("managed-policy", lambda t: props(t["Resources"]["IngestIntegrationRole"]).update(
        ManagedPolicyArns=["arn:aws:iam::aws:policy/AmazonSQSFullAccess"]),
     check_integration_role, "AmazonSQSFullAccess"),
    ("lambda-may-assume", lambda t: props(t["Resources"]["IngestIntegrationRole"])["AssumeRolePolicyDocument"][
        "Statement"][0]["Principal"].update(Service=["apigateway.amazonaws.com", "lambda.amazonaws.com"]),
     check_integration_role, "not only API Gateway"),
    ("no-send", lambda t: _integration_statement(t).update(Action="sqs:GetQueueUrl"),
     check_integration_role, "sqs:SendMessage on AudienceQueue.Arn is missing"),
    ("echoes-validation-error", lambda t: _response(t, "BAD_REQUEST_BODY").update(
        ResponseTemplates={"application/json": '{"message": "$context.error.validationErrorString"}'}),
     check_gateway_responses, "quotes the request"),
    ("default-message", lambda t: _response(t, "THROTTLED").update(
        ResponseTemplates={"application/json": '{"message": "Slow down"}'}),
     check_gateway_responses, "THROTTLED: body"),
    ("wrong-status", lambda t: _response(t, "ACCESS_DENIED").update(StatusCode="401"),
     check_gateway_responses, "ACCESS_DENIED: status 401, not 403"),
    ("echo-header", lambda t: _response(t, "UNAUTHORIZED").update(
        ResponseParameters={"gatewayresponse.header.X-Auth": "method.request.header.Authorization"}),
     check_gateway_responses, "sets response parameters"),
    ("missing-415", lambda t: t["Resources"].pop("IngestUnsupportedMediaTypeResponse"),
     check_gateway_responses, "UNSUPPORTED_MEDIA_TYPE: no gateway response"),
    ("authorizer-failure-default-500", lambda t: t["Resources"].pop("IngestAuthorizerFailureResponse"),
     check_gateway_responses, "AUTHORIZER_FAILURE: no gateway response"),
    ("authorizer-failure-as-403", lambda t: _response(t, "AUTHORIZER_CONFIGURATION_ERROR").update(
        StatusCode="403", ResponseTemplates={"application/json": Answers.FORBIDDEN.body()}),
     check_gateway_responses, "AUTHORIZER_CONFIGURATION_ERROR: status 403, not 503"),
    ("5xx-as-queue", lambda t: t["Resources"].update(Ingest5xx={"Type": "AWS::ApiGateway::GatewayResponse", "Properties": {
        "RestApiId": {"Ref": "IngestApi"}, "ResponseType": "DEFAULT_5XX", "StatusCode": "503",
        "ResponseTemplates": {"application/json": Answers.QUEUE_UNAVAILABLE.body()}}}),
     check_gateway_responses, "DEFAULT_5XX"),
    ("access-log-body", lambda t: _stage(t)["AccessLogSetting"].update(
        Format='{"requestId": "$context.requestId", "body": "$input.body"}'),
     check_access_log, "$input.body is not request metadata"),
    ("access-log-claims", lambda t: _stage(t)["AccessLogSetting"].update(
        Format=_stage(t)["AccessLogSetting"]["Format"].replace("}", ', "sub": "$context.authorizer.claims.sub"}')),
     check_access_log, "$context.authorizer.claims.sub"),
    ("access-log-principal", lambda t: _stage(t)["AccessLogSetting"].update(
        Format=_stage(t)["AccessLogSetting"]["Format"].replace("}", ', "p": "$context.authorizer.principalId"}')),
     check_access_log, "$context.authorizer.principalId"),
    ("access-log-not-json", lambda t: _stage(t)["AccessLogSetting"].update(
        Format=_stage(t)["AccessLogSetting"]["Format"].rstrip("}")),
     check_access_log, "not JSON"),
    ("execution-log-info", lambda t: _stage(t)["MethodSettings"][0].update(LoggingLevel="INFO"),
     check_access_log, "execution logging INFO"),
    ("data-trace", lambda t: _stage(t)["MethodSettings"][0].update(DataTraceEnabled=True),
     check_access_log, "data trace"),
    ("authorizer-reads-any-secret", lambda t: _authorizer_statement(t, "ReadIngestToken").update(Resource="*"),
     check_authorizer_function_role, "secretsmanager:GetSecretValue on *"),
    ("authorizer-reads-pinterest-token", lambda t: _authorizer_statement(t, "ReadIngestToken").update(
        Resource=[{"Ref": "IngestTokenSecret"}, {"Ref": "TokenSecret"}]),
     check_authorizer_function_role, "secretsmanager:GetSecretValue on TokenSecret"),
    ("authorizer-sends-to-queue", lambda t: _authorizer_statement(t, "ReadIngestToken").update(
        Action=["secretsmanager:GetSecretValue", "sqs:SendMessage"]),
     check_authorizer_function_role, "sqs:SendMessage on IngestTokenSecret"),
    ("authorizer-no-secret", lambda t: _authorizer_statement(t, "ReadIngestToken").update(
        Action="secretsmanager:DescribeSecret"),
     check_authorizer_function_role, "cannot read the ingest token secret"),
]  # fmt: skip


@pytest.mark.parametrize(("break_door", "check", "expected"), [b[1:] for b in BREAKAGES], ids=[b[0] for b in BREAKAGES])
def test_check_detects_a_broken_door(
    break_door: Callable[[Template], object],
    check: Callable[[Template], list[str]],
    expected: str,
    modes: dict[str, Template],
) -> None:
    broken = copy.deepcopy(modes["BearerToken"])
    break_door(broken)

    problems = check(broken)

    assert any(expected in problem for problem in problems), problems


def test_resolving_conditions_follows_the_parameters(cfn_template: Template) -> None:
    # The helper these tests rest on: Fn::If picks by condition, AWS::NoValue disappears, conditional resources go.
    template = {
        "Parameters": {"Mode": {"Default": "A"}},
        "Conditions": {"IsA": {"Fn::Equals": [{"Ref": "Mode"}, "A"]}, "NotA": {"Fn::Not": [{"Condition": "IsA"}]}},
        "Resources": {
            "Always": {"Type": "T", "Properties": {"X": {"Fn::If": ["IsA", 1, {"Ref": "AWS::NoValue"}]}, "Y": [1]}},
            "OnlyB": {"Type": "T", "Condition": "NotA"},
        },
    }
    assert deployed(template)["Resources"] == {"Always": {"Type": "T", "Properties": {"X": 1, "Y": [1]}}}
    assert deployed(template, Mode="B")["Resources"] == {
        "Always": {"Type": "T", "Properties": {"Y": [1]}},
        "OnlyB": {"Type": "T", "Condition": "NotA"},
    }
