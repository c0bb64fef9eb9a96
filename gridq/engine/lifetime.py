"""A battery's life, year by year: escalated tariff, grown load, optimum, ageing and cash flow.

Every project year re-optimises the bundle's year (its timeseries stands for one year; a shorter
one is scaled up) with the battery's usable capacity at that year's state of health and the
tariff escalated, prices it with the one bill against the site without a battery, then ages the
battery from the SOC profile of the year as operated (see :class:`Operation`). Below the
replacement SOH the battery is replaced at the end of the year. The cash flows give NPV, IRR,
paybacks and the levelised cost of storage.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gridq import conventions as col
from gridq.engine import finance
from gridq.engine.baseline import no_battery
from gridq.engine.bill import bill
from gridq.engine.degradation import age_one_year
from gridq.engine.model.inplace import InPlaceHighs
from gridq.engine.model.solve import highs_options
from gridq.engine.run import optimise
from gridq.engine.sums import exact_sum
from gridq.engine.tariff import compile_tariff
from gridq.engine.underwriting_draws import Assumptions, central, weather_year
from gridq.errors import ConfigError
from gridq.schemas import RunConfig, Site, Underwriting
from gridq.schemas.tariff import Tariff

DAYS_PER_YEAR = 365.0


def escalated_tariff(tariff: Tariff, factor: float) -> Tariff:
    """``tariff`` with every money field (a name containing ``gbp``) times ``factor``."""

    def scale(data: Any) -> Any:
        if isinstance(data, dict):
            return {
                key: value * factor
                if "gbp" in key and isinstance(value, int | float) and not isinstance(value, bool)
                else scale(value)
                for key, value in data.items()
            }
        if isinstance(data, list):
            return [scale(item) for item in data]
        return data

    return Tariff.model_validate(scale(tariff.model_dump(mode="json")))


def escalated_timeseries(timeseries: pd.DataFrame, factor: float) -> pd.DataFrame:
    """The price columns times ``factor``."""
    return timeseries.assign(
        **{
            col.IMPORT_PRICE: timeseries[col.IMPORT_PRICE] * factor,
            col.EXPORT_PRICE: timeseries[col.EXPORT_PRICE] * factor,
        }
    )


def capex_gbp(site: Site, options: Underwriting) -> float:
    """Capex of the site's battery: per kWh, per kW of its larger power, plus fixed."""
    battery = site.battery
    power_kw = max(battery.charge_power_max_kw, battery.discharge_power_max_kw)
    return (
        options.capex_gbp_per_kwh * battery.capacity_kwh
        + options.capex_gbp_per_kw * power_kw
        + options.capex_fixed_gbp
    )


def share_of_year(timeseries: pd.DataFrame, run_config: RunConfig) -> float:
    """The share of a 365-day year that ``timeseries`` covers."""
    return len(timeseries) * run_config.timestep_min / (60 * 24 * DAYS_PER_YEAR)


def _with_capacity(site: Site, capacity_kwh: float) -> Site:
    return site.model_copy(
        update={"battery": site.battery.model_copy(update={"capacity_kwh": capacity_kwh})}
    )


@dataclass(frozen=True)
class Operation:
    """How a weather year is operated without foresight (rolling runs of it, as new and worn).

    ``captured_frac`` is the share of the perfect-foresight savings a rolling run at year-one
    conditions kept; ``worn_captured_frac`` the share kept at the last project year's conditions
    with the battery worn to ``worn_soh_frac`` (None: not measured, the year-one share holds).
    ``soc_frac`` is the year-one run's stored energy per step as a share of the battery's
    capacity, over ``share_of_year`` of a year: the profile every project year of that weather
    year ages on.
    """

    captured_frac: float = 1.0
    soc_frac: np.ndarray | None = None
    share_of_year: float = 1.0
    worn_captured_frac: float | None = None
    worn_soh_frac: float = 1.0

    def captured_frac_at(self, soh_frac: float) -> float:
        """The share kept by a battery at ``soh_frac``: linear in SOH between the two runs."""
        if self.worn_captured_frac is None or self.worn_soh_frac >= 1.0:
            return self.captured_frac
        per_soh = (self.captured_frac - self.worn_captured_frac) / (1.0 - self.worn_soh_frac)
        return float(np.clip(self.captured_frac - per_soh * (1.0 - soh_frac), 0.0, 1.0))


@dataclass(frozen=True)
class YearConditions:
    """A project year: the battery at ``soh_frac``, the escalated tariff, the grown load."""

    year: int
    soh_frac: float
    site: Site
    run_config: RunConfig
    timeseries: pd.DataFrame
    tariff_escalation_factor: float
    load_growth_factor: float


