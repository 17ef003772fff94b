"""A file most of whose rows name nobody in the trial is refused whole (another trial's file).

The review's case: 300,000 rows of unknown ids and one real one were accepted ("1 stored,
300000 quarantined", 1.5 GB and a 37 MB validation CSV) while the same file without the real
id was refused. More than half the rows naming no participant now refuses the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from flows.deliveries import deliveries_ingest_flow
from flows.outcomes import outcomes_ingest_flow
from flows.sources import SourceError
from flows.store import Store, trialflow_home
from tests.designs import DESIGNS
from tests.outcome_files import response
from trial_designs.design import load_design
from trial_designs.randomise import randomise
from trial_designs.simulate_deliveries import simulate_deliveries

GOLDEN = Path(__file__).resolve().parents[1] / "trial_designs" / "golden"

pytestmark = pytest.mark.flow


def _randomised(name: str) -> list[str]:
    design = load_design(DESIGNS / f"{name}.yaml")
    roster = pd.read_csv(GOLDEN / f"{name}_roster.csv", dtype=str)
    Store().record_randomisation(design=design, allocation=randomise(roster, design), roster=roster)
    return sorted(roster["id"])


def _counts() -> dict:
    with Store().engine.connect() as conn:
        return {
            t: conn.execute(sa.text(f"select count(*) from {t}")).scalar()
            for t in ("outcome_values", "survey_responses", "quarantine", "ingested_files")
        } | {
            "delivery_events": conn.execute(
                sa.text("select count(*) from delivery_events")
            ).scalar()
        }


def _archived() -> list[Path]:
    return [p for p in trialflow_home().rglob("*") if p.is_file() and "archive" in p.parts]


def _survey(path: Path, ids: list[str]) -> None:
    frame = pd.DataFrame([response(pid) for pid in ids]).rename(
        columns={"participant_id": "staff_id"}
    )
    frame.to_csv(path, index=False)


def test_a_survey_mostly_of_unknown_ids_is_refused_with_the_count_and_an_example(
    prefect_server, tmp_path
):
    ids = _randomised("coffee")
    path = tmp_path / "wrong_export.csv"
    _survey(path, [ids[0], *[f"ZZZ{i:06d}" for i in range(1, 4)]])
    before, archived = _counts(), _archived()
    with pytest.raises(
        SourceError,
        match=r"^wrong_export\.csv: 3 of 4 rows \(75\.0%\) name no participant of coffee, e\.g\. "
        r"'ZZZ000001': is this another trial's file\? Nothing was stored\.$",
    ):
        outcomes_ingest_flow("coffee", str(path), "survey", "endline")
    assert _counts() == before
    assert _archived() == archived  # not archived as ingested: it may be sent again, fixed


def test_a_survey_with_half_or_fewer_unknown_ids_is_stored_and_quarantines_them(
    prefect_server, tmp_path
):
    ids = _randomised("coffee")
    path = tmp_path / "export.csv"
    _survey(path, [ids[0], ids[1], "ZZZ000001", "ZZZ000002"])  # exactly half: not "more than"
    archived = _archived()
    outcomes_ingest_flow("coffee", str(path), "survey", "endline")
    assert _counts()["quarantine"] == 2 and _counts()["survey_responses"] == 2
    assert len(_archived()) == len(archived) + 1  # the archive the refusals above must not grow


def test_a_delivery_log_mostly_of_unknown_units_is_refused(prefect_server, tmp_path):
    from flows.randomise import randomise_flow
    from trial_designs.simulate_roster import simulate_roster

    design = load_design(DESIGNS / "goal_setting.yaml")
    simulate_roster(design, rng=np.random.default_rng(3)).to_csv(tmp_path / "r.csv", index=False)
    randomise_flow("goal_setting", str(tmp_path / "r.csv"))
    people = Store().participant_arms("goal_setting")
    log = simulate_deliveries(design, people, rng=np.random.default_rng(8))["deliveries.csv"]
    column = design.interventions[0].columns["unit_id"]
    other = log.copy()
    n = len(other)
    other.loc[other.index[: n * 2 // 3], column] = [f"OTHER{i:05d}" for i in range(n * 2 // 3)]
    path = tmp_path / "someone_elses_log.csv"
    other.to_csv(path, index=False)
    before, archived = _counts(), _archived()
    with pytest.raises(
        SourceError,
        match=rf"^someone_elses_log\.csv: {n * 2 // 3:,} of {n:,} rows \(\d+\.\d%\) name no "
        r"participant or cluster of goal_setting, e\.g\. 'OTHER00000': is this another trial's "
        r"file\? Nothing was stored\.$",
    ):
        deliveries_ingest_flow("goal_setting", str(path))
    assert _counts() == before
    assert _archived() == archived
