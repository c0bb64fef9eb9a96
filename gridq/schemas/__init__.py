"""Pydantic models of a site, a run and its tariff: the canonical, validated configuration.

``run.py`` holds the site and run models, ``tariff.py`` the declarative tariff,
``underwriting.py`` ageing, finance and uncertainty; every model
derives from :class:`~gridq.schemas.base.FrozenModel`.
"""

from gridq.schemas.run import (
    UNION_TAGS,
    Battery,
    GridConnection,
    Plausibility,
    RollingOptions,
    RunConfig,
    Site,
    SolverOptions,
    TerminalSocTarget,
)
from gridq.schemas.underwriting import CycleLifePoint, Degradation, Underwriting

__all__ = [
    "UNION_TAGS",
    "Battery",
    "CycleLifePoint",
    "Degradation",
    "GridConnection",
    "Plausibility",
    "RollingOptions",
    "RunConfig",
    "Site",
    "SolverOptions",
    "TerminalSocTarget",
    "Underwriting",
]
