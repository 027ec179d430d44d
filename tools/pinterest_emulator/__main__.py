"""`python -m pinterest_emulator --host 127.0.0.1 --port 8700`: run the emulator in the foreground."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from .config import EmulatorConfig
from .server import EmulatorServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pinterest_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument("--rate-limit", type=float, default=None, help="requests per second (default: no limit)")
    parser.add_argument("--burst", type=int, default=None, help="token-bucket size (default: the rate, at least 1)")
    parser.add_argument("--max-records", type=int, default=None, help="max records per customer-list request")
    parser.add_argument("--min-matched", type=int, default=None, help="members needed for READY (default 100)")
    parser.add_argument("--retry-after", action="store_true", help="also send Retry-After on 429")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s")
    config = EmulatorConfig(rate_limit_per_second=args.rate_limit, rate_limit_burst=args.burst)
    if args.max_records is not None:
        config.max_records_per_request = args.max_records
    if args.min_matched is not None:
        config.min_matched = args.min_matched
    config.send_retry_after = args.retry_after
    config.check()

    server = EmulatorServer(config=config, host=args.host, port=args.port)
    server.start()
    stopped = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print(f"pinterest emulator listening on {server.base_url} (admin: {server.root_url}/_emulator/state)", flush=True)
    stopped.wait()
    server.stop()
    print("pinterest emulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
