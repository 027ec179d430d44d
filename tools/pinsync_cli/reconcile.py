"""`pinsync reconcile AUDIENCE --from FILE`: make an audience equal a full membership snapshot (mirror semantics).

The snapshot (same formats as `pinsync send`: CSV or JSON Lines member rows, or profiles) says who should be in the
audience now (rows that remove, or profiles that exited, are not in it). The membership ledger in the state table
says who pinsync has put in. The difference becomes messages on the audience queue: an exit (status exited) for
every identifier the ledger holds that the snapshot lacks (sent as its hash in `Email_LC_SHA256`, the namespace for
a pre-hashed record), and the snapshot's profiles (status realized) one second later: those that bring new
identifiers, or all of them when anything is removed, because an exit also removes the identifiers the ledger links
to the same profile key, and the later time makes the kept ones win. The sync function then applies them like any
update; unchanged members cost no Pinterest call.

A guard refuses to remove more than `--max-remove-share` of the audience (an empty or truncated file would
otherwise empty it) unless `--force`. `--dry-run` shows the counts and sends nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError
from pinsync.adapters.dynamo_ledger import DynamoLedger
from pinsync.sync.identities import DEFAULT_NAMESPACES, HashedIdentity, parse_namespace_map
from pinsync.sync.identities import resolve as resolve_identity
from pinsync.sync.ledger import mirror
from pinsync.sync.membership import STATUS_OPERATIONS, Operation, audience_id_problem

from pinsync_cli.members import (
    FORMATS,
    SAFETY_MARGIN_BYTES,
    InputError,
    Packer,
    Rejection,
    RowOptions,
    encode_profile,
    iso_z,
    read_items,
)
from pinsync_cli.send import SQS_HARD_LIMIT, TOO_LARGE, Batch, BatchSender, _format, _open_input, _queue_budget
from pinsync_cli.stack import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, CliError, add_target_arguments, aws_error, resolve

DEFAULT_MAX_REMOVE_SHARE = 0.2
NAMESPACES = parse_namespace_map(DEFAULT_NAMESPACES)
LARGEST_BODY = SQS_HARD_LIMIT - SAFETY_MARGIN_BYTES  # no queue takes a larger message


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "reconcile",
        help="make an audience equal a full membership snapshot (sends only the adds and removes needed)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("audience", help="the CDP audience id")
    parser.add_argument("--from", dest="file", required=True, help="the full membership snapshot ('-': stdin)")
    parser.add_argument("--format", choices=("auto", *FORMATS), default="auto", help="as for `pinsync send`")
    parser.add_argument("--dry-run", action="store_true", help="show the counts, send nothing")
    parser.add_argument(
        "--max-remove-share",
        type=float,
        default=DEFAULT_MAX_REMOVE_SHARE,
        help="refuse to remove more than this share of the audience (default %(default)s)",
    )
    parser.add_argument("--force", action="store_true", help="remove even past --max-remove-share")
    add_target_arguments(parser, "queue_url", "table")
    parser.set_defaults(func=run)
    return parser


@dataclass
class Snapshot:
    """The snapshot's identifiers (hashed) and, per identifier, the profile that carries it."""

    records: set[str] = field(default_factory=set)
    profiles_by_record: dict[str, int] = field(default_factory=dict)
    profiles: list[dict[str, Any]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # per profile: its line in the file
    sizes: list[int] = field(default_factory=list)  # per profile: its encoded size as sent (see `_only`)


def read_snapshot(source: IO[str], fmt: str, audience: str) -> Snapshot:
    snapshot = Snapshot()
    options = RowOptions(audience=audience, action="add", qualified_at=RowOptions.now())
    for line, item in read_items(source, fmt, options):
        if isinstance(item, Rejection):
            snapshot.rejections.append(item)
            continue
        for profile in item:
            qualification = next(
                (segments[audience] for segments in profile["segmentMembership"].values() if audience in segments), None
            )
            if qualification is None:
                continue  # a row of another audience
            if STATUS_OPERATIONS.get(str(qualification.get("status", "")).lower()) is not Operation.ADD:
                continue  # an exited profile (or a remove row) is not a member of the snapshot
            size = len(encode_profile(_only(profile, audience, options.qualified_at)))  # the time: always 20 bytes
            if size + 2 > LARGEST_BODY:
                snapshot.rejections.append(Rejection(line, TOO_LARGE))
                continue
            index = len(snapshot.profiles)
            snapshot.profiles.append(profile)
            snapshot.lines.append(line)
            snapshot.sizes.append(size)
            for record in _records(profile["identityMap"]):
                snapshot.records.add(record)
                snapshot.profiles_by_record.setdefault(record, index)
    return snapshot


@dataclass(frozen=True)
class Plan:
    held: int
    adds: set[str]
    removes: set[str]

    def remove_share(self) -> float:
        return len(self.removes) / self.held if self.held else 0.0


def run(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    if not 0 <= args.max_remove_share <= 1:
        raise CliError("--max-remove-share must be between 0 and 1", EXIT_USAGE)
    problem = audience_id_problem(args.audience)  # the sync function's own rule, as for `audiences activate`
    if problem is not None:
        raise CliError(f"the audience id {problem}", EXIT_USAGE)
    with _open_input(args.file) as source:
        try:
            snapshot = read_snapshot(source, _format(args.format, args.file), args.audience)
        except InputError as error:
            raise CliError(str(error), EXIT_USAGE) from None
    if snapshot.rejections:
        for rejection in snapshot.rejections[:20]:
            print(rejection, file=err)
        print(f"pinsync reconcile: {len(snapshot.rejections)} row(s) rejected; a snapshot must be whole", file=err)
        return EXIT_PARTIAL
    deployment = resolve(args)
    ledger = DynamoLedger(deployment.client("dynamodb"), deployment.require("table"))
    try:
        held = ledger.members(args.audience)
    except (ClientError, BotoCoreError) as error:
        raise aws_error("cannot read the membership ledger", error) from None
    adds, removes = mirror(snapshot.records, held)
    plan = Plan(held=len(held), adds=adds, removes=removes)
    print(f"audience         {args.audience}", file=out)
    print(f"snapshot         {len(snapshot.records)} identifiers in {len(snapshot.profiles)} profiles", file=out)
    print(f"ledger holds     {plan.held} identifiers", file=out)
    print(f"to add           {len(plan.adds)}", file=out)
    print(f"to remove        {len(plan.removes)} ({plan.remove_share():.1%} of the audience)", file=out)
    if plan.remove_share() > args.max_remove_share and not args.force:
        print(
            f"pinsync reconcile: refusing to remove {plan.remove_share():.1%} of the audience "
            f"(more than --max-remove-share {args.max_remove_share:.0%}); is the snapshot complete? "
            "Use --force if it is.",
            file=err,
        )
        return EXIT_PARTIAL
    if args.dry_run:
        print("dry run: nothing sent", file=out)
        return EXIT_OK
    sqs = deployment.client("sqs")
    queue_url = deployment.require("queue_url")
    exit_at = datetime.now(UTC).replace(microsecond=0)
    add_at = iso_z(exit_at + timedelta(seconds=1))
    # An exit also removes every identifier the ledger links to the exiting record's profile key, which can be
    # identifiers the snapshot keeps: when anything is removed, every snapshot profile is re-asserted one second
    # later, so that its identifiers win over that expansion in whatever order the messages are processed.
    keep = range(len(snapshot.profiles)) if plan.removes else {snapshot.profiles_by_record[r] for r in plan.adds}
    profiles = [_exit(args.audience, record, iso_z(exit_at)) for record in sorted(plan.removes)]
    profiles += [_only(snapshot.profiles[i], args.audience, add_at) for i in sorted(keep)]
    budget = _queue_budget(sqs, queue_url)
    too_large = sorted({snapshot.lines[i] for i in keep if snapshot.sizes[i] + 2 > budget})
    if too_large:  # found before anything is sent: exits without the adds that follow them would lose members
        for line in too_large[:20]:
            print(Rejection(line, TOO_LARGE), file=err)
        print(f"pinsync reconcile: {len(too_large)} row(s) rejected; a snapshot must be whole", file=err)
        return EXIT_PARTIAL
    tally = Tally()
    try:
        _send(sqs, queue_url, budget, profiles, tally)
    except (CliError, KeyboardInterrupt):  # an AWS error or Ctrl-C ends the sending: say what went before
        print(f"messages sent    {tally.sent} ({tally.messages - tally.sent} not sent)", file=out)
        raise
    print(f"messages sent    {tally.sent}" + (f" ({tally.failed} failed)" if tally.failed else ""), file=out)
    return EXIT_PARTIAL if tally.failed else EXIT_OK


@dataclass
class Tally:
    messages: int = 0
    sent: int = 0
    failed: int = 0


def _send(sqs: Any, queue_url: str, budget: int, profiles: list[dict[str, Any]], tally: Tally) -> None:
    packer = Packer(budget)
    sender = BatchSender(sqs, queue_url)
    batch = Batch()

    def ship() -> None:
        bodies = [message.body for message in batch.take()]
        failures = sender.send(bodies)
        tally.failed += len(failures)
        tally.sent += len(bodies) - len(failures)

    messages = [message for profile in profiles for message in packer.add([encode_profile(profile)])]
    messages += packer.flush()
    tally.messages = len(messages)
    for message in messages:
        if not batch.accepts(message) or batch.full:
            ship()
        batch.add(message)
    if batch.messages:
        ship()


def _records(identity_map: Mapping[str, list[dict[str, str]]]) -> set[str]:
    records = set()
    for namespace, values in identity_map.items():
        for value in values:
            resolved = resolve_identity(namespace, value["id"], NAMESPACES)
            if isinstance(resolved, HashedIdentity):
                records.add(resolved.record)
    return records


def _only(profile: dict[str, Any], audience: str, qualified_at: str) -> dict[str, Any]:
    """The profile, qualified for this audience only and now (newer than anything the ledger holds)."""
    return {
        **profile,
        "segmentMembership": {"ups": {audience: {"status": "realized", "lastQualificationTime": qualified_at}}},
    }


def _exit(audience: str, record: str, at: str) -> dict[str, Any]:
    return {
        "segmentMembership": {"ups": {audience: {"status": "exited", "lastQualificationTime": at}}},
        "identityMap": {"Email_LC_SHA256": [{"id": record}]},
    }
