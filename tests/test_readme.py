"""The README's config examples stay valid."""

import re
from pathlib import Path

import yaml

from gridq.schemas import RunConfig, Site

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_yaml_examples_validate():
    site_yaml, run_yaml = re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S)
    assert Site.model_validate(yaml.safe_load(site_yaml)).battery.capacity_kwh == 13.5
    run_config = RunConfig.model_validate(yaml.safe_load(run_yaml))
    assert [c.name for c in run_config.tariff.demand_charges] == ["monthly_peak", "evening_peak"]
    assert run_config.tariff.bank_holidays == "england_and_wales"
    assert run_config.tariff.demand_charges[1].partial_blocks == "mean_of_present"
    assert run_config.underwriting == type(run_config.underwriting)()
    assert run_config.plausibility == type(run_config.plausibility)()
