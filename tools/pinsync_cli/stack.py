"""Finding a deployment: flags, then the CloudFormation stack's outputs and parameters, then the environment.

Every operator command takes the same targeting flags. Precedence, per value: an explicit flag, then the stack
given with `--stack-name` (or `PINSYNC_STACK_NAME`), then an environment variable (what `pinsync local up`
prints, and what the sync function itself reads). boto3 honours `AWS_ENDPOINT_URL`, so the same commands work
against the local stack.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_REMOTE_REFUSED = 3
EXIT_AWS = 4


class CliError(Exception):
    """Ends a command with `exit_code`. The message is safe to print (no identifier, no token, no body)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Value:
    """One deployment setting: its flag, its stack output or parameter, its environment variable."""

    attribute: str
    flag: str
    help: str
    output: str | None = None
    parameter: str | None = None
    env: str | None = None


VALUES: dict[str, Value] = {
    value.attribute: value
    for value in (
        Value("queue_url", "--queue-url", "URL of the audience queue", "AudienceQueueUrl", None, "PINSYNC_QUEUE_URL"),
        Value(
            "dead_letter_queue_url",
            "--dlq-url",
            "URL of the dead-letter queue",
            "DeadLetterQueueUrl",
            None,
            "PINSYNC_DEAD_LETTER_QUEUE_URL",
        ),
        Value("table", "--table", "name of the state table", "StateTableName", None, "STATE_TABLE_NAME"),
        Value("secret_id", "--secret-id", "ARN or name of the token secret", "TokenSecretArn", None, "TOKEN_SECRET_ID"),
        Value(
            "function_name",
            "--function-name",
            "name of the sync function",
            "AudienceSyncFunctionName",
            None,
            "PINSYNC_FUNCTION_NAME",
        ),
        Value("log_group", "--log-group", "log group of the sync function", None, None, "PINSYNC_LOG_GROUP"),
        Value(
            "destination_name",
            "--destination-name",
            "the connection's Name",
            "DestinationName",
            "DestinationName",
            "DESTINATION_NAME",
        ),
        Value(
            "destination_description",
            "--destination-description",
            "the connection's Description",
            None,
            "DestinationDescription",
            "PINSYNC_DESTINATION_DESCRIPTION",
        ),
        Value("ad_account_id", "--ad-account-id", "Pinterest ad account id", None, "AdAccountId", "AD_ACCOUNT_ID"),
        Value(
            "auto_redrive",
            "--auto-redrive",
            "Enabled or Disabled: redrive the dead-letter queue once the cause is gone (the stack's AutoRedrive)",
            None,
            "AutoRedrive",
            "PINSYNC_AUTO_REDRIVE",
        ),
        Value(
            "api_base_url",
            "--api-base-url",
            "Pinterest API base URL",
            None,
            "PinterestApiBaseUrl",
            "PINTEREST_API_BASE_URL",
        ),
    )
}

LOG_GROUP_RESOURCE = "AudienceSyncLogGroup"


def add_target_arguments(parser: argparse.ArgumentParser, *attributes: str) -> None:
    """`--stack-name`, `--region` and the explicit flags for `attributes`."""
    group = parser.add_argument_group(
        "deployment",
        "where the stack is: --stack-name (outputs and parameters), or explicit values; each falls back "
        "to its environment variable (see `pinsync local up`)",
    )
    group.add_argument("--stack-name", help="CloudFormation stack of the deployment (env PINSYNC_STACK_NAME)")
    group.add_argument("--region", help="AWS region (default: the AWS configuration, e.g. AWS_DEFAULT_REGION)")
    for attribute in attributes:
        value = VALUES[attribute]
        sources = [f"output {value.output}" if value.output else "", f"env {value.env}" if value.env else ""]
        group.add_argument(value.flag, dest=attribute, help=f"{value.help} ({', '.join(filter(None, sources))})")


