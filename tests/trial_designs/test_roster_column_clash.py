"""A design may not read two roster fields from one column."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.designs import DESIGNS
from trial_designs.design import DesignError, load_design


def _clashing(tmp_path: Path) -> Path:
    data = yaml.safe_load((DESIGNS / "letters.yaml").read_text())
    data["roster"]["columns"]["organisation"] = data["roster"]["columns"]["team"]
    path = tmp_path / "clash.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_two_fields_on_one_column_are_refused_naming_both_and_the_column(tmp_path):
    with pytest.raises(DesignError, match="same column") as err:
        load_design(_clashing(tmp_path))
    assert "'team' and 'organisation' both read column 'team'" in str(err.value) or (
        "'organisation' and 'team' both read column 'team'" in str(err.value)
    )


def test_validate_exits_1_on_the_clash(tmp_path):
    from flows.cli import app

    result = CliRunner().invoke(app, ["validate", str(_clashing(tmp_path))])
    assert result.exit_code == 1
    assert "both read column 'team'" in " ".join(result.output.split())


@pytest.mark.parametrize("name", ["letters", "coffee", "goal_setting", "schwartz_rounds"])
def test_the_packaged_designs_have_no_clash(name):
    load_design(DESIGNS / f"{name}.yaml")
