"""`pinsync audiences`: the audience ↔ customer list ↔ Pinterest audience mappings, and activations.

`pinsync audiences` (or `audiences list`) reads every mapping from the state table and asks Pinterest, live,
for each list's or audience's status (READY / TOO_SMALL) and size; lists under 100 matched accounts are flagged
(Pinterest needs 100 before the audience can be used). `activate` records an activation (optionally the name of
the list/audience to create, or an existing customer list to link). The HEALTH column is the latest scheduled health
check (the state table's HEALTH items: state, size, when), read even with --no-pinterest. `deactivate` stops syncing an audience (its
list and mapping stay). Once any activation is recorded, activations decide what syncs, not ACTIVATED_AUDIENCES.

Exit codes: 0 ok; 2 usage error; 3 Pinterest refused (a lookup failed, or the list to link does not exist);
4 AWS error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, TextIO

import requests
from botocore.exceptions import BotoCoreError, ClientError
from pinsync.adapters.dynamo_health import DynamoHealthStore
from pinsync.adapters.dynamo_mappings import DynamoMappingStore
from pinsync.adapters.pinterest_ads import PinterestClient
from pinsync.adapters.secretsmanager_token import SecretsManagerTokenSource
from pinsync.core.deadline import Deadline
from pinsync.core.errors import LinkRefusedError, PinterestError, PinterestPermanentError, TokenUnavailableError
from pinsync.core.observability import NO_METRICS
from pinsync.core.settings import PINTEREST_API_BASE_URL
from pinsync.sync.membership import MAX_LIST_NAME_LENGTH, audience_id_problem
from pinsync.sync.planning import AudienceMapping

from pinsync_cli import health
from pinsync_cli.stack import (
    EXIT_OK,
    EXIT_REMOTE_REFUSED,
    EXIT_USAGE,
    CliError,
    Deployment,
    add_target_arguments,
    aws_error,
    resolve,
)

PINTEREST_MIN_MATCHED = 100
_PINTEREST_VALUES = ("secret_id", "ad_account_id", "api_base_url")


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "audiences",
        help="list audience mappings with Pinterest status; activate / deactivate audiences",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _list_arguments(parser)
    parser.set_defaults(func=run_list)
    commands = parser.add_subparsers(dest="audiences_command", metavar="COMMAND")

    listing = commands.add_parser("list", help="the mappings with live Pinterest status (the default)")
    _list_arguments(listing)
    listing.set_defaults(func=run_list)

    activate = commands.add_parser(
        "activate",
        help="record an activation (name, or an existing customer list to link)",
        description="Record an activation. The first activation switches the deployment from ACTIVATED_AUDIENCES "
        "to the recorded activations.",
    )
    activate.add_argument("audience_id", help="CDP audience id")
    link = activate.add_mutually_exclusive_group()
    link.add_argument("--name", help="name of the customer list and audience pinsync creates for it")
    link.add_argument("--customer-list-id", help="sync into this existing Pinterest customer list instead")
    activate.add_argument(
        "--force", action="store_true", help="re-link an audience that is already mapped to another customer list"
    )
    add_target_arguments(activate, "table", *_PINTEREST_VALUES)
    activate.set_defaults(func=run_activate)

    deactivate = commands.add_parser(
        "deactivate", help="stop syncing an audience (its list stays)", description="Stop syncing an audience."
    )
    deactivate.add_argument("audience_id", help="CDP audience id")
    add_target_arguments(deactivate, "table")
    deactivate.set_defaults(func=run_deactivate)
    return parser


def _list_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON (for scripts)")
    parser.add_argument("--no-pinterest", action="store_true", help="only the state table; do not ask Pinterest")
    parser.add_argument(
        "--min-matched",
        type=int,
        default=PINTEREST_MIN_MATCHED,
        help="flag lists with fewer matched accounts (default %(default)s, Pinterest's minimum)",
    )
    add_target_arguments(parser, "table", *_PINTEREST_VALUES)


# -- list -----------------------------------------------------------------------------------------------------------


@dataclass
class AudienceRow:
    audience_id: str
    active: str  # yes | no | config (ACTIVATED_AUDIENCES decides)
    state: str
    name: str | None
    customer_list_id: str | None
    pinterest_audience_id: str | None
    status: str | None  # Pinterest's, live
    size: int | None
    flag: str
    health: dict[str, Any] | None = None  # the latest health check (HEALTH item), None before the first


@contextmanager
def quiet_function_logs() -> Iterator[None]:
    """The Pinterest client's INFO notes (retries) are for Lambda's logs, not for the CLI's output."""
    function_logger = logging.getLogger("pinsync")
    level = function_logger.level
    function_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        function_logger.setLevel(level)


