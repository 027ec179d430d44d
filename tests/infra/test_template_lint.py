"""Two-stage lint: cfn-lint on the SAM template, then on the template translated by the SAM transform.

Since cfn-lint 1.54 the first stage checks AWS::Serverless::* resources against SAM schemas only, so rules about the
generated resources (event source mapping, function) fire only in the second stage.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from typing import Any

from cfnlint.api import lint, lint_file
from cfnlint.config import ManualArgs

from tests.infra.sam_translate import REPO_ROOT, TEMPLATE_PATH, translate_template

LINT_REGIONS = ["us-east-1", "eu-west-1"]


def _describe(matches: list[Any]) -> list[str]:
    return [f"{m.rule.id} {m.filename}:{m.linenumber} {m.message}" for m in matches]


def _lint_cloudformation(template: dict[str, Any]) -> list[Any]:
    matches: list[Any] = lint(json.dumps(template), config=ManualArgs(regions=LINT_REGIONS))
    return matches


def test_sam_template_has_no_lint_errors_or_warnings() -> None:
    matches = lint_file(TEMPLATE_PATH, config=ManualArgs(regions=LINT_REGIONS))

    assert _describe(matches) == []


def test_translated_template_has_no_lint_errors_or_warnings(cfn_template: dict[str, Any]) -> None:
    assert _describe(_lint_cloudformation(cfn_template)) == []


def test_translated_lint_catches_event_source_mistakes_the_sam_stage_misses(sam_template: dict[str, Any]) -> None:
    # Given the template with three classic SQS-trigger mistakes
    broken = copy.deepcopy(sam_template)
    broken["Resources"]["AudienceQueue"]["Properties"]["VisibilityTimeout"] = 10
    sqs_event = broken["Resources"]["AudienceSyncFunction"]["Properties"]["Events"]["AudienceUpdates"]["Properties"]
    sqs_event["FunctionResponseTypes"] = ["ReportBatchItemFailure"]
    sqs_event["ScalingConfig"]["MaximumConcurrency"] = 1

    # When the translated template is linted
    rule_ids = {m.rule.id for m in _lint_cloudformation(translate_template(broken))}

    # Then each mistake is reported (so the clean result above means something)
    assert {"E3505", "E3030", "E3034"} <= rule_ids


def test_translation_helper_runs_as_a_script() -> None:
    result = subprocess.run(
        [sys.executable, "tests/infra/sam_translate.py", "template.yaml", "-p", "AdAccountId=123"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    translated = json.loads(result.stdout)
    assert "Transform" not in translated
    assert not [r for r in translated["Resources"].values() if r["Type"].startswith("AWS::Serverless::")]
