"""Dependency audit: pip-audit over the layer's and the development requirements, with an honest summary.

pip-audit exits 0 and prints "No known vulnerabilities found" even when it could not look a package up (it lists
those as skipped). This wrapper fails on any known vulnerability, and says loudly how many packages went
unaudited. Where the vulnerability service cannot be reached at all (a sandbox whose registry mirror serves
package pages but not PyPI's per-version JSON API), the run is reported as NOT AUDITED; set
``PINSYNC_STRICT_AUDIT=1`` (e.g. on a CI runner with full PyPI access) to make unaudited packages fail too.

Usage: .venv-tools/bin/python tests/security/dependency_audit.py -r layers/common/requirements.txt -r requirements-dev.txt
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess  # nosec B404 - runs pip-audit, a fixed program
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-r", "--requirement", action="append", required=True)
    parser.add_argument("--pip-audit", default=str(Path(sys.executable).with_name("pip-audit")))
    args = parser.parse_args(argv)
    command = [args.pip_audit, "--format", "json", "--progress-spinner", "off"]
    for requirement in args.requirement:
        command += ["-r", requirement]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)  # noqa: S603  # nosec B603
    try:
        report = json.loads(result.stdout)
    except ValueError:
        print(f"pip-audit failed (exit {result.returncode}): {result.stderr[-2000:]}")
        return 2
    dependencies = report.get("dependencies", [])
    vulnerable = [d for d in dependencies if d.get("vulns")]
    skipped = [d for d in dependencies if d.get("skip_reason")]
    audited = len(dependencies) - len(skipped)
    print(f"pip-audit: {len(dependencies)} packages resolved, {audited} audited, {len(skipped)} not audited")
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions", [])) or "no fix yet"
            print(f"  VULNERABLE {dependency['name']} {dependency['version']}: {vuln['id']} (fixed in {fixes})")
    if skipped:
        print(
            f"  WARNING: {len(skipped)} packages could not be audited "
            f"(first reason: {skipped[0]['skip_reason']}). The vulnerability service was not reachable for them: "
            "treat this run as NOT AUDITED for those packages."
        )
    if vulnerable:
        return 1
    if skipped and os.environ.get("PINSYNC_STRICT_AUDIT") == "1":
        print("  PINSYNC_STRICT_AUDIT=1: unaudited packages fail the audit")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
