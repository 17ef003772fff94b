"""A roster with nobody in it is refused by name and rule, never as a database error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.sources import SourceError, read_table
from intake.roster import check_roster
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.simulate_roster import simulate_roster


def _header_only(path: Path) -> Path:
    design = load_design(DESIGNS / "letters.yaml")
    simulate_roster(design, rng=np.random.default_rng(1), n=4).head(0).to_csv(path, index=False)
    return path


def test_a_header_only_roster_breaks_the_has_rows_rule():
    design = load_design(DESIGNS / "letters.yaml")
    roster = pd.DataFrame(columns=["source_row", *design.roster.columns])
    problems = check_roster(roster, design)
    assert problems[["source_row", "rule"]].to_records(index=False).tolist() == [(1, "has_rows")]
    assert "no staff rows" in problems["message"].iloc[0]


def test_an_empty_file_and_a_file_of_blank_lines_are_refused_by_name(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(SourceError, match=r"File empty\.csv is empty \(0 bytes\)"):
        read_table(tmp_path / "empty.csv")
    (tmp_path / "blank.csv").write_text("\n\n   \n\r\n")
    with pytest.raises(SourceError, match=r"File blank\.csv has only blank lines"):
        read_table(tmp_path / "blank.csv")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("header.csv", r"header\.csv row 1, column '\(every column\)': rule has_rows"),
        ("empty.csv", r"File empty\.csv is empty \(0 bytes\)"),
        ("blank.csv", r"File blank\.csv has only blank lines"),
    ],
)
@pytest.mark.parametrize("command", ["randomise", "enrol"])
def test_the_command_line_gives_one_error_line_naming_file_and_rule(
    prefect_server, tmp_path, name, expected, command
):
    import re

    from flows.cli import app

    path = tmp_path / name
    if name == "header.csv":
        _header_only(path)
    elif name == "blank.csv":
        path.write_text("\n\n  \n")
    else:
        path.write_bytes(b"")
    if command == "enrol":
        from flows.randomise import randomise_flow

        roster = simulate_roster(
            load_design(DESIGNS / "letters.yaml"), rng=np.random.default_rng(2), n=8
        )
        roster.to_csv(tmp_path / "first.csv", index=False)
        randomise_flow("letters", str(tmp_path / "first.csv"))
    result = CliRunner().invoke(app, [command, "letters", "--roster", str(path)])
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())  # rich wraps long lines
    assert text.startswith("error:"), result.output
    assert re.search(expected, text), result.output
    assert "IntegrityError" not in text and "internal error" not in text
