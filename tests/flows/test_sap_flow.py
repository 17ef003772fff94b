"""`trialflow sap`: the plan is written and registered; refused after outcome data unless late."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from flows.cli import app
from flows.integrity import amend_design
from flows.randomise import read_roster
from flows.sap import SAP_EVENT, SapRefusedError, sap_flow, sap_status
from flows.store import Store, outcome_values
from flows.tasks import output_dir
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.randomise import randomise
from trial_designs.simulate_roster import simulate_roster

runner = CliRunner()

pytestmark = pytest.mark.usefixtures("prefect_server")


def _randomised(tmp_path: Path):  # noqa: ANN202
    design = load_design(DESIGNS / "letters.yaml")
    path = tmp_path / "roster.csv"
    simulate_roster(design, rng=np.random.default_rng(3)).to_csv(path, index=False)
    roster, pii = read_roster.fn(str(path), design)
    Store().record_randomisation(
        design=design, allocation=randomise(roster, design), roster=roster, pii=pii
    )
    return design


def _store_outcomes(design, timepoint: str) -> None:  # noqa: ANN001
    people = Store().participant_arms(design.id)["participant_id"].head(3)
    rows = [
        {
            "trial_id": design.id,
            "participant_id": pid,
            "timepoint": timepoint,
            "measure": "feeling_valued",
            "value": 5.0,
            "source_file": f"survey_{timepoint}.csv",
            "source_row": i + 2,
        }
        for i, pid in enumerate(people)
    ]
    with Store().engine.begin() as conn:
        conn.execute(sa.insert(outcome_values), rows)


def _registrations(trial: str):  # noqa: ANN202
    audit = Store().audit(trial)
    return audit[audit["event"] == SAP_EVENT]


def test_registering_writes_the_plan_and_an_audit_row_with_its_hash(tmp_path):
    design = _randomised(tmp_path)
    _store_outcomes(design, "baseline")  # baseline data do not make a plan late
    done = sap_flow("letters", pdf=True)
    files = {k: Path(v) for k, v in done["files"].items()}
    assert files["html"].parent == output_dir("letters", "sap")
    assert files["pdf"].read_bytes()[:5] == b"%PDF-"
    # the registered hash is the SHA-256 of sap.json, so anyone can check it
    assert hashlib.sha256(files["json"].read_bytes()).hexdigest() == done["sap_hash"]
    rows = _registrations("letters")
    assert len(rows) == 1
    row = rows.iloc[0]
    assert row["file_hash"] == done["sap_hash"]
    assert row["design_hash"] == design.design_hash
    details = json.loads(row["details_json"])
    assert details["registered_at"] == done["registered_at"] and details["late"] is False
    assert details["html_sha256"] == hashlib.sha256(files["html"].read_bytes()).hexdigest()
    html = files["html"].read_text(encoding="utf-8")
    day = dt.datetime.fromisoformat(done["registered_at"]).strftime("%-d %b %Y")
    assert f"Registered on {day} ({done['registered_at']} UTC)." in html
    assert done["sap_hash"] in html and "Draft" not in html
    # the same plan again adds no row and keeps the first registration's time
    again = sap_flow("letters", pdf=False)
    assert again["new"] is False and again["registered_at"] == done["registered_at"]
    assert len(_registrations("letters")) == 1
    status = sap_status(design)
    assert status["followed"] is True and status["hash"] == done["sap_hash"]


def test_registration_is_refused_once_outcome_data_are_stored(tmp_path):
    design = _randomised(tmp_path)
    _store_outcomes(design, "endline")
    folder = output_dir("letters") / "sap"
    with pytest.raises(
        SapRefusedError,
        match=r"^Refusing to register the analysis plan of trial 'letters': 3 outcome value\(s\) "
        r"are stored already, so the plan would not be pre-specified\. Register it as late with "
        r'`trialflow sap letters --late --reason "\.\.\."`; the report will say so\.$',
    ):
        sap_flow("letters", pdf=False)
    assert not folder.exists()
    assert len(_registrations("letters")) == 0
    result = runner.invoke(app, ["sap", "letters", "--no-pdf"])
    assert result.exit_code == 1
    assert "3 outcome value(s) are stored already" in result.output
    assert len(_registrations("letters")) == 0


def test_a_late_registration_needs_a_reason_and_is_recorded_as_late(tmp_path):
    design = _randomised(tmp_path)
    with pytest.raises(SapRefusedError, match=r"'--late' is for a plan registered after outcome"):
        sap_flow("letters", late=True, reason="x", pdf=False)
    _store_outcomes(design, "endline")
    with pytest.raises(SapRefusedError, match=r"^A late registration needs a reason"):
        sap_flow("letters", late=True, reason="  ", pdf=False)
    assert len(_registrations("letters")) == 0
    done = sap_flow("letters", late=True, reason="the SAP was agreed by email only", pdf=False)
    assert done["late"] is True
    row = _registrations("letters").iloc[0]
    assert row["reason"] == "the SAP was agreed by email only"
    assert json.loads(row["details_json"])["outcome_values_stored"] == 3
    html = Path(done["files"]["html"]).read_text(encoding="utf-8")
    assert "<strong>late</strong>: after outcome data were stored" in html
    status = sap_status(design)
    assert status["late"] is True and status["late_reason"] == "the SAP was agreed by email only"


def test_an_amendment_after_registration_is_a_deviation(tmp_path):
    design = _randomised(tmp_path)
    sap_flow("letters", pdf=False)
    assert sap_status(design)["deviations"] == []
    amended = design.model_copy(
        update={"analysis": design.analysis.model_copy(update={"covariates": ("team",)})}
    )
    amend_design(amended, reason="adjust for team after all")
    status = sap_status(amended)
    assert status["followed"] is False
    assert status["deviations"][0] == "The plan's model section is not the one registered."
    assert status["deviations"][1].startswith("Design amended on ")
    assert "(reason: adjust for team after all): analysis.covariates" in status["deviations"][1]
    # an analysis with other RI draws than planned is a deviation too
    assert (
        "Randomisation inference used 10 draws"
        in sap_status(amended, ri_draws=10)["deviations"][-1]
    )


def test_after_outcome_data_the_registered_plan_can_be_written_again_but_not_changed(tmp_path):
    design = _randomised(tmp_path)
    first = sap_flow("letters", pdf=False)
    _store_outcomes(design, "endline")
    Path(first["files"]["html"]).unlink()
    again = sap_flow("letters", pdf=False)  # the same plan: files back, no new registration
    assert again["new"] is False and Path(again["files"]["html"]).is_file()
    with pytest.raises(SapRefusedError, match="3 outcome value"):
        sap_flow("letters", n=999, pdf=False)  # a different plan is a new registration: refused
    assert len(_registrations("letters")) == 1
