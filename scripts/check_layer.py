"""Check the built CommonLayer (``make template`` runs it after ``sam build``) and print its size.

The layer must not ship an AWS SDK: the Lambda runtime's boto3 would then run on the layer's botocore, two halves of
different versions. It must hold the pinsync package, and stay well under Lambda's 250 MB (unzipped, function and
layers together).
"""

from __future__ import annotations

import sys
from pathlib import Path

FORBIDDEN = ("boto3", "botocore", "s3transfer")
LIMIT_BYTES = 50 * 1024 * 1024  # a fifth of Lambda's 250 MB for everything unzipped


def size(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def problems(layer: Path) -> list[str]:
    python = layer / "python"
    found = [f"ships {name}" for name in FORBIDDEN if (python / name).exists()]
    if not (python / "pinsync" / "__init__.py").is_file():
        found.append("has no pinsync package")
    if size(layer) > LIMIT_BYTES:
        found.append(f"is larger than {LIMIT_BYTES // 2**20} MiB")
    return found


def main(argv: list[str]) -> int:
    layer = Path(argv[1]) if len(argv) > 1 else Path(".aws-sam/build/CommonLayer")
    if not layer.is_dir():
        print(f"check_layer: {layer} does not exist: run sam build first", file=sys.stderr)
        return 2
    print(f"CommonLayer: {size(layer) / 2**20:.1f} MiB unzipped")
    found = problems(layer)
    for problem in found:
        print(f"check_layer: the layer {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
