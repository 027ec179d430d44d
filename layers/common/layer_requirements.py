"""Write the layer's lock without the packages the Lambda runtime already ships (``sam build`` runs it).

The Python runtimes of Lambda include boto3 and botocore. A layer that ships its own botocore puts it ahead of the
runtime's on ``sys.path`` while boto3 stays the runtime's: two SDK halves of different versions. botocore comes in
only through ``aws-xray-sdk`` (powertools' tracer), so it is left out, with the packages only it needs.

Usage: ``python layer_requirements.py requirements.txt > requirements-layer.txt``; reads a hashed lock as
``uv pip compile --generate-hashes`` writes it (one ``name==version \\`` line, then indented hashes and comments).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable

RUNTIME_PROVIDED = frozenset({"botocore", "python-dateutil", "six"})
_REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def without(lines: Iterable[str], excluded: frozenset[str] = RUNTIME_PROVIDED) -> list[str]:
    """The lock's lines minus each excluded package's block (its requirement line and the indented lines after)."""
    kept: list[str] = []
    skipping = False
    for line in lines:
        match = _REQUIREMENT.match(line)
        if match is not None:
            skipping = canonical(match.group(1)) in excluded
        elif line and not line[0].isspace():
            skipping = False  # a top-level line that is no requirement (a comment, an option) ends the block
        if not skipping:
            kept.append(line)
    return kept


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as lock:
        sys.stdout.write("".join(without(lock.readlines())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
