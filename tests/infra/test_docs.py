"""The documentation says what the code does: every reason the code can report is in docs/reasons.md, and no file
points at documents a reader of the repository cannot see."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from pinsync.events import (
    PINTEREST_EXCLUSION_PREFIX,
    ExclusionReason,
    FailureReason,
    RejectionReason,
    RotationFailure,
    SkipReason,
)

ROOT = Path(__file__).resolve().parents[2]


def test_every_reason_is_in_the_reason_table() -> None:
    table = (ROOT / "docs" / "reasons.md").read_text()
    reasons = [*RejectionReason, *ExclusionReason, *SkipReason, *FailureReason, *RotationFailure]
    missing = [reason.value for reason in reasons if f"| `{reason.value}` |" not in table]
    assert missing == []
    assert f"`{PINTEREST_EXCLUSION_PREFIX}<code>`" in table


def test_every_alarm_is_in_the_operations_alarm_table() -> None:
    from pinsync.alerts.alarms import ALARM_PURPOSES, DIRECT_ALARM_PURPOSES

    text = (ROOT / "docs" / "operations.md").read_text()
    table = text.split("## Alarms", 1)[1].split("\n## ", 1)[0]
    first_cells = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    listed = [name for cell in first_cells for name in re.findall(r"`([a-z-]+)`", cell)]
    assert sorted(listed) == sorted(set(ALARM_PURPOSES) | DIRECT_ALARM_PURPOSES)


def test_links_between_documents_resolve() -> None:
    for document in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        text = document.read_text()
        for target in [part.split(")")[0] for part in text.split("](")[1:]]:
            if target.startswith(("http://", "https://", "#")):
                continue
            assert (document.parent / target.split("#")[0]).exists(), f"{document.name} links to missing {target}"


def test_paths_the_documents_name_exist() -> None:
    """A path of the repository written as code (`events/aep/`) must exist, like a link's target."""
    pattern = re.compile(r"`((?:bench|docs|events|functions|layers|scripts|tests|tools)/[^`\s<>*]*)`")
    missing = [
        f"{document.name}: {path}"
        for document in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
        for path in pattern.findall(document.read_text())
        if not (ROOT / path).exists()
    ]
    assert missing == []


def test_nothing_points_outside_the_repository() -> None:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()  # noqa: S607
    offenders = [
        name
        for name in files
        if not name.endswith((".json", ".lock"))
        and name != "tests/infra/test_docs.py"
        and (ROOT / name).is_file()
        and any(marker in (ROOT / name).read_text(errors="ignore") for marker in ("../shared/", "shared/notes/"))
    ]
    assert offenders == []
