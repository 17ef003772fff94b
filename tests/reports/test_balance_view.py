"""The report's sentence on the global balance test, whole trial or subsample."""

from __future__ import annotations

import pandas as pd

from analysis.balance import baseline_table
from reports.disclosure import SUPPRESSED_MARK, Suppression
from reports.trial_view._cells import smd
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
    assert (
        "(permutation p = 0.410, on a random 20,000 of the 1,300,000 participants);"
        in _sentence(subsample)
    )


def _view(levels: int, *, suppress: bool = False) -> tuple[dict, pd.DataFrame]:
    rng = __import__("numpy").random.default_rng(5)
    n = 40 * levels
    data = pd.DataFrame(
        {
            "arm": rng.permutation(["control", "offer"] * (n // 2)),
            "organisation": [f"Org {i:03d}" for i in range(levels)] * 40,
            "age": rng.normal(40, 9, n),
        }
    )
    table = baseline_table(data, arm="arm", covariates=["organisation", "age"])
    results = {
        "trial": {"control_arm": "control", "arms": [{"name": "control"}, {"name": "offer"}]},
        "balance": {"table": table.astype(object).where(table.notna(), None).to_dict("records")},
    }
    counts = {
        ("balance", "organisation", f"Org {i:03d}", arm): 20
        for i in range(levels)
        for arm in ("control", "offer")
    }
    hidden = frozenset([("balance", "organisation", "Org 007", "offer")] if suppress else [])
    sup = Suppression(values=counts, primary=hidden, complementary=frozenset(), hidden=frozenset())
    return balance_view(results, sup), table


def test_a_characteristic_of_many_levels_is_one_line_with_its_levels_apart():
    # A national trial's 200 organisations made a 200-row baseline table in the report.
    view, table = _view(30)
    main = [(r["variable"], r["level"], r["kind"]) for r in view["rows"]]
    assert main == [("Organisation", None, "many_levels"), ("Age", None, "continuous")]
    summary = view["rows"][0]
    assert summary["n_levels"] == 30
    differences = table.loc[table["covariate"].str.startswith("organisation="), "smd"].dropna()
    largest = differences.loc[differences.abs().idxmax()]
    assert summary["smd"] == smd(largest)
    assert [g["variable"] for g in view["many_levels"]] == ["Organisation"]
    assert [r["level"] for r in view["many_levels"][0]["rows"]] == [
        f"Org {i:03d}" for i in range(30)
    ]


def test_a_suppressed_level_keeps_the_summary_line_suppressed():
    view, _ = _view(30, suppress=True)
    assert view["rows"][0]["smd"] == SUPPRESSED_MARK


def test_a_characteristic_of_a_few_levels_keeps_a_row_per_level():
    view, _ = _view(12)
    assert sum(r["level"] is not None for r in view["rows"]) == 12
    assert view["many_levels"] == []
