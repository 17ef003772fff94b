"""No report holds a name, address or staff ID from any roster."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reports.render import render_trial
from trial_designs.design import load_design
from trial_designs.simulate_roster import simulate_roster

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "trial_designs" / "golden"
DEMO_TRIALS = ("letters", "goal_setting", "coffee", "schwartz_rounds")


@pytest.fixture(scope="module")
def identifiers() -> set[str]:
    """Every staff ID in the golden rosters, and every name and address in a simulated one.

    First names and surnames alone are common words in reports ("Hall",
    "Rose"), so names are scanned as "first surname" pairs, with addresses.
    """
    found: set[str] = set()
    for name in DEMO_TRIALS:
        roster = pd.read_csv(GOLDEN / f"{name}_roster.csv", dtype=str)
        found |= set(roster["id"].dropna())
    design = load_design(ROOT / "trial_designs" / "letters.yaml")
    simulated = simulate_roster(design, rng=np.random.default_rng(7))
    pii = design.roster.pii_columns
    found |= set(simulated[design.roster.columns["id"]])
    found |= set(simulated[pii["first_name"]] + " " + simulated[pii["surname"]])
    found |= set(simulated[pii["address"]])
    return found


def _leaks(html: str, identifiers: set[str]) -> list[str]:
    """Identifiers found in the page as whole words (one token set for IDs; substrings for names)."""
    tokens = set(re.findall(r"[\w-]+", html))
    single = {i for i in identifiers if re.fullmatch(r"[\w-]+", i)}
    hits = single & tokens
    hits |= {
        i
        for i in identifiers - single
        if i in html and re.search(rf"(?<![\w-]){re.escape(i)}(?![\w-])", html)
    }
    return sorted(hits)


def test_the_identifier_list_is_real(identifiers):
    assert len(identifiers) > 2_000
    assert "LET00001" in identifiers and any(" Road, " in i for i in identifiers)


@pytest.mark.parametrize("name", [*DEMO_TRIALS, "portfolio"])
def test_no_roster_identifier_appears_in_a_report(name, rendered, identifiers):
    assert _leaks(rendered[name], identifiers) == []


def test_the_scan_would_catch_an_identifier_that_slipped_into_results(results, identifiers):
    full_name = sorted(i for i in identifiers if " " in i and "Road" not in i)[0]
    doc = results("letters")
    doc["warnings"].append("Participant LET00017 answered twice.")
    doc["outcomes"][0]["subgroups"][0]["level"] = f"Team of {full_name}"
    assert _leaks(render_trial(doc), identifiers) == sorted(["LET00017", full_name])
