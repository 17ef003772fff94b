"""Design mistakes that once passed without a word: a subgroup typo, an endline before
randomisation, a key written twice."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.designs import DESIGNS
from trial_designs.design import DesignError, load_design


def _write(tmp_path: Path, change) -> Path:  # noqa: ANN001
    data = yaml.safe_load((DESIGNS / "letters.yaml").read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "letters.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_the_packaged_designs_still_load():
    for path in sorted(DESIGNS.glob("*.yaml")):
        load_design(path)


def test_a_subgroup_typo_is_refused_with_a_suggestion(tmp_path):
    path = _write(tmp_path, lambda d: d["analysis"].update(subgroups=["rol"]))
    with pytest.raises(DesignError, match=r"subgroups.*'rol'.*did you mean 'role'\?"):
        load_design(path)


def test_a_declared_roster_column_is_a_valid_subgroup(tmp_path):
    def change(d):  # noqa: ANN001, ANN202
        d["roster"]["covariates"] = ["fte"]
        d["analysis"]["subgroups"] = ["role", "fte", "organisation"]

    assert load_design(_write(tmp_path, change)).analysis.subgroups == (
        "role", "fte", "organisation"
    )  # fmt: skip


@pytest.mark.parametrize("endline", ["2019-03-31", "2019-03-01"])
def test_an_endline_before_randomisation_or_baseline_is_refused(tmp_path, endline):
    path = _write(tmp_path, lambda d: d["follow_up"].update(endline=endline))
    with pytest.raises(DesignError, match=rf"endline.*{endline}.*2019-0[34]-"):
        load_design(path)


def test_a_key_written_twice_is_refused_naming_key_and_line(tmp_path):
    text = (DESIGNS / "letters.yaml").read_text(encoding="utf-8")
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("seed:"))
    lines.insert(at + 1, lines[at].replace("20190401", "7"))
    path = tmp_path / "twice.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DesignError, match=rf"twice\.yaml: .*'seed'.*line {at + 2}"):
        load_design(path)
