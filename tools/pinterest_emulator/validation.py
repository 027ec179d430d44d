"""Validation of requests (and, for tests, responses) against Pinterest's OpenAPI description with openapi-core.

The spec is loaded once per process (`get_spec()`, a lazy module-level singleton). Its only server is
`https://api.pinterest.com/v5`; local requests are validated as if they had been sent to that host, which makes
validation independent of the emulator's host and port.

Two adjustments to how the spec is used, both deliberate:
- `security` is removed from the copy given to openapi-core: the emulator enforces auth itself (openapi-core has
  no provider for the oauth2 scheme), with Pinterest's error codes.
- openapi-core ignores `discriminator` on a plain object schema, so `POST /oauth/token` would accept
  `grant_type=authorization_code` without `code`. After openapi-core, the value is also checked against the schema
  the discriminator maps to (e.g. `OauthAccessTokenRequestCode`, which requires `code` and `redirect_uri`).
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openapi_core import Config, OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest
from openapi_core.templating.media_types.exceptions import MediaTypeNotFound
from openapi_core.validation.request.exceptions import (
    InvalidParameter,
    InvalidRequestBody,
    MissingRequestBody,
    MissingRequiredParameter,
    MissingRequiredRequestBody,
)
from openapi_core.validation.schemas import (
    oas30_read_schema_validators_factory,
    oas30_write_schema_validators_factory,
)
from openapi_core.validation.schemas.exceptions import InvalidSchemaValue
from openapi_core.validation.schemas.factories import SchemaValidatorsFactory
from werkzeug.datastructures import Headers
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from .errors import CODE_METHOD_NOT_ALLOWED, ApiError, invalid_request, not_found

SPEC_FILE = Path(__file__).parent / "spec" / "openapi.json"
SPEC_HOST = "https://api.pinterest.com"
API_PREFIX = "/v5"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass(frozen=True)
class Route:
    """One operation of the spec."""

    template: str  # relative to /v5, e.g. "/ad_accounts/{ad_account_id}"
    method: str  # upper case
    operation_id: str
    security_schemes: frozenset[str]  # e.g. {"basic"} or {"pinterest_oauth2", "client_credentials"}
    scopes: frozenset[str]  # pinterest_oauth2 scopes the operation requires


@dataclass
class ValidatedRequest:
    route: Route
    path_params: dict[str, Any]
    query: dict[str, Any]
    body: dict[str, Any] = field(default_factory=dict)


class _PathTemplate:
    def __init__(self, template: str) -> None:
        self.template = template
        self.literal_segments = sum(1 for seg in template.split("/") if seg and "{" not in seg)
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
        self.regex = re.compile(f"^{pattern}$")


class _SpecRequest(WerkzeugOpenAPIRequest):
    """The werkzeug request as openapi-core sees it, re-homed onto the spec's server host."""

    @property
    def host_url(self) -> str:
        return SPEC_HOST


class Spec:
    """The loaded spec: routing table, openapi-core validators and the discriminator check."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        stripped = copy.deepcopy(raw)
        stripped.pop("security", None)
        self.routes: dict[str, dict[str, Route]] = {}
        for template, item in stripped["paths"].items():
            for method in _METHODS:
                operation = item.get(method)
                if not isinstance(operation, dict):
                    continue
                security = operation.pop("security", None) or raw.get("security") or []
                schemes = frozenset(name for requirement in security for name in requirement)
                scopes = frozenset(
                    scope for requirement in security[:1] for scope in requirement.get("pinterest_oauth2", [])
                )
                route = Route(template, method.upper(), operation.get("operationId", ""), schemes, scopes)
                self.routes.setdefault(template, {})[method.upper()] = route
        self._templates = sorted(
            (_PathTemplate(t) for t in self.routes), key=lambda t: t.literal_segments, reverse=True
        )
        # The spec was validated upstream; skipping openapi-spec-validator keeps start-up fast.
        self.openapi = OpenAPI.from_dict(stripped, config=Config(spec_validator_cls=None))

    # -- routing ----------------------------------------------------------------------------------------------
    def find_route(self, method: str, path: str) -> Route:
        """Find the operation for a path under /v5 (`path` includes the /v5 prefix)."""
        relative = path[len(API_PREFIX) :] if path.startswith(API_PREFIX) else path
        for template in self._templates:
            if template.regex.match(relative):
                route = self.routes[template.template].get(method.upper())
                if route is None:
                    raise ApiError(405, CODE_METHOD_NOT_ALLOWED, f"Method {method.upper()} not allowed.")
                return route
        raise not_found("Resource")

    # -- requests ---------------------------------------------------------------------------------------------
    def validate_request(self, request: Request, route: Route) -> ValidatedRequest:
        """Validate path, query and body; raise ApiError(400, code 1) describing the first problems found."""
        result = self.openapi.unmarshal_request(_SpecRequest(request))
        problems = [p for error in result.errors for p in _describe_request_error(error)]
        body: dict[str, Any] = {}
        if not problems:
            mimetype = request.mimetype
            if mimetype == "application/x-www-form-urlencoded":
                body = request.form.to_dict()
            elif isinstance(result.body, dict):
                body = result.body
            schema = self._body_schema(route, mimetype)
            if schema is not None and body:
                problems = self._discriminator_errors(schema, body, oas30_write_schema_validators_factory, "body")
        if problems:
            raise invalid_request("; ".join(problems[:5]))
        params = result.parameters
        return ValidatedRequest(route, dict(params.path), dict(params.query), body)

    def _body_schema(self, route: Route, mimetype: str) -> dict[str, Any] | None:
        operation = self.raw["paths"][route.template][route.method.lower()]
        media = operation.get("requestBody", {}).get("content", {}).get(mimetype)
        return media.get("schema") if media else None

    # -- responses (used by tests) ----------------------------------------------------------------------------
    def response_errors(
        self,
        method: str,
        path: str,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        query: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Every way an emulator response deviates from the spec (empty list when it conforms)."""
        builder = EnvironBuilder(path=path, method=method.upper(), query_string=dict(query or {}))
        request = _SpecRequest(builder.get_request())
        response = _SpecResponse(status, content_type, body)
        result = self.openapi.unmarshal_response(request, response)
        problems = [_describe_error(error) for error in result.errors]
        if not problems and content_type.startswith("application/json"):
            route = self.find_route(method, path)
            responses = self.raw["paths"][route.template][route.method.lower()]["responses"]
            spec_response = responses.get(str(status)) or responses.get("default") or {}
            schema = spec_response.get("content", {}).get("application/json", {}).get("schema")
            value = json.loads(body)
            if schema is not None and isinstance(value, dict):
                problems = self._discriminator_errors(schema, value, oas30_read_schema_validators_factory, "response")
        return problems

    # -- discriminator ----------------------------------------------------------------------------------------
    def _discriminator_errors(
        self, schema: dict[str, Any], value: dict[str, Any], factory: SchemaValidatorsFactory, where: str
    ) -> list[str]:
        ref = schema.get("$ref", "")
        if not ref.startswith("#/components/schemas/"):
            return []
        target = self.raw["components"]["schemas"][ref.rsplit("/", 1)[1]]
        discriminator = target.get("discriminator")
        if not discriminator:
            return []
        mapped = discriminator.get("mapping", {}).get(value.get(discriminator["propertyName"]))
        if not mapped:
            return []
        schema_path = self.openapi.spec / "components" / "schemas" / mapped.rsplit("/", 1)[1]
        try:
            factory.create(self.openapi.spec, schema_path).validate(value)
        except InvalidSchemaValue as exc:
            return [_describe_schema_error(error, where) for error in exc.schema_errors]
        return []


