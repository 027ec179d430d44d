"""The installed console script: help everywhere, and `pinsync local up` kept running, then stopped by SIGTERM."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from pinsync_cli.main import main

SCRIPT = Path(sys.executable).parent / "pinsync"
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "pinsync_cli.main"]

HELP = [
    [],
    ["send"],
    ["audiences"],
    ["audiences", "list"],
    ["audiences", "activate"],
    ["audiences", "deactivate"],
    ["status"],
    ["redrive"],
    ["connect"],
    ["local"],
    ["local", "up"],
    ["local", "demo"],
]


@pytest.mark.parametrize("command", HELP, ids=lambda c: " ".join(c) or "pinsync")
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    assert "usage: pinsync" in capsys.readouterr().out


def pinsync(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The console script, as a user runs it."""
    return subprocess.run(  # noqa: S603 - our own console script, fixed arguments
        [*COMMAND, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_console_script_runs_and_a_usage_error_is_exit_2():
    ok = pinsync("--help")
    assert ok.returncode == 0
    for name in ("send", "audiences", "status", "redrive", "connect", "local"):
        assert name in ok.stdout
    bad = pinsync("send")
    assert bad.returncode == 2
    assert "the following arguments are required: file" in bad.stderr


def _clean_env() -> dict[str, str]:
    names = ("AWS_ENDPOINT_URL", "PINSYNC_", "STATE_TABLE_NAME", "TOKEN_SECRET_ID", "AD_ACCOUNT_ID", "PINTEREST_")
    env = {key: value for key, value in os.environ.items() if not key.startswith(names)}
    if env.get("PYTHONPATH"):  # the child runs in a temporary directory: relative entries would point nowhere
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(entry) for entry in env["PYTHONPATH"].split(os.pathsep))
    return env


def _exports(path: Path) -> dict[str, str]:
    exports = {}
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        exports[key] = shlex.split(value)[0]
    return exports


def _start_local_up(tmp_path: Path, *options: str) -> subprocess.Popen[str]:
    """`pinsync local up` on free ports in ``tmp_path``, writing its exports to ``tmp_path / "env"``."""
    ports = ["--moto-port", "0", "--emulator-port", "0", "--ingest-port", "0"]
    files = ["--env-file", str(tmp_path / "env"), "--log-file", str(tmp_path / "local.log")]
    return subprocess.Popen(  # noqa: S603 - our own console script, fixed arguments
        [*COMMAND, "local", "up", *ports, *options, *files],
        cwd=tmp_path,
        env=_clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for_exports(up: subprocess.Popen[str], tmp_path: Path, deadline: float) -> dict[str, str]:
    """The exports `local up` writes once it is up (the file appears whole: it is renamed into place)."""
    env_file = tmp_path / "env"
    while not env_file.exists() and up.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert env_file.exists(), "local up did not start"
    return _exports(env_file)


def test_local_up_serves_producers_and_the_cli_until_sigterm(tmp_path: Path):
    up = _start_local_up(tmp_path, "--min-matched", "2", "--ingest-access-log", str(tmp_path / "access.log"))
    try:
        deadline = time.monotonic() + 60
        exports = _wait_for_exports(up, tmp_path, deadline)
        assert {"AWS_ENDPOINT_URL", "PINSYNC_QUEUE_URL", "STATE_TABLE_NAME", "TOKEN_SECRET_ID"} <= set(exports)
        # operations.md lists the export lines by name ("credentials": the region and the moto keys), then the door's
        operations = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
        export_lines = operations.split("writes the export lines (", 1)[1].split(")", 1)[0]
        credentials = {"AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
        door = {"PINSYNC_INGEST_URL", "PINSYNC_INGEST_TOKEN"}
        assert set(exports) - credentials - door == set(re.findall(r"`([A-Z_]+)`", export_lines))
        assert door <= set(exports)
        assert exports["PINSYNC_EMULATOR_URL"].startswith("http://127.0.0.1:")
        assert exports["PINSYNC_INGEST_URL"].startswith("http://127.0.0.1:")
        assert exports["PINSYNC_INGEST_URL"].endswith("/ingest/profiles")
        env = {**_clean_env(), **exports}

        # A webhook POSTs one profile through the ingest door with the printed bearer token
        profile = {
            "segmentMembership": {"ups": {"webhook": {"status": "realized"}}},
            "identityMap": {"Email": [{"id": "c@example.com"}, {"id": "d@example.com"}]},
        }
        answer = requests.post(
            exports["PINSYNC_INGEST_URL"],
            json=profile,
            headers={"Authorization": f"Bearer {exports['PINSYNC_INGEST_TOKEN']}"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        assert set(answer.json()) == {"messageId"}

        members = tmp_path / "members.csv"
        members.write_text("email\na@example.com\nb@example.com\n")
        sent = pinsync("send", str(members), "--audience", "seg", env=env)
        assert sent.returncode == 0, sent.stderr

        rows: dict[str, dict[str, object]] = {}
        while time.monotonic() < deadline and {rows.get(a, {}).get("status") for a in ("seg", "webhook")} != {"READY"}:
            time.sleep(0.5)
            listed = pinsync("audiences", "--json", env=env)
            rows = {row["audience_id"]: row for row in json.loads(listed.stdout)["audiences"]}
        assert rows["seg"]["status"] == "READY" and rows["seg"]["size"] == 2
        assert rows["webhook"]["status"] == "READY" and rows["webhook"]["size"] == 2

        status = pinsync("status", env=env)
        assert status.returncode == 0, status.stdout + status.stderr
        assert "0 waiting, 0 in flight" in status.stdout
    finally:
        up.send_signal(signal.SIGTERM)
        output, _ = up.communicate(timeout=30)
    assert up.returncode == 0, output
    assert "export AWS_ENDPOINT_URL=" in output
    assert "export PINSYNC_INGEST_TOKEN=" in output and "local throwaway" in output
    assert 'curl -sS -X POST "$PINSYNC_INGEST_URL"' in output
    assert '"status":200' in (tmp_path / "access.log").read_text()
    assert "stopping (SIGTERM)" in output
    assert output.rstrip().endswith("local stack stopped")


@pytest.mark.parametrize("auth", ["oauth2", "disabled"])
def test_local_up_serves_the_door_with_oauth2_client_credentials_or_not_at_all(tmp_path: Path, auth: str):
    up = _start_local_up(tmp_path, "--ingest-auth", auth)
    try:
        exports = _wait_for_exports(up, tmp_path, time.monotonic() + 60)
        ingest = {key for key in exports if key.startswith("PINSYNC_INGEST_")}
        if auth == "disabled":
            assert ingest == set()
        else:
            assert ingest == {
                "PINSYNC_INGEST_URL",
                "PINSYNC_INGEST_TOKEN_URL",
                "PINSYNC_INGEST_CLIENT_ID",
                "PINSYNC_INGEST_CLIENT_SECRET",
            }
            token = requests.post(
                exports["PINSYNC_INGEST_TOKEN_URL"],
                data={"grant_type": "client_credentials", "scope": "pinsync/ingest"},
                auth=(exports["PINSYNC_INGEST_CLIENT_ID"], exports["PINSYNC_INGEST_CLIENT_SECRET"]),
                timeout=30,
            ).json()["access_token"]
            answer = requests.post(
                exports["PINSYNC_INGEST_URL"], json={}, headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
            assert answer.status_code == 200, answer.text
    finally:
        up.send_signal(signal.SIGTERM)
        output, _ = up.communicate(timeout=30)
    assert up.returncode == 0, output
    assert not (tmp_path / "env").exists(), "the exports still claim a stack that is stopped"
    assert ("ingest door (oauth2)" in output) is (auth == "oauth2")
    assert ("PINSYNC_INGEST" in output) is (auth == "oauth2")


def test_local_up_refuses_a_bad_ingest_port_or_throttling(capsys: pytest.CaptureFixture[str]):
    for options in (["--ingest-port", "70000"], ["--ingest-rate", "0"], ["--ingest-burst", "0"]):
        assert main(["local", "up", *options]) == 2
        assert "--ingest-" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("flags", [("--moto-port", "--emulator-port"), ("--emulator-port", "--ingest-port")])
def test_local_up_refuses_one_port_for_two_servers(capsys: pytest.CaptureFixture[str], flags: tuple[str, str]):
    port = str(_free_port())
    others = ["--moto-port", "0", "--emulator-port", "0", "--ingest-port", "0"]
    assert main(["local", "up", *others, flags[0], port, flags[1], port]) == 2
    assert f"{flags[0]} and {flags[1]} are both {port}" in capsys.readouterr().err


class _Crash(Exception):
    pass


@pytest.mark.parametrize("how", ["crash", "ctrl-c"])
def test_local_up_removes_its_exports_when_it_stops_or_crashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    from local_stack.poller import SqsPoller

    env_file = tmp_path / "env"
    seen: list[bool] = []

    def poll_once(self: SqsPoller, wait_seconds: int = 1) -> int:
        seen.append(env_file.exists())
        if how == "crash":
            raise _Crash("the poller failed")
        signal.raise_signal(signal.SIGINT)  # Ctrl-C while processing the queue
        return 0

    monkeypatch.setattr(SqsPoller, "poll_once", poll_once)
    monkeypatch.chdir(tmp_path)
    ports = ["--moto-port", "0", "--emulator-port", "0", "--ingest-port", "0"]
    files = ["--env-file", str(env_file), "--log-file", "local.log", "--ingest-access-log", "access.log"]
    if how == "crash":
        with pytest.raises(_Crash):
            main(["local", "up", *ports, *files])
    else:
        assert main(["local", "up", *ports, *files]) == 0
    assert seen == [True]  # the exports were there while the stack ran
    assert not env_file.exists()


def test_local_up_leaves_exports_another_run_wrote_since(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from local_stack.poller import SqsPoller

    env_file = tmp_path / "env"

    def poll_once(self: SqsPoller, wait_seconds: int = 1) -> int:
        env_file.write_text("export AWS_ENDPOINT_URL=http://127.0.0.1:1\n")  # another `local up` started since
        signal.raise_signal(signal.SIGINT)
        return 0

    monkeypatch.setattr(SqsPoller, "poll_once", poll_once)
    monkeypatch.chdir(tmp_path)
    ports = ["--moto-port", "0", "--emulator-port", "0", "--ingest-auth", "disabled"]
    assert main(["local", "up", *ports, "--env-file", str(env_file), "--log-file", "local.log"]) == 0
    assert env_file.read_text() == "export AWS_ENDPOINT_URL=http://127.0.0.1:1\n"


def test_local_up_logs_a_failed_invocation_s_error_as_lambda_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from local_stack.poller import SqsPoller
    from local_stack.stack import LocalStack

    def failing_function(event: dict[str, object], context: object) -> dict[str, object]:
        raise RuntimeError("the function failed")

    real_poll_once = SqsPoller.poll_once

    def poll_once(self: SqsPoller, wait_seconds: int = 1) -> int:
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody="{}")
        signal.raise_signal(signal.SIGINT)  # stop after this batch
        return real_poll_once(self, wait_seconds=0)

    monkeypatch.setattr(LocalStack, "sync_handler", lambda self: failing_function)
    monkeypatch.setattr(SqsPoller, "poll_once", poll_once)
    monkeypatch.chdir(tmp_path)
    ports = ["--moto-port", "0", "--emulator-port", "0", "--ingest-auth", "disabled"]
    assert main(["local", "up", *ports, "--env-file", "env", "--log-file", "local.log"]) == 0
    [entry] = [json.loads(line) for line in (tmp_path / "local.log").read_text().splitlines()]
    assert (entry["level"], entry["errorType"], entry["errorMessage"]) == (
        "ERROR",
        "RuntimeError",
        "the function failed",
    )
    assert any("failing_function" in frame for frame in entry["stackTrace"])
