"""The LP's structure, built but not solved."""

import pytest

from gridq.engine.model import names
from gridq.engine.model.build import build_model
from gridq.engine.model.problem import make_problem
from gridq.schemas import SolverOptions
from gridq.schemas.tariff import DemandCharge, Tariff
from tests.conftest import make_run_config, make_site, make_timeseries


def _model(**run_fields):
    timeseries = make_timeseries([1.0] * 8, start="2025-01-31T23:00Z")
    site = make_site(terminal_soc="at_least_initial")
    return build_model(make_problem(site, make_run_config(**run_fields), timeseries))


def test_variables_and_constraints_have_their_names_and_sizes():
    tariff = Tariff(demand_charges=(DemandCharge(name="monthly", rate_gbp_per_kw=1.0),))
    model = _model(tariff=tariff)
    for variable in (
        names.GRID_IMPORT_KW,
        names.GRID_EXPORT_KW,
        names.BATTERY_CHARGE_KW,
        names.BATTERY_DISCHARGE_KW,
        names.BATTERY_SOC_KWH,
        names.PV_CURTAIL_KW,
    ):
        assert model.variables[variable].shape == (8,)
    # 23:00-00:00 in January and 00:00-01:00 in February: two billing periods.
    assert list(model.variables[names.peak_variable("monthly")].indexes["period"]) == [
        "monthly:2025-01",
        "monthly:2025-02",
    ]
    assert model.constraints[names.SITE_POWER_BALANCE].shape == (8,)
    assert model.constraints[names.BATTERY_SOC_DYNAMICS].shape == (7,)
    assert model.constraints[names.BATTERY_SOC_INITIAL].shape == (1,)
    assert model.constraints[names.BATTERY_SOC_TERMINAL].shape == (1,)
    assert model.constraints[names.peak_floor("monthly")].shape == (8,)
    assert not model.binaries


def test_binary_switch_only_when_asked():
    model = _model(solver=SolverOptions(forbid_simultaneous_charge_discharge=True))
    assert names.BATTERY_CHARGING_ON in model.binaries
    with pytest.raises(KeyError):
        _model().variables[names.BATTERY_CHARGING_ON]


def test_time_sharing_only_where_export_pays_more_than_import():
    timeseries = make_timeseries(
        [1.0] * 6, import_price=[0.1, 0.3, 0.1, 0.3, 0.3, 0.3], export_price=0.2
    )
    model = build_model(make_problem(make_site(), make_run_config(), timeseries))
    share = model.variables[names.GRID_IMPORTING_SHARE_FRAC]
    assert list(share.indexes[names.TIME]) == list(timeseries.index[[0, 2]])
    no_share = build_model(
        make_problem(make_site(), make_run_config(), make_timeseries([1.0] * 6, export_price=0.2))
    )
    assert names.GRID_IMPORTING_SHARE_FRAC not in no_share.variables
