"""Static security scan of the template with checkov: template.yaml as written, and after the SAM transform.

checkov lives in its own virtualenv (``.venv-tools``, see requirements-tools.txt) because it pins dependencies that
conflict with the project's; this driver runs in the project's ``.venv`` (it needs samtranslator to translate) and
calls checkov as a program.

Suppressions live in ``tests/security/checkov_suppressions.yaml``, one reason per check and the resources it
covers. They are injected as ``Metadata.checkov.skip`` into copies of the template under ``.local/security/``, so
template.yaml carries none, each suppression is per resource (a new resource with the same problem is reported),
and checkov prints the reason next to each skipped check. The scan fails on any finding that is not suppressed,
and on any suppression that no longer matches a finding (so the list cannot rot).

Usage: python tests/security/checkov_scan.py [--checkov .venv-tools/bin/checkov]
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess  # nosec B404 - runs checkov, a fixed program with fixed arguments
import sys
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.infra.sam_translate import TEMPLATE_PATH, load_template, translate_template  # noqa: E402

SUPPRESSIONS = Path(__file__).with_name("checkov_suppressions.yaml")
OUT_DIR = REPO_ROOT / ".local" / "security"
CONFIG = REPO_ROOT / ".checkov.yaml"
# Values for the required parameters, so the transform can run (they do not change what checkov sees).
PARAMETERS = {"AdAccountId": "549755885175", "DestinationName": "pinsync"}
# checkov drops resources whose Condition is false for the parameters' defaults, and the ingest door is off by
# default: each door mode is scanned too, from a copy whose IngestAuthentication default is that mode.
INGEST_MODES = {"bearer": "BearerToken", "oauth": "OAuth2ClientCredentials"}


def with_default(template: dict[str, Any], parameter: str, value: str) -> dict[str, Any]:
    result = copy.deepcopy(template)
    result["Parameters"][parameter]["Default"] = value
    return result


def load_suppressions(path: Path = SUPPRESSIONS) -> dict[str, dict[str, Any]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for check_id, entry in data.items():
        if not str(entry.get("reason", "")).strip() or not entry.get("resources"):
            raise ValueError(f"suppression {check_id} needs a reason and at least one resource")
    return dict(data)


def with_suppressions(template: dict[str, Any], suppressions: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A copy of the template whose listed resources carry ``Metadata.checkov.skip`` entries."""
    result = copy.deepcopy(template)
    resources = result.get("Resources", {})
    for check_id, entry in suppressions.items():
        for logical_id in entry["resources"]:
            if logical_id not in resources:
                continue
            skips = resources[logical_id].setdefault("Metadata", {}).setdefault("checkov", {}).setdefault("skip", [])
            skips.append({"id": check_id, "comment": " ".join(str(entry["reason"]).split())})
    return result


def write_scan_inputs(suppressions: dict[str, dict[str, Any]]) -> list[Path]:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    sam = load_template(TEMPLATE_PATH)
    inputs = {
        "template.sam.json": sam,
        "template.translated.json": translate_template(sam, parameter_values=PARAMETERS),
    }
    for suffix, mode in INGEST_MODES.items():
        door = with_default(sam, "IngestAuthentication", mode)
        inputs[f"template.sam.{suffix}.json"] = door
        inputs[f"template.translated.{suffix}.json"] = translate_template(door, parameter_values=PARAMETERS)
    paths = []
    for name, template in inputs.items():
        path = OUT_DIR / name
        path.write_text(json.dumps(with_suppressions(template, suppressions), indent=1), encoding="utf-8")
        paths.append(path)
    return paths


def run_checkov(checkov: str, paths: list[Path]) -> list[dict[str, Any]]:
    command = [checkov, "--config-file", str(CONFIG), "-o", "json"]
    for path in paths:
        command += ["-f", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)  # noqa: S603  # nosec B603
    if result.returncode not in (0, 1) or not result.stdout.strip():
        raise RuntimeError(f"checkov failed to run (exit {result.returncode}): {result.stderr[-2000:]}")
    reports = json.loads(result.stdout)
    return reports if isinstance(reports, list) else [reports]


def evaluate(reports: list[dict[str, Any]], suppressions: dict[str, dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(unsuppressed findings, stale suppressions)."""
    findings: list[str] = []
    used: set[tuple[str, str]] = set()
    for report in reports:
        results = report.get("results", {})
        for failed in results.get("failed_checks", []):
            findings.append(
                f"{failed['check_id']} {failed['check_name']}: {failed['resource']} ({Path(failed['file_path']).name})"
            )
        for skipped in results.get("skipped_checks", []):
            used.add((skipped["check_id"], skipped["resource"].rsplit(".", 1)[-1]))
    stale = [
        f"{check_id} on {logical_id}"
        for check_id, entry in suppressions.items()
        for logical_id in entry["resources"]
        if (check_id, logical_id) not in used
    ]
    return findings, stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkov", default=str(REPO_ROOT / ".venv-tools" / "bin" / "checkov"))
    args = parser.parse_args(argv)
    suppressions = load_suppressions()
    reports = run_checkov(args.checkov, write_scan_inputs(suppressions))
    findings, stale = evaluate(reports, suppressions)
    for report in reports:
        summary = report.get("summary", {})
        print(
            f"checkov {summary.get('checkov_version', '?')}: {summary.get('passed', 0)} passed, "
            f"{summary.get('failed', 0)} failed, {summary.get('skipped', 0)} suppressed with a reason "
            f"({summary.get('resource_count', 0)} resources)"
        )
    for check_id, entry in suppressions.items():
        print(f"  suppressed {check_id} on {', '.join(entry['resources'])}")
    if findings:
        print("Unsuppressed checkov findings (fix them, or justify them in tests/security/checkov_suppressions.yaml):")
        print("\n".join(f"  {finding}" for finding in sorted(set(findings))))
    if stale:
        print("Suppressions that no longer match a finding (remove them):")
        print("\n".join(f"  {entry}" for entry in stale))
    return 1 if findings or stale else 0


if __name__ == "__main__":
    sys.exit(main())
