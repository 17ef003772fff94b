"""The statistical analysis plan: built from each packaged design, rendered, and held against the analysis."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from pathlib import Path

import jsonschema
import pytest

from analysis.power import mdes
from analysis.results_model import SCHEMA_PATH
from analysis.sap import (
    ANALYSIS_SECTIONS,
    build_sap,
    canonical_sap_json,
    sap_adherence,
    sap_hash,
    section_hashes,
)
from reports.render import render_trial
from reports.sap import render_sap, sap_sentence
from trial_designs.design import load_design

DESIGNS = Path(__file__).resolve().parents[2] / "trial_designs"
PACKAGED = ("letters", "goal_setting", "coffee", "schwartz_rounds")


def _design(name: str):  # noqa: ANN202
    return load_design(DESIGNS / f"{name}.yaml")


def _registration(design, **change) -> dict:  # noqa: ANN001
    plan = build_sap(design, n=300)
    return {
        "registered_at": "2026-11-30T09:15:00",
        "sap_hash": sap_hash(plan),
        "design_hash": design.design_hash,
        "section_hashes": section_hashes(plan),
        "late": False,
        "reason": None,
        **change,
    }


@pytest.mark.parametrize("name", PACKAGED)
def test_the_plan_of_each_packaged_design_states_its_model_se_and_mdes(name):
    design = _design(name)
    plan = build_sap(design, n=240, icc=0.05)
    html = render_sap(plan, sap_hash=sap_hash(plan), registered_at="2026-11-30T09:15:00")
    # the ANCOVA: the active arms, the baseline, one fixed effect per stratum combination
    active = [a.name for a in design.arms if not a.control]
    formula = re.search(r'<code data-field="formula">([^<]*)</code>', html).group(1)
    assert formula.startswith("y_endline ~ " + " + ".join(active) + " + y_baseline")
    assert ("factor(" in formula) == bool(design.strata)
    # the SE type analyse_trial uses: CR2 for cluster trials, HC2 otherwise
    se = re.search(r'<dd data-field="se-type">([^<,]*)', html).group(1)
    assert se == ("CR2" if design.unit == "cluster" else "HC2")
    # the MDES equals analysis.power's for the inputs `trialflow power DESIGN --n 240 --icc 0.05` uses
    treated = next(a for a in design.arms if not a.control)
    control = next(a for a in design.arms if a.control)
    expected = mdes(
        n=240,
        allocation=treated.ratio / (treated.ratio + control.ratio),
        icc=0.05 if design.unit == "cluster" else 0.0,
        n_clusters=len(design.clusters) if design.unit == "cluster" else None,
    ).effect_size
    shown = re.findall(r'<td class="num" data-field="mdes">([^<]*)</td>', html)
    assert shown == [f"{expected:.3f}"]
    assert plan["power"]["calculations"][0]["mdes"] == pytest.approx(expected, rel=1e-12)
    # every outcome, the design hash and the plan hash are on the page
    for outcome in design.outcomes:
        assert (outcome.label or outcome.name).replace("'", "&#39;") in html
    assert design.design_hash in html and sap_hash(plan) in html
    # the randomisation-inference words are analyse_trial's own, with the design's draws
    assert f"{design.analysis.ri_draws} re-draws of the allocation" in html


def test_a_cluster_plan_without_an_icc_shows_the_mdes_at_three():
    plan = build_sap(_design("coffee"), n=130)
    assert [c["icc"] for c in plan["power"]["calculations"]] == [0.01, 0.05, 0.10]
    mdeses = [c["mdes"] for c in plan["power"]["calculations"]]
    assert mdeses == sorted(mdeses) and mdeses[0] < mdeses[-1]


def test_a_plan_without_a_sample_size_says_why_there_is_no_mdes():
    plan = build_sap(_design("letters"))
    html = render_sap(plan, sap_hash=sap_hash(plan))
    assert plan["power"]["calculations"] == []
    assert "Not computed: the trial has no allocations yet" in html
    assert "Draft: not registered." in html


def test_the_plan_is_the_same_bytes_for_the_same_design_and_its_hash_is_of_them():
    design = _design("goal_setting")
    one, two = build_sap(design, n=200), build_sap(design, n=200)
    assert canonical_sap_json(one) == canonical_sap_json(two)
    assert sap_hash(one) == sap_hash(two)
    changed = design.model_copy(
        update={"analysis": design.analysis.model_copy(update={"ri_draws": 500})}
    )
    hashes = section_hashes(build_sap(changed, n=200))
    differ = [k for k in ANALYSIS_SECTIONS if hashes[k] != section_hashes(one)[k]]
    assert differ == ["randomisation_inference"]


def test_declared_values_are_escaped_in_the_plan():
    design = _design("letters")
    plan = build_sap(design, n=200)
    plan["outcomes"][0]["label"] = "<img src=x onerror=alert(1)>"
    html = render_sap(
        plan,
        sap_hash=sap_hash(plan),
        late=True,
        reason="<script>x</script>",
        registered_at="2026-11-30T09:15:00",
    )
    assert "<img src=x" not in html and "<script>x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_an_analysis_under_the_registered_design_followed_the_plan():
    design = _design("letters")
    status = sap_adherence(_registration(design), design=design)
    assert status["followed"] is True and status["deviations"] == []
    assert sap_sentence(status) == (
        "The analysis followed the registered plan: the statistical analysis plan registered "
        f"on 30 Nov 2026 (hash {status['hash'][:8]})."
    )


def test_every_deviation_is_listed():
    design = _design("letters")
    amended = design.model_copy(
        update={"analysis": design.analysis.model_copy(update={"covariates": ("team",)})}
    )
    before = {"at": dt.datetime(2026, 11, 29, 8), "reason": "typo", "changes": ["title: a -> b"]}
    after = {
        "at": dt.datetime(2026, 12, 1, 10),
        "reason": "adjust for team",
        "changes": ["analysis.covariates: [] -> ['team']"],
    }
    status = sap_adherence(
        _registration(design),
        design=amended,
        amendments=[after, before],
        ri_draws=100,
        data_source="export.csv",
    )
    assert status["followed"] is False
    assert status["deviations"] == [
        "The plan's model section is not the one registered.",
        "Design amended on 01 Dec 2026 after the plan was registered (reason: adjust for team): "
        "analysis.covariates: [] -> ['team'].",
        "Randomisation inference used 100 draws (--ri-draws), not the 2000 the plan pre-specified.",
        "An alternative analysis: the dataset file 'export.csv' was analysed instead of the "
        "trial's own store.",
    ]


def test_a_new_design_without_an_amendment_is_a_deviation_of_its_own():
    design = _design("letters")
    status = sap_adherence(_registration(design, design_hash="0" * 64), design=design)
    assert status["deviations"] == [
        f"The analysis ran under design {design.design_hash[:12]}, not design 000000000000 the "
        "plan was registered under."
    ]


def test_no_plan_and_a_late_plan_are_said():
    design = _design("letters")
    none = sap_adherence(None, design=design)
    assert none["followed"] is False
    assert sap_sentence(none) == "No statistical analysis plan was registered for this trial."
    late = sap_adherence(_registration(design, late=True, reason="forgot"), design=design)
    assert late["followed"] is True
    assert sap_sentence(late).endswith(
        "It was registered late, after outcome data were stored (reason: forgot)."
    )


def test_the_trial_report_says_whether_the_plan_was_followed(results):
    design = _design("letters")
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    followed = results("letters")
    followed["sap"] = sap_adherence(_registration(design), design=design)
    jsonschema.validate(followed, schema)
    page = render_trial(followed)
    assert "The analysis followed the registered plan" in page
    assert 'data-field="sap-deviations"' not in page
    deviated = copy.deepcopy(followed)
    deviated["sap"] = sap_adherence(
        _registration(design),
        design=design,
        amendments=[{"at": "2026-12-01T10:00:00", "reason": "why <b>", "changes": ["x: 1 -> 2"]}],
    )
    jsonschema.validate(deviated, schema)
    page = render_trial(deviated)
    assert "did not follow the registered plan exactly" in page
    assert (
        "Design amended on 01 Dec 2026 after the plan was registered (reason: why &lt;b&gt;)"
        in page
    )
    # a results file from before plans were registered still renders, and says it cannot tell
    older = copy.deepcopy(followed)
    del older["sap"]
    assert "do not say whether a statistical analysis plan was registered" in render_trial(older)


def test_an_exploratory_reanalysis_is_a_deviation():
    design = _design("letters")
    status = sap_adherence(
        _registration(design),
        design=design,
        exploratory_label="hc3_team",
        exploratory_changes={"se_type": {"prespecified": None, "exploratory": "HC3"}},
    )
    assert status["followed"] is False
    assert status["deviations"] == [
        "An exploratory analysis ('hc3_team'), not the pre-specified one: se_type 'HC3' "
        "instead of None."
    ]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            {"n": 0},
            r"^The sample size 'n' for the MDES must be a positive whole number of "
            r"individuals\. Got 0 instead\.$",
        ),
        ({"n": 12.5}, r"whole number of individuals\. Got 12\.5 instead\.$"),
        (
            {"icc": 1.5},
            r"^The 'icc' for the MDES must be at least 0 and below 1\. Got 1\.5 instead\.$",
        ),
        ({"icc": -0.1}, r"Got -0\.1 instead\.$"),
    ],
)
def test_impossible_mdes_inputs_are_refused(given, message):
    with pytest.raises(ValueError, match=message):
        build_sap(_design("coffee"), **{"n": 100, **given})
