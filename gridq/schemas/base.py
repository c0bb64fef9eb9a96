"""The one base of every configuration model (frozen, unknown keys refused) and shared types."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
"""A share in [0, 1] (fields named ``*_frac``)."""


class FrozenModel(BaseModel):
    """A validated configuration: immutable once read; a key it does not know is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)
