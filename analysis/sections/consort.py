"""The ``consort`` section of results.json: the flow of participants and clusters (pure)."""

from __future__ import annotations

import pandas as pd

from analysis.results_model import Consort, Outcome
from trial_designs.design import TrialDesign

__all__ = ["consort_section"]


def consort_section(
    data: pd.DataFrame,
    design: TrialDesign,
    outcomes: list[Outcome],
    primary_used: pd.DataFrame | None,
) -> Consort:
    """CONSORT counts per arm: allocated, received, lost, excluded and analysed (primary outcome).

    ``primary_used`` holds the rows of the primary ITT model; ``assessed`` and
    ``excluded`` (eligibility) are not known from the analysis data, so null.
    """
    primary = next((o for o in outcomes if o.primary), None)
    endline = f"{primary.name}_endline" if primary else None
    individuals = {}
    for arm in design.arm_names:
        group = data[data["arm"] == arm]
        followed = int(group[endline].notna().sum()) if endline else 0
        analysed = int((primary_used["arm"] == arm).sum()) if primary_used is not None else 0
        received = int(group["took_up"].sum()) if "took_up" in group else None
        individuals[arm] = {
            "allocated": int(len(group)),
            "received": received,
            "not_received": None if received is None else int(len(group) - received),
            "lost": int(len(group) - followed),
            # followed up but not analysed: a baseline or covariate was missing (complete cases)
            "excluded": int(followed - analysed),
            "analysed": analysed,
        }
    clusters = None
    if design.unit == "cluster":
        clusters = {}
        for arm in design.arm_names:
            group = data[data["arm"] == arm]
            ids = group["cluster"].dropna().unique()
            with_data = group.dropna(subset=[endline])["cluster"].nunique() if endline else 0
            analysed = (
                primary_used[primary_used["arm"] == arm]["cluster"].nunique()
                if primary_used is not None
                else 0
            )
            received = (
                int(group.groupby("cluster")["took_up"].max().sum()) if "took_up" in group else None
            )
            clusters[arm] = {
                "allocated": int(len(ids)),
                "received": received,
                "not_received": None if received is None else int(len(ids) - received),
                "lost": int(len(ids) - with_data),
                "analysed": int(analysed),
            }
    return Consort(assessed=None, excluded=None, individuals=individuals, clusters=clusters)