@dataclass
class _SpecResponse:
    status_code: int
    content_type: str
    data: bytes
    headers: Headers = field(default_factory=Headers)


def _describe_request_error(error: Exception) -> list[str]:
    if isinstance(error, MissingRequiredParameter):
        return [f"missing required {error.location} parameter '{error.name}'"]
    if isinstance(error, InvalidParameter):
        details = _schema_errors(error.__cause__)
        where = f"{error.location} parameter '{error.name}'"
        return [f"{where} {d}" for d in details] or [f"{where} is invalid"]
    if isinstance(error, MissingRequiredRequestBody):
        return ["request body is required"]
    if isinstance(error, MissingRequestBody):
        return []
    if isinstance(error, InvalidRequestBody):
        return [_describe_schema_error(e, "body") for e in _raw_schema_errors(error.__cause__)] or [
            "request body is invalid"
        ]
    return [_describe_error(error)]


def _describe_error(error: Exception) -> str:
    cause = error.__cause__
    if isinstance(cause, MediaTypeNotFound):
        return f"unsupported content type {cause.mimetype!r}"
    schema_errors = list(_raw_schema_errors(cause))
    if schema_errors:
        return "; ".join(_describe_schema_error(e, "body") for e in schema_errors)
    if cause is not None and "deserialize" in str(cause).lower():
        return "request body could not be parsed for its content type"
    return type(error).__name__ if cause is None else f"{type(error).__name__}: {type(cause).__name__}"


def _raw_schema_errors(cause: BaseException | None) -> Iterable[Any]:
    return list(getattr(cause, "schema_errors", None) or [])


def _schema_errors(cause: BaseException | None) -> list[str]:
    return [_describe_schema_error(e, "").strip() for e in _raw_schema_errors(cause)]


def _describe_schema_error(error: Any, where: str) -> str:
    """Describe a jsonschema error without echoing the offending value (it may be personal data)."""
    kind = getattr(error, "validator", None)  # a jsonschema ValidationError (duck-typed: jsonschema has no stubs)
    if not isinstance(kind, str):
        return f"{where} is invalid".strip()
    location = ".".join([where, *(str(p) for p in getattr(error, "absolute_path", ()))]).strip(".")
    expected = getattr(error, "validator_value", None)
    if kind == "required":
        # "'name' is a required property": names a property, never a value
        text = str(getattr(error, "message", "a required property is missing"))
    elif kind == "type":
        text = f"must be of type {expected}"
    elif kind == "enum":
        text = f"must be one of {expected}"
    elif kind == "pattern":
        text = f"must match the pattern {expected}"
    elif kind in ("maximum", "minimum", "maxLength", "minLength", "maxItems", "minItems"):
        text = f"violates {kind} {expected}"
    else:
        text = f"fails the {kind} constraint"
    return f"{location} {text}".strip()


_spec: Spec | None = None
_spec_lock = threading.Lock()


def get_spec() -> Spec:
    """The process-wide Spec, loaded on first use."""
    global _spec
    if _spec is None:
        with _spec_lock:
            if _spec is None:
                _spec = Spec(json.loads(SPEC_FILE.read_text(encoding="utf-8")))
    return _spec
