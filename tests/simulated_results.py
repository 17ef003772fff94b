"""results.json documents made the way the pipeline makes them, from simulated trials.

Each scenario simulates a packaged trial with trial_designs' simulators (roster,
allocation, delivery log, survey waves and HR extract), checks and scores the
files with the intake layer as the ingest flows do, and runs the real analysis
(:func:`analysis.results.analyse_trial`).  Nothing is stored or served: the
report tests get documents in the shape the analysis writes, with numbers it
computed, in a few seconds.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.dataset import analysis_dataset
from analysis.results import analyse_trial
from analysis.uptake import participant_uptake, summarise_uptake
from analysis.uptake_by_arm import participant_uptake_by_arm
from flows.deliveries import read_deliveries
from flows.demo import DEMO_SEED
from flows.randomise import read_roster
from flows.safe_io import write_csv
from flows.sources import read_table, rename_to_canonical
from flows.store.values import is_present, json_scalar, text_or_none
from intake.deliveries import check_deliveries, event_rows
from intake.hr import check_hr_rows, hr_measures
from intake.mapping import outcome_fields, outcome_frame, with_optional_hr_columns
from intake.outcomes import source_options
from intake.surveys import check_survey_rows, score_survey
from tests.designs import DESIGNS
from trial_designs import simulate_outcomes as outcome_simulator
from trial_designs.design import load_design
from trial_designs.randomise import randomise
from trial_designs.scale_files import WRQOL_SCORING, read_wrqol_scoring
from trial_designs.simulate_deliveries import simulate_deliveries
from trial_designs.simulate_roster import simulate_roster

__all__ = ["DEMO_TRIALS", "EDGE_CASES", "SCENARIOS", "simulated_results"]

DEMO_TRIALS = ("letters", "goal_setting", "coffee", "schwartz_rounds")
EDGE_CASES = ("letters_null", "schwartz_rounds_harm", "letters_arm_lost")
#: scenario -> the packaged trial it simulates
SCENARIOS = {
    **{name: name for name in DEMO_TRIALS},
    "letters_null": "letters",
    "schwartz_rounds_harm": "schwartz_rounds",
    "letters_arm_lost": "letters",
    # the demo's three-arm design (not a seed trial); not in DEMO_TRIALS, so the report tests
    # that iterate over those do not run on it: its own tests ask for it by name
    "goal_setting_nudges": "goal_setting_nudges",
}
#: The analysis as the pipeline runs it, with fewer draws, so seven documents take seconds:
#: randomisation-inference draws, balance-test permutations, cost bootstrap replicates and
#: imputations.  The numbers differ from the pipeline's in their Monte Carlo error only.
RI_DRAWS = 200
LIGHT = {
    "analysis.sections.balance.BALANCE_PERMUTATIONS": 19,
    "analysis.sections.costs.BOOTSTRAP_REPLICATES": 200,
}
MI_IMPUTATIONS = 5
#: The columns of Store.participant_arms.
_PARTICIPANT_COLUMNS = (
    "participant_id",
    "unit_id",
    "stratum",
    "arm",
    "organisation",
    "building",
    "team",
    "role",
    "start_date",
    "enrolment",
    "covariates_json",
)


@contextlib.contextmanager
def _true_effect(trial: str, effect: float) -> Iterator[None]:
    """Simulate ``trial`` with another built-in effect on its primary outcome."""
    effects = outcome_simulator.TRUE_EFFECTS
    before = effects[trial]
    effects[trial] = outcome_simulator.TrueEffect(before.outcome, effect, before.among)
    try:
        yield
    finally:
        effects[trial] = before


def _read(frame: pd.DataFrame, folder: Path, name: str) -> pd.DataFrame:
    """A simulated file as the ingest reads it: written, then read back as text."""
    path = folder / name
    frame.to_csv(path, index=False)
    return read_table(path)


def _participants(roster: pd.DataFrame, design) -> tuple[pd.DataFrame, object]:  # noqa: ANN001
    """Store.participant_arms of a fresh randomisation of ``roster`` (read as the flow reads it)."""
    allocation = randomise(roster, design)
    unit_of = dict(
        zip(allocation.members["participant_id"], allocation.members["unit_id"], strict=True)
    )
    units = allocation.units.set_index("unit_id")
    covariates = [c for c in design.roster.covariates if c in roster.columns]
    rows = []
    for rec in roster.to_dict("records"):
        unit = unit_of[str(rec["id"])]
        start = rec.get("start_date")
        rows.append(
            {
                "participant_id": str(rec["id"]),
                "unit_id": unit,
                "stratum": units.at[unit, "stratum"],
                "arm": units.at[unit, "arm"],
                **{
                    f: text_or_none(rec.get(f))
                    for f in ("organisation", "building", "team", "role")
                },
                "start_date": pd.Timestamp(start).date() if is_present(start) else None,
                "enrolment": "initial",
                "covariates_json": json.dumps({c: json_scalar(rec.get(c)) for c in covariates})
                if covariates
                else None,
            }
        )
    people = pd.DataFrame(rows, columns=list(_PARTICIPANT_COLUMNS))
    if design.randomisation.method == "minimisation":
        people["arrival"] = people["unit_id"].map(units["sequence_position"])
    return people.sort_values("participant_id", ignore_index=True), allocation


def _events(design, people: pd.DataFrame, folder: Path, rng) -> pd.DataFrame:  # noqa: ANN001
    logs = simulate_deliveries(design, people, rng=rng)
    several = len(design.interventions) > 1  # then one log per intervention
    parts = []
    for intervention in design.interventions:
        name = f"{intervention.name}/{intervention.name}.csv" if several else "deliveries.csv"
        path = folder / name.replace("/", "_")
        logs[name].to_csv(path, index=False)
        frame = read_deliveries(path, intervention)
        problems = check_deliveries(
            frame,
            design,
            intervention,
            known_units=sorted(set(people["participant_id"]) | set(people["unit_id"])),
            held_rounds=[],
        )
        good = frame[~frame["source_row"].isin(problems["source_row"])]
        parts.append(event_rows(good, design, intervention, people, file_name=path.name))
    return pd.concat(parts, ignore_index=True) if several else parts[0]


def _uptake(design, people: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:  # noqa: ANN001
    """Each participant's uptake as flows.uptake measures it: each arm by its own intervention."""
    if len(design.interventions) < 2:
        return participant_uptake(people, events, design.interventions[0].uptake)
    return participant_uptake_by_arm(
        people, events, {i.name: (i.arm, i.uptake) for i in design.interventions}
    )


