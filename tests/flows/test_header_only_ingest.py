"""A survey, HR or delivery file with a header and no rows is refused by rule, never ingested.

A header-only export was recorded as "0 rows read, 0 stored, 0 quarantined" with
exit 0 and an ingested_files row: the export that went wrong looked done.  It is
refused like a header-only roster (rule ``has_rows``) and leaves nothing behind.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from flows.randomise import randomise_flow
from flows.settings import get_settings
from flows.store import Store
from intake.deliveries import intervention_of
from intake.mapping import delivery_fields, outcome_fields
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.simulate_roster import simulate_roster

pytestmark = pytest.mark.flow


def _counts(trial: str) -> dict:
    with Store().engine.connect() as conn:
        counts = {
            t: conn.execute(
                sa.text(f"select count(*) from {t} where trial_id = :t"), {"t": trial}
            ).scalar()
            for t in (
                "outcome_values",
                "survey_responses",
                "delivery_events",
                "quarantine",
                "ingested_files",
            )
        }
    archive = get_settings().archive_dir(trial)
    counts["archived"] = len(list(archive.glob("*"))) if archive.exists() else 0
    counts["audit"] = len(Store().audit(trial))
    return counts


def _randomised(name: str, tmp_path) -> None:
    design = load_design(DESIGNS / f"{name}.yaml")
    simulate_roster(design, rng=np.random.default_rng(3)).to_csv(
        tmp_path / "roster.csv", index=False
    )
    randomise_flow(name, str(tmp_path / "roster.csv"))


def _refused(args: list[str], file_name: str, rows_are: str) -> None:
    from flows.cli import app

    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())  # rich wraps long lines
    expected = (
        f"error: {file_name}: 1 problem(s); nothing was written. {file_name} row 1, column "
        f"'(every column)': rule has_rows. The file has a header but no {rows_are}: there is "
        "nothing to ingest. Export the file again with its rows."
    )
    assert text == expected, result.output


@pytest.mark.parametrize("source", ["survey", "hr"])
def test_a_header_only_outcome_file_is_refused_and_nothing_is_written(
    prefect_server, tmp_path, source
):
    _randomised("coffee", tmp_path)
    design = load_design(DESIGNS / "coffee.yaml")
    path = tmp_path / f"{source}_header.csv"
    pd.DataFrame(columns=list(outcome_fields(design, source).values())).to_csv(path, index=False)
    before = _counts("coffee")
    _refused(
        ["outcomes", "ingest", "coffee", str(path), "--source", source, "--timepoint", "endline"],
        path.name,
        "rows",
    )
    assert _counts("coffee") == before


def test_a_header_only_delivery_log_is_refused_and_nothing_is_written(prefect_server, tmp_path):
    _randomised("goal_setting", tmp_path)
    design = load_design(DESIGNS / "goal_setting.yaml")
    path = tmp_path / "deliveries_header.csv"
    columns = list(delivery_fields(intervention_of(design)).values())
    pd.DataFrame(columns=columns).to_csv(path, index=False)
    before = _counts("goal_setting")
    _refused(["deliveries", "ingest", "goal_setting", str(path)], path.name, "delivery events")
    assert _counts("goal_setting") == before
