"""`pinsync local up`: the local stack of `make demo`, kept running.

Starts moto server (SQS, DynamoDB, Secrets Manager, EventBridge) and the Pinterest emulator, creates the resources
the template creates, serves the ingest door (the stand-in for the API Gateway front door, on `--ingest-port`),
prints the environment to export so that a producer or the CLI can be pointed at it (the door's URL and its
throwaway credentials included), then runs the SQS poller (the stand-in for Lambda's event source mapping) with the
real sync handler in the foreground. Ctrl-C or SIGTERM stops everything cleanly (exit 0). The function's JSON logs
go to `--log-file`, the door's access log to `--ingest-access-log`.

Then, in another shell::

    eval "$(cat .local/env)"          # or copy the printed export lines
    pinsync send members.csv --audience my-audience
    curl -X POST "$PINSYNC_INGEST_URL" -H "Authorization: Bearer $PINSYNC_INGEST_TOKEN" \\
        -H 'Content-Type: application/json' -d @events/profiles/wave-1/01-spring-sale-email-and-gaid.json
    pinsync audiences --min-matched 1
    pinsync status
"""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import socket
import sys
import threading
import time
from contextlib import redirect_stdout, suppress
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from pinsync_cli.stack import EXIT_OK, EXIT_USAGE, CliError

DEFAULT_MOTO_PORT = 4567
DEFAULT_EMULATOR_PORT = 8700
DEFAULT_INGEST_PORT = 8701
REPORT_EVERY_SECONDS = 5.0


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "up",
        help="start the local stack, print the environment to export, process the queue until Ctrl-C",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--moto-port",
        type=int,
        default=DEFAULT_MOTO_PORT,
        help="moto server port (0: any free port; default %(default)s)",
    )
    parser.add_argument(
        "--emulator-port",
        type=int,
        default=DEFAULT_EMULATOR_PORT,
        help="Pinterest emulator port (0: any free port; default %(default)s)",
    )
    parser.add_argument(
        "--ingest-auth",
        choices=("bearer", "oauth2", "disabled"),
        default="bearer",
        help="how producers authenticate to the ingest door: a bearer token, OAuth 2 client credentials, "
        "or no door (default %(default)s)",
    )
    parser.add_argument(
        "--ingest-port",
        type=int,
        default=DEFAULT_INGEST_PORT,
        help="ingest door port (0: any free port; default %(default)s)",
    )
    parser.add_argument(
        "--ingest-rate", type=float, default=1000.0, help="door throttling: requests per second (default 1000)"
    )
    parser.add_argument("--ingest-burst", type=int, default=2000, help="door throttling: burst (default 2000)")
    parser.add_argument(
        "--ingest-access-log",
        default=".local/ingest-access.log",
        help="the door's access log, one JSON line per request (default %(default)s)",
    )
    parser.add_argument(
        "--activated-audiences", default="*", help="ACTIVATED_AUDIENCES of the function (default %(default)s)"
    )
    parser.add_argument("--max-receive-count", type=int, default=3, help="deliveries before the DLQ (default 3)")
    parser.add_argument("--visibility-timeout", type=int, default=5, help="queue visibility timeout (default 5 s)")
    parser.add_argument("--batch-size", type=int, default=10, help="messages per invocation (default 10)")
    parser.add_argument(
        "--min-matched", type=int, help="members the emulator needs for READY (Pinterest: 100, the default)"
    )
    parser.add_argument(
        "--env-file", default=".local/env", help="also write the export lines here (default %(default)s)"
    )
    parser.add_argument("--log-file", default=".local/local.log", help="function logs (default %(default)s)")
    parser.set_defaults(func=run)
    return parser


