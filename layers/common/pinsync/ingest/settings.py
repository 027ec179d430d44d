"""The ingest authorizer's settings (``functions/ingest_authorizer``): the environment ``template.yaml`` gives it."""

from __future__ import annotations

from pydantic import Field

from pinsync.core.settings import Settings


class IngestAuthorizerSettings(Settings):
    """The secret holding the door's bearer token (``door.IngestTokenSecret``), and how long a read is reused."""

    ingest_token_secret_id: str = Field(min_length=1)
    # As long as API Gateway caches a policy (AuthorizerResultTtlInSeconds): a rotated token works within ~2 x this.
    ingest_token_cache_seconds: int = Field(default=300, ge=0, le=3600)
