"""The ``power`` command: the MDES, or the power to detect an effect, of a planned trial.

The command only reads its options and the design: :func:`analysis.power.resolve_inputs`
works out each input and where it came from, :func:`analysis.power.calculate` computes,
and :mod:`reports.power_text` words the table and the sentence.
"""

from __future__ import annotations

import json

import typer
from rich.table import Table

from flows.cli.base import bold, console, fail
from flows.tasks import resolve_design_path
from trial_designs.design import DesignError, load_design

__all__ = ["power"]

#: Options that are the command's own, not inputs of the calculation.
_NOT_INPUTS = ("ctx", "design", "as_json")


def power(
    ctx: typer.Context,
    design: str = typer.Argument(
        None,
        help="Optional design YAML or packaged design id: unit, clusters and allocation default to it.",
    ),
    n: int = typer.Option(
        ..., "--n", help="Individuals analysed, in the control arm and the arm compared with it."
    ),
    n_clusters: int = typer.Option(
        None, "--clusters", help="Number of clusters J (default: the design's listed clusters)."
    ),
    cluster_size: float = typer.Option(
        None, "--cluster-size", help="Average cluster size m, instead of --clusters (J = n / m)."
    ),
    icc: float = typer.Option(
        None, "--icc", help="Intra-cluster correlation of the outcome; required for cluster trials."
    ),
    r2: float = typer.Option(
        0.0, "--r2", help="Share of outcome variance explained by baseline covariates (R²)."
    ),
    n_covariates: int = typer.Option(
        0,
        "--covariates",
        help="Covariates that cost degrees of freedom (cluster-level in cluster trials).",
    ),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level of the planned test."),
    power: float = typer.Option(
        None, "--power", help="Target power when solving for the MDES (default 0.8)."
    ),
    effect_size: float = typer.Option(
        None, "--effect-size", help="A true effect in SD units: report the power to detect it."
    ),
    allocation: float = typer.Option(
        None,
        "--allocation",
        help="Share allocated to treatment, P (default: from the design's arm ratios, else 0.5).",
    ),
    distribution: str = typer.Option(
        "t", "--distribution", help="t (df from the design) or normal (large-sample)."
    ),
    alternative: str = typer.Option("two-sided", "--alternative", help="two-sided or one-sided."),
    as_json: bool = typer.Option(False, "--json", help="Print the calculation as JSON."),
) -> None:
    """Minimum detectable effect size (MDES), or the power to detect --effect-size (Bloom 2006)."""
    from analysis.power import calculate, resolve_inputs, solve_for
    from reports.power_text import power_rows, power_sentence, power_title

    try:
        solve_for(power=power, effect_size=effect_size)
    except ValueError as exc:
        fail(str(exc))
    # the options by name, and which were typed (typer vendors its own click, so the
    # ParameterSource enum is compared by name)
    options = {k: v for k, v in ctx.params.items() if k not in _NOT_INPUTS}
    given = {k for k in options if ctx.get_parameter_source(k).name != "DEFAULT"}
    trial = None
    if design is not None:
        try:
            trial = load_design(resolve_design_path(design))
        except DesignError as exc:
            fail(str(exc))
    try:
        inputs, source = resolve_inputs(options, given=given, trial=trial)
        result = calculate(inputs, power=power, effect_size=effect_size)
    except ValueError as exc:
        fail(str(exc))

    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    table = Table(title=power_title(result, trial.id if trial else None))
    for column in ("quantity", "value", "from"):
        table.add_column(column)
    rows = power_rows(result, source)
    for quantity, value, origin in rows[:-1]:
        table.add_row(quantity, value, origin)
    quantity, answer, origin = rows[-1]
    table.add_row(quantity, bold(answer), origin)  # the answer, in bold
    console.print(table, highlight=False)
    console.print(power_sentence(result), highlight=False)