def year_conditions(
    site: Site,
    run_config: RunConfig,
    weather: pd.DataFrame,
    year: int,
    soh_frac: float,
    assumed: Assumptions,
) -> YearConditions:
    """Project year ``year`` of ``weather`` under ``assumed``, the battery at ``soh_frac``."""
    factor = (1.0 + assumed.tariff_escalation_frac_per_year) ** (year - 1)
    load_factor = (1.0 + assumed.load_growth_frac_per_year) ** (year - 1)
    return YearConditions(
        year=year,
        soh_frac=soh_frac,
        site=_with_capacity(site, site.battery.capacity_kwh * soh_frac),
        run_config=run_config.model_copy(
            update={"tariff": escalated_tariff(run_config.tariff, factor)}
        ),
        timeseries=escalated_timeseries(weather, factor).assign(
            **{col.LOAD_KW: weather[col.LOAD_KW] * load_factor}
        ),
        tariff_escalation_factor=factor,
        load_growth_factor=load_factor,
    )


def _operate_year(
    conditions: YearConditions, ageing_factor: float, highs: InPlaceHighs, operation: Operation
) -> dict[str, Any]:
    """A project year of a life (see :func:`year_conditions`): optimum, bill, ageing.

    Money and energy are per year (the timeseries scaled up to one year). The battery ages on
    the operated SOC profile (``operation.soc_frac`` of this year's usable capacity) where
    there is one, else on the optimum's; ``ageing_factor`` scales its fade.
    """
    year_site, year_config, year_series = (
        conditions.site,
        conditions.run_config,
        conditions.timeseries,
    )
    options = year_config.underwriting
    year_share = share_of_year(year_series, year_config)
    tariff = compile_tariff(year_config.tariff, year_series)
    try:
        optimised = optimise(year_site, year_config, year_series, tariff, highs)
    except ConfigError as error:
        raise ConfigError(
            f"underwriting year {conditions.year}, load x{conditions.load_growth_factor:.3f} "
            f"by growth: {error}"
        ) from None
    without = no_battery(optimised.problem)
    wear = year_site.battery.degradation_cost_gbp_per_kwh
    with_gbp = optimised.summary.bill.supplier_bill_gbp / year_share
    without_gbp = bill(without, tariff, wear).supplier_bill_gbp / year_share
    dispatch = optimised.dispatch
    usable_kwh = year_site.battery.capacity_kwh
    ageing = (
        age_one_year(dispatch[col.SOC_KWH].to_numpy(), usable_kwh, year_share, options.degradation)
        if operation.soc_frac is None
        else age_one_year(
            operation.soc_frac * usable_kwh,
            usable_kwh,
            operation.share_of_year,
            options.degradation,
        )
    )
    cycle_fade = ageing.cycle_fade_frac * ageing_factor
    calendar_fade = ageing.calendar_fade_frac * ageing_factor
    dt_h = year_config.timestep_min / 60
    soh_frac = conditions.soh_frac
    return {
        "tariff_escalation_factor": conditions.tariff_escalation_factor,
        "load_growth_factor": conditions.load_growth_factor,
        "soh_start_frac": soh_frac,
        "usable_capacity_kwh": usable_kwh,
        "cycle_fade_frac": cycle_fade,
        "calendar_fade_frac": calendar_fade,
        "soh_end_frac": max(soh_frac - cycle_fade - calendar_fade, 0.0),
        "equivalent_full_cycles": ageing.equivalent_full_cycles,
        "discharge_kwh": exact_sum(dispatch[col.BATTERY_DISCHARGE_KW].to_numpy())
        * dt_h
        / year_share,
        "no_battery_bill_gbp": without_gbp,
        "perfect_bill_gbp": with_gbp,
        "perfect_savings_gbp": without_gbp - with_gbp,
    }


def shared_highs(run_config: RunConfig) -> InPlaceHighs:
    """One HiGHS model for whole-year solves that differ only in numbers, updated in place."""
    return InPlaceHighs(highs_options(run_config.solver, whole_run=True))


