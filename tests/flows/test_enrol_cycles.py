"""`trialflow enrol` in a trial with learning cycles: each late entrant joins their own cycle.

Before, every late entrant was stored as ``late``, read as cycle 1, so someone
who joined after the spring cohort was randomised was measured over the spring
cohort's HR and survey windows, and someone who joined after the last cycle was
randomised was enrolled into a cohort whose randomisation they were not part of.

The rule: an entrant belongs to the first cycle randomised on or after the day
they joined (their roster start_date, else the day they are enrolled). That cycle
must be randomised already (a later cycle's people go on its roster, as
``randomise --cycle`` takes them); after the last cycle's randomisation there is
no cohort to join, and the entrant is refused.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from flows.cycles import cycle_randomise_flow
from flows.outcomes import load_participant_cycles, outcomes_ingest_flow
from flows.randomise import enrol_flow, randomise_flow
from flows.status import trial_status
from flows.store import Store
from flows.store.schema import outcome_values
from intake.mapping import survey_fields
from intake.roster import RosterError
from tests.designs import DESIGNS
from trial_designs.cycles import cycle_of_enrolment
from trial_designs.design import load_design
from trial_designs.simulate_roster import simulate_late_entrants, simulate_roster

LETTERS = str(DESIGNS / "letters.yaml")


def _entrant(design, tmp_path, name: str, start: str | None, seed: int):  # noqa: ANN001, ANN202
    person = simulate_late_entrants(design, n=1, rng=np.random.default_rng(seed))
    person["staff_id"] = name
    person["start_date"] = start
    path = tmp_path / f"{name}.csv"
    person.to_csv(path, index=False)
    return str(path)


def _stored() -> int:
    with Store().engine.connect() as conn:
        return len(conn.execute(sa.text("select participant_id from participants")).all())


@pytest.mark.flow
def test_a_late_entrant_joins_the_cycle_randomised_next_after_they_joined(prefect_server, tmp_path):
    design = load_design(LETTERS)
    spring, autumn = design.cycles
    first = simulate_roster(design, rng=np.random.default_rng(1), n=20)
    first.to_csv(tmp_path / "roster.csv", index=False)
    randomise_flow(LETTERS, str(tmp_path / "roster.csv"))

    # joined during the spring's recruitment but missing from its roster: the spring cohort
    enrol_flow(LETTERS, _entrant(design, tmp_path, "SPRING1", "2019-03-20", 3))

    # joined after the spring cohort was randomised: the autumn's, not randomised yet
    joined_may = _entrant(design, tmp_path, "AUTUMN1", "2019-05-01", 4)
    n = _stored()
    with pytest.raises(RosterError) as refused:
        enrol_flow(LETTERS, joined_may)
    assert "rule in_a_randomised_cycle" in refused.value.report
    assert (
        "joined 2019-05-01, after cycle 1 (spring_2019) was randomised on 2019-04-01, so they "
        "belong to cycle 2 (autumn_2019), which is not randomised yet: put them on its roster "
        "(`trialflow randomise letters --cycle 2`)."
    ) in refused.value.report
    assert _stored() == n

    # once the autumn cohort is randomised, they join it as its late entrant
    new = simulate_late_entrants(design, n=6, rng=np.random.default_rng(5))
    pd.concat([first, new]).to_csv(tmp_path / "autumn.csv", index=False)
    cycle_randomise_flow(LETTERS, str(tmp_path / "autumn.csv"), 2)
    enrol_flow(LETTERS, joined_may)

    # joined after the last cycle was randomised: no cohort to join
    with pytest.raises(RosterError) as refused:
        enrol_flow(LETTERS, _entrant(design, tmp_path, "LATE1", "2019-10-15", 6))
    assert (
        "joined 2019-10-15, after the last learning cycle was randomised (spring_2019 on "
        "2019-04-01, autumn_2019 on 2019-10-01): an entrant who joins after a cohort was "
        "randomised is not part of its randomisation. Declare a further cycle (an amendment) "
        "and randomise it with --cycle."
    ) in refused.value.report
    # with no start date, the day of enrolment decides: today is after every cycle
    with pytest.raises(RosterError, match="rule in_a_randomised_cycle"):
        enrol_flow(LETTERS, _entrant(design, tmp_path, "NODATE1", None, 7))

    people = Store().participant_arms("letters").set_index("participant_id")
    assert people.loc["SPRING1", "enrolment"] == "late"
    assert people.loc["AUTUMN1", "enrolment"] == "cycle2_late"
    assert "LATE1" not in people.index and "NODATE1" not in people.index
    cycles = cycle_of_enrolment(people["enrolment"])
    assert cycles["SPRING1"] == 1 and cycles["AUTUMN1"] == 2
    assert load_participant_cycles.fn(design)[["SPRING1", "AUTUMN1"]].tolist() == [1, 2]
    # `trialflow status` counts both as late entrants
    assert sum(row["late_entrants"] for row in trial_status("letters")["arms"]) == 2

    # the autumn entrant's survey window and HR window are the autumn cohort's
    columns = survey_fields(design)
    rows = [
        {c: {"participant_id": pid, "collected_on": day}.get(f, "3") for f, c in columns.items()}
        for pid, day in (
            ("SPRING1", spring.endline.isoformat()),
            ("AUTUMN1", autumn.endline.isoformat()),
        )
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "endline.csv", index=False)
    done = outcomes_ingest_flow(LETTERS, str(tmp_path / "endline.csv"), "survey", "endline")
    assert (done["rows_stored"], done["rows_quarantined"]) == (2, 0)
    hr = pd.DataFrame(
        {
            "staff_id": ["SPRING1", "AUTUMN1"],
            "record_type": "staff",
            "fte": "1.0",
            "fte_from": None,
            "leaving_date": None,
            "absence_start": None,
            "absence_end": None,
        }
    )
    hr.to_csv(tmp_path / "hr.csv", index=False)
    outcomes_ingest_flow(LETTERS, str(tmp_path / "hr.csv"), "hr", "endline")
    with Store().engine.connect() as conn:
        ends = dict(
            conn.execute(
                sa.select(outcome_values.c.participant_id, outcome_values.c.collected_on).where(
                    outcome_values.c.measure == "turnover"
                )
            ).all()
        )
    assert {p: str(d) for p, d in ends.items()} == {
        "SPRING1": "2019-12-31",  # the spring window's end
        "AUTUMN1": "2020-07-01",  # the autumn cohort's
    }
