"""Base class of every configurable part: strict, immutable, and closed to unknown keys."""

from __future__ import annotations

import pydantic


class Component(pydantic.BaseModel):
    """A part selected and configured from YAML by its ``KIND``."""

    model_config = pydantic.ConfigDict(strict=True, frozen=True, extra="forbid")