def project_years(
    site: Site,
    run_config: RunConfig,
    timeseries: pd.DataFrame,
    assumed: Assumptions | None = None,
    progress: Callable[[], None] | None = None,
    operation: Operation | None = None,
    highs: InPlaceHighs | None = None,
) -> pd.DataFrame:
    """One life, a row per project year (year 0 is the investment); central if not ``assumed``.

    ``savings_gbp`` and ``cash_flow_gbp`` are achievable: perfect-foresight savings times
    the share ``operation`` keeps at the year's starting SOH, and the battery ages on the
    operated SOC profile (without an ``operation``: the bound, aged on the optimum);
    ``perfect_*`` columns keep the bound. Pass one ``highs`` to lives of one site so every solve
    starts from the last optimal basis.
    """
    options = run_config.underwriting
    assumed = assumed or central(options)
    variant = assumed.weather_year
    weather = weather_year(timeseries, variant, run_config)
    capex = capex_gbp(site, options)
    nameplate_kwh = site.battery.capacity_kwh
    rows: list[dict[str, Any]] = [
        {
            "variant": variant,
            "year": 0,
            "tariff_escalation_factor": 1.0,
            "load_growth_factor": 1.0,
            "ageing_factor": assumed.ageing_factor,
            "soh_start_frac": 1.0,
            "usable_capacity_kwh": nameplate_kwh,
            "soh_end_frac": 1.0,
            "capex_gbp": capex,
            "cash_flow_gbp": -capex,
            "perfect_cash_flow_gbp": -capex,
        }
    ]
    soh_frac = 1.0
    highs = highs or shared_highs(run_config)
    operation = operation or Operation()
    for year in range(1, options.life_years + 1):
        captured_frac = operation.captured_frac_at(soh_frac)
        operated = _operate_year(
            year_conditions(site, run_config, weather, year, soh_frac, assumed),
            assumed.ageing_factor,
            highs,
            operation,
        )
        replaced = (
            operated["soh_end_frac"] < options.replacement_soh_frac and year < options.life_years
        )
        replacement_gbp = options.replacement_cost_gbp_per_kwh * nameplate_kwh if replaced else 0.0
        residual_gbp = (
            residual_value_gbp(operated["soh_end_frac"], nameplate_kwh, options)
            if year == options.life_years
            else 0.0
        )
        opex_gbp = options.fixed_opex_gbp_per_year
        savings_gbp = operated["perfect_savings_gbp"] * captured_frac
        rows.append(
            {"variant": variant, "year": year, "ageing_factor": assumed.ageing_factor}
            | operated
            | {
                "captured_frac": captured_frac,
                "savings_gbp": savings_gbp,
                "capex_gbp": 0.0,
                "opex_gbp": opex_gbp,
                "replacement_gbp": replacement_gbp,
                "replaced": replaced,
                "residual_value_gbp": residual_gbp,
                "cash_flow_gbp": savings_gbp - opex_gbp - replacement_gbp + residual_gbp,
                "perfect_cash_flow_gbp": operated["perfect_savings_gbp"]
                - opex_gbp
                - replacement_gbp
                + residual_gbp,
            }
        )
        soh_frac = 1.0 if replaced else operated["soh_end_frac"]
        if progress is not None:
            progress()
    frame = pd.DataFrame(rows).fillna(0.0)
    frame["replaced"] = frame["replaced"].astype(bool)
    frame["discounted_cash_flow_gbp"] = frame["cash_flow_gbp"] * finance.discount_factors(
        options.discount_rate_frac, len(frame)
    )
    return frame


def residual_value_gbp(soh_end_frac: float, nameplate_kwh: float, options: Underwriting) -> float:
    """What the battery is worth when the project ends [GBP].

    ``residual_value_frac`` of a replacement's cost, pro rata to the health left above the
    replacement threshold: a pack replaced two years before the end keeps most of its value,
    one about to be replaced none.
    """
    remaining_frac = (soh_end_frac - options.replacement_soh_frac) / (
        1.0 - options.replacement_soh_frac
    )
    return (
        options.residual_value_frac
        * options.replacement_cost_gbp_per_kwh
        * nameplate_kwh
        * min(max(remaining_frac, 0.0), 1.0)
    )


def perfect_view(years: pd.DataFrame) -> pd.DataFrame:
    """The project years with perfect-foresight savings and cash flows in the headline columns."""
    return years.assign(
        savings_gbp=years["perfect_savings_gbp"], cash_flow_gbp=years["perfect_cash_flow_gbp"]
    )


def finance_summary(years: pd.DataFrame, options: Underwriting) -> dict[str, Any]:
    """NPV, IRR, paybacks, LCOS, throughput and SOH of one weather year's life."""
    rate = options.discount_rate_frac
    flows = years["cash_flow_gbp"].to_list()
    costs = (years["capex_gbp"] + years["opex_gbp"] + years["replacement_gbp"]).to_list()
    life = years[years["year"] > 0]
    return {
        "npv_gbp": finance.npv(rate, flows),
        "irr_frac": finance.irr(flows),
        "simple_payback_years": finance.payback_years(flows),
        "discounted_payback_years": finance.discounted_payback_years(rate, flows),
        "lcos_gbp_per_kwh": finance.levelised_cost_gbp_per_kwh(
            rate, costs, years["discharge_kwh"].to_list()
        ),
        "lifetime_throughput_kwh": exact_sum(life["discharge_kwh"].to_numpy()),
        "lifetime_savings_gbp": exact_sum(life["savings_gbp"].to_numpy()),
        "first_year_savings_gbp": float(life["savings_gbp"].iloc[0]),
        "replacements": int(life["replaced"].sum()),
        "residual_value_gbp": float(life["residual_value_gbp"].iloc[-1]),
        "soh_end_by_year_frac": [float(v) for v in life["soh_end_frac"]],
    }
