"""Benchmark 4 — cold start: import time of each handler module versus its third-party dependencies alone.

For each function, a fresh interpreter imports ``functions/<name>/app.py`` the way Lambda does (by file) and reports
the time and which third-party modules got imported; then fresh interpreters import exactly those third-party
modules, in the same order, and nothing of pinsync. Alternating, several repetitions, medians. pinsync's own cost
is the difference. Target: at most +25% over the dependencies alone. Environment as in Lambda (Powertools
variables set, tracing on as the template has it).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess  # nosec B404 - runs this interpreter on fixed code
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ("audience_sync", "token_rotation", "dataflow_alerts")
REPEATS = 7

_HANDLER = """
import importlib.util, json, sys, time
before = set(sys.modules)
started = time.perf_counter()
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
elapsed = time.perf_counter() - started
stdlib = set(sys.stdlib_module_names)
third = [m for m in sys.modules if m not in before and m.split(".")[0] not in stdlib
         and m.split(".")[0] not in ("pinsync", "app", "_distutils_hack")]
print(json.dumps({"seconds": elapsed, "third_party": third}))
"""

_DEPENDENCIES = """
import importlib, json, sys, time
names = json.loads(sys.stdin.read())
started = time.perf_counter()
for name in names:
    try:
        importlib.import_module(name)
    except Exception:
        pass
print(json.dumps({"seconds": time.perf_counter() - started}))
"""


def _environment() -> dict[str, str]:
    environment = dict(os.environ)
    environment.update(
        {
            "PYTHONPATH": str(REPO_ROOT / "layers" / "common"),
            "POWERTOOLS_SERVICE_NAME": "pinsync",
            "POWERTOOLS_METRICS_NAMESPACE": "Pinsync",
            "AWS_DEFAULT_REGION": "us-east-1",
            "PYTHONDONTWRITEBYTECODE": "0",
        }
    )
    return environment


def _python(code: str, *args: str, stdin: str | None = None) -> dict[str, Any]:
    result = subprocess.run(  # noqa: S603  # nosec B603
        [sys.executable, "-c", code, *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        env=_environment(),
        cwd=REPO_ROOT,
        timeout=120,
    )
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


def measure(function: str, repeats: int = REPEATS) -> dict[str, Any]:
    app = str(REPO_ROOT / "functions" / function / "app.py")
    _python(_HANDLER, app)  # warm the bytecode caches, as a deployed package has them
    handler_times: list[float] = []
    dependency_times: list[float] = []
    third_party: list[str] = []
    for _ in range(repeats):
        measured = _python(_HANDLER, app)
        handler_times.append(measured["seconds"])
        third_party = measured["third_party"]
        dependency_times.append(_python(_DEPENDENCIES, stdin=json.dumps(third_party))["seconds"])
    handler = statistics.median(handler_times)
    dependencies = statistics.median(dependency_times)
    overhead = handler / dependencies - 1
    return {
        "function": function,
        "handler_import_ms": round(handler * 1000, 1),
        "dependencies_alone_ms": round(dependencies * 1000, 1),
        "pinsync_ms": round((handler - dependencies) * 1000, 1),
        "overhead_percent": round(overhead * 100, 1),
        "third_party_top_level": sorted(
            {name.split(".")[0] for name in third_party if not name.startswith("_") and name != "cython_runtime"}
        ),
        "meets_target": overhead <= 0.25,
    }


def run() -> dict[str, Any]:
    functions = [f for f in FUNCTIONS if (REPO_ROOT / "functions" / f / "app.py").exists()]
    return {"repeats": REPEATS, "results": [measure(function) for function in functions], "target": "<= +25%"}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
