"""``gridq underwrite``: lifetime value with ageing and finance, and a sizing sweep."""

from pathlib import Path
from typing import Annotated

import typer

from gridq.cli.common import BundleArg, about_bundle, progress_bar, reports_errors


@reports_errors
def underwrite(
    bundle: BundleArg,
    sweep: Annotated[
        list[str] | None,
        typer.Option(
            help="A battery size to vary, NAME=START:STOP:STEP (stop included) or NAME=A,B,C; "
            "NAME is capacity_kwh, power_kw, charge_power_max_kw or discharge_power_max_kw. "
            "Repeat for a grid; sizes are ranked by NPV on the bundle's own year."
        ),
    ] = None,
) -> None:
    """Project the battery's life: writes underwriting.parquet, .json and .html."""
    from gridq.io import bundle as io

    with io.locked(bundle):
        _underwrite(bundle, sweep)


def _underwrite(bundle: Path, sweep: list[str] | None) -> None:
    from gridq.io import bundle as io
    from gridq.report import underwriting as page
    from gridq.runners import underwrite as underwriting

    inputs = io.read_bundle(bundle)
    site, run_config, timeseries = inputs.site, inputs.run_config, inputs.timeseries
    sizes = underwriting.parse_sweep(sweep) if sweep else None
    with about_bundle(bundle):
        sweep_table = None
        if sizes is not None:
            with progress_bar("sizing") as progress:
                sweep_table, best = underwriting.sweep_sizes(
                    site, run_config, timeseries, sizes, progress
                )
            site = underwriting.sized(site, {name: best[name] for name in sizes})
        with progress_bar("underwriting") as progress:
            result = underwriting.underwrite(site, run_config, timeseries, progress)
    summary = result.summary
    tables = {io.UNDERWRITING_YEARS: result.years}
    if sweep_table is not None:
        summary = summary | {"sweep": {"sizes": sweep_table.to_dict("records"), "best": best}}
        tables[io.UNDERWRITING_SWEEP] = sweep_table
    html = page.build_underwriting_report(site, result.years, summary, sweep_table)
    io.write_underwriting(bundle, tables, summary, html)
    reference = summary["reference"]
    irr, payback = reference["irr_frac"], reference["simple_payback_years"]
    if sweep_table is not None:
        chosen = ", ".join(f"{name} {best[name]:g}" for name in sizes)
        typer.echo(f"{bundle}: NPV-best size of {len(sweep_table)}: {chosen}")
    typer.echo(
        f"{bundle}: achievable NPV {reference['npv_gbp']:,.0f} GBP (perfect-foresight bound "
        f"{summary['perfect_foresight_bound']['npv_gbp']:,.0f} GBP), IRR "
        + ("n/a" if irr is None else f"{irr:.1%}")
        + ", payback "
        + ("never" if payback is None else f"{payback:.1f} years")
        + f", SOH after {summary['life_years']} years "
        f"{reference['soh_end_by_year_frac'][-1]:.1%}; {bundle / io.UNDERWRITING_REPORT} written"
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("underwrite")(underwrite)
