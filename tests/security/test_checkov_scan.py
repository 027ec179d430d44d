"""The checkov driver has teeth: suppressions are per resource, each with a reason, and a new problem is reported."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tests.infra.sam_translate import TEMPLATE_PATH, load_template, translate_template
from tests.security import checkov_scan

CHECKOV = Path(checkov_scan.REPO_ROOT / ".venv-tools" / "bin" / "checkov")


def test_every_suppression_has_a_reason_and_names_resources_of_the_template() -> None:
    suppressions = checkov_scan.load_suppressions()
    sam = load_template(TEMPLATE_PATH)
    translated = translate_template(sam, parameter_values=checkov_scan.PARAMETERS)
    known = set(sam["Resources"]) | set(translated["Resources"])
    for check_id, entry in suppressions.items():
        assert len(" ".join(entry["reason"].split())) > 60, f"{check_id}: say why, in a sentence or two"
        assert set(entry["resources"]) <= known, f"{check_id} names resources the template does not have"


def test_suppressions_are_injected_per_resource_only() -> None:
    template = {"Resources": {"A": {"Type": "AWS::SQS::Queue"}, "B": {"Type": "AWS::SQS::Queue"}}}
    suppressed = checkov_scan.with_suppressions(template, {"CKV_AWS_27": {"reason": "why", "resources": ["A"]}})
    assert suppressed["Resources"]["A"]["Metadata"]["checkov"]["skip"] == [{"id": "CKV_AWS_27", "comment": "why"}]
    assert "Metadata" not in suppressed["Resources"]["B"]
    assert "Metadata" not in template["Resources"]["A"]  # the input is not modified


def test_unsuppressed_findings_and_stale_suppressions_are_both_reported() -> None:
    reports = [
        {
            "results": {
                "failed_checks": [
                    {
                        "check_id": "CKV_AWS_27",
                        "check_name": "SQS encrypted",
                        "resource": "AWS::SQS::Queue.New",
                        "file_path": "/x/template.sam.json",
                    }
                ],
                "skipped_checks": [{"check_id": "CKV_AWS_27", "resource": "AWS::SQS::Queue.Old"}],
            }
        }
    ]
    suppressions = {
        "CKV_AWS_27": {"reason": "r", "resources": ["Old"]},
        "CKV_AWS_117": {"reason": "r", "resources": ["Gone"]},
    }
    findings, stale = checkov_scan.evaluate(reports, suppressions)
    assert findings == ["CKV_AWS_27 SQS encrypted: AWS::SQS::Queue.New (template.sam.json)"]
    assert stale == ["CKV_AWS_117 on Gone"]


@pytest.mark.skipif(not CHECKOV.exists(), reason="checkov is installed by `make security` into .venv-tools")
def test_checkov_reports_a_queue_added_without_encryption(tmp_path: Path) -> None:
    # Given the real template plus one new queue that has no encryption at all
    template = copy.deepcopy(load_template(TEMPLATE_PATH))
    template["Resources"]["UnencryptedQueue"] = {
        "Type": "AWS::SQS::Queue",
        "Properties": {"SqsManagedSseEnabled": False},
    }
    path = tmp_path / "template.json"
    path.write_text(json.dumps(checkov_scan.with_suppressions(template, checkov_scan.load_suppressions())))
    # When it is scanned with the project's suppressions
    findings, _ = checkov_scan.evaluate(
        checkov_scan.run_checkov(str(CHECKOV), [path]), checkov_scan.load_suppressions()
    )
    # Then the new queue is reported, and only it
    assert findings and all(".UnencryptedQueue " in finding for finding in findings)


def test_every_ingest_door_mode_is_scanned() -> None:
    # checkov drops resources whose condition is false for the defaults, and the door is off by default.
    sam = load_template(TEMPLATE_PATH)
    allowed = set(sam["Parameters"]["IngestAuthentication"]["AllowedValues"])
    assert set(checkov_scan.INGEST_MODES.values()) == allowed - {sam["Parameters"]["IngestAuthentication"]["Default"]}
    door = checkov_scan.with_default(sam, "IngestAuthentication", "BearerToken")
    assert door["Parameters"]["IngestAuthentication"]["Default"] == "BearerToken"
    assert sam["Parameters"]["IngestAuthentication"]["Default"] == "Disabled"  # the input is not modified
