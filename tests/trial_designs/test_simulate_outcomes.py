"""The simulated surveys and HR extracts: file layout, realism, true effects and bad rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.effect_sizes import icc_oneway
from intake.hr import check_hr_rows, hr_measures
from intake.mapping import survey_fields
from intake.outcomes import source_options
from intake.surveys import check_survey_rows, score_survey
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.simulate_outcomes import (
    ABSENCE_RATE,
    ICC,
    SCORE_NORMS,
    TRUE_EFFECTS,
    TURNOVER,
    TrueEffect,
    simulate_outcomes,
)

# the four seed trials and the demo's three-arm design
ALL = ["letters", "goal_setting", "coffee", "schwartz_rounds", "goal_setting_nudges"]


def _people(design, n: int, rng: np.random.Generator, cluster_size: int = 20) -> pd.DataFrame:
    """The store's participant arms, with clusters (or teams) of about ``cluster_size``."""
    group = rng.integers(0, n // cluster_size, n)
    cluster = design.unit == "cluster"
    arm = (group % 2) if cluster else rng.integers(0, 2, n)
    ids = [f"P{i:06d}" for i in range(n)]
    return pd.DataFrame(
        {
            "participant_id": ids,
            "unit_id": [f"U{g}" for g in group] if cluster else ids,
            "arm": np.asarray(design.arm_names, dtype=object)[arm],
            "organisation": "Kent",
            "team": [f"T{g}" for g in group],
        }
    )


def _canonical(design, files: dict) -> tuple[dict, pd.DataFrame]:
    """Survey frames and the HR extract with canonical column names, as the ingest reads them."""
    back = {column: field for field, column in survey_fields(design).items()}
    surveys = {}
    for timepoint in ("baseline", "endline"):
        frame = files[f"survey_{timepoint}.csv"].rename(columns=back).astype(object)
        frame = frame.where(frame.notna(), None).drop(columns="comments")
        frame.insert(0, "source_row", range(2, len(frame) + 2))
        surveys[timepoint] = frame.astype({c: "str" for c in frame.columns if c != "source_row"})
    hr = files["hr_extract.csv"].rename(columns={c: f for f, c in design.hr.columns.items()})
    hr = hr.astype(object).where(hr.notna(), None).astype(str).replace("None", None)
    hr.insert(0, "source_row", range(2, len(hr) + 2))
    return surveys, hr


@pytest.fixture(scope="module")
def big():
    """Each design simulated for 20,000 staff, checked and scored as the ingest would."""
    out = {}
    for name in ("coffee", "goal_setting", "schwartz_rounds"):
        design = load_design(DESIGNS / f"{name}.yaml")
        rng = np.random.default_rng(7)
        people = _people(design, 20_000, rng)
        files = simulate_outcomes(design, people, rng=rng)
        surveys, hr = _canonical(design, files)
        known = people["participant_id"].tolist()
        scored = {}
        for timepoint, frame in surveys.items():
            problems = check_survey_rows(frame, design, known, timepoint=timepoint)
            good = frame[~frame["source_row"].isin(problems["source_row"])]
            rows = score_survey(
                good, design, wrqol_scoring=_wrqol() if name == "goal_setting" else None
            )
            scored[timepoint] = rows.values.assign(
                participant_id=rows.keys["participant_id"].to_numpy()
            )
        options = source_options(design, "hr")
        problems = check_hr_rows(hr, design, known, options)
        measures = hr_measures(hr[~hr["source_row"].isin(problems["source_row"])], design, options)
        out[name] = (design, people, scored, measures)
    return out


def _wrqol():
    from trial_designs.scale_files import read_wrqol_scoring

    return read_wrqol_scoring()


@pytest.mark.parametrize("name", ALL)
def test_files_come_in_the_column_layout_the_design_declares(name):
    design = load_design(DESIGNS / f"{name}.yaml")
    rng = np.random.default_rng(1)
    files = simulate_outcomes(design, _people(design, 400, rng), rng=rng)
    waves = [w.name for w in design.follow_up.waves]  # goal_setting's midpoint
    assert set(files) == {
        "survey_baseline.csv",
        "survey_endline.csv",
        "hr_extract.csv",
        *(f"survey_{w}.csv" for w in waves),
    }
    for timepoint in ("baseline", "endline", *waves):
        columns = list(files[f"survey_{timepoint}.csv"].columns)
        assert columns == [*survey_fields(design).values(), "comments"]
    hr = files["hr_extract.csv"]
    assert list(hr.columns) == [design.hr.columns[f] for f in
        ("participant_id", "record_type", "fte", "effective_from", "leaving_date", "start_date", "end_date")]  # fmt: skip
    codes = source_options(design, "hr")["record_types"]
    kinds = set(hr[design.hr.columns["record_type"]])
    assert {codes["staff"], codes["absence"]} <= kinds


def test_the_same_seed_gives_the_same_files_whatever_the_row_order():
    design = load_design(DESIGNS / "letters.yaml")
    people = _people(design, 300, np.random.default_rng(2))
    first = simulate_outcomes(design, people, rng=np.random.default_rng(5))
    again = simulate_outcomes(
        design, people.sample(frac=1, random_state=3), rng=np.random.default_rng(5)
    )
    for name in first:
        pd.testing.assert_frame_equal(first[name], again[name])
    other = simulate_outcomes(design, people, rng=np.random.default_rng(6))
    assert not first["survey_endline.csv"].equals(other["survey_endline.csv"])


@pytest.mark.parametrize("name", ALL)
def test_every_kind_of_bad_row_is_in_the_demo_files(name):
    design = load_design(DESIGNS / f"{name}.yaml")
    rng = np.random.default_rng(4)
    people = _people(design, 400, rng)
    surveys, hr = _canonical(design, simulate_outcomes(design, people, rng=rng))
    known = people["participant_id"].tolist()
    for timepoint, frame in surveys.items():
        rules = set(check_survey_rows(frame, design, known, timepoint=timepoint)["rule"])
        assert rules == {
            "known_participant", "item_in_range", "duplicate_response", "date_in_window",
            "valid_date", "no_items_answered",
        }  # fmt: skip
        items = [f for f in survey_fields(design) if f not in ("participant_id", "collected_on")]
        partly = frame[items].isna().any(axis=1) & frame[items].notna().any(axis=1)
        assert partly.mean() > 0.01  # half-finished questionnaires, scored by the missing rule
    rules = set(check_hr_rows(hr, design, known, source_options(design, "hr"))["rule"])
    assert {"known_participant", "fte_in_range", "known_record_type", "end_after_start",
            "valid_date", "held_with_bad_row"} <= rules  # fmt: skip


def test_scores_have_the_seed_means_sds_and_icc(big):
    for name, (_design, people, scored, _hr) in big.items():
        baseline = scored["baseline"].merge(people, on="participant_id")
        score = {"coffee": "swemwbs_metric", "goal_setting": "wrqol_total", "schwartz_rounds": "ghq12_total"}[name]  # fmt: skip
        norm = SCORE_NORMS[score.split("_")[0]]
        values = baseline[score].dropna()
        assert abs(values.mean() - norm[0]) < 0.06 * norm[1], (name, values.mean())
        assert abs(values.std() - norm[1]) < 0.08 * norm[1], (name, values.std())
        group = baseline["unit_id"] if name != "goal_setting" else baseline["team"]
        icc = icc_oneway(baseline[score], group.astype(str)).icc
        assert 0.5 * ICC < icc < 2.0 * ICC, (name, icc)
        both = scored["baseline"].merge(scored["endline"], on="participant_id")
        r = both[[f"{score}_x", f"{score}_y"]].corr().iloc[0, 1]
        assert 0.45 < r < 0.75, (name, r)


def test_attrition_turnover_and_absence_are_realistic(big):
    for name, (_design, people, scored, measures) in big.items():
        lost = 1 - scored["endline"]["participant_id"].nunique() / len(people)
        assert 0.2 <= lost <= 0.4, (name, lost)
        answered_baseline = scored["baseline"]["participant_id"].nunique() / len(people)
        assert 0.85 < answered_baseline < 0.95
        hr = measures.values
        assert abs(hr["turnover"].mean() - TURNOVER) < 0.02, (name, hr["turnover"].mean())
        assert abs(hr["absence_rate"].mean() - ABSENCE_RATE) < 0.005, (
            name,
            hr["absence_rate"].mean(),
        )
        assert hr["spells"].max() >= 3 and hr["days_lost"].max() > 20  # some long-term absence


def test_true_effects_are_recovered_and_other_outcomes_are_null(big):
    for name, (design, people, scored, measures) in big.items():
        true = TRUE_EFFECTS[name]
        score = {"swemwbs": "swemwbs_metric", "ghq12": "ghq12_total"}[true.outcome]
        end = scored["endline"].merge(people, on="participant_id")
        treated = end["arm"] != design.control_arm
        effect = end.loc[treated, score].mean() - end.loc[~treated, score].mean()
        # SE of the raw difference: 0.06 (goal setting) to 0.12 (GHQ-12, 1,000 clusters)
        assert abs(effect - true.effect) < 0.5 * abs(true.effect), (name, effect)
        if name == "goal_setting":
            other = end.loc[treated, "wrqol_total"].mean() - end.loc[~treated, "wrqol_total"].mean()
            assert abs(other) < 1.0  # WRQoL: no true effect (SD 15)
        hr = measures.values.assign(participant_id=measures.keys["participant_id"]).merge(people)
        gap = hr.groupby(hr["arm"] != design.control_arm)["turnover"].mean().diff().iloc[-1]
        assert abs(gap) < 0.03


def test_effects_through_uptake_reach_only_those_who_took_it_up():
    design = load_design(DESIGNS / "letters.yaml")
    rng = np.random.default_rng(11)
    people = _people(design, 30_000, rng)
    letter = people["arm"] == "letter"
    took_up = pd.Series(0, index=people["participant_id"])
    took_up[people.loc[letter, "participant_id"].iloc[::2]] = 1  # half the letters arrived
    files = simulate_outcomes(design, people, rng=np.random.default_rng(12), took_up=took_up)
    end = files["survey_endline.csv"].rename(
        columns={"staff_id": "participant_id", "q_valued": "valued"}
    )
    end = end.merge(people, on="participant_id").assign(
        valued=lambda d: pd.to_numeric(d["valued"], errors="coerce"),
        got=lambda d: d["participant_id"].map(took_up),
    )
    control = end.loc[end["arm"] == "control", "valued"].mean()
    received = end.loc[end["got"] == 1, "valued"].mean() - control
    not_received = end.loc[(end["arm"] == "letter") & (end["got"] == 0), "valued"].mean() - control
    assert abs(received - TRUE_EFFECTS["letters"].effect) < 0.15
    assert abs(not_received) < 0.15


def test_the_effects_are_documented_for_each_seed_trial():
    assert set(TRUE_EFFECTS) == set(ALL)
    for name, effect in TRUE_EFFECTS.items():
        design = load_design(DESIGNS / f"{name}.yaml")
        assert effect.outcome == design.primary_outcome.name
        assert effect.to_dict()["among"] in ("assigned", "took_up")
        # an effect said per arm names only the design's active arms
        assert {arm for arm, _ in effect.by_arm} <= set(design.arm_names) - {design.control_arm}


def test_an_effect_said_per_arm_reaches_each_arm_as_said(monkeypatch):
    design = load_design(DESIGNS / "goal_setting_nudges.yaml")
    rng = np.random.default_rng(11)
    people = _people(design, 3000, rng).assign(
        arm=np.asarray(design.arm_names, dtype=object)[rng.integers(0, 3, 3000)]
    )
    # nothing for the course by email, 4 metric points for the reminders arm, to everyone assigned
    effect = TrueEffect(
        "swemwbs", 9.0, "assigned", by_arm=(("course", 0.0), ("course_reminders", 4.0))
    )
    monkeypatch.setitem(TRUE_EFFECTS, design.id, effect)
    endline = simulate_outcomes(design, people, rng=rng)["survey_endline.csv"]
    items = [design.survey.columns[f"swemwbs_{i}"] for i in range(1, 8)]
    raw = endline[items].apply(pd.to_numeric, errors="coerce").sum(axis=1, min_count=7)
    arm = endline[design.survey.columns["participant_id"]].map(
        dict(zip(people["participant_id"], people["arm"], strict=True))
    )
    means = raw.groupby(arm).mean()
    # raw sums move less than metric points; the reminders arm clearly, email not at all
    assert means["course_reminders"] - means["control"] > 2.0
    assert abs(means["course"] - means["control"]) < 0.6
