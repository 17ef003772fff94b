"""An analysis choice changed after outcome data are stored is refused unless asked for, and recorded.

A hostile review amended goal_setting_nudges' ``adjust_across_arms: holm`` to ``none`` after
the outcomes were in: nothing stopped it and the results never said so.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from flows.integrity import AmendmentRefusedError, amend_design, amendment_records
from flows.store import Store, amendments, ingested_files
from tests.designs import DESIGNS
from trial_designs.design import TrialDesign, load_design
from trial_designs.randomise import randomise

GOLDEN = Path(__file__).resolve().parents[1] / "trial_designs" / "golden"


def _randomised() -> tuple[Store, TrialDesign]:
    design = load_design(DESIGNS / "letters.yaml")
    roster = pd.read_csv(GOLDEN / "letters_roster.csv", dtype=str).head(40)
    store = Store()
    store.record_randomisation(design=design, allocation=randomise(roster, design), roster=roster)
    return store, design


def _with(design: TrialDesign, section: str, **values) -> TrialDesign:  # noqa: ANN003
    data = design.model_dump(mode="json")
    data[section] = {**(data.get(section) or {}), **values}
    return TrialDesign.model_validate(data)


def _outcomes_stored(store: Store, trial: str, *, kind: str = "survey", stored: int = 30) -> None:
    """An outcome file's ingest, as the survey stage records it (the rows themselves not needed)."""
    with store.engine.begin() as conn:
        conn.execute(
            ingested_files.insert().values(
                trial_id=trial,
                kind=kind,
                file_hash="f" * 64,
                file_name="endline.csv",
                archived_path="/nowhere/endline.csv",
                timepoint="endline",
                rows_read=stored,
                rows_stored=stored,
                rows_quarantined=0,
                ingested_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
            )
        )


def _n_amendments(store: Store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(amendments)).scalar_one()


def test_an_analysis_change_after_outcomes_needs_the_explicit_flag_and_stores_nothing_without():
    store, design = _randomised()
    _outcomes_stored(store, design.id)
    changed = _with(design, "analysis", se_type="HC1")
    with pytest.raises(
        AmendmentRefusedError,
        match=r"(?s)analysis plan after outcome.*analysis\.se_type.*--after-outcomes",
    ):
        amend_design(changed, reason="reviewer asked", store=store)
    assert _n_amendments(store) == 0
    assert store.trial(design.id)["design_hash"] == design.design_hash
    done = amend_design(changed, reason="reviewer asked", store=store, after_outcomes=True)
    assert done["new_hash"] == changed.design_hash


def test_the_same_change_before_outcomes_or_a_wording_change_after_needs_no_flag():
    store, design = _randomised()
    amend_design(_with(design, "analysis", se_type="HC1"), reason="before data", store=store)
    # an HR file with no stored rows is not outcome data
    _outcomes_stored(store, design.id, kind="hr", stored=0)
    amend_design(_with(design, "analysis", se_type="HC2"), reason="still none", store=store)
    _outcomes_stored(store, design.id)
    reworded = store.trial(design.id)["design_json"]
    data = TrialDesign.model_validate_json(reworded).model_dump(mode="json")
    data["title"] = "A new title"
    amend_design(TrialDesign.model_validate(data), reason="wording", store=store)
    records = amendment_records(store, design.id)
    assert [r["reason"] for r in records] == ["before data", "still none", "wording"]
    assert [r["outcome_data_stored"] for r in records] == [False, False, True]
    assert records[0]["analysis_changes"] == records[0]["changes"]
    assert records[0]["changes"][0].startswith("analysis.se_type:")
    assert records[2]["analysis_changes"] == []
    assert records[2]["changes"][0].startswith("title:")
    assert all(r["who"] and r["recorded_at"] and r["old_hash"] != r["new_hash"] for r in records)


def test_a_trial_never_amended_has_no_records():
    store, design = _randomised()
    assert amendment_records(store, design.id) == []


@pytest.mark.flow
def test_cli_amend_of_the_plan_after_outcomes_is_refused_without_the_flag(prefect_server, tmp_path):
    import yaml
    from typer.testing import CliRunner

    from flows.cli import app

    store, design = _randomised()
    _outcomes_stored(store, design.id)
    data = yaml.safe_load((DESIGNS / "letters.yaml").read_text())
    data.setdefault("analysis", {})["se_type"] = "HC1"
    path = tmp_path / "changed.yaml"
    path.write_text(yaml.safe_dump(data))
    runner = CliRunner()
    command = ["amend", "letters", "--design", str(path), "--reason", "looked better"]
    refused = runner.invoke(app, command)
    assert refused.exit_code == 1
    assert "refused: it changes the analysis plan after outcome data were stored" in refused.output
    assert "--after-outcomes" in refused.output
    assert _n_amendments(store) == 0
    done = runner.invoke(app, [*command, "--after-outcomes"])
    assert done.exit_code == 0, done.output
    assert amendment_records(store, "letters")[0]["outcome_data_stored"] is True


def _audit_actions(store: Store, trial: str) -> list[tuple[str, dict, str | None]]:
    import json

    from flows.store import audit_log

    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(audit_log.c.event, audit_log.c.details_json, audit_log.c.reason)
            .where(audit_log.c.trial_id == trial)
            .order_by(audit_log.c.audit_id)
        ).all()
    return [(a, json.loads(d) if d else {}, r) for a, d, r in rows]


def test_a_refused_amendment_is_written_to_the_audit_log_with_its_changes_and_reason():
    store, design = _randomised()
    _outcomes_stored(store, design.id)
    changed = _with(design, "analysis", se_type="HC1")
    with pytest.raises(
        AmendmentRefusedError,
        match="(?s)analysis plan after outcome.*The attempt is in the audit log; nothing else was stored",
    ):
        amend_design(changed, reason="looks better", store=store)
    action, detail, reason = _audit_actions(store, design.id)[-1]
    assert action == "design-amendment-refused"
    assert reason == "looks better"
    assert detail["rule"] == "analysis plan changed after outcome data were stored"
    assert detail["new_hash"] == changed.design_hash
    assert any("analysis.se_type" in line for line in detail["changes"])
    # the refusal changed nothing else: no amendment and the same design
    assert _n_amendments(store) == 0
    assert store.trial(design.id)["design_hash"] == design.design_hash


def test_a_refused_allocation_change_is_audited_too():
    store, design = _randomised()
    changed = _with(design, "randomisation", seed=design.randomisation.seed + 1)
    with pytest.raises(AmendmentRefusedError, match="change how units were allocated"):
        amend_design(changed, reason="new seed", store=store)
    action, detail, reason = _audit_actions(store, design.id)[-1]
    assert action == "design-amendment-refused"
    assert detail["rule"] == "changes how units were allocated, or a date that has passed"
    assert any("randomisation.seed" in line for line in detail["changes"])
