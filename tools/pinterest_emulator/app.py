"""The WSGI application: Pinterest API v5 under /v5, the OAuth authorize page at /oauth/, admin at /_emulator/.

Order of checks for a request under /v5 (each step can end the request):
faults (latency, drop, forced 429, 5xx) -> rate limit -> routing (404/405) -> authentication and scope (401)
-> spec validation (400 code 1) -> the operation.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from werkzeug.wrappers import Request, Response

from .admin import PREFIX as ADMIN_PREFIX
from .admin import handle_admin
from .errors import ApiError, DropConnection, authentication_failed, invalid_request, not_found, rate_limited
from .faults import Fault
from .pinterest_api import HANDLERS
from .records import split_records
from .responses import error_response, json_response
from .state import EmulatorState
from .validation import API_PREFIX, Route, get_spec

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)

_CUSTOMER_LIST_WRITES = {"customer_lists/create", "customer_lists/update"}


class EmulatorApp:
    """WSGI callable serving one EmulatorState."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.spec = get_spec()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        path = request.path
        if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            return handle_admin(self.state, request)
        if path in ("/oauth", "/oauth/"):
            return self._logged(request, self._authorize, template="/oauth/", operation_id="oauth/authorize")
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            return self._api(request)
        return error_response(not_found("Resource"))

    # -- /v5 --------------------------------------------------------------------------------------------------
    def _api(self, request: Request) -> Response:
        entry: dict[str, Any] = {"method": request.method, "path": request.path}
        route: Route | None = None
        route_error: ApiError | None = None
        try:
            route = self.spec.find_route(request.method, request.path)
            entry["template"] = API_PREFIX + route.template
            entry["operation_id"] = route.operation_id
        except ApiError as exc:
            route_error = exc
        if route is not None and route.operation_id in _CUSTOMER_LIST_WRITES:
            entry.update(_records_summary(request))
        try:
            lost_answer = self._apply_faults(request, entry)
            self.state.check_rate_limit()
            if route is None:
                assert route_error is not None
                raise route_error
            response = json_response(self._handle(request, route))
            if lost_answer is not None:
                raise _error_fault(lost_answer)
        except DropConnection:
            entry["status"] = None
            self.state.log_request(entry)
            raise
        except ApiError as exc:
            response = error_response(exc)
        except Exception:
            log.exception("emulator error on %s %s", request.method, request.path)
            response = error_response(ApiError(500, 500, "Internal emulator error."))
        entry["status"] = response.status_code
        self.state.log_request(entry)
        return response

    def _apply_faults(self, request: Request, entry: dict[str, Any]) -> Fault | None:
        """Apply the faults that act before the request is handled; return a lost_answer fault, which acts after."""
        faults = {f.kind: f for f in self.state.take_faults(request.method, request.path)}
        if not faults:
            return None
        entry["faults"] = sorted(faults)
        latency = faults.get("latency")
        if latency is not None and latency.seconds > 0:
            self.state.sleep(latency.seconds)  # outside the state lock
        if "drop" in faults:
            raise DropConnection("connection dropped by an injected fault")
        forced_429 = faults.get("rate_limit")
        if forced_429 is not None:
            raise rate_limited(forced_429.reset_seconds, self.state.config.send_retry_after)
        error = faults.get("error")
        if error is not None:
            raise _error_fault(error)
        return faults.get("lost_answer")

    def _handle(self, request: Request, route: Route) -> dict[str, Any]:
        if "basic" in route.security_schemes:
            auth = request.authorization
            if auth is None or auth.type != "basic" or auth.username is None or auth.password is None:
                raise authentication_failed()
            self.state.authenticate_client(auth.username, auth.password)
            validated = self.spec.validate_request(request, route)
            if route.operation_id == "oauth/token":
                return self.state.token_grant(auth.username, auth.password, validated.body)
        else:
            self.state.check_bearer(_bearer_token(request), route.scopes)
            validated = self.spec.validate_request(request, route)
        handler = HANDLERS.get(route.operation_id)
        if handler is None:
            raise ApiError(501, 501, f"Operation {route.operation_id} is not implemented by the emulator.")
        return handler(self.state, validated)

    # -- /oauth/ (the authorize page of www.pinterest.com) ----------------------------------------------------
    def _authorize(self, request: Request) -> Response:
        """Auto-approve: redirect to redirect_uri with a new single-use code and the caller's state."""
        if request.method != "GET":
            raise ApiError(405, 405, f"Method {request.method} not allowed.")
        args = request.args
        client_id = args.get("client_id", "")
        redirect_uri = args.get("redirect_uri", "")
        if args.get("response_type") != "code":
            raise invalid_request("response_type must be code")
        if not redirect_uri:
            raise invalid_request("redirect_uri is required")
        code = self.state.issue_auth_code(client_id, redirect_uri, args.get("scope"))
        params = {"code": code}
        if "state" in args:
            params["state"] = args["state"]
        return Response(status=302, headers={"Location": _add_query(redirect_uri, params)})

    def _logged(
        self, request: Request, handler: Callable[[Request], Response], template: str, operation_id: str
    ) -> Response:
        entry: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "template": template,
            "operation_id": operation_id,
        }
        try:
            response = handler(request)
        except ApiError as exc:
            response = error_response(exc)
        entry["status"] = response.status_code
        self.state.log_request(entry)
        return response


def _error_fault(fault: Fault) -> ApiError:
    return ApiError(fault.status, fault.code if fault.code is not None else fault.status, fault.message)


def _bearer_token(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _records_summary(request: Request) -> dict[str, Any]:
    """Number of records and operation type of a customer-list write, for the request log (never the values)."""
    try:
        body = json.loads(request.get_data())
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    summary: dict[str, Any] = {}
    if isinstance(body.get("records"), str):
        summary["records"] = len(split_records(body["records"]))
    if isinstance(body.get("operation_type"), str):
        summary["operation_type"] = body["operation_type"]
    return summary


def _add_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))