class _Stop:
    """Set by Ctrl-C or SIGTERM; the poll loop checks it between batches."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name = ""

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.signal_name = signal.Signals(signum).name
        self.event.set()


def run(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    door = args.ingest_auth != "disabled"
    for name in ("moto_port", "emulator_port", "ingest_port"):
        if not 0 <= getattr(args, name) <= 65535:
            raise CliError(f"--{name.replace('_', '-')} must be a port number", EXIT_USAGE)
    ports = [("--moto-port", args.moto_port), ("--emulator-port", args.emulator_port)]
    ports += [("--ingest-port", args.ingest_port)] if door else []
    for index, (flag, port) in enumerate(ports):
        if port and not _port_free(port):
            raise CliError(f"port {port} is in use: pick another with {flag} (0: any free port)", EXIT_USAGE)
        same = [other for other, other_port in ports[:index] if port and other_port == port]
        if same:
            raise CliError(f"{same[0]} and {flag} are both {port}: each server needs its own port", EXIT_USAGE)
    if args.max_receive_count < 1 or args.visibility_timeout < 0 or not 1 <= args.batch_size <= 10_000:
        raise CliError("--max-receive-count >= 1, --visibility-timeout >= 0, 1 <= --batch-size <= 10000", EXIT_USAGE)
    if not args.ingest_rate > 0 or args.ingest_burst < 1:
        raise CliError("--ingest-rate > 0 and --ingest-burst >= 1", EXIT_USAGE)

    from local_stack.door import ingest_door
    from local_stack.poller import SqsPoller, invocation_error_log
    from local_stack.stack import LocalSettings, local_stack

    settings = LocalSettings(
        moto_port=args.moto_port,
        emulator_port=args.emulator_port,
        activated_audiences=args.activated_audiences,
        visibility_timeout=args.visibility_timeout,
        max_receive_count=args.max_receive_count,
    )
    for name in ("werkzeug", "botocore", "urllib3"):
        logging.getLogger(name).setLevel(logging.ERROR)
    stop = _Stop()
    previous = {number: signal.signal(number, stop) for number in (signal.SIGINT, signal.SIGTERM)}
    log_path = Path(args.log_file)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env_file = Path(args.env_file)
    stack_is_up, exports_text = False, ""
    try:
        with (
            local_stack(settings) as stack,
            ingest_door(
                stack,
                auth=args.ingest_auth,
                port=args.ingest_port,
                rate=args.ingest_rate,
                burst=args.ingest_burst,
                access_log=Path(args.ingest_access_log),
            ) as ingest,
            log_path.open("a") as function_log,
        ):
            if args.min_matched is not None:
                stack.emulator.state.configure(min_matched=args.min_matched)
            exports = stack.cli_environment() | (ingest.environment() if ingest else {})
            lines = [f"export {key}={shlex.quote(value)}" for key, value in exports.items()]
            env_file.parent.mkdir(parents=True, exist_ok=True)
            # Written whole, then renamed: whoever waits for the file never reads it half-written.
            partial = env_file.with_name(env_file.name + ".partial")
            comments = []
            if ingest is not None:
                comments = ["# the ingest door's credentials are local throwaway ones; try:"]
                comments += [f"# {line}" for line in ingest.curl_example().splitlines()]
            exports_text = "\n".join(lines + comments) + "\n"
            partial.write_text(exports_text)
            partial.replace(env_file)
            stack_is_up = True
            print("pinsync local stack is up. Point a producer or the CLI at it:\n", file=out)
            print("\n".join(lines), file=out)
            if ingest is not None:
                print(
                    f"\ningest door ({args.ingest_auth}): POST one JSON object per request to {ingest.url}\n"
                    "(its credentials above are local throwaway ones, new at every start, printed on purpose; "
                    f"access log: {args.ingest_access_log}). Try, after the export lines:\n\n"
                    f"{ingest.curl_example()}",
                    file=out,
                )
            print(
                f'\n(also in {env_file}: eval "$(cat {env_file})")\nfunction logs: {log_path}\n'
                "processing the queue; Ctrl-C or SIGTERM stops",
                file=out,
                flush=True,
            )
            with redirect_stdout(function_log):  # the function's logger writes JSON lines to stdout
                poller = SqsPoller(
                    stack.client("sqs"),
                    stack.queue_url,
                    stack.sync_handler(),
                    batch_size=args.batch_size,
                    on_error=invocation_error_log(function_log),
                )
                _poll(poller, stop, out)
            print(f"stopping ({stop.signal_name or 'done'}): {_totals(poller)}", file=out, flush=True)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if stack_is_up:
            _remove_exports(env_file, exports_text)
    print("local stack stopped", file=out, flush=True)
    return EXIT_OK


def _remove_exports(env_file: Path, written: str) -> None:
    """The exports name this stack's ports and credentials: once it is stopped (or crashed) they point at nothing,
    so the file goes, unless another `pinsync local up` has written its own there since."""
    with suppress(OSError):  # already gone, or not ours to remove
        if env_file.read_text() == written:
            env_file.unlink()


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _poll(poller: Any, stop: _Stop, out: TextIO) -> None:
    reported = poller.stats.messages
    last = time.monotonic()
    while not stop.event.is_set():
        poller.poll_once(wait_seconds=1)
        if poller.stats.messages != reported and time.monotonic() - last >= REPORT_EVERY_SECONDS:
            reported, last = poller.stats.messages, time.monotonic()
            print(_totals(poller), file=out, flush=True)
    if poller.stats.messages != reported:
        print(_totals(poller), file=out, flush=True)


def _totals(poller: Any) -> str:
    stats = poller.stats
    return (
        f"{stats.invocations} invocation(s), {stats.messages} message(s) delivered, "
        f"{stats.failed_messages} returned for retry, {stats.handler_errors} handler error(s)"
    )