def _wrqol_scoring(design) -> dict | None:  # noqa: ANN001
    """The packaged WRQoL item map when the design scores WRQoL (as the survey ingest does)."""
    if not any(o.instrument == "wrqol" for o in design.outcomes):
        return None
    return read_wrqol_scoring(WRQOL_SCORING)


def _values(design, files: dict, folder: Path, known: pd.Index) -> pd.DataFrame:  # noqa: ANN001
    """Long outcome values as the outcomes ingest stores them (first value of a key kept)."""
    parts = []
    for name, source, timepoint in (
        ("survey_baseline.csv", "survey", "baseline"),
        ("survey_endline.csv", "survey", "endline"),
        ("hr_extract.csv", "hr", "endline"),
        *((f"survey_{w.name}.csv", "survey", w.name) for w in design.follow_up.waves),
    ):
        if name not in files:
            continue
        mapping = outcome_fields(design, source)
        raw = _read(files[name], folder, name)
        if source == "hr":
            raw = with_optional_hr_columns(raw, design)
        frame = outcome_frame(rename_to_canonical(raw, mapping, file_name=name), mapping)
        options = source_options(design, source)
        if source == "survey":
            problems = check_survey_rows(frame, design, known, timepoint=timepoint)
            good = frame[~frame["source_row"].isin(problems["source_row"])]
            rows = score_survey(good, design, wrqol_scoring=_wrqol_scoring(design))
        else:
            problems = check_hr_rows(frame, design, known, options)
            good = frame[~frame["source_row"].isin(problems["source_row"])]
            rows = hr_measures(good, design, options)
        parts.append(rows.long().assign(timepoint=timepoint))
    values = pd.concat(parts, ignore_index=True)
    return values.drop_duplicates(["participant_id", "timepoint", "measure"], ignore_index=True)


def simulated_results(scenario: str, *, seed: int = DEMO_SEED) -> dict:
    """The results.json document of one scenario (see :data:`SCENARIOS`), seeded as the demo is."""
    trial = SCENARIOS[scenario]
    packaged = load_design(DESIGNS / f"{trial}.yaml")
    analysis = packaged.analysis.model_copy(update={"mi_imputations": MI_IMPUTATIONS})
    design = packaged.model_copy(update={"analysis": analysis})
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # the demo's streams: roster [seed, 1], delivery log [seed, 2], outcomes [seed, 3]
        roster_file = simulate_roster(design, rng=np.random.default_rng([seed, 1]))
        write_csv(roster_file, folder / "roster.csv")
        roster, _pii = read_roster.fn(str(folder / "roster.csv"), design)
        people, allocation = _participants(roster, design)
        events = (
            _events(design, people, folder, np.random.default_rng([seed, 2]))
            if design.interventions
            else None
        )
        uptake = _uptake(design, people, events) if events is not None else None
        took_up = None if uptake is None else uptake["took_up"]
        if scenario == "letters_null":
            took_up = took_up * 0  # the letters never arrived: nobody receives the effect
        effect = _true_effect(trial, +3.0) if scenario == "schwartz_rounds_harm" else None
        with effect or contextlib.nullcontext():
            files = outcome_simulator.simulate_outcomes(
                design, people, rng=np.random.default_rng([seed, 3]), took_up=took_up
            )
        if scenario == "letters_arm_lost":
            endline = files["survey_endline.csv"]
            id_column = design.survey.columns.get("participant_id", "participant_id")
            lost = set(people.loc[people["arm"] == "letter", "participant_id"])
            files["survey_endline.csv"] = endline[~endline[id_column].astype(str).isin(lost)]
        values = _values(design, files, folder, pd.Index(people["participant_id"]))
    data = analysis_dataset(people, values, design, uptake)
    extras = {"data_source": "store", "balance_score": allocation.balance_score}
    scoring = _wrqol_scoring(design)
    if scoring is not None and scoring.get("placeholder"):
        extras["placeholder_scoring"] = ["wrqol"]
    if events is not None:
        several = len(design.interventions) > 1
        summary = summarise_uptake(
            people,
            events,
            design.interventions[0].uptake,
            arm_order=list(design.arm_names),
            control_arm=design.control_arm,
            uptake=uptake if several else None,
            by_arm={i.arm: {"intervention": i.name, **i.uptake} for i in design.interventions}
            if several
            else None,
        )
        extras["uptake"] = summary.to_dict()
    with pytest.MonkeyPatch.context() as patch:
        for target, value in LIGHT.items():
            patch.setattr(target, value)
        results = analyse_trial(data, design, ri_draws=RI_DRAWS, events=events, extras=extras)
    if scenario != trial:
        results["trial"]["id"] = scenario
    return results
