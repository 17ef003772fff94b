"""The words of a power calculation: the ``power`` command's table rows and its sentence.

Pure text from an :class:`analysis.power.PowerCalculation` and where each input came from
(:func:`analysis.power.resolve_inputs`); the command line draws the table.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from analysis.power import PowerCalculation

__all__ = ["percent", "power_rows", "power_sentence", "power_title"]


def percent(share: float) -> str:
    """A share as a percentage with up to four significant digits: 0.05 -> '5%'."""
    return f"{share * 100:.4g}%"


def power_title(result: PowerCalculation, trial_id: str | None) -> str:
    """The table's title: what was solved for, for which design, and the unit randomised."""
    solving_mdes = result.solved_for == "mdes"
    title = "MDES" if solving_mdes else f"Power to detect d = {result.effect_size:g}"
    return f"{title}{f' for {trial_id}' if trial_id else ''} ({result.design} trial)"


def power_rows(result: PowerCalculation, source: dict[str, str]) -> list[tuple[str, str, str]]:
    """(quantity, value, from) per row: the inputs, the intermediate quantities, the answer.

    The last row is the answer (the MDES, or the power), which the table shows in bold.
    """
    is_cluster = result.design == "cluster"
    solving_mdes = result.solved_for == "mdes"
    rows = [
        ("unit randomised", result.design, source["unit"]),
        ("n (individuals)", f"{result.n:g}", source["n"]),
    ]
    if is_cluster:
        rows += [
            ("clusters J", f"{result.n_clusters:.4g}", source["n_clusters"]),
            ("cluster size m", f"{result.cluster_size:.4g}", source["cluster_size"]),
            ("ICC", f"{result.icc:g}", source["icc"]),
        ]
    rows += [
        ("allocation P", f"{result.allocation:.4g}", source["allocation"]),
        ("R²", f"{result.r2:g}", source["r2"]),
        ("covariates q", str(result.n_covariates), source["n_covariates"]),
        ("alpha", f"{result.alpha:g}", source["alpha"]),
        ("test", result.alternative, source["alternative"]),
    ]
    if solving_mdes:
        rows.append(("power", percent(result.power), source["power"]))
    else:
        rows.append(("effect size d", f"{result.effect_size:g}", source["effect_size"]))
    df = "∞ (normal)" if result.df is None else f"{result.df:g}"
    multiplier = result.to_dict()["multiplier"]
    rows += [
        ("design effect", f"{result.design_effect:.4g}", "1 + (m - 1) ICC"),
        (
            "df",
            df,
            "normal approximation"
            if result.df is None
            else ("J - 2 - q" if is_cluster else "n - 2 - q"),
        ),
        (
            "multiplier M",
            "–" if multiplier is None else f"{multiplier:.4f}",
            f"{result.distribution} quantiles ({source['distribution']})",
        ),
        ("SE (SD units)", f"{result.standard_error:.4f}", "√((1-R²) deff / (P(1-P) n))"),
    ]
    if solving_mdes:
        rows.append(("MDES d", f"{result.effect_size:.3f}", "M × SE"))
    else:
        rows.append(("power", f"{result.power:.1%}", "F(d / SE - critical)"))
    return rows


def power_sentence(result: PowerCalculation) -> str:
    """The calculation in one plain sentence for a protocol or a funder."""
    if result.design == "cluster":
        clusters, size = result.n_clusters, result.cluster_size
        clusters = f"{clusters:g}" if clusters.is_integer() else f"~{clusters:.3g}"
        size = f"{size:g}" if size.is_integer() else f"~{size:.0f}"
        lead = f"With {clusters} clusters of {size} staff, ICC {result.icc:g} and R² {result.r2:g}"
    else:
        lead = f"With {result.n:g} staff and R² {result.r2:g}"
    if not math.isclose(result.allocation, 0.5):
        lead += f" ({percent(result.allocation)} allocated to treatment)"
    test = f"at {percent(result.alpha)} {result.alternative}"
    if result.solved_for == "mdes":
        return (
            f"{lead}, the smallest effect this trial can detect with {percent(result.power)} "
            f"power {test} is d = {result.effect_size:.2f}."
        )
    return (
        f"{lead}, this trial has {result.power:.0%} power to detect "
        f"d = {result.effect_size:g} {test}."
    )
