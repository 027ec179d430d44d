"""`pinsync local ...`: `up` keeps the local stack running for producers and the CLI, `demo` is what `make demo` runs."""

from __future__ import annotations

import argparse
from typing import Any

from local_stack import up


def _demo(args: argparse.Namespace) -> int:
    from local_stack.demo import run_demo

    run_demo()
    return 0


def register(commands: Any) -> None:
    local = commands.add_parser(
        "local",
        help="the local stack (moto server + Pinterest emulator + SQS poller)",
        description="The local stack: `up` keeps it running for producers and the CLI, `demo` is what `make demo` runs.",
    )
    local_commands = local.add_subparsers(dest="local_command", required=True, metavar="COMMAND")
    up.register(local_commands)
    demo = local_commands.add_parser(
        "demo",
        help="run the sample profiles through the pipeline and print a summary",
        description="Start the local stack, send the sample profiles, process them and print a dataflow summary.",
    )
    demo.set_defaults(func=_demo)
