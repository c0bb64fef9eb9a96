"""Every bad input of the catalogue, through the real CLI, each in its own process.

Each case must exit 2 with exactly one stderr line, ``error: ...``, that names the file, field or
option at fault, and leave every file that existed before byte-identical, with no temp file.
"""

import hashlib
import shutil
from pathlib import Path

import pytest
import yaml

from gridq.io import bundle as io
from tests.bad_inputs.cases import CASES, Case
from tests.conftest import PARAMS, REPO, invoke


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """The working folder every case copies: a backtested three-day home and its configs."""
    root = tmp_path_factory.mktemp("catalogue")
    params = yaml.safe_load(PARAMS.read_text())
    home = params["bundles"]["pv_battery_tou"]
    home["series"]["days"] = 3
    home["rolling"] = {"forecast": "persistence_day", "reoptimise_every_min": 60}
    params["bundles"] = {"home": home}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    shutil.copytree(REPO / "data" / "tariffs", root / "data" / "tariffs")
    shutil.copy(REPO / "data" / "tariffs" / "uk_home_tou.yaml", root / "tariff.yaml")
    shutil.copytree(REPO / "stages", root / "stages")
    for name, capacity in (("other", 5.0), ("b", None)):
        result = invoke("generate", "home", "--params", root / "params.yaml", "--out", root / name)
        assert result.exit_code == 0, result.output
        if capacity is not None:
            site = yaml.safe_load((root / name / io.SITE_CONFIG).read_text())
            site["battery"]["capacity_kwh"] = capacity
            (root / name / io.SITE_CONFIG).write_text(yaml.safe_dump(site))
        result = invoke("backtest", root / name)
        assert result.exit_code == 0, result.output
    shutil.move(root / "other" / io.DISPATCH, root / "other_dispatch.parquet")
    shutil.rmtree(root / "other")
    return root


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_the_catalogue_holds_at_least_150_distinct_bad_inputs():
    ids = [case.id for case in CASES]
    assert len(ids) >= 150
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_one_line_and_changes_nothing(case: Case, pristine, gridq_runner, tmp_path):
    root = tmp_path / "work"
    shutil.copytree(pristine, root)
    if case.edit is not None:
        case.edit(root)
    before = _hashes(root)
    result = gridq_runner.run(case.argv, root, case.env)
    lines = [line for line in result["stderr"].splitlines() if line.strip()]
    assert result["code"] == case.code, result
    assert len(lines) == 1 if case.one_line else len(lines) >= 1, result["stderr"]
    assert all(line.startswith("error: ") for line in lines), lines
    for name in case.names:
        assert name in lines[0], (name, lines[0])
    after = _hashes(root)
    assert {name: after.get(name) for name in before} == before
    assert not [name for name in after if name.endswith(".tmp")]
