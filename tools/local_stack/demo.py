"""`make demo`: the whole pipeline against the local stack, then a dataflow summary.

Starts moto, the Pinterest emulator and the ingest door, sends the sample profiles from ``events/profiles``,
lets the real sync handler process them through a local event source mapping until the queue is drained (failed
messages come back; poison ones end in the dead-letter queue), and prints what happened, read back from the
reports the function published and from the emulator's own state.

The first wave goes through the ingest door as Adobe Experience Platform sends it: one HTTP POST per profile with
the door's bearer token, every answer checked to be 200. The files the door would refuse (a batch array, a
malformed body) are what a batch producer such as ``pinsync send`` puts on the queue directly, and so are the later
waves: the summary shows the contract and the dead-letter queue all the same.
"""

from __future__ import annotations

import json
import logging
import sys
from collections import Counter
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import requests
from pinsync.ingest.door import is_json_object
from pinsync.sync.contract import ContractError, parse_message
from pinsync_cli.stack import EXIT_PARTIAL, CliError

from local_stack.door import DoorServer, ingest_door
from local_stack.paths import EVENTS
from local_stack.poller import SqsPoller, invocation_error_log
from local_stack.stack import LocalSettings, LocalStack, local_stack

DEMO_AUDIENCES = "spring-sale,loyal-customers"


@dataclass
class DataflowSummary:
    """Totals over every ``Dataflow Run`` event of the demo."""

    runs: int = 0
    messages: int = 0
    profiles: int = 0
    added: int = 0
    removed: int = 0
    excluded: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    through_door: int = 0  # profiles POSTed to the ingest door (each answered 200)

    def add(self, detail: dict[str, Any]) -> None:
        identities = detail["identities"]
        self.runs += 1
        self.messages += detail["messages"]["received"]
        self.profiles += detail["profiles_received"]
        self.added += identities["added"]
        self.removed += identities["removed"]
        self.excluded.update(identities["excluded_by_reason"])
        self.skipped.update(identities["skipped_by_reason"])
        self.failed.update(identities["failed_by_reason"])
        self.rejected.update(detail["messages"]["rejected_by_reason"])


def send_samples(stack: LocalStack, directory: Path, door: DoorServer | None = None) -> tuple[int, int]:
    """Each file of ``directory`` as one message: through ``door`` when it is one JSON object (as AEP sends a
    profile), on the queue directly otherwise (or without a door). Returns (sent, of which through the door)."""
    sqs = stack.client("sqs")
    files = sorted(directory.glob("*.json"))
    answers: Counter[int] = Counter()
    with requests.Session() as session:
        for path in files:
            body = path.read_bytes()
            if door is None or not is_json_object(body):
                sqs.send_message(QueueUrl=stack.queue_url, MessageBody=body.decode("utf-8"))
                continue
            answer = session.post(
                door.url,
                data=body,
                headers={"Authorization": f"Bearer {door.credentials.token}", "Content-Type": "application/json"},
                timeout=30,
            )
            answers[answer.status_code] += 1
    refused = {status: count for status, count in answers.items() if status != 200}
    if refused:
        statuses = ", ".join(f"{count} x {status}" for status, count in sorted(refused.items()))
        raise CliError(f"the ingest door refused sample profiles ({statuses})", EXIT_PARTIAL)
    return len(files), answers[200]


def drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages"):
        messages.extend(batch)
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    return messages


def collect_runs(stack: LocalStack) -> DataflowSummary:
    summary = DataflowSummary()
    for message in drain(stack.client("sqs"), stack.runs_queue_url):
        event = json.loads(message["Body"])
        if event.get("detail-type") == "Dataflow Run":
            summary.add(event["detail"])
    return summary


def dead_letters(stack: LocalStack) -> Counter[str]:
    """Why each dead-lettered message failed, judged by the contract (bodies are never printed)."""
    reasons: Counter[str] = Counter()
    for message in drain(stack.client("sqs"), stack.dead_letter_queue_url):
        try:
            parse_message(message["Body"])
            reasons["failed_repeatedly"] += 1
        except ContractError as error:
            reasons[error.reason] += 1
    return reasons


