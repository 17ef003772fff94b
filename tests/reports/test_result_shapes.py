"""The report reads results.json in the one shape the results model defines.

Shapes the analysis modules' own ``to_dict()`` give (costs as nested undiscounted/
discounted figures, attrition with randomised/responded) are not results.json: the
model refuses them on read, so the report has no normaliser to accept them.  The
baseline table is read as the analysis writes it (long: one row per characteristic and
arm) and pivoted for the page.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from analysis.balance import baseline_table
from analysis.missing import attrition_table
from analysis.results_model import ResultsDocument
from reports.render import render_trial


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    n = 391
    frame = pd.DataFrame(
        {
            "arm": np.where(np.arange(n) < 196, "control", "letter"),
            "years_in_post": rng.gamma(3, 2.3, n),
            "la": rng.choice(["Bracknell Forest", "Dudley", "Shropshire"], n),
            "responded": rng.random(n) < 0.7,
        }
    )
    frame.loc[frame.index[:3], "la"] = "Elsewhere"  # 3 in one level: must be suppressed
    return frame


def _with_analysis_balance(doc: dict) -> dict:
    """The letters fixture with the balance section exactly as analysis.sections.balance writes it."""
    table = baseline_table(
        _frame(), arm="arm", covariates=["years_in_post", "la"], control="control"
    )
    doc["balance"] = {
        "table": table.astype(object).where(table.notna(), None).to_dict("records"),
        "auc": 0.52,
        "auc_p_value": 0.7,
    }
    return doc


def test_the_analysis_baseline_table_is_read_and_small_levels_suppressed(results, page):
    doc = _with_analysis_balance(results("letters"))
    ResultsDocument.model_validate(doc)  # what the report flow checks on read
    report = page(render_trial(doc))
    baseline = report.one("table", data_table="baseline")
    rows = [e for e in baseline.iter() if report.tag(e) == "tr"]
    labels = [report.text(next(iter(r))) for r in rows[1:]]
    assert labels[0] == "Years in post, mean (SD)"
    assert "La: Elsewhere, n (%)" in labels
    elsewhere = rows[1 + labels.index("La: Elsewhere, n (%)")]
    cells = [report.text(c) for c in elsewhere][1:]
    assert cells[0] == "[c]", "3 people in a level are never shown"


def test_module_shaped_costs_are_refused_by_the_results_model(results):
    doc = results("letters")
    figure = lambda v: {"undiscounted": v, "discounted": v}  # noqa: E731
    doc["costs"]["per_participant"] = {"total": figure(604.5), "per_randomised": figure(3.1)}
    with pytest.raises(ValidationError, match=r"costs\.per_participant\.total"):
        ResultsDocument.model_validate(doc)


def test_module_shaped_attrition_is_refused_by_the_results_model(results):
    doc = results("letters")
    doc["attrition"]["by_arm"] = attrition_table(
        _frame(), arm="arm", responded="responded"
    ).to_dict("records")
    with pytest.raises(ValidationError, match=r"attrition\.by_arm\.0"):
        ResultsDocument.model_validate(doc)
