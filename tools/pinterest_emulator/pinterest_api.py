"""Handlers of the emulated Pinterest operations, keyed by the spec's operationId.

Each handler gets the state and a request that already passed auth and spec validation, and returns the JSON body
of a 200 response (or raises ApiError).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .state import EmulatorState
from .validation import ValidatedRequest

Handler = Callable[[EmulatorState, ValidatedRequest], dict[str, Any]]

DEFAULT_PAGE_SIZE = 25


def _ad_account_get(state: EmulatorState, req: ValidatedRequest) -> dict[str, Any]:
    return state.ad_account(req.path_params["ad_account_id"])


def _customer_lists_create(state: EmulatorState, req: ValidatedRequest) -> dict[str, Any]:
    body = req.body
    return state.create_customer_list(
        req.path_params["ad_account_id"], body["name"], body["records"], body.get("list_type", "EMAIL")
    )


def _customer_lists_update(state: EmulatorState, req: ValidatedRequest) -> dict[str, Any]:
    return state.update_customer_list(
        req.path_params["ad_account_id"],
        req.path_params["customer_list_id"],
        req.body["operation_type"],
        req.body["records"],
    )


def _customer_lists_get(state: EmulatorState, req: ValidatedRequest) -> dict[str, Any]:
    return state.get_customer_list(req.path_params["ad_account_id"], req.path_params["customer_list_id"])


def _customer_lists_list(state: EmulatorState, req: ValidatedRequest) -> dict[str, Any]:
    q = req.query
    return state.list_customer_lists(
        req.path_params["ad_account_id"],
        int(q.get("page_size", DEFAULT_PAGE_SIZE)),
        str(q.get("order", "ASCENDING")),
        q.get("bookmark"),
    )


def _audiences_create(state: EmulatorState, req: ValidatedRequest) -> dict[str, Any]:
    return state.create_audience(req.path_params["ad_account_id"], req.body)


def _audiences_get(state: EmulatorState, req: ValidatedRequest) -> dict[str, Any]:
    return state.get_audience(req.path_params["ad_account_id"], req.path_params["audience_id"])


def _audiences_list(state: EmulatorState, req: ValidatedRequest) -> dict[str, Any]:
    q = req.query
    return state.list_audiences(
        req.path_params["ad_account_id"],
        int(q.get("page_size", DEFAULT_PAGE_SIZE)),
        str(q.get("order", "ASCENDING")),
        q.get("bookmark"),
        str(q.get("ownership_type", "OWNED")),
    )


HANDLERS: dict[str, Handler] = {
    "ad_accounts/get": _ad_account_get,
    "customer_lists/create": _customer_lists_create,
    "customer_lists/update": _customer_lists_update,
    "customer_lists/get": _customer_lists_get,
    "customer_lists/list": _customer_lists_list,
    "audiences/create": _audiences_create,
    "audiences/get": _audiences_get,
    "audiences/list": _audiences_list,
}
