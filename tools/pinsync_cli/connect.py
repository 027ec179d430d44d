"""``pinsync connect``: (re)connect a deployment to Pinterest in one command.

Runs Pinterest's authorization-code flow for an operator (or, with ``--refresh-token``, exchanges an existing
refresh token), checks that the new token can read the configured ad account and that the connected user may manage
its customer lists and audiences (``pinsync.access``), and writes the token secret as the new AWSCURRENT. Nothing is written unless every check passed. No token is ever printed.

A lost token is a cause of dead-lettered updates that the new token removes: once it is stored, the dead-letter
queue is redriven as the alert function does when the dataflow recovers (the messages the contract accepts, each at
most once automatically, at most 10,000), unless the stack's ``AutoRedrive`` (or ``--auto-redrive``) is
``Disabled`` or the queues are not known (``--queue-url`` and ``--dlq-url``, or the stack).

Targets the deployment like every command (``--stack-name``/``PINSYNC_STACK_NAME``, ``--region``, explicit flags,
then the environment). Exit codes: 0 connected; 2 usage or configuration error; 3 Pinterest refused (invalid
grant, state mismatch, cannot read the ad account or manage its audiences, authorization not completed); 4 AWS error.
"""

from __future__ import annotations

import argparse
import http.server
import os
import re
import secrets
import sys
import threading
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from botocore.exceptions import BotoCoreError, ClientError
from pinsync.access import audience_access_problem, describe_audience_access
from pinsync.adapters.pinterest_oauth import PinterestAccountCheck, PinterestOAuthClient
from pinsync.adapters.secretsmanager_versions import SecretsManagerVersions
from pinsync.adapters.sqs_redrive import AUTO_REDRIVE_MAX_MESSAGES, move_messages
from pinsync.core.deadline import Deadline
from pinsync.core.errors import PinterestError, SecretStoreError
from pinsync.core.observability import NO_METRICS
from pinsync.core.settings import AD_ACCOUNT_ID_PATTERN, PINTEREST_API_BASE_URL
from pinsync.rotation.model import AWSCURRENT, AWSPENDING, TokenGrant
from pinsync.tokens import DEFAULT_SCOPE, TokenSecret
from pydantic import SecretStr

from pinsync_cli.stack import (
    EXIT_AWS,
    EXIT_OK,
    EXIT_REMOTE_REFUSED,
    EXIT_USAGE,
    CliError,
    Deployment,
    add_target_arguments,
    aws_error,
    resolve,
)

AUTHORIZE_URL = "https://www.pinterest.com/oauth/"
DEFAULT_PORT = 8085
CALLBACK_PATH = "/callback"
EXIT_PINTEREST = EXIT_REMOTE_REFUSED
AD_ACCOUNT_ID = re.compile(AD_ACCOUNT_ID_PATTERN)  # what the functions accept

BrowserOpener = Callable[[str], object]


# -- the command ---------------------------------------------------------------------------------------------------


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "connect",
        help="connect (or reconnect) the deployment to Pinterest and store the token",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_target_arguments(
        parser, "secret_id", "ad_account_id", "api_base_url", "queue_url", "dead_letter_queue_url", "auto_redrive"
    )
    parser.add_argument("--client-id", help="Pinterest app id (default: $PINTEREST_CLIENT_ID)")
    parser.add_argument("--client-secret", help="Pinterest app secret (default: $PINTEREST_CLIENT_SECRET)")
    parser.add_argument(
        "--authorize-url", default=AUTHORIZE_URL, help=f"OAuth authorize page (default {AUTHORIZE_URL})"
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="local callback port (default %(default)s)")
    parser.add_argument("--scope", default=DEFAULT_SCOPE, help="scopes to ask for (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the consent (default 300)")
    parser.add_argument(
        "--refresh-token",
        help="skip the browser: exchange this refresh token instead ('-' reads it from stdin, out of shell history)",
    )
    parser.add_argument("--no-browser", action="store_true", help="only print the authorize URL")
    parser.set_defaults(func=run)
    return parser


@dataclass(frozen=True)
class ConnectConfig:
    client_id: str
    client_secret: str
    ad_account_id: str
    api_base_url: str


