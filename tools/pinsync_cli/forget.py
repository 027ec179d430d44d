"""`pinsync forget`: erase people (the right to be forgotten) from every Pinterest customer list pinsync keeps.

Give identities with `--email`, `--email-sha256`, `--gaid`, `--idfa` (each repeatable) and/or `--file` (one per
line: an email, a 64-hex SHA-256 of a normalised email, or an advertising id; or CSV rows `kind,value` with kind
email, email_sha256, gaid or idfa; blank lines and lines starting with # are skipped). Each is normalised and hashed
here, exactly as the sync function does, and only the hashes go on the audience queue, as privacy requests of at
most 100 identities (the message contract's `privacyRequest`). The sync function then removes them, and every
identifier the membership ledger links to the same profile, from every customer list pinsync made, with the same
retries and dead-letter safety as any update; then the ledger forgets them, keeping only "out since the request" per
hash until its retention ends, so that an older add redelivered later cannot re-add them. It reports each request
carried out as a `Privacy Request` event (counts only).

If any identity is invalid or a placeholder, nothing is sent (exit 1), unless `--skip-invalid`. `--dry-run` reads
the state table and says which lists would be touched and how many identifiers, without sending anything.

Exit codes: 0 sent (or dry run done); 1 identities rejected or messages not sent; 2 usage error; 4 AWS error.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import batched
from typing import IO, Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError
from pinsync.adapters.dynamo_ledger import DynamoLedger
from pinsync.adapters.dynamo_mappings import DynamoMappingStore
from pinsync.sync.contract import MAX_ERASURE_IDENTITIES
from pinsync.sync.identities import HashedIdentity, IdentityKind, normalise
from pinsync.sync.ledger import LedgerItem, erasure_scope, state_of

from pinsync_cli.members import iso_z
from pinsync_cli.send import MAX_BATCH_ENTRIES, BatchSender, _open_input
from pinsync_cli.stack import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, CliError, add_target_arguments, aws_error, resolve

# The namespace of a pre-hashed record in the default IdentityNamespaces: every identity goes on the queue as its
# record (the SHA-256 the sync function would compute), so no plain email or device id is ever put on it.
RECORD_NAMESPACE = "Email_LC_SHA256"
KINDS = {kind.value: kind for kind in IdentityKind}
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")  # the contract's requestId


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "forget",
        help="erase people from every customer list (right to be forgotten), through the queue",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for kind in IdentityKind:
        flag = "--" + kind.value.replace("_", "-")
        parser.add_argument(
            flag, dest=kind.value, action="append", default=[], metavar="VALUE", help=f"{kind} to erase (repeatable)"
        )
    parser.add_argument("--file", help="identities, one per line or CSV kind,value ('-' reads standard input)")
    parser.add_argument(
        "--request-id",
        help="your reference for this request (a ticket id, never an identity), echoed in the Privacy Request "
        "events; default: a random one",
    )
    parser.add_argument("--skip-invalid", action="store_true", help="erase the valid identities even if some are not")
    parser.add_argument("--dry-run", action="store_true", help="say which lists would be touched, send nothing")
    add_target_arguments(parser, "queue_url", "table")
    parser.set_defaults(func=run)
    return parser


@dataclass
class Identities:
    records: dict[str, None] = field(default_factory=dict)  # ordered, unique
    rejections: list[str] = field(default_factory=list)  # "where: reason", never the value

    def add(self, kind: IdentityKind, raw: str, where: str) -> None:
        result = normalise(kind, raw)
        if isinstance(result, HashedIdentity):
            self.records[result.record] = None
        else:
            self.rejections.append(f"{where}: {kind} {result.reason}")


def run(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    request_id = args.request_id or uuid.uuid4().hex
    if not REQUEST_ID.fullmatch(request_id):
        raise CliError("--request-id: 1 to 128 letters, digits or . _ : - (a reference, never an identity)", EXIT_USAGE)
    identities = Identities()
    for kind in IdentityKind:
        for position, raw in enumerate(getattr(args, kind.value), start=1):
            identities.add(kind, raw, f"--{kind.value.replace('_', '-')} #{position}")
    if args.file:
        with _open_input(args.file) as source:
            read_file(source, identities)
    if not identities.records and not identities.rejections:
        raise CliError("nothing to forget: give --email, --email-sha256, --gaid, --idfa or --file", EXIT_USAGE)
    for rejection in identities.rejections[:20]:
        print(rejection, file=err)
    if identities.rejections and not args.skip_invalid:
        print(
            f"pinsync forget: {len(identities.rejections)} identity(ies) rejected; nothing was sent "
            "(fix them, or --skip-invalid to erase the valid ones)",
            file=err,
        )
        return EXIT_PARTIAL
    records = list(identities.records)
    rejected = f" ({len(identities.rejections)} rejected)" if identities.rejections else ""
    print(f"identities       {len(records)}{rejected}", file=out)
    deployment = resolve(args)
    if args.dry_run:
        _dry_run(deployment.client("dynamodb"), deployment.require("table"), records, out)
        print("dry run: nothing sent", file=out)
        return EXIT_OK
    if not records:
        return EXIT_PARTIAL
    sqs = deployment.client("sqs")
    queue_url = deployment.require("queue_url")
    requested_at = iso_z(datetime.now(UTC))
    bodies = [
        privacy_request(list(chunk), request_id, requested_at).encode("ascii")
        for chunk in batched(records, MAX_ERASURE_IDENTITIES)
    ]
    sent = failed = 0
    sender = BatchSender(sqs, queue_url)
    try:
        for entries in batched(bodies, MAX_BATCH_ENTRIES):  # 100 hashes are about 7 KB: ten fit any batch
            failures = sender.send(list(entries))
            failed += len(failures)
            sent += len(entries) - len(failures)
    except (CliError, KeyboardInterrupt):  # an AWS error or Ctrl-C ends the sending: say what went before
        print(f"request id       {request_id}", file=out)
        print(f"messages sent    {sent} ({len(bodies) - sent} not sent: send them again)", file=out)
        raise
    print(f"request id       {request_id}", file=out)
    print(f"messages sent    {sent}" + (f" ({failed} failed: send them again)" if failed else ""), file=out)
    return EXIT_PARTIAL if failed else EXIT_OK


def privacy_request(records: list[str], request_id: str, requested_at: str) -> str:
    """One message of the contract: an erasure of ``records`` (already hashed)."""
    request = {
        "type": "erase",
        "requestId": request_id,
        "requestedAt": requested_at,
        "identityMap": {RECORD_NAMESPACE: [{"id": record} for record in records]},
    }
    return json.dumps({"privacyRequest": request}, separators=(",", ":"))


def read_file(source: IO[str], identities: Identities) -> None:
    """One identity per line, its kind guessed (an @ is an email, 64 hex digits a hashed email, anything else an
    advertising id), or CSV ``kind,value``; a header line ``kind,value`` is skipped."""
    for number, line in enumerate(source, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if "," in text:
            try:
                row = next(csv.reader(io.StringIO(text)))
            except csv.Error:  # a field over the csv module's limit (128 KiB)
                identities.rejections.append(f"line {number}: not a valid CSV row")
                continue
            kind_name, value = (row[0].strip().lower(), ",".join(row[1:])) if len(row) >= 2 else ("", "")
            if number == 1 and kind_name in ("kind", "namespace", "type"):
                continue
            kind = KINDS.get(kind_name)
            if kind is None:
                identities.rejections.append(f"line {number}: unknown kind (email, email_sha256, gaid or idfa)")
                continue
            identities.add(kind, value, f"line {number}")
        else:
            identities.add(_guess(text), text, f"line {number}")


def _guess(value: str) -> IdentityKind:
    if "@" in value:
        return IdentityKind.EMAIL
    if len(value) == 64 and all(c in "0123456789abcdefABCDEF" for c in value):
        return IdentityKind.EMAIL_SHA256
    return IdentityKind.GAID  # an IDFA hashes the same way


def _dry_run(dynamodb: Any, table: str, records: list[str], out: TextIO) -> None:
    """Per customer list: how many identifiers the erasure would remove, and how many the ledger says are in it."""
    mappings = DynamoMappingStore(dynamodb, table)
    ledger = DynamoLedger(dynamodb, table)
    try:
        listed = sorted(mappings.listed_audiences())
        lists = mappings.get_mappings(listed)
        print(f"customer lists   {len(listed)}", file=out)
        for audience_id in listed:
            items = _read_scope(ledger, audience_id, records)
            scope = erasure_scope(records, items)
            held = sum(1 for record in scope if (state := state_of(record, items)) is not None and state.member)
            mapping = lists.get(audience_id)
            list_id = mapping.customer_list_id if mapping is not None else None
            print(
                f"  audience {audience_id}: customer list {list_id or '-'}: "
                f"{len(scope)} identifiers to remove, {held} in it per the ledger",
                file=out,
            )
    except (ClientError, BotoCoreError) as error:
        raise aws_error("cannot read the state table", error) from None


def _read_scope(ledger: DynamoLedger, audience_id: str, records: list[str]) -> dict[str, LedgerItem]:
    """The records' index items, their owners' profiles, and the index items of those profiles' records."""
    items = ledger.read(audience_id, records)
    owners = {owner for record in records if record in items for owner in items[record].owners}
    items |= ledger.read(audience_id, owners - items.keys())
    linked = erasure_scope(records, items)
    items |= ledger.read(audience_id, linked - items.keys())
    more = {owner for record in linked if record in items for owner in items[record].owners}
    items |= ledger.read(audience_id, more - items.keys())
    return items
