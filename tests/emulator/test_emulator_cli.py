"""`python -m pinterest_emulator` runs in the foreground, prints its URL and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

TOOLS = Path(__file__).resolve().parents[2] / "tools"


def test_cli_serves_and_stops_on_sigterm() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(TOOLS), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(
        [sys.executable, "-m", "pinterest_emulator", "--host", "127.0.0.1", "--port", "0", "--max-records", "7"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert "listening on http://127.0.0.1:" in banner
        base_url = banner.split("listening on ")[1].split()[0]
        root = base_url.removesuffix("/v5")
        config = requests.get(f"{root}/_emulator/config", timeout=10).json()
        assert config["max_records_per_request"] == 7
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert "stopped" in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
