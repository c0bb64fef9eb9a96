"""Write a run's LP to a file HiGHS and other solvers read, whole or not at all."""

import os
from pathlib import Path

from linopy import Model
from linopy.io import to_highspy

from gridq.errors import ConfigError

LP_FORMATS = (".mps", ".lp")


def write_lp_file(model: Model, path: Path) -> None:
    """Write ``model`` to ``path``: free MPS (``.mps``) or CPLEX LP (``.lp``).

    MPS keeps the variables' and rows' names with their coordinates; LP format cannot hold
    those characters, so its variables and rows are linopy's numbers. The file is written
    beside ``path`` first and renamed, so a failure never leaves half a file.
    """
    if path.suffix not in LP_FORMATS:
        raise ConfigError(f"--write-lp {path}: the file must end in .mps (named) or .lp (numbered)")
    if not path.parent.is_dir():
        raise ConfigError(
            f"--write-lp {path}: folder {path.parent} does not exist; create it or choose another"
        )
    staged = path.with_name(f".{path.name}.staged{path.suffix}")
    try:
        if path.suffix == ".mps":
            highs = to_highspy(model, explicit_coordinate_names=True, set_names=True)
            highs.silent()
            highs.writeModel(str(staged))
        else:
            model.to_file(staged, progress=False)
        os.replace(staged, path)
    finally:
        staged.unlink(missing_ok=True)
