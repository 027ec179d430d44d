"""The lock files (*.txt, with hashes) agree with the direct dependencies (*.in) they were compiled from, and the
development environment runs exactly the runtime versions the Lambda layer ships."""

from __future__ import annotations

import re
from pathlib import Path

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
