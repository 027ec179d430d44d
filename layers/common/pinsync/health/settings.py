"""The health function's settings (``functions/audience_health``): the environment ``template.yaml`` gives it."""

from __future__ import annotations

from pydantic import Field

from pinsync.sync.settings import PinterestSettings


class HealthSettings(PinterestSettings):
    """Pinterest through the token secret, the state table (mappings in, HEALTH items out) and the event bus."""

    state_table_name: str = Field(min_length=1)
    event_bus_name: str = Field(default="default", min_length=1)
    destination_name: str = Field(default="pinsync", min_length=1, max_length=100)
