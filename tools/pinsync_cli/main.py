"""`pinsync`: the operator's and producer's command line.

Works against a deployed stack (`--stack-name`: its CloudFormation outputs and parameters, or explicit
ARNs/URLs) and against the local stack (`AWS_ENDPOINT_URL`; see `pinsync local up`).

Exit codes: 0 ok; 1 partial failure (rows rejected, messages not sent or not moved); 2 usage or configuration
error; 3 a remote service (Pinterest) refused; 4 AWS error; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from botocore.exceptions import BotoCoreError, ClientError

from pinsync_cli import audiences, forget, reconcile, redrive, send, status
from pinsync_cli.stack import EXIT_AWS, CliError, aws_error

EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pinsync", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    send.register(commands)
    audiences.register(commands)
    status.register(commands)
    redrive.register(commands)
    reconcile.register(commands)
    forget.register(commands)
    _register_connect(commands)
    _register_local(commands)
    return parser


def _register_local(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`pinsync local ...`: the local stack is development tooling (it needs moto), imported only when present."""
    try:
        from local_stack import cli
    except ImportError:  # pragma: no cover - installed with the project, absent from a bare CLI install
        return
    cli.register(commands)


def _register_connect(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    try:
        from pinsync_cli import connect
    except ImportError:  # pragma: no cover - the module ships with the CLI
        return
    connect.register(commands)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = " ".join(filter(None, [args.command, getattr(args, "local_command", None)]))
    try:
        result: int = args.func(args)
    except CliError as error:
        print(f"pinsync {command}: {error}", file=sys.stderr)
        return error.exit_code
    except (ClientError, BotoCoreError) as error:
        failure = aws_error("AWS error", error)
        print(f"pinsync {command}: {failure}", file=sys.stderr)
        return failure.exit_code if failure.exit_code else EXIT_AWS
    except KeyboardInterrupt:
        print(f"pinsync {command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return result


if __name__ == "__main__":
    sys.exit(main())
