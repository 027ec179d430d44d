"""The lock files (*.txt, with hashes) agree with the direct dependencies (*.in) they were compiled from, and the
development environment runs exactly the runtime versions the Lambda layer ships."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCKS = {
    "layers/common/requirements.in": "layers/common/requirements.txt",
    "requirements-dev.in": "requirements-dev.txt",
    "requirements-sam.in": "requirements-sam.txt",
    "requirements-tools.in": "requirements-tools.txt",
}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def direct_pins(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("-r "):
            pins |= direct_pins(path.parent / line.removeprefix("-r ").strip())
        elif match := PIN.match(line):
            pins[canonical(match.group(1))] = match.group(2)
    return pins


def locked(path: Path) -> dict[str, tuple[str, int]]:
    """name → (version, number of hashes) of every package of a lock file."""
    found: dict[str, tuple[str, int]] = {}
    current = None
    for line in path.read_text().splitlines():
        if match := PIN.match(line):
            current = canonical(match.group(1))
            found[current] = (match.group(2), 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, hashes = found[current]
            found[current] = (version, hashes + 1)
    return found


@pytest.mark.parametrize(("source", "lock"), LOCKS.items())
def test_every_direct_dependency_is_locked_at_its_pinned_version_with_hashes(source: str, lock: str) -> None:
    pins = direct_pins(ROOT / source)
    packages = locked(ROOT / lock)
    assert pins, f"{source} pins nothing"
    assert {name: packages.get(name, ("missing", 0))[0] for name in pins} == pins, f"run `make lock` ({lock})"
    assert all(hashes > 0 for _, hashes in packages.values()), f"{lock}: a package without hashes"


def test_development_runs_the_runtime_versions_the_layer_ships() -> None:
    layer = locked(ROOT / "layers/common/requirements.txt")
    development = locked(ROOT / "requirements-dev.txt")
    assert {name: development.get(name, ("missing", 0))[0] for name in layer} == {
        name: version for name, (version, _) in layer.items()
    }


def _layer_requirements() -> ModuleType:
    spec = importlib.util.spec_from_file_location("layer_requirements", ROOT / "layers/common/layer_requirements.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_layer_ships_the_lock_minus_the_sdk_the_runtime_provides(tmp_path: Path) -> None:
    layer_requirements = _layer_requirements()
    lock = ROOT / "layers/common/requirements.txt"
    kept = tmp_path / "requirements-layer.txt"
    kept.write_text("".join(layer_requirements.without(lock.read_text().splitlines(keepends=True))))
    full, shipped = locked(lock), locked(kept)
    assert set(full) - set(shipped) == {"botocore", "python-dateutil", "six"}
    assert all(shipped[name] == full[name] for name in shipped)  # same versions, same number of hashes
    hashes = {line.strip() for line in kept.read_text().splitlines() if line.strip().startswith("--hash=")}
    assert hashes <= {line.strip() for line in lock.read_text().splitlines()}


def test_what_the_layer_leaves_out_is_needed_by_nothing_else_it_ships() -> None:
    # uv writes, under each package, the packages that pull it in ("# via"): only the SDK chain may need them.
    lock = (ROOT / "layers/common/requirements.txt").read_text()
    blocks = re.split(r"\n(?=\S)", lock)
    needed_by: dict[str, set[str]] = {}
    for block in blocks:
        if match := PIN.match(block):
            parents = re.findall(r"#\s+(?:via\s+)?([A-Za-z0-9][\w.-]*)\s*$", block, re.M)
            needed_by[canonical(match.group(1))] = set(parents)
    left_out = {"botocore", "python-dateutil", "six"}
    for name in left_out:
        assert {canonical(parent) for parent in needed_by[name]} - {"via"} <= left_out | {"aws-xray-sdk"}, name
