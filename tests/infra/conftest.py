"""Shared fixtures of the infrastructure tests: the SAM template as written, and as CloudFormation after the SAM
transform. Both are session-scoped and shared: tests must not mutate them (deep-copy first)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

_REPO_ROOT = str(Path(__file__).resolve().parents[2])
if _REPO_ROOT not in sys.path:  # `tests.infra.*` imports need the repository root, whichever way pytest was started
    sys.path.insert(0, _REPO_ROOT)

from tests.infra.sam_translate import TEMPLATE_PATH, load_template, translate_template  # noqa: E402


@pytest.fixture(scope="session")
def sam_template() -> dict[str, Any]:
    """template.yaml parsed; short-form intrinsics are plain dicts ({"Ref": ...}, {"Fn::GetAtt": [...]})."""
    return load_template(TEMPLATE_PATH)


@pytest.fixture(scope="session")
def cfn_template(sam_template: dict[str, Any]) -> dict[str, Any]:
    """template.yaml after the SAM transform: what CloudFormation actually deploys."""
    return translate_template(sam_template)
