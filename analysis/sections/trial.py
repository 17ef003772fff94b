"""The ``trial`` and ``dates`` sections of results.json: the design as randomised (pure)."""

from __future__ import annotations

import pandas as pd

from analysis.results_model import Trial
from trial_designs.design import ALGORITHM_VERSION, TrialDesign

__all__ = ["allocation_ratios", "dates_section", "trial_section"]


def allocation_ratios(data: pd.DataFrame, design: TrialDesign) -> tuple[int, ...]:
    """Each arm's allocation ratio as randomised.

    Arms with exact counts (``n_units``) leave ``ratio`` at 1, so a 7:6 design read "ratio 1"
    for each arm: their ratio is the count, the arm without one taking the rest of the units
    randomised (the design's clusters, else the data's units).
    """
    if not design.fixed_counts:
        return design.ratios
    if all(a.n_units is not None for a in design.arms):
        return tuple(a.n_units for a in design.arms)
    unit = "cluster" if design.unit == "cluster" and "cluster" in data else None
    if design.unit == "cluster" and design.clusters:
        n_units = len(design.clusters)
    else:
        n_units = int(data[unit].nunique()) if unit else len(data)
    try:
        return design.allocation_ratios(n_units)
    except ValueError:  # a dataset short of units: count each arm's units in it
        counts = data.groupby("arm")[unit].nunique() if unit else data["arm"].value_counts()
        return tuple(int(counts.get(a, 0)) for a in design.arm_names)


def trial_section(
    design: TrialDesign,
    data_source: str,
    balance_score: float | None,
    ratios: tuple[int, ...],
) -> Trial:
    """Who and what was randomised, how, and the hash of the design it came from."""
    return Trial.model_validate(
        {
            "id": design.id,
            "title": design.title,
            "question": design.question.strip(),
            "unit": design.unit,
            "cluster_by": design.cluster_by,
            "cluster_se_by": design.analysis.cluster_se_by,
            "strata": list(design.strata),
            "arms": [
                {"name": a.name, "label": a.label or a.name, "ratio": ratio, "control": a.control}
                for a, ratio in zip(design.arms, ratios, strict=True)
            ],
            "control_arm": design.control_arm,
            "design_hash": design.design_hash,
            "randomisation": {
                "method": design.randomisation.method,
                "seed": design.randomisation.seed,
                "algorithm_version": ALGORITHM_VERSION,
                "block_sizes": list(design.randomisation.block_sizes),
                "balance_score": balance_score,
            },
            "data_source": data_source,
        }
    )


def dates_section(design: TrialDesign) -> dict[str, str | None]:
    """The design's recruitment and follow-up dates, ISO 8601 (the waves and the primary
    timepoint are left out: the outcomes' ``waves`` carry them)."""
    return {
        k: (v.isoformat() if hasattr(v, "isoformat") else v)
        for k, v in design.follow_up.model_dump().items()
        if k not in ("waves", "primary_timepoint")
    }
