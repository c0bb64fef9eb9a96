"""Tariffs: compiled once per run, priced by the bill, and written into the LP.

- :mod:`~gridq.engine.tariff.compile`: a :class:`~gridq.schemas.tariff.Tariff` (the validated
  input, kept with every other schema in :mod:`gridq.schemas`) and a timeseries into per-step
  arrays;
- :mod:`~gridq.engine.tariff.compiled`: those arrays, cut to windows without compiling again;
- :mod:`~gridq.engine.tariff.families`: the constraint families the tariff brings to the LP.
"""

from gridq.engine.tariff.compile import compile_tariff, working_days
from gridq.engine.tariff.compiled import CompiledTariff, PeakCharge

__all__ = ["CompiledTariff", "PeakCharge", "compile_tariff", "working_days"]
