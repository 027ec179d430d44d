"""The rotation function's settings (``functions/token_rotation``): the environment ``template.yaml`` gives it."""

from __future__ import annotations

from pydantic import Field

from pinsync.core.settings import PinterestAccess


class RotationSettings(PinterestAccess):
    """The secret comes from the event, not from a variable."""

    event_bus_name: str = Field(default="default", min_length=1)
    destination_name: str = Field(default="pinsync", min_length=1, max_length=100)
