"""The README's config examples stay valid."""

import re
import textwrap
from pathlib import Path

import yaml

from gridq.schemas import RunConfig, Site
from gridq.schemas.devices import Control
from gridq.schemas.fleet import Coupling, Fleet
from gridq.schemas.live import LiveConfig

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_yaml_examples_validate():
    fleet_yaml, coupling_yaml, live_yaml, control_yaml, site_yaml, run_yaml = (
        textwrap.dedent(block)
        for block in re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S)
    )
    live = LiveConfig.model_validate(yaml.safe_load(live_yaml))
    defaults = {"device": {"map": "gridq_sim", "port": 5020}, "api": {}}
    assert live == LiveConfig.model_validate(defaults)
    control = Control.model_validate(yaml.safe_load(control_yaml)["control"])
    assert control.heartbeat is not None
    assert control.heartbeat.every_s == 30
    coupling = Coupling.model_validate(yaml.safe_load(coupling_yaml)["coupling"])
    assert coupling.method == "decomposed"
    assert [event.reduction_kw for event in coupling.flexibility_events] == [60]
    fleet = Fleet.model_validate(yaml.safe_load(fleet_yaml))
    assert [site.name for site in fleet.sites] == ["shop-01", "home-01"]
    assert [scenario.name for scenario in fleet.scenarios] == ["base", "high_wear"]
    assert Site.model_validate(yaml.safe_load(site_yaml)).battery.capacity_kwh == 13.5
    run_config = RunConfig.model_validate(yaml.safe_load(run_yaml))
    assert [c.name for c in run_config.tariff.demand_charges] == ["monthly_peak", "evening_peak"]
    assert run_config.tariff.bank_holidays == "england_and_wales"
    assert run_config.tariff.demand_charges[1].partial_blocks == "mean_of_present"
    assert run_config.underwriting == type(run_config.underwriting)()
    assert run_config.plausibility == type(run_config.plausibility)()
