"""`gridq solve --write-lp`: the run's LP as a file that HiGHS reads back to the same optimum."""

import json

import highspy
import pytest

from gridq.io import bundle as io
from tests.conftest import PARAMS, invoke


@pytest.mark.parametrize(("suffix", "named"), [(".mps", True), (".lp", False)])
def test_the_written_lp_solves_to_the_runs_objective(tmp_path, suffix, named):
    folder = tmp_path / "site"
    generated = invoke(
        "generate", "commercial_demand_charge", "--params", PARAMS, "--out", folder, "--days", 2
    )
    assert generated.exit_code == 0, generated.output
    lp_file = tmp_path / f"run{suffix}"
    result = invoke("solve", folder, "--write-lp", lp_file)
    assert result.exit_code == 0, result.output
    text = lp_file.read_text()
    assert ("site_power_balance" in text) is named
    assert ("grid_import_kw" in text) is named
    assert not list(tmp_path.glob(".*staged*"))
    highs = highspy.Highs()
    highs.silent()
    highs.readModel(str(lp_file))
    highs.run()
    assert highs.modelStatusToString(highs.getModelStatus()) == "Optimal"
    stats = json.loads((folder / io.SOLVE_STATS).read_text())
    assert highs.getInfo().objective_function_value == pytest.approx(
        stats["objective_gbp"], rel=1e-9, abs=1e-6
    )


def test_an_lp_file_must_end_in_lp(tmp_path):
    folder = tmp_path / "site"
    invoke("generate", "commercial_demand_charge", "--params", PARAMS, "--out", folder, "--days", 1)
    result = invoke("solve", folder, "--write-lp", tmp_path / "run.txt")
    assert result.exit_code == 2
    assert "the file must end in .mps (named) or .lp (numbered)" in result.stderr
    assert not (tmp_path / "run.txt").exists()
    assert not (folder / io.SOLVE_STATS).exists()


def test_an_lp_file_in_a_missing_folder_is_refused_before_anything_is_written(tmp_path):
    folder = tmp_path / "site"
    invoke("generate", "commercial_demand_charge", "--params", PARAMS, "--out", folder, "--days", 1)
    result = invoke("solve", folder, "--write-lp", tmp_path / "missing" / "run.mps")
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0
    assert "folder" in result.stderr
    assert "does not exist; create it or choose another" in result.stderr
    assert not (folder / io.SOLVE_STATS).exists()
