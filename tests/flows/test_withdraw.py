"""Withdrawal: stays in ITT and CONSORT, no more letters or deliveries, logged, clear refusals."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.export import load_analysis_dataset
from flows.randomise import read_roster
from flows.store import AlreadyWithdrawnError, Store
from flows.withdraw import withdraw_participant
from intake.deliveries import check_deliveries
from reports.letters import letter_contents
from trial_designs.design import load_design
from trial_designs.randomise import randomise
from trial_designs.simulate_roster import simulate_roster

DESIGNS = Path(__file__).resolve().parents[2] / "trial_designs"
runner = CliRunner()


def _randomised(tmp_path: Path, name: str = "letters"):  # noqa: ANN202
    """A trial randomised straight into the store (no Prefect: these tests are about the store)."""
    design = load_design(DESIGNS / f"{name}.yaml")
    path = tmp_path / "roster.csv"
    simulate_roster(design, rng=np.random.default_rng(3)).to_csv(path, index=False)
    roster, pii = read_roster.fn(str(path), design)
    Store().record_randomisation(
        design=design, allocation=randomise(roster, design), roster=roster, pii=pii
    )
    return design, Store().participant_arms(design.id)


def test_a_withdrawn_participant_stays_allocated_and_the_withdrawal_is_audited(tmp_path):
    design, people = _randomised(tmp_path)
    person = people.iloc[7]
    dataset = load_analysis_dataset(design)
    done = withdraw_participant("letters", person["participant_id"], reason="asked by email")
    # the analysis dataset (ITT, CONSORT) is the same, the withdrawn person in it
    pd.testing.assert_frame_equal(load_analysis_dataset(design), dataset)
    assert person["participant_id"] in set(dataset["participant_id"])
    assert done["arm"] == person["arm"]
    after = Store().participant_arms("letters")
    # ITT and CONSORT read these: the person, their unit and arm are all still there
    pd.testing.assert_frame_equal(after, people)
    gone = Store().withdrawals("letters")
    assert gone["participant_id"].tolist() == [person["participant_id"]]
    assert gone["reason"].tolist() == ["asked by email"]
    audit = Store().audit("letters")
    logged = audit[audit["event"] == "withdrawn"]
    assert len(logged) == 1
    row = logged.iloc[0].to_dict()
    assert "asked by email" in json.dumps(row, default=str)
    assert row["unit_id"] == person["unit_id"]


def test_refusals_name_the_problem_and_list_nobody(tmp_path):
    _design, people = _randomised(tmp_path)
    pid = people["participant_id"].iloc[0]
    with pytest.raises(
        LookupError, match=r"Trial 'nope' is not in the store\. Known trials: letters\."
    ):
        withdraw_participant("nope", pid, reason="x")
    with pytest.raises(
        LookupError, match=r"no participant with the id given.*Got 'ZZZ1' instead"
    ) as err:
        withdraw_participant("letters", "ZZZ1", reason="x")
    # an unknown id lists nobody else's id
    assert not any(other in str(err.value) for other in people["participant_id"])
    with pytest.raises(ValueError, match="needs a reason"):
        withdraw_participant("letters", pid, reason="   ")
    assert Store().withdrawals("letters").empty  # nothing was written by the refusals
    withdraw_participant("letters", pid, reason="moved away")
    with pytest.raises(
        AlreadyWithdrawnError,
        match=r"already withdrawn .* \(reason: moved away\)\. Nothing changed\.",
    ):
        withdraw_participant("letters", pid, reason="again")
    assert len(Store().withdrawals("letters")) == 1
    audit = Store().audit("letters")
    assert (audit["event"] == "withdrawn").sum() == 1


def test_the_withdraw_command(tmp_path):
    _design, people = _randomised(tmp_path)
    pid = people["participant_id"].iloc[3]
    first = runner.invoke(
        app, ["withdraw", "letters", pid, "--reason", "no longer wishes to take part"]
    )
    assert first.exit_code == 0, first.output
    assert "stay in the ITT analysis" in first.output
    again = runner.invoke(app, ["withdraw", "letters", pid, "--reason", "twice"])
    assert again.exit_code == 1
    assert "already withdrawn" in again.output and "Traceback" not in again.output
    missing = runner.invoke(app, ["withdraw", "letters", people["participant_id"].iloc[4]])
    assert missing.exit_code != 0 and "--reason" in missing.output
    assert len(Store().withdrawals("letters")) == 1


def _recipients(arms: list[str], withdrawn: list[bool]) -> pd.DataFrame:
    n = len(arms)
    return pd.DataFrame(
        {
            "participant_id": [f"P{i}" for i in range(n)],
            "arm": arms,
            "organisation": "Kent",
            "team": "Ward 1",
            "first_name": "Sam",
            "surname": "Lee",
            "address": "1 High St, Canterbury",
            "withdrawn": withdrawn,
        }
    )


def test_a_withdrawn_participant_gets_no_letter_and_is_listed_as_withdrawn():
    people = _recipients(["letter", "letter", "letter", "control"], [False, True, False, True])
    sheet = pd.DataFrame(
        {
            "participant_id": ["P0", "P1", "P2"],
            "feedback_1": ["Kind.", "Calm.", "Quick."],
            "feedback_2": ["Thorough.", "Patient.", "Careful."],
        }
    )
    letters, problems = letter_contents(
        people,
        sheet,
        letter_arm="letter",
        signatories={"Kent": {"name": "A. Boss", "title": "CEO"}},
    )
    assert letters["participant_id"].tolist() == ["P0", "P2"]
    assert problems[["participant_id", "rule"]].values.tolist() == [["P1", "withdrawn"]]
    # nobody withdrawn: the same sheet gives every letter-arm participant a letter
    people["withdrawn"] = False
    letters, problems = letter_contents(
        people,
        sheet,
        letter_arm="letter",
        signatories={"Kent": {"name": "A. Boss", "title": "CEO"}},
    )
    assert letters["participant_id"].tolist() == ["P0", "P1", "P2"] and problems.empty


def test_deliveries_after_a_withdrawal_are_quarantined_and_earlier_ones_kept():
    design = load_design(DESIGNS / "letters.yaml")
    start = design.follow_up.randomisation
    days = [start + dt.timedelta(days=d) for d in (3, 10, 12, 12)]
    frame = pd.DataFrame(
        {
            "source_row": [2, 3, 4, 5],
            "unit_id": ["P1", "P1", "P2", "P1"],
            "event_type": ["letter_sent"] * 4,
            "occurred_at": [d.isoformat() for d in days],
            **{
                f: [None] * 4
                for f in ("quantity", "hours", "attendees", "module", "round_id", "facilitator")
            },
        }
    )
    withdrawn_at = pd.Timestamp(start + dt.timedelta(days=5))
    problems = check_deliveries(
        frame,
        design,
        design.interventions[0],
        known_units=["P1", "P2"],
        held_rounds=[],
        withdrawn={"P1": withdrawn_at},
    )
    assert problems[["source_row", "rule"]].values.tolist() == [[3, "withdrawn"], [5, "withdrawn"]]
    none = check_deliveries(
        frame, design, design.interventions[0], known_units=["P1", "P2"], held_rounds=[]
    )
    assert none.empty


def test_a_withdrawal_recorded_late_takes_effect_on_the_day_given(tmp_path):
    _design, people = _randomised(tmp_path)
    pid, other = people["participant_id"].iloc[1], people["participant_id"].iloc[2]
    done = withdraw_participant("letters", pid, reason="phoned in March", effective="2019-05-02")
    assert done["withdrawn_at"] == dt.datetime(2019, 5, 2)
    gone = Store().withdrawals("letters")
    assert pd.Timestamp(gone["withdrawn_at"].iloc[0]) == pd.Timestamp("2019-05-02")
    audit = Store().audit("letters")
    assert "2019-05-02" in audit.loc[audit["event"] == "withdrawn", "details_json"].iloc[0]
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).date().isoformat()
    with pytest.raises(ValueError, match=rf"cannot take effect in the future .* Got {tomorrow}"):
        withdraw_participant("letters", other, reason="x", effective=tomorrow)
    result = runner.invoke(app, ["withdraw", "letters", other, "--reason", "x", "--on", "May 2"])
    assert result.exit_code == 1 and "YYYY-MM-DD" in result.output
    assert len(Store().withdrawals("letters")) == 1
