"""Learning cycles in a design: optional (old hashes stay), ordered, and refused where they cannot work."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
import yaml

from tests.designs import DESIGNS
from trial_designs.cycles import cycle_seed, last_survey_day
from trial_designs.design import DesignError, load_design


def _write(tmp_path: Path, name: str, mutate) -> Path:
    data = yaml.safe_load((DESIGNS / f"{name}.yaml").read_text())
    mutate(data)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _error(tmp_path: Path, name: str, mutate) -> str:
    with pytest.raises(DesignError) as err:
        load_design(_write(tmp_path, name, mutate))
    return str(err.value)


def test_a_design_without_cycles_keeps_the_hash_it_had_before_cycles_existed(tmp_path):
    with_cycles = load_design(DESIGNS / "letters.yaml")
    without = load_design(_write(tmp_path, "letters", lambda d: d.pop("cycles")))
    assert without.cycles == ()
    # 'cycles' at its default is left out of the hashed form, and nothing else moves
    canonical = json.loads(with_cycles.canonical_json())
    del canonical["cycles"]
    assert json.loads(without.canonical_json()) == canonical
    assert (
        without.design_hash
        == hashlib.sha256(
            json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
    )
    assert with_cycles.design_hash != without.design_hash


def test_letters_declares_two_cycles_whose_first_is_follow_up():
    design = load_design(DESIGNS / "letters.yaml")
    assert [c.name for c in design.cycles] == ["spring_2019", "autumn_2019"]
    assert design.cycles[0].randomisation == design.follow_up.randomisation
    seed = design.randomisation.seed
    assert [cycle_seed(design.cycles, n, seed) for n in (1, 2)] == [seed, seed + 1]


def test_the_first_cycle_must_have_follow_ups_dates(tmp_path):
    def mutate(d):
        d["cycles"][0]["baseline"] = "2019-03-20"

    assert _error(tmp_path, "letters", mutate) == (
        "letters.yaml: cycles[0] (spring_2019) is the trial's first cycle, so its baseline must "
        "be follow_up.baseline (2019-03-15). Got 2019-03-20 instead."
    )


def test_cycles_are_in_time_order(tmp_path):
    def mutate(d):
        d["cycles"][1].update(recruitment_start="2019-03-01", randomisation="2019-04-01")

    assert _error(tmp_path, "letters", mutate) == (
        "letters.yaml: cycle 'autumn_2019' must be randomised after cycle 'spring_2019' "
        "(2019-04-01): cycles are listed in time order. Got 2019-04-01 instead."
    )


def test_a_cycles_endline_comes_after_its_randomisation(tmp_path):
    def mutate(d):
        d["cycles"][1]["endline"] = "2019-09-30"

    message = _error(tmp_path, "letters", mutate)
    assert "cycles[1] (autumn_2019): endline must be after randomisation (2019-10-01)" in message
    assert "Got 2019-09-30 instead" in message


def test_one_cycle_alone_is_refused(tmp_path):
    message = _error(tmp_path, "letters", lambda d: d["cycles"].pop())
    assert message.endswith("so it needs at least 2. Got 1 instead.")


def test_a_cluster_trial_cannot_declare_cycles(tmp_path):
    letters = yaml.safe_load((DESIGNS / "letters.yaml").read_text())["cycles"]

    def mutate(d):
        # coffee's own dates for the first cycle, letters' autumn cohort for the second
        first = {k: d["follow_up"][k] for k in ("recruitment_start", "randomisation")}
        first |= {k: d["follow_up"][k] for k in ("baseline", "endline")}
        d["cycles"] = [
            {"name": "first", **first},
            {
                **letters[1],
                "name": "second",
                "randomisation": "2020-06-01",
                "endline": "2020-12-01",
            },
        ]

    message = _error(tmp_path, "coffee", mutate)
    assert "'cycles' randomise a new cohort of people, so they need unit 'individual'" in message
    assert "Got unit 'cluster' instead." in message


def test_surveys_may_be_dated_up_to_the_last_cycles_own_follow_up_window():
    design = load_design(DESIGNS / "letters.yaml")
    # endline 2019-10-15 with responses to 2019-12-31: the autumn cohort's endline is
    # 2020-04-15, so its responses run to 183 days after the spring's window ends
    assert last_survey_day(design.follow_up, design.cycles) == dt.date(2020, 7, 1)
    assert last_survey_day(design.follow_up, ()) == design.follow_up.window_end


def test_a_later_cycles_wave_must_fall_before_its_endline(tmp_path):
    def mutate(d):
        # letters with a mid-point wave on 2019-07-01, 91 days after the spring randomisation:
        # the autumn cohort's falls on 2019-12-31, after an endline brought forward to 2019-12-01
        d["follow_up"]["waves"] = [{"name": "midpoint", "date": "2019-07-01"}]
        d["cycles"][1]["endline"] = "2019-12-01"

    message = _error(tmp_path, "letters", mutate)
    assert (
        "cycle 'autumn_2019' surveys wave 'midpoint' on 2019-12-31 (as long after its "
        "randomisation as the first cycle's), so its endline must come after that. "
        "Got 2019-12-01 instead"
    ) in message