def run_list(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    with quiet_function_logs():
        return _run_list(args, out or sys.stdout)


def _run_list(args: argparse.Namespace, out: TextIO) -> int:
    deployment = resolve(args)
    store = _store(deployment)
    try:
        mappings = store.all_mappings()
        activations = store.activations()
        checks = DynamoHealthStore(deployment.client("dynamodb"), deployment.require("table")).get_many(
            [mapping.audience_id for mapping in mappings]
        )
    except (ClientError, BotoCoreError) as error:
        raise aws_error("cannot read the state table", error) from None
    client, why_not = (None, "not asked (--no-pinterest)") if args.no_pinterest else pinterest_client(deployment)
    rows = [_row(mapping, activations) for mapping in mappings]
    health_text = {audience_id: health.summary(record) for audience_id, record in checks.items()}
    for row in rows:
        if row.audience_id in checks:
            row.health = health.as_json(checks[row.audience_id])
    known = {mapping.audience_id for mapping in mappings}
    rows += [
        AudienceRow(audience_id, "yes", "-", None, None, None, None, None, "no list yet (waits for the first add)")
        for audience_id in sorted((activations or frozenset()) - known)
    ]
    refused = 0
    for row, mapping in zip(rows, mappings, strict=False):
        if client is None:
            row.status = None
            continue
        try:
            _live(row, mapping, client)
        except PinterestError as error:
            refused += 1
            row.status = "ERROR"
            row.flag = _short(error)
        _flag(row, args.min_matched)
    if args.json:
        print(
            json.dumps(
                {
                    "activations": None if activations is None else sorted(activations),
                    "pinterest": why_not or "live",
                    "audiences": [asdict(row) for row in rows],
                },
                indent=2,
            ),
            file=out,
        )
    else:
        _render(rows, activations, why_not, out, health_text)
    return EXIT_REMOTE_REFUSED if refused else EXIT_OK


def _row(mapping: AudienceMapping, activations: frozenset[str] | None) -> AudienceRow:
    active = "config" if activations is None else ("yes" if mapping.audience_id in activations else "no")
    return AudienceRow(
        audience_id=mapping.audience_id,
        active=active,
        state=mapping.state.value,
        name=mapping.name,
        customer_list_id=mapping.customer_list_id,
        pinterest_audience_id=mapping.pinterest_audience_id,
        status=None,
        size=None,
        flag="",
    )


def _live(row: AudienceRow, mapping: AudienceMapping, client: PinterestClient) -> None:
    """Pinterest's status and size: the audience's (it has a size), else the customer list's."""
    if mapping.pinterest_audience_id:
        audience = client.get_audience(mapping.pinterest_audience_id)
        row.status = str(audience.get("status") or "?")
        size = audience.get("size")
        row.size = int(size) if isinstance(size, int | float) else None
    elif mapping.customer_list_id:
        customer_list = client.get_customer_list(mapping.customer_list_id)
        row.status = str(customer_list.get("status") or "?")
        if not row.name and customer_list.get("name"):
            row.name = str(customer_list["name"])


def _flag(row: AudienceRow, min_matched: int) -> None:
    if row.status == "ERROR":
        return
    small = row.status == "TOO_SMALL" or (row.size is not None and row.size < min_matched)
    if small:
        row.flag = f"under {min_matched} matched accounts: the audience cannot be used yet"
    elif row.state == "LIST_CREATED":
        row.flag = "no Pinterest audience yet (created on the next add)"


def _render(
    rows: list[AudienceRow],
    activations: frozenset[str] | None,
    why_not: str | None,
    out: TextIO,
    health_text: dict[str, str],
) -> None:
    if activations is None:
        print("activations: none recorded, ACTIVATED_AUDIENCES decides what syncs", file=out)
    else:
        print(f"activations: {len(activations)} recorded (they decide what syncs)", file=out)
    if why_not:
        print(f"Pinterest: {why_not}", file=out)
    if not rows:
        print("no audience mapped yet", file=out)
        return
    header = (
        "AUDIENCE", "ACTIVE", "MAPPING", "CUSTOMER LIST", "PINTEREST AUDIENCE", "STATUS", "SIZE", "NAME", "HEALTH", "NOTE"
    )  # fmt: skip
    table = [header] + [
        (
            row.audience_id,
            row.active,
            row.state,
            row.customer_list_id or "-",
            row.pinterest_audience_id or "-",
            row.status or "n/a",
            "-" if row.size is None else str(row.size),
            row.name or "-",
            health_text.get(row.audience_id, "-"),
            row.flag,
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header) - 1)]
    for line in table:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        print("  ".join([*cells, line[-1]]).rstrip(), file=out)


