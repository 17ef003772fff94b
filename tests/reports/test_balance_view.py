"""The report's sentence on the global balance test, whole trial or subsample."""

from __future__ import annotations

import pandas as pd

from analysis.balance import baseline_table
from reports.disclosure import Suppression
from reports.trial_view.participants import balance_view


def _results(detail: dict) -> dict:
    data = pd.DataFrame(
        {"arm": ["control", "offer"] * 50, "organisation": ["A", "B", "C", "D"] * 25}
    )
    table = baseline_table(data, arm="arm", covariates=["organisation"])
    return {
        "trial": {
            "control_arm": "control",
            "arms": [{"name": "control", "label": "Usual practice"}, {"name": "offer"}],
        },
        "balance": {
            "table": table.astype(object).where(table.notna(), None).to_dict("records"),
            "auc": detail["auc"],
            "auc_p_value": detail["p_value"],
            "auc_detail": detail,
        },
    }


def _sentence(detail: dict) -> str:
    sup = Suppression(values={}, primary=frozenset(), complementary=frozenset(), hidden=frozenset())
    return balance_view(_results(detail), sup)["auc_text"]


def test_a_subsampled_balance_test_says_on_how_many_of_how_many():
    whole = {"auc": 0.503, "p_value": 0.41, "n": 100}
    assert "participants" not in _sentence(whole)
    assert "cross-validated AUC of 0.50 (permutation p = 0.410);" in _sentence(whole)
    subsample = {
        **whole,
        "n": 20_000,
        "n_total": 1_300_000,
        "subsample": "Above 20,000 participants the test runs on a random subsample ...",
    }
    assert "(permutation p = 0.410, on a random 20,000 of the 1,300,000 participants);" in _sentence(
        subsample
    )
