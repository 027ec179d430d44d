"""Translate the SAM template to plain CloudFormation, offline (no AWS credentials, no network).

cfn-lint (>= 1.54) checks ``AWS::Serverless::*`` resources against SAM schemas only; rules such as E3505 (queue
visibility timeout vs function timeout) or E3030 (FunctionResponseTypes values) fire only on the resources SAM
generates. So the infra tests lint the translated template as well.

Local ``CodeUri`` / ``ContentUri`` paths are legal only before ``sam package``; the translator rejects them, so they
are swapped for an S3 placeholder first (what ``sam validate`` does too).

Usage::

    python tests/infra/sam_translate.py template.yaml > out.json
    python tests/infra/sam_translate.py template.yaml --region eu-west-1 -p AdAccountId=123 > out.json
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

import boto3
from samtranslator.metrics.metrics import DummyMetricsPublisher, Metrics
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"
DEFAULT_REGION = "us-east-1"
PLACEHOLDER_BUCKET = "pinsync-placeholder"

# resource type -> the property that may hold a local path before packaging
_LOCAL_ARTIFACT_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::Api": "DefinitionUri",
    "AWS::Serverless::HttpApi": "DefinitionUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
}


def load_template(template_path: str | Path) -> dict[str, Any]:
    """Parse a SAM/CloudFormation YAML or JSON template; short-form intrinsics (!Ref, !GetAtt...) become dicts."""
    parsed = yaml_parse(Path(template_path).read_text(encoding="utf-8"))
    if not isinstance(parsed, dict):
        raise ValueError(f"{template_path} is not a template (top level is not a mapping)")
    return parsed


def _is_local_path(value: Any) -> bool:
    return isinstance(value, str) and not value.startswith("s3://")


def with_placeholder_artifacts(template: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of the template whose local artifact paths point to a placeholder S3 object instead."""
    result = copy.deepcopy(template)
    global_function = result.get("Globals", {}).get("Function", {})
    if _is_local_path(global_function.get("CodeUri")):
        global_function["CodeUri"] = f"s3://{PLACEHOLDER_BUCKET}/globals.zip"
    for logical_id, resource in result.get("Resources", {}).items():
        prop = _LOCAL_ARTIFACT_PROPERTIES.get(resource.get("Type", ""))
        properties = resource.get("Properties", {})
        if prop and _is_local_path(properties.get(prop)):
            suffix = "zip" if prop in ("CodeUri", "ContentUri") else "json"
            properties[prop] = f"s3://{PLACEHOLDER_BUCKET}/{logical_id}.{suffix}"
    return result


def translate_template(
    template: dict[str, Any],
    parameter_values: dict[str, Any] | None = None,
    region: str = DEFAULT_REGION,
) -> dict[str, Any]:
    """Translate a parsed SAM template (not modified) to CloudFormation."""
    # The region feeds the AWS::Region / AWS::Partition pseudo-parameters; AWS managed policy names (if any) are
    # resolved from the map bundled with samtranslator, so no IAM call is made.
    metrics = Metrics("ServerlessTransform", DummyMetricsPublisher())
    translator = Translator(
        managed_policy_map=None,
        sam_parser=Parser(),
        boto_session=boto3.session.Session(region_name=region),
        metrics=metrics,
    )
    translated: dict[str, Any] = translator.translate(
        with_placeholder_artifacts(template),
        parameter_values=dict(parameter_values or {}),
    )
    metrics.publish()  # to the dummy publisher; otherwise samtranslator warns about unpublished metrics at exit
    return translated


def translate(
    template_path: str | Path,
    parameter_values: dict[str, Any] | None = None,
    region: str = DEFAULT_REGION,
) -> dict[str, Any]:
    """Translate the SAM template at ``template_path`` to a plain CloudFormation template (a dict)."""
    return translate_template(load_template(template_path), parameter_values, region)


def _parse_parameter(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected Name=Value, got {text!r}")
    return name, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Translate a SAM template to CloudFormation JSON (offline).")
    parser.add_argument("template", type=Path, help="path to the SAM template (template.yaml)")
    parser.add_argument("--region", default=DEFAULT_REGION, help=f"region for pseudo-parameters ({DEFAULT_REGION})")
    parser.add_argument(
        "-p", "--parameter", action="append", default=[], type=_parse_parameter, help="parameter value Name=Value"
    )
    args = parser.parse_args(argv)
    translated = translate(args.template, dict(args.parameter), args.region)
    json.dump(translated, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
