"""The one base of every configuration model: frozen, and unknown keys refused."""

from pydantic import BaseModel, ConfigDict


class FrozenModel(BaseModel):
    """A validated configuration: immutable once read; a key it does not know is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)
