"""``pinsync``: the operator's command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _demo(args: argparse.Namespace) -> int:
    from pinsync_cli.demo import run_demo

    run_demo()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pinsync", description="Operate a pinsync deployment or its local stack.")
    commands = parser.add_subparsers(dest="command", required=True)
    local = commands.add_parser("local", help="the local stack (moto server + Pinterest emulator + SQS poller)")
    local_commands = local.add_subparsers(dest="local_command", required=True)
    demo = local_commands.add_parser("demo", help="run the sample profiles through the pipeline and print a summary")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