@dataclass
class Deployment:
    """Resolved values of one deployment, and how to talk to its AWS account."""

    region: str | None
    stack_name: str | None
    values: dict[str, str] = field(default_factory=dict)
    stack_resources: dict[str, str] = field(default_factory=dict)

    def get(self, attribute: str) -> str | None:
        return self.values.get(attribute) or None

    def require(self, attribute: str) -> str:
        found = self.get(attribute)
        if found:
            return found
        value = VALUES[attribute]
        ways = [value.flag]
        if value.output or value.parameter:
            ways.append("--stack-name")
        if value.env:
            ways.append(f"${value.env}")
        raise CliError(f"no {value.help}: give {' or '.join(ways)}", EXIT_USAGE)

    def client(self, service: str, *, max_attempts: int = 8) -> Any:
        try:
            return boto3.client(
                service,
                region_name=self.region,
                config=Config(retries={"max_attempts": max_attempts, "mode": "standard"}),
            )
        except NoRegionError:
            raise CliError("no AWS region configured: give --region or set AWS_DEFAULT_REGION", EXIT_USAGE) from None

    @property
    def is_local(self) -> bool:
        return bool(os.environ.get("AWS_ENDPOINT_URL"))


def resolve(args: argparse.Namespace) -> Deployment:
    """Flags, then the stack (if one is named), then the environment."""
    stack_name = getattr(args, "stack_name", None) or os.environ.get("PINSYNC_STACK_NAME") or None
    deployment = Deployment(region=getattr(args, "region", None), stack_name=stack_name)
    outputs: dict[str, str] = {}
    parameters: dict[str, str] = {}
    if stack_name:
        outputs, parameters = _describe_stack(deployment, stack_name)
    for attribute, value in VALUES.items():
        chosen = getattr(args, attribute, None)
        if not chosen and stack_name:
            chosen = (value.output and outputs.get(value.output)) or (
                value.parameter and parameters.get(value.parameter)
            )
            if attribute == "log_group":
                chosen = deployment.stack_resources.get(LOG_GROUP_RESOURCE)
        if not chosen and value.env:
            chosen = os.environ.get(value.env)
        if chosen:
            deployment.values[attribute] = str(chosen)
    return deployment


def _describe_stack(deployment: Deployment, stack_name: str) -> tuple[dict[str, str], dict[str, str]]:
    cloudformation = deployment.client("cloudformation")
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if aws_code(error) == "ValidationError":
            raise CliError(f"stack {stack_name} not found (check --stack-name and --region)", EXIT_USAGE) from None
        raise aws_error(f"cannot describe stack {stack_name}", error) from None
    except (BotoCoreError, NoCredentialsError) as error:
        raise aws_error(f"cannot describe stack {stack_name}", error) from None
    if not stacks:
        raise CliError(f"stack {stack_name} not found", EXIT_USAGE)
    stack = stacks[0]
    outputs = {str(o["OutputKey"]): str(o["OutputValue"]) for o in stack.get("Outputs", [])}
    parameters = {str(p["ParameterKey"]): str(p.get("ParameterValue", "")) for p in stack.get("Parameters", [])}
    try:
        resource = cloudformation.describe_stack_resource(StackName=stack_name, LogicalResourceId=LOG_GROUP_RESOURCE)
        deployment.stack_resources[LOG_GROUP_RESOURCE] = str(resource["StackResourceDetail"]["PhysicalResourceId"])
    except (ClientError, BotoCoreError, KeyError):
        pass  # an older stack without the explicit log group: status falls back to the function's config
    return outputs, parameters


def aws_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "Unknown"))


def aws_error(what: str, error: Exception) -> CliError:
    """An AWS failure as a printable error: the error code or exception type, never a payload."""
    if isinstance(error, NoRegionError):
        return CliError("no AWS region configured: give --region or set AWS_DEFAULT_REGION", EXIT_USAGE)
    if isinstance(error, NoCredentialsError):
        return CliError("no AWS credentials found (configure a profile or AWS_ACCESS_KEY_ID)", EXIT_USAGE)
    if isinstance(error, ClientError):
        message = str(error.response.get("Error", {}).get("Message", "") or "")
        detail = aws_code(error) + (f": {message}" if message and len(message) < 200 else "")
        return CliError(f"{what} ({detail})", EXIT_AWS)
    return CliError(f"{what} ({type(error).__name__})", EXIT_AWS)
