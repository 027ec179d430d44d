"""The emulator's whole state, behind one lock: ad accounts, customer lists, audiences, tokens, faults, log.

Every public method is atomic. Business rules of the emulated API live here so that the HTTP layer
(pinterest_api.py) and the admin API see the same behaviour.
"""

from __future__ import annotations

import base64
import binascii
import copy
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .config import AUDIENCE_ROLES, EmulatorConfig
from .errors import invalid_request, not_found, not_permitted, rate_limited
from .faults import Fault, FaultInjector, FaultKind
from .ratelimit import TokenBucket
from .records import check_records, split_records
from .tokens import AccessToken, TokenStore, parse_scope

_FIRST_ID = 5_497_558_000_000  # IDs are numeric strings, well within the spec's 18 digits


@dataclass
class CustomerList:
    id: str
    ad_account_id: str
    name: str
    list_type: str
    created_time: int
    updated_time: int
    members: set[str] = field(default_factory=set)
    num_batches: int = 0
    num_uploaded_user_records: int = 0
    num_removed_user_records: int = 0


@dataclass
class Audience:
    id: str
    ad_account_id: str
    name: str
    customer_list_id: str
    description: str | None
    created_timestamp: int
    updated_timestamp: int


class EmulatorState:
    """Thread-safe state of one emulator instance.

    `clock` returns epoch seconds (default `time.time`); `sleep` is used for latency faults (default
    `time.sleep`). Tests pass a `ManualClock` and its `sleep` so that nothing waits for real time.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._initial_config = config or EmulatorConfig()
        self._initial_config.check()
        self._clock: Callable[[], float] = clock or time.time
        self.sleep: Callable[[float], None] = sleep or time.sleep
        self._lock = threading.RLock()
        self._clock_offset = 0.0
        self._init_data()

    def _init_data(self) -> None:
        cfg = copy.deepcopy(self._initial_config)
        self.config = cfg
        self._tokens = TokenStore(cfg.access_token_ttl, cfg.refresh_token_ttl, cfg.auth_code_ttl)
        for client_id, secret in cfg.apps.items():
            self._tokens.register_app(client_id, secret)
        self._lists: dict[str, CustomerList] = {}
        self._audiences: dict[str, Audience] = {}
        self._faults = FaultInjector()
        self._bucket: TokenBucket | None = None
        self._reset_bucket()
        self._log: deque[dict[str, Any]] = deque(maxlen=cfg.request_log_limit)
        self._log_seq = 0
        self._next_id = _FIRST_ID

    # -- clock ------------------------------------------------------------------------------------------------
    def now(self) -> float:
        return self._clock() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Move the emulator's notion of time forward (works with the real clock too, e.g. over HTTP)."""
        with self._lock:
            self._clock_offset += seconds

    # -- configuration ----------------------------------------------------------------------------------------
    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change tunable settings (see config.TUNABLE_FIELDS); returns the new tunables."""
        with self._lock:
            self.config = self.config.replace(**changes)
            self._tokens.access_token_ttl = self.config.access_token_ttl
            self._tokens.refresh_token_ttl = self.config.refresh_token_ttl
            self._tokens.auth_code_ttl = self.config.auth_code_ttl
            if {"rate_limit_per_second", "rate_limit_burst"} & set(changes):
                self._reset_bucket()
            return self.config.tunables()

    def _reset_bucket(self) -> None:
        rate = self.config.rate_limit_per_second
        if rate is None:
            self._bucket = None
        else:
            burst = self.config.rate_limit_burst or max(1, int(rate))
            self._bucket = TokenBucket(rate, burst, self.now())

    def reset(self) -> None:
        """Back to the configuration given at construction: no lists, audiences, tokens, faults or log."""
        with self._lock:
            self._clock_offset = 0.0
            self._init_data()

    # -- rate limit and faults --------------------------------------------------------------------------------
    def check_rate_limit(self) -> None:
        with self._lock:
            if self._bucket is None:
                return
            wait = self._bucket.try_take(self.now())
            if wait:
                raise rate_limited(wait, self.config.send_retry_after)

    def inject(self, kind: FaultKind, count: int = 1, **options: Any) -> Fault:
        """Add a fault, e.g. `inject("error", count=2, status=503, method="PATCH")`. See faults.Fault."""
        return self.inject_fault(Fault(kind=kind, count=count, **options))

    def inject_fault(self, fault: Fault) -> Fault:
        with self._lock:
            return self._faults.add(fault)

    def take_faults(self, method: str, path: str) -> list[Fault]:
        with self._lock:
            return self._faults.take(method, path)

    def add_poison_records(self, records: Iterable[str]) -> None:
        with self._lock:
            self._faults.poison_records.update(records)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def faults(self) -> dict[str, Any]:
        with self._lock:
            return self._faults.describe()

    # -- request log ------------------------------------------------------------------------------------------
    def log_request(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._log_seq += 1
            self._log.append({"seq": self._log_seq, "time": self.now(), **entry})

    @property
    def requests_log(self) -> list[dict[str, Any]]:
        """Copy of the log of requests served (no token values, no records)."""
        with self._lock:
            return [dict(entry) for entry in self._log]

    def clear_requests_log(self) -> None:
        with self._lock:
            self._log.clear()

    # -- apps and tokens --------------------------------------------------------------------------------------
    def register_app(self, client_id: str, client_secret: str, always_continuous: bool = False) -> None:
        with self._lock:
            self._tokens.register_app(client_id, client_secret, always_continuous)

    def mint_tokens(self, client_id: str | None = None, scope: str | None = None) -> dict[str, Any]:
        """Mint a token pair directly (same fields as the token endpoint), e.g. to seed a secret."""
        with self._lock:
            client_id = client_id or next(iter(self._tokens.apps), "")
            if client_id not in self._tokens.apps:
                raise invalid_request("unknown client_id")
            scopes = parse_scope(scope if scope is not None else self.config.default_scope)
            return self._tokens.mint(client_id, scopes, self.now(), response_type="authorization_code")

    def expire_access_tokens(self) -> int:
        """Make every access token expired now; returns how many were still valid."""
        with self._lock:
            return self._tokens.expire_access_tokens(self.now())

    def revoke_refresh_token(self, refresh_token: str) -> bool:
        with self._lock:
            return self._tokens.revoke_refresh_token(refresh_token)

    def authenticate_client(self, client_id: str, client_secret: str) -> None:
        with self._lock:
            self._tokens.authenticate_client(client_id, client_secret)

    def issue_auth_code(self, client_id: str, redirect_uri: str, scope: str | None) -> str:
        with self._lock:
            scopes = parse_scope(scope if scope else self.config.default_scope)
            return self._tokens.issue_code(client_id, redirect_uri, scopes, self.now())

    def token_grant(self, client_id: str, client_secret: str, form: dict[str, str]) -> dict[str, Any]:
        """Handle a validated `POST /oauth/token` form for an authenticated client."""
        with self._lock:
            app = self._tokens.authenticate_client(client_id, client_secret)
            grant_type = form.get("grant_type")
            if grant_type == "authorization_code":
                return self._tokens.exchange_code(app, form["code"], form["redirect_uri"], self.now())
            if grant_type == "refresh_token":
                # `refresh_on` is the pre-5.20 name of `continuous_refresh`; some clients still send it.
                continuous = any(form.get(k, "").lower() == "true" for k in ("continuous_refresh", "refresh_on"))
                return self._tokens.refresh(app, form["refresh_token"], continuous, form.get("scope"), self.now())
            raise invalid_request(f"grant_type {grant_type} is not supported by the emulator")

    def check_bearer(self, token: str | None, required_scopes: frozenset[str]) -> AccessToken:
        with self._lock:
            checked = self._tokens.check_bearer(token, required_scopes, self.now())
            if "ads:write" in required_scopes and not AUDIENCE_ROLES & set(self.config.ad_account_permissions):
                raise not_permitted()  # the scope is there, the user's role on the ad account is not enough
            return checked

    # -- ad accounts ------------------------------------------------------------------------------------------
    def ad_account(self, ad_account_id: str) -> dict[str, Any]:
        with self._lock:
            name = self.config.ad_accounts.get(ad_account_id)
            if name is None:
                raise not_found("Ad account")
            return {
                "id": ad_account_id,
                "name": name,
                "owner": {"id": "1000000000000001", "username": "pinsync_local"},
                "country": "US",
                "currency": "USD",
                "permissions": list(self.config.ad_account_permissions),
                "created_time": 1_700_000_000,
                "updated_time": 1_700_000_000,
            }

    def add_ad_account(self, ad_account_id: str, name: str) -> None:
        with self._lock:
            self.config.ad_accounts[ad_account_id] = name

    def _require_ad_account(self, ad_account_id: str) -> None:
        if ad_account_id not in self.config.ad_accounts:
            raise not_found("Ad account")

    def _new_id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    # -- customer lists ---------------------------------------------------------------------------------------
    def _status(self, size: int) -> str:
        return "READY" if size >= self.config.min_matched else "TOO_SMALL"

    def _list_json(self, cl: CustomerList) -> dict[str, Any]:
        return {
            "id": cl.id,
            "ad_account_id": cl.ad_account_id,
            "name": cl.name,
            "created_time": cl.created_time,
            "updated_time": cl.updated_time,
            "num_batches": cl.num_batches,
            "num_uploaded_user_records": cl.num_uploaded_user_records,
            "num_removed_user_records": cl.num_removed_user_records,
            "status": self._status(len(cl.members)),
            "type": "customerlist",
            "exceptions": {},
        }

    def _get_list(self, ad_account_id: str, list_id: str) -> CustomerList:
        self._require_ad_account(ad_account_id)
        cl = self._lists.get(list_id)
        if cl is None or cl.ad_account_id != ad_account_id:
            raise not_found("Customer list")
        return cl

    def _checked_records(self, records: str) -> list[str]:
        items = split_records(records)
        check_records(items, self.config.max_records_per_request, frozenset(self._faults.poison_records))
        return items

    def create_customer_list(self, ad_account_id: str, name: str, records: str, list_type: str) -> dict[str, Any]:
        with self._lock:
            self._require_ad_account(ad_account_id)
            items = self._checked_records(records)
            now = int(self.now())
            cl = CustomerList(self._new_id(), ad_account_id, name, list_type, now, now, members=set(items))
            cl.num_batches = 1
            cl.num_uploaded_user_records = len(items)
            self._lists[cl.id] = cl
            return self._list_json(cl)

    def update_customer_list(self, ad_account_id: str, list_id: str, operation: str, records: str) -> dict[str, Any]:
        """ADD/REMOVE records. Counters follow the spec: they count records received, not members changed."""
        with self._lock:
            cl = self._get_list(ad_account_id, list_id)
            items = self._checked_records(records)
            if operation == "ADD":
                cl.members.update(items)
                cl.num_uploaded_user_records += len(items)
            elif operation == "REMOVE":
                cl.members.difference_update(items)
                cl.num_removed_user_records += len(items)
            else:  # unreachable after spec validation (enum ADD|REMOVE)
                raise invalid_request("operation_type must be ADD or REMOVE")
            cl.num_batches += 1
            cl.updated_time = int(self.now())
            return self._list_json(cl)

    def get_customer_list(self, ad_account_id: str, list_id: str) -> dict[str, Any]:
        with self._lock:
            return self._list_json(self._get_list(ad_account_id, list_id))

    def list_customer_lists(
        self, ad_account_id: str, page_size: int, order: str, bookmark: str | None
    ) -> dict[str, Any]:
        with self._lock:
            self._require_ad_account(ad_account_id)
            lists = [cl for cl in self._lists.values() if cl.ad_account_id == ad_account_id]
            page, next_bookmark = _paginate([cl.id for cl in lists], page_size, order, bookmark)
            return {"items": [self._list_json(self._lists[i]) for i in page], "bookmark": next_bookmark}

    # -- audiences --------------------------------------------------------------------------------------------
    def _audience_json(self, audience: Audience) -> dict[str, Any]:
        cl = self._lists.get(audience.customer_list_id)
        size = len(cl.members) if cl else 0
        return {
            "id": audience.id,
            "ad_account_id": audience.ad_account_id,
            "name": audience.name,
            "audience_type": "CUSTOMER_LIST",
            "description": audience.description,
            "rule": {"customer_list_id": audience.customer_list_id},
            "size": size,
            "status": self._status(size),
            "type": "audience",
            "created_timestamp": audience.created_timestamp,
            "updated_timestamp": audience.updated_timestamp,
        }

    def create_audience(self, ad_account_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._require_ad_account(ad_account_id)
            if body.get("audience_type") != "CUSTOMER_LIST":
                raise invalid_request("the emulator only supports audience_type CUSTOMER_LIST")
            rule = body.get("rule") or {}
            list_id = rule.get("customer_list_id")
            if not list_id:
                raise invalid_request("rule.customer_list_id is required for a CUSTOMER_LIST audience")
            cl = self._lists.get(list_id)
            if cl is None or cl.ad_account_id != ad_account_id:
                raise invalid_request(f"customer list {list_id} not found in ad account {ad_account_id}")
            now = int(self.now())
            audience = Audience(self._new_id(), ad_account_id, body["name"], list_id, body.get("description"), now, now)
            self._audiences[audience.id] = audience
            return self._audience_json(audience)

    def get_audience(self, ad_account_id: str, audience_id: str) -> dict[str, Any]:
        with self._lock:
            self._require_ad_account(ad_account_id)
            audience = self._audiences.get(audience_id)
            if audience is None or audience.ad_account_id != ad_account_id:
                raise not_found("Audience")
            return self._audience_json(audience)

    def list_audiences(
        self, ad_account_id: str, page_size: int, order: str, bookmark: str | None, ownership_type: str = "OWNED"
    ) -> dict[str, Any]:
        with self._lock:
            self._require_ad_account(ad_account_id)
            # Nothing is ever shared with the emulated account, so RECEIVED is always empty.
            ids = (
                []
                if ownership_type == "RECEIVED"
                else [a.id for a in self._audiences.values() if a.ad_account_id == ad_account_id]
            )
            page, next_bookmark = _paginate(ids, page_size, order, bookmark)
            return {"items": [self._audience_json(self._audiences[i]) for i in page], "bookmark": next_bookmark}

    def delete_customer_list(self, list_id: str) -> bool:
        """Delete a list as a person would in Ads Manager: its GET and PATCH answer 404 from then on, and an audience
        made from it stays, with size 0. False when there was no such list."""
        with self._lock:
            return self._lists.pop(list_id, None) is not None

    def delete_audience(self, audience_id: str) -> bool:
        """Delete an audience (its GET answers 404 from then on); its customer list stays."""
        with self._lock:
            return self._audiences.pop(audience_id, None) is not None

    # -- inspection for tests and the admin API ---------------------------------------------------------------
    def members(self, list_id: str) -> set[str]:
        with self._lock:
            cl = self._lists.get(list_id)
            if cl is None:
                raise KeyError(list_id)
            return set(cl.members)

    def customer_lists(self) -> list[dict[str, Any]]:
        """Admin view of every list: API fields plus list_type, member_count and sorted members."""
        with self._lock:
            return [
                {
                    **self._list_json(cl),
                    "list_type": cl.list_type,
                    "member_count": len(cl.members),
                    "members": sorted(cl.members),
                }
                for cl in self._lists.values()
            ]

    def audiences(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._audience_json(a) for a in self._audiences.values()]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "now": self.now(),
                "config": self.config.tunables(),
                "ad_accounts": [self.ad_account(i) for i in self.config.ad_accounts],
                "customer_lists": self.customer_lists(),
                "audiences": self.audiences(),
                "tokens": self._tokens.summary(self.now()),
                **self._faults.describe(),
            }


def _paginate(ids: list[str], page_size: int, order: str, bookmark: str | None) -> tuple[list[str], str | None]:
    """Keyset pagination by numeric ID. The bookmark encodes the last ID returned, so inserts don't shift pages."""
    descending = order == "DESCENDING"
    ordered = sorted(ids, key=int, reverse=descending)
    if bookmark:
        last = _decode_bookmark(bookmark)
        ordered = [i for i in ordered if (int(i) < last if descending else int(i) > last)]
    page = ordered[:page_size]
    has_more = len(ordered) > page_size
    return page, (_encode_bookmark(int(page[-1])) if has_more else None)


def _encode_bookmark(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"after:{last_id}".encode()).decode().rstrip("=")


def _decode_bookmark(bookmark: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(bookmark + "=" * (-len(bookmark) % 4)).decode()
        prefix, _, value = raw.partition(":")
        if prefix != "after" or not value.isdigit():
            raise ValueError(bookmark)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid_request("invalid bookmark") from None
