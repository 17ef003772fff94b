"""The export end to end: a simulated trial ingested through the CLI and flows, then exported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from analysis.instruments import SWEMWBS_METRIC
from flows.cli import app
from flows.outcomes import outcomes_ingest_flow
from flows.randomise import randomise_flow
from flows.store import Store
from trial_designs.design import load_design
from trial_designs.simulate import simulate_roster
from trial_designs.simulate_outcomes import simulate_outcomes

pytestmark = pytest.mark.flow
DESIGNS = Path(__file__).resolve().parents[2] / "trial_designs"
ITEMS = [f"swemwbs_{i}" for i in range(1, 8)]


def test_letters_export_has_one_row_each_every_outcome_and_no_pii(prefect_server, tmp_path):
    design = load_design(DESIGNS / "letters.yaml")
    roster = simulate_roster(design, rng=np.random.default_rng(8))
    roster.to_csv(tmp_path / "roster.csv", index=False)
    randomise_flow("letters", str(tmp_path / "roster.csv"))
    files = simulate_outcomes(
        design, Store().participant_arms("letters"), rng=np.random.default_rng(9)
    )
    # staff type names and addresses into free text; the ingest must drop that column
    endline = files["survey_endline.csv"]
    named = roster.set_index("staff_id").reindex(endline["staff_id"])
    endline["comments"] = (
        "Thanks " + named["first_name"].fillna("") + " " + named["surname"].fillna("")
        + ", " + named["home_address"].fillna("")
    ).to_numpy()  # fmt: skip
    for name, frame in files.items():
        frame.to_csv(tmp_path / name, index=False)
    outcomes_ingest_flow("letters", str(tmp_path / "survey_baseline.csv"), "survey", "baseline")
    outcomes_ingest_flow("letters", str(tmp_path / "survey_endline.csv"), "survey", "endline")
    runner = CliRunner()
    ingest = runner.invoke(
        app, ["outcomes", "ingest", "letters", str(tmp_path / "hr_extract.csv"), "--source", "hr"]
    )
    assert ingest.exit_code == 0, ingest.output
    assert "hr_extract.csv:" in ingest.output and "Validation report:" in ingest.output
    out = tmp_path / "export"
    exported = runner.invoke(app, ["export", "letters", "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    paths = {p.name: p for p in out.iterdir()}
    assert set(paths) == {
        "letters_analysis.csv", "letters_analysis.parquet",
        "letters_dictionary.csv", "letters_dictionary.md",
    }  # fmt: skip

    data = pd.read_csv(paths["letters_analysis.csv"])
    assert len(data) == len(roster) == data["participant_id"].nunique()
    assert {"participant_id", "arm", "stratum", "cluster", "organisation", "team", "role",
            "responded_endline", "turnover_endline", "absence_rate_endline"} <= set(data)  # fmt: skip
    for outcome in design.outcomes:
        assert f"{outcome.name}_endline" in data
        assert (f"{outcome.name}_baseline" in data) == (outcome.source == "survey")
    assert data["cluster"].isna().all()
    assert 0.6 < data["responded_endline"].mean() < 0.8
    assert 0.1 < data["turnover_endline"].mean() < 0.2
    parquet = pd.read_parquet(paths["letters_analysis.parquet"])
    pd.testing.assert_frame_equal(
        parquet.reset_index(drop=True), data, check_dtype=False, check_exact=False
    )
    dictionary = pd.read_csv(paths["letters_dictionary.csv"])
    assert dictionary["column"].tolist() == list(data.columns)

    # each stored score is the one the respondent's answers give
    answers = pd.read_csv(tmp_path / "survey_endline.csv")
    once = answers[~answers["staff_id"].duplicated(keep=False)].set_index("staff_id")
    complete = once[ITEMS].apply(pd.to_numeric, errors="coerce").dropna()
    complete = complete[(complete >= 1).all(axis=1) & (complete <= 5).all(axis=1)]
    scored = data.set_index("participant_id")["swemwbs_endline"].reindex(complete.index)
    expected = [SWEMWBS_METRIC[int(s) - 7] for s in complete.sum(axis=1)]
    stored = scored.notna()
    assert stored.mean() > 0.95  # all but the few quarantined (late, badly dated) rows
    np.testing.assert_array_equal(scored[stored], np.asarray(expected)[stored.to_numpy()])

    # no name or address reaches the store's outcome table or any exported file
    secrets = {
        s for column in ("first_name", "surname", "home_address")
        for s in roster[column].astype(str) if len(s) > 3
    }  # fmt: skip
    texts = [paths[n].read_text() for n in ("letters_analysis.csv", "letters_dictionary.csv",
                                            "letters_dictionary.md")]  # fmt: skip
    texts.append(parquet.to_csv())
    texts.append(Store().read(sa.text("select * from outcome_values")).to_csv())
    leaked = [s for s in secrets if any(s in text for text in texts)]
    assert not leaked
    assert any(
        "Thanks" in line for line in (tmp_path / "survey_endline.csv").read_text().splitlines()
    )
