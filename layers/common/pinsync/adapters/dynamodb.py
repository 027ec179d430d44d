"""What the DynamoDB adapters share."""

from __future__ import annotations

from botocore.exceptions import ClientError


def condition_failed(error: ClientError) -> bool:
    """Whether a conditional write was refused because its condition did not hold (not an error of the call)."""
    code: object = error.response.get("Error", {}).get("Code")
    return code == "ConditionalCheckFailedException"
