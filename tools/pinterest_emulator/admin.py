"""Admin HTTP API under /_emulator/ (no auth; the emulator is for local use only). Mirrors EmulatorState."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

from .errors import CODE_INVALID_REQUEST, CODE_NOT_FOUND, ApiError
from .faults import Fault
from .responses import error_response, json_response
from .state import EmulatorState

PREFIX = "/_emulator"
AdminHandler = Callable[[EmulatorState, dict[str, Any], Request], Any]


def _state(state: EmulatorState, body: dict[str, Any], request: Request) -> Any:
    return state.snapshot()


def _reset(state: EmulatorState, body: dict[str, Any], request: Request) -> Any:
    state.reset()
    return {"reset": True}


def _get_faults(state: EmulatorState, body: dict[str, Any], request: Request) -> Any:
    return state.faults()


def _add_faults(state: EmulatorState, body: dict[str, Any], request: Request) -> Any:
    """Body: one fault (`{"kind": ...}`) or `{"faults": [...], "poison_records": [...]}`."""
    specs = [body] if "kind" in body else list(body.get("faults", []))
    unknown = set(body) - {"faults", "poison_records"} if "kind" not in body else set()
    if unknown:
        raise ValueError(f"unknown fields: {sorted(unknown)}")
    faults = [Fault.from_dict(dict(spec)) for spec in specs]  # parse all before adding any
    added = [state.inject_fault(fault).to_dict() for fault in faults]
    poison = body.get("poison_records", [])
    if not isinstance(poison, list) or not all(isinstance(p, str) for p in poison):
        raise ValueError("poison_records must be a list of strings")
    state.add_poison_records(poison)
    return {"added": added, "poison_records_added": len(poison)}


def _clear_faults(state: EmulatorState, body: dict[str, Any], request: Request) -> Any:
    state.clear_faults()
    return state.faults()


def _add_app(state: EmulatorState, body: dict[str, Any], request: Request) -> Any:
    state.register_app(str(body["client_id"]), str(body["client_secret"]), bool(body.get("always_continuous", False)))
    return {"client_id": body["client_id"]}


def _mint_tokens(state: EmulatorState, body: dict[str, Any], request: Request) -> Any:
    return state.mint_tokens(body.get("client_id"), body.get("scope"))


def _expire_tokens(state: EmulatorState, body: dict[str, Any], request: Request) -> Any:
    return {"expired": state.expire_access_tokens()}


def _revoke_refresh_token(state: EmulatorState, body: dict[str, Any], request: Request) -> Any:
    return {"revoked": state.revoke_refresh_token(str(body["refresh_token"]))}


def _requests(state: EmulatorState, body: dict[str, Any], request: Request) -> Any:
    return {"requests": state.requests_log}


def _clear_requests(state: EmulatorState, body: dict[str, Any], request: Request) -> Any:
    state.clear_requests_log()
    return {"requests": []}


def _get_config(state: EmulatorState, body: dict[str, Any], request: Request) -> Any:
    return state.config.tunables()


def _set_config(state: EmulatorState, body: dict[str, Any], request: Request) -> Any:
    return state.configure(**body)


def _advance_clock(state: EmulatorState, body: dict[str, Any], request: Request) -> Any:
    state.advance_clock(float(body["advance_seconds"]))
    return {"now": state.now()}


def _add_ad_account(state: EmulatorState, body: dict[str, Any], request: Request) -> Any:
    ad_account_id = str(body["id"])
    if not ad_account_id.isdigit() or len(ad_account_id) > 18:
        raise ValueError("id must be a numeric string of at most 18 digits")
    state.add_ad_account(ad_account_id, str(body.get("name", f"ad account {ad_account_id}")))
    return state.ad_account(ad_account_id)


def _delete_customer_list(state: EmulatorState, body: dict[str, Any], request: Request) -> Any:
    list_id = str(body["id"])
    if not state.delete_customer_list(list_id):
        raise ApiError(404, CODE_NOT_FOUND, "Customer list not found.")
    return {"deleted": list_id}


def _delete_audience(state: EmulatorState, body: dict[str, Any], request: Request) -> Any:
    audience_id = str(body["id"])
    if not state.delete_audience(audience_id):
        raise ApiError(404, CODE_NOT_FOUND, "Audience not found.")
    return {"deleted": audience_id}


ROUTES: dict[tuple[str, str], AdminHandler] = {
    ("GET", "/state"): _state,
    ("POST", "/reset"): _reset,
    ("GET", "/faults"): _get_faults,
    ("POST", "/faults"): _add_faults,
    ("DELETE", "/faults"): _clear_faults,
    ("POST", "/apps"): _add_app,
    ("POST", "/tokens"): _mint_tokens,
    ("POST", "/tokens/expire"): _expire_tokens,
    ("POST", "/tokens/revoke"): _revoke_refresh_token,
    ("GET", "/requests"): _requests,
    ("DELETE", "/requests"): _clear_requests,
    ("GET", "/config"): _get_config,
    ("POST", "/config"): _set_config,
    ("POST", "/clock"): _advance_clock,
    ("POST", "/ad_accounts"): _add_ad_account,
    ("DELETE", "/customer_lists"): _delete_customer_list,
    ("DELETE", "/audiences"): _delete_audience,
}


def handle_admin(state: EmulatorState, request: Request) -> Response:
    sub_path = request.path[len(PREFIX) :].rstrip("/") or "/"
    handler = ROUTES.get((request.method, sub_path))
    if handler is None:
        return error_response(ApiError(404, CODE_NOT_FOUND, f"No admin endpoint {request.method} {PREFIX}{sub_path}."))
    try:
        raw = request.get_data()
        body = json.loads(raw) if raw else {}
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        return json_response(handler(state, body, request))
    except ApiError as exc:
        return error_response(exc)
    except (ValueError, TypeError, KeyError) as exc:
        return error_response(ApiError(400, CODE_INVALID_REQUEST, f"Invalid admin request: {exc}"))
