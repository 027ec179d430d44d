"""Where the repository's own files are, for tooling that runs from a checkout."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = REPO_ROOT / "functions"
EVENTS = REPO_ROOT / "events"