def render(summary: DataflowSummary, stack: LocalStack, dlq: Counter[str], out: TextIO) -> None:
    def reasons(counts: Counter[str]) -> str:
        return ", ".join(f"{reason} {count}" for reason, count in sorted(counts.items())) or "none"

    print("\npinsync dataflow summary (local stack)", file=out)
    print("=" * 40, file=out)
    print(f"invocations            {summary.runs}", file=out)
    print(f"messages received      {summary.messages} (deliveries, retries included)", file=out)
    print(f"profiles received      {summary.profiles}", file=out)
    print(
        f"identities activated   {summary.added + summary.removed} (added {summary.added}, removed {summary.removed})",
        file=out,
    )
    print(f"identities excluded    {sum(summary.excluded.values())}: {reasons(summary.excluded)}", file=out)
    print(f"identities skipped     {sum(summary.skipped.values())}: {reasons(summary.skipped)}", file=out)
    print(f"identities failed      {sum(summary.failed.values())}: {reasons(summary.failed)}", file=out)
    print(f"messages rejected      {sum(summary.rejected.values())} deliveries: {reasons(summary.rejected)}", file=out)
    print(f"through ingest door    {summary.through_door} profile(s), one POST each, all answered 200", file=out)
    print("\nPinterest (read back from the emulator)", file=out)
    state = stack.emulator.state
    for customer_list in state.customer_lists():
        print(
            f"  customer list {customer_list['id']} '{customer_list['name']}': "
            f"{customer_list['member_count']} members, status {customer_list['status']}",
            file=out,
        )
    for audience in state.audiences():
        print(
            f"  audience {audience['id']} '{audience['name']}' ({audience['audience_type']}, "
            f"list {audience['rule']['customer_list_id']}): size {audience.get('size', 0)}, status {audience['status']}",
            file=out,
        )
    print(f"\ndead-letter queue      {sum(dlq.values())} message(s): {reasons(dlq)}", file=out)


def run_demo(
    out: TextIO = sys.stdout, log_path: Path | None = None, access_log_path: Path | None = None
) -> DataflowSummary:
    log_path = log_path or Path(".local/demo.log")
    access_log_path = access_log_path or log_path.with_name("demo-ingest-access.log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    access_log_path.unlink(missing_ok=True)  # this demo's requests only
    settings = LocalSettings(activated_audiences=DEMO_AUDIENCES)
    _quiet_libraries()
    with (
        local_stack(settings) as stack,
        ingest_door(stack, auth="bearer", access_log=access_log_path) as door,
        log_path.open("w") as function_log,
    ):
        if door is None:  # only auth='disabled' gives no door
            raise RuntimeError("the demo's ingest door did not start")
        print(
            f"local stack up: moto {stack.endpoint_url}, Pinterest emulator {stack.emulator.base_url}, "
            f"ingest door {door.url}",
            file=out,
        )
        through_door = 0
        # The function's JSON logs and EMF metrics go to the log file; its logger binds stdout at import.
        with redirect_stdout(function_log):
            poller = SqsPoller(
                stack.client("sqs"),
                stack.queue_url,
                stack.sync_handler(),
                batch_size=10,
                on_error=invocation_error_log(function_log),
            )
            waves = sorted(path for path in (EVENTS / "profiles").iterdir() if path.is_dir())
            for number, wave in enumerate(waves):
                sent, posted = send_samples(stack, wave, door if number == 0 else None)
                through_door += posted
                how = f" ({posted} POSTed through the ingest door with its bearer token)" if posted else ""
                print(f"sent {sent} sample messages from events/profiles/{wave.name}{how}; processing...", file=out)
                poller.run_until_drained(timeout=90)
        summary = collect_runs(stack)
        summary.through_door = through_door
        render(summary, stack, dead_letters(stack), out)
        print(f"\nfunction logs and metrics: {log_path}; ingest door access log: {access_log_path}", file=out)
    print("local stack stopped", file=out)
    return summary


def _quiet_libraries() -> None:
    for name in ("werkzeug", "botocore", "urllib3"):
        logging.getLogger(name).setLevel(logging.ERROR)
