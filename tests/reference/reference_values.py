"""Load the committed R reference output (see README.md in this folder).

Tests import this file by path; it reads only ``output/`` and ``data/`` and
needs no R.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

__all__ = ["ReferenceModel", "load_dataset", "load_reference_models"]

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "output"
DATA = HERE / "data"

#: estimatr's se_type names, as trialflow spells them.
SE_TYPE_NAMES = {"stata": "CR1"}


@dataclass(frozen=True)
class ReferenceModel:
    """One fitted model from R: its coefficient table and, for IV, the first-stage F."""

    name: str
    kind: str
    se_type: str
    n: int
    n_clusters: int | None
    coefficients: pd.DataFrame
    first_stage: dict[str, float] | None


def load_dataset(name: str) -> pd.DataFrame:
    """A dataset the R script fitted, e.g. ``load_dataset("coffee13")``."""
    return pd.read_csv(DATA / f"{name}.csv", na_values=["NA"])


def load_reference_models() -> dict[str, ReferenceModel]:
    """Every model in ``output/``, keyed by the name the R script gave it."""
    coefficients = pd.read_csv(OUTPUT / "coefficients.csv", keep_default_na=False)
    numeric = [c for c in coefficients.columns if c not in ("model", "term")]
    coefficients[numeric] = coefficients[numeric].apply(pd.to_numeric)
    models = pd.read_csv(OUTPUT / "models.csv")
    first_stage = pd.read_csv(OUTPUT / "first_stage.csv").set_index("model")
    out = {}
    for row in models.itertuples(index=False):
        table = coefficients[coefficients["model"] == row.model].drop(columns="model")
        out[row.model] = ReferenceModel(
            name=row.model,
            kind=row.kind,
            se_type=SE_TYPE_NAMES.get(row.se_type, row.se_type),
            n=int(row.n),
            n_clusters=None if pd.isna(row.n_clusters) else int(row.n_clusters),
            coefficients=table.set_index("term"),
            first_stage=(
                {k: float(v) for k, v in first_stage.loc[row.model].items()}
                if row.model in first_stage.index
                else None
            ),
        )
    return out
