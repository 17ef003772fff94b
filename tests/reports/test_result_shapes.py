"""The report reads optional sections in the shapes the analysis modules produce, not only the fixtures'."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.balance import baseline_table
from analysis.missing import attrition_table
from reports.format import format_money
from reports.headline import headline_sentences
from reports.normalise import normalise_results
from reports.render import render_trial


def _module_shaped(doc: dict) -> dict:
    """The letters fixture with balance, attrition and costs as analysis/*.py's to_dict() give them."""
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
    table = baseline_table(frame, arm="arm", covariates=["years_in_post", "la"], control="control")
    doc["balance"] = {
        "table": table.astype(object).where(table.notna(), None).to_dict("records"),
        "auc": 0.52,
        "auc_p_value": 0.7,
    }
    attrition = attrition_table(frame, arm="arm", responded="responded")
    doc["attrition"] = {
        "by_arm": attrition.to_dict("records"),
        "test": {"method": "chi-square", "p_value": 0.4},
    }
    for row in doc["attrition"]["by_arm"]:
        box = doc["consort"]["individuals"][row["arm"]]
        row.update(
            randomised=box["allocated"], lost=box["lost"], responded=box["allocated"] - box["lost"]
        )
    costs = doc["costs"]
    figure = lambda v: {"undiscounted": v, "discounted": v}  # noqa: E731
    costs["per_participant"] = {
        "total": figure(604.5),
        "per_randomised": figure(3.1),
        "per_taker": figure(3.2),
        "per_completer": figure(3.2),
        "per_round": None,
        "per_attendee_per_round": None,
        "n_randomised_intervention": 195,
        "eef_band": "very low",
    }
    costs["totals"] = {
        "total": figure(604.5),
        "by_category": {"setup": figure(0.0), "running": figure(604.5)},
        "by_kind": {"direct": figure(189.15), "staff_time": figure(415.35)},
    }
    row = costs["cost_effectiveness"][0]
    row.update(
        incremental_cost={"estimate": 3.1, "se": 0.06, "ci_low": 3.0, "ci_high": 3.2},
        incremental_effect={"estimate": 0.42, "se": 0.17, "ci_low": 0.09, "ci_high": 0.75},
        icer={"estimate": 7.38, "ci_low": 4.1, "ci_high": 22.9, "ci_defined": True},
        outcome_label="feeling valued",
        effect_unit="point",
    )
    return doc


def test_module_shapes_are_read(results, page):
    doc = _module_shaped(results("letters"))
    normal = normalise_results(doc)
    assert normal["costs"]["per_participant"]["randomised"] == 3.1
    assert normal["costs"]["totals"]["staff_time"] == 415.35
    assert normal["costs"]["cost_effectiveness"][0]["icer_ci_low"] == 4.1
    assert normal["attrition"]["by_arm"][0]["allocated"] == 196
    assert "The cost was £3.10 per participant." in headline_sentences(normal)
    report = page(render_trial(doc))
    per = report.one("tr", data_field="cost-randomised")
    assert format_money(3.1) in report.text(per)
    baseline = report.one("table", data_table="baseline")
    rows = [e for e in baseline.iter() if report.tag(e) == "tr"]
    labels = [report.text(next(iter(r))) for r in rows[1:]]
    assert labels[0] == "Years in post, mean (SD)"
    assert "La: Elsewhere, n (%)" in labels
    elsewhere = rows[1 + labels.index("La: Elsewhere, n (%)")]
    cells = [report.text(c) for c in elsewhere][1:]
    assert cells[0] == "[c]", "3 people in a level are never shown"
    assert report.text(report.all(data_field="dominance")[0]).startswith(
        "A trade-off: it costs more"
    )
    assert report.text(report.all(data_field="icer")[0]) == (
        "Incremental cost-effectiveness ratio (ICER): £7.38 per point gained; "
        "bootstrap 95% interval £4.10 to £22.90."
    )