def run(
    args: argparse.Namespace,
    *,
    open_browser: BrowserOpener | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    stdin: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    try:
        _check_flags(args)
        deployment = resolve(args)
        config = _config(args, deployment.get("ad_account_id"), deployment.get("api_base_url"))
        secret_id = deployment.require("secret_id")
        store = SecretsManagerVersions(deployment.client("secretsmanager"))
        _check_secret(store, secret_id)  # before Pinterest: a refresh token is used up by the exchange
        session = requests.Session()
        oauth = PinterestOAuthClient(base_url=config.api_base_url, session=session)
        if args.refresh_token:
            from_stdin = args.refresh_token == "-"  # noqa: S105 - the "read stdin" marker
            refresh_token = (stdin or sys.stdin).readline().strip() if from_stdin else args.refresh_token
            if not refresh_token:
                raise CliError("the refresh token is empty", EXIT_USAGE)
            grant = _pinterest(lambda: oauth.refresh(config.client_id, config.client_secret, refresh_token))
        else:
            opener = open_browser if open_browser is not None else (None if args.no_browser else webbrowser.open)
            grant = _authorize(args, config, oauth, opener, out)
        now = datetime.now(UTC)
        token = grant.to_secret(config.client_id, SecretStr(config.client_secret), now, args.scope)
        account = _verify(config, session, token)
        version = _write(store, secret_id, token, out)
    except CliError as error:
        print(f"pinsync connect: {error}", file=err or sys.stderr)
        return error.exit_code
    print(
        f"Connected: ad account {config.ad_account_id} ({account.get('name', '?')}) is readable with the new token.\n"
        f"  audience access       {describe_audience_access(account)}\n"
        f"  access token expires  {_date(token.access_token_expires_at)} ({token.access_days_left(now):.0f} days)\n"
        f"  refresh token expires {_date(token.refresh_token_expires_at)} ({token.refresh_days_left(now):.0f} days)\n"
        f"  secret {secret_id}: version {version} is now AWSCURRENT",
        file=out,
    )
    _redrive_dead_letters(deployment, out)
    return EXIT_OK


def _redrive_dead_letters(deployment: Deployment, out: TextIO) -> None:
    """The token was a cause of failures: move back the dead-lettered updates that can now succeed. Best effort:
    the token is stored whatever happens here, and `pinsync redrive` remains."""
    dlq_url, queue_url = deployment.get("dead_letter_queue_url"), deployment.get("queue_url")
    if (deployment.get("auto_redrive") or "Enabled") == "Disabled" or not (dlq_url and queue_url):
        return
    try:
        report = move_messages(
            deployment.client("sqs"), dlq_url, queue_url, only_valid=True, limit=AUTO_REDRIVE_MAX_MESSAGES, mark=True
        )
    except (ClientError, BotoCoreError) as error:
        print(f"  dead-letter queue: not redriven ({aws_error('AWS error', error)}); run `pinsync redrive`", file=out)
        return
    left = sum(report.left.values()) + sum(report.failed.values())
    if report.moved_total or left:
        print(
            f"  dead-letter queue: {report.moved_total} message(s) moved back to the audience queue"
            + (f", {left} left (`pinsync redrive --dry-run` says why)" if left else ""),
            file=out,
        )


def _check_flags(args: argparse.Namespace) -> None:
    """The callback server's port and the wait for the consent, checked before anything is asked or opened."""
    if not 0 <= args.port <= 65_535:
        raise CliError("--port must be between 0 and 65535", EXIT_USAGE)
    if not 0 < args.timeout <= threading.TIMEOUT_MAX:  # NaN fails too; inf would end the wait in an OverflowError
        raise CliError("--timeout must be a positive number of seconds", EXIT_USAGE)


def _config(args: argparse.Namespace, ad_account_id: str | None, api_base_url: str | None) -> ConnectConfig:
    """Client credentials from flags or the environment; the ad account and API base as resolved for the stack."""
    values = {
        "client_id": args.client_id or os.environ.get("PINTEREST_CLIENT_ID", ""),
        "client_secret": args.client_secret or os.environ.get("PINTEREST_CLIENT_SECRET", ""),
        "ad_account_id": ad_account_id or "",
    }
    missing = {
        "client_id": "--client-id or PINTEREST_CLIENT_ID",
        "client_secret": "--client-secret or PINTEREST_CLIENT_SECRET",
        "ad_account_id": "--ad-account-id or AD_ACCOUNT_ID (or --stack-name)",
    }
    absent = [missing[name] for name, value in values.items() if not value]
    if absent:
        raise CliError(f"missing {', '.join(absent)}", EXIT_USAGE)
    if not AD_ACCOUNT_ID.match(values["ad_account_id"]):
        raise CliError("the ad account id must be 1 to 18 digits", EXIT_USAGE)
    base = (api_base_url or PINTEREST_API_BASE_URL).rstrip("/")
    if not base.startswith(("https://", "http://")):
        raise CliError("the API base URL must be an http(s) URL", EXIT_USAGE)
    return ConnectConfig(api_base_url=base, **values)


def _check_secret(store: SecretsManagerVersions, secret_id: str) -> None:
    try:
        store.describe(secret_id)
    except SecretStoreError as error:
        raise CliError(f"cannot use the token secret {secret_id} ({error}); nothing was changed", EXIT_AWS) from None


def _pinterest(call: Callable[[], TokenGrant]) -> TokenGrant:
    try:
        return call()
    except PinterestError as error:
        raise CliError(f"Pinterest refused: {error}", EXIT_PINTEREST) from None


# -- the authorization-code flow -----------------------------------------------------------------------------------


@dataclass
class _Callback:
    done: threading.Event = field(default_factory=threading.Event)
    params: dict[str, str] | None = None


def _callback_handler(callback: _Callback) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path != CALLBACK_PATH:
                self.send_error(404)
                return
            callback.params = {key: values[0] for key, values in parse_qs(url.query).items()}
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            self.wfile.write(b"pinsync: authorization received. You can close this window and return to the terminal.")
            callback.done.set()

        def log_message(self, format: str, *args: Any) -> None:  # the query holds the code: never log it
            return

    return Handler


def _authorize(
    args: argparse.Namespace,
    config: ConnectConfig,
    oauth: PinterestOAuthClient,
    open_browser: BrowserOpener | None,
    out: TextIO,
) -> TokenGrant:
    callback = _Callback()
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), _callback_handler(callback))
    except OSError as error:
        raise CliError(f"cannot listen on 127.0.0.1:{args.port} ({error.strerror}); use --port", EXIT_USAGE) from None
    redirect_uri = f"http://localhost:{server.server_address[1]}{CALLBACK_PATH}"
    state = secrets.token_urlsafe(32)
    query = urlencode(
        {
            "client_id": config.client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": args.scope,
            "state": state,
        }
    )
    url = f"{args.authorize_url}?{query}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        print(f"Open this URL to allow pinsync to manage ads (redirect URI {redirect_uri}):\n  {url}", file=out)
        if open_browser is not None:
            try:
                open_browser(url)
            except Exception as error:  # a failing browser must not end the flow: the URL is printed
                print(f"(could not open a browser: {type(error).__name__})", file=out)
        if not callback.done.wait(args.timeout):
            raise CliError(f"no authorization received within {args.timeout:.0f} s", EXIT_PINTEREST)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    params = callback.params or {}
    if not secrets.compare_digest(params.get("state", ""), state):
        raise CliError(
            "state mismatch: the callback does not answer the authorization this command started; nothing was written",
            EXIT_PINTEREST,
        )
    if "error" in params or "code" not in params:
        raise CliError(f"authorization refused ({params.get('error', 'no code returned')})", EXIT_PINTEREST)
    code = params["code"]
    return _pinterest(lambda: oauth.exchange_code(config.client_id, config.client_secret, code, redirect_uri))