def _short(error: PinterestError) -> str:
    if isinstance(error, PinterestPermanentError) and error.status == 404:
        return "not found on Pinterest (deleted, or another ad account?)"
    return f"Pinterest: {error}"


# -- activate / deactivate ------------------------------------------------------------------------------------------


def run_activate(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    with quiet_function_logs():
        return _run_activate(args, out or sys.stdout)


def _run_activate(args: argparse.Namespace, out: TextIO) -> int:
    audience_id = _audience_id(args.audience_id)
    name = None if args.name is None else args.name.strip()
    problem = None if name is None else _name_problem(name)
    if problem is not None:  # the sync function would name the list with it: Pinterest would refuse every creation
        raise CliError(f"--name {problem}", EXIT_USAGE)
    deployment = resolve(args)
    store = _store(deployment)
    try:
        before = store.activations()
        existing = store.get_mappings([audience_id]).get(audience_id)
    except (ClientError, BotoCoreError) as error:
        raise aws_error("cannot read the state table", error) from None
    if args.customer_list_id:
        linked = existing.customer_list_id if existing else None
        if linked and linked != args.customer_list_id and not args.force:
            raise CliError(
                f"audience {audience_id} already syncs into customer list {linked}; --force to re-link it",
                EXIT_USAGE,
            )
        _verify_list(deployment, args.customer_list_id, out)
    elif name and existing and existing.customer_list_id:
        print(
            f"note: audience {audience_id} already has customer list {existing.customer_list_id}; "
            "the name is recorded but that list keeps its name",
            file=out,
        )
    try:
        store.activate(audience_id, name=name, customer_list_id=args.customer_list_id)
    except LinkRefusedError as refused:
        raise CliError(f"{refused}; nothing was written: try again in a few minutes", EXIT_USAGE) from None
    except (ClientError, BotoCoreError) as error:
        raise aws_error("cannot write the activation", error) from None
    what = f" into customer list {args.customer_list_id}" if args.customer_list_id else ""
    named = f" as '{name}'" if name else ""
    print(f"activated {audience_id}{named}{what}", file=out)
    if before is None:
        print(
            "note: this is the first activation: from now on only activated audiences sync "
            "(ACTIVATED_AUDIENCES is no longer used); activate every audience you want synced",
            file=out,
        )
    print("backfill its current members with `pinsync send FILE --audience " + audience_id + "`", file=out)
    return EXIT_OK


def run_deactivate(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    audience_id = _audience_id(args.audience_id)  # read as `activate` reads it
    deployment = resolve(args)
    store = _store(deployment)
    try:
        activations = store.activations()
    except (ClientError, BotoCoreError) as error:
        raise aws_error("cannot read the state table", error) from None
    if activations is None:
        raise CliError(
            "no activation is recorded, so ACTIVATED_AUDIENCES decides what syncs; deactivating now would stop "
            "every audience. Activate the audiences to keep first (`pinsync audiences activate ID`), or change "
            "the ActivatedAudiences parameter",
            EXIT_USAGE,
        )
    if audience_id not in activations:
        print(f"{audience_id} is not activated; nothing to do", file=out)
        return EXIT_OK
    try:
        store.deactivate(audience_id)
    except (ClientError, BotoCoreError) as error:
        raise aws_error("cannot write the deactivation", error) from None
    print(f"deactivated {audience_id}: its updates are now excluded (not_activated); its list stays", file=out)
    if activations == {audience_id}:
        print("note: no audience is activated any more: nothing syncs", file=out)
    return EXIT_OK


def _verify_list(deployment: Deployment, customer_list_id: str, out: TextIO) -> None:
    client, why_not = pinterest_client(deployment)
    if client is None:
        print(f"note: customer list {customer_list_id} not checked on Pinterest ({why_not})", file=out)
        return
    try:
        found = client.get_customer_list(customer_list_id)
    except PinterestPermanentError as error:
        if error.status == 404:
            raise CliError(
                f"customer list {customer_list_id} does not exist in the ad account; nothing was written",
                EXIT_REMOTE_REFUSED,
            ) from None
        raise CliError(f"Pinterest refused ({error}); nothing was written", EXIT_REMOTE_REFUSED) from None
    except PinterestError as error:
        raise CliError(f"Pinterest refused ({error}); nothing was written", EXIT_REMOTE_REFUSED) from None
    print(f"customer list {customer_list_id} '{found.get('name', '?')}': {found.get('status', '?')}", file=out)


# -- plumbing -------------------------------------------------------------------------------------------------------


def _audience_id(raw: str) -> str:
    audience_id = raw.strip()
    problem = audience_id_problem(audience_id)  # the sync function's own rule
    if problem is not None:
        raise CliError(f"the audience id {problem}", EXIT_USAGE)
    return audience_id


def _name_problem(name: str) -> str | None:
    """Why a list name (already trimmed) cannot name a Pinterest list, said to follow "--name", or None."""
    if not name:
        return "is empty"
    if len(name) > MAX_LIST_NAME_LENGTH:
        return f"is longer than {MAX_LIST_NAME_LENGTH} characters"
    if not name.isprintable():
        return "has control, invisible or bidirectional-override characters"
    return None


def _store(deployment: Deployment) -> DynamoMappingStore:
    return DynamoMappingStore(deployment.client("dynamodb"), deployment.require("table"))


def pinterest_client(deployment: Deployment) -> tuple[PinterestClient | None, str | None]:
    """A client for live lookups, or None and why not (missing settings, unreadable token)."""
    secret_id, ad_account_id = deployment.get("secret_id"), deployment.get("ad_account_id")
    if not secret_id or not ad_account_id:
        return None, "n/a: give --secret-id and --ad-account-id (or --stack-name) to see live status"
    tokens = SecretsManagerTokenSource(secret_id, max_age=300, boto3_client=deployment.client("secretsmanager"))
    try:
        tokens.access_token()
    except TokenUnavailableError as error:
        return None, f"n/a: {error}"
    client = PinterestClient(
        base_url=deployment.get("api_base_url") or PINTEREST_API_BASE_URL,
        ad_account_id=ad_account_id,
        tokens=tokens,
        session=requests.Session(),
        deadline=Deadline.after(120.0, reserve_seconds=0.0),
        metrics=NO_METRICS,  # nothing would flush them in a CLI
    )
    return client, None
