"""JSON response helpers shared by the Pinterest API and the admin API."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Response

from .errors import ApiError


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


def error_response(error: ApiError) -> Response:
    return json_response(error.body(), error.status, error.headers)