# -- verify and write ----------------------------------------------------------------------------------------------


def _verify(config: ConnectConfig, session: requests.Session, token: TokenSecret) -> dict[str, Any]:
    check = PinterestAccountCheck(
        base_url=config.api_base_url,
        ad_account_id=config.ad_account_id,
        session=session,
        deadline=Deadline.after(120.0, reserve_seconds=0.0),
        metrics=NO_METRICS,
    )
    try:
        account = check.read(token.access_token.get_secret_value())
    except PinterestError as error:
        raise CliError(
            f"the new token cannot read ad account {config.ad_account_id} ({error}); connect as a Pinterest user "
            "with access to it. Nothing was written.",
            EXIT_PINTEREST,
        ) from None
    problem = audience_access_problem(account, token.scope)
    if problem is not None:
        raise CliError(
            f"the new token reads ad account {config.ad_account_id} but cannot manage its customer lists and "
            f"audiences: {problem}. Nothing was written.",
            EXIT_PINTEREST,
        )
    return account


def _write(store: SecretsManagerVersions, secret_id: str, token: TokenSecret, out: TextIO) -> str:
    try:
        version = store.put_current(secret_id, token.to_secret_string())
    except SecretStoreError as error:
        raise CliError(
            f"could not write the token secret ({error}); the new token is lost: run `pinsync connect` again",
            EXIT_AWS,
        ) from None
    _clear_stuck_rotation(store, secret_id, version, out)
    return version


def _clear_stuck_rotation(store: SecretsManagerVersions, secret_id: str, version: str, out: TextIO) -> None:
    """A failed rotation leaves AWSPENDING on another version, which blocks every later rotation; the fresh
    connection supersedes it."""
    try:
        stuck = [
            vid
            for vid, stages in store.describe(secret_id).versions.items()
            if AWSPENDING in stages and AWSCURRENT not in stages and vid != version
        ]
        for vid in stuck:
            store.remove_stage(secret_id, AWSPENDING, vid)
    except SecretStoreError as error:
        print(f"warning: could not clear an unfinished rotation ({error})", file=out)
        return
    if stuck:
        print("  an unfinished rotation was cleared (AWSPENDING removed), so rotation can resume", file=out)


def _date(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
