"""EVPI in results.json's costs section (issue 15.6): the wiring, checked by hand.

tests/analysis/test_value_of_information.py checks evpi_table itself; these check that the
costs section prices the primary outcome's own bootstrap draws at the design's thresholds.
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis.sections import costs as cost_sections
from analysis.value_of_information import evpi_table
from tests.analysis.test_cost_results import _schwartz


@pytest.fixture
def priced(monkeypatch):
    """The schwartz_rounds costs section, and the bootstrap results it was built from."""
    seen = []
    real = cost_sections.bootstrap_cost_effect_by_arm

    def keep(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        results = real(*args, **kwargs)
        seen.extend(results)  # one active arm: one result per outcome priced
        return results

    monkeypatch.setattr(cost_sections, "bootstrap_cost_effect_by_arm", keep)
    design, data, events = _schwartz()
    section, _ = cost_sections.costs_section(
        design, events, data, rng=np.random.default_rng(3), n_boot=400
    )
    return design, section.to_json_dict(), seen


def test_the_evpi_is_evpi_table_on_the_primary_outcomes_own_draws(priced):
    design, section, seen = priced
    voi = section["value_of_information"]
    primary = seen[0]  # the primary (GHQ-12) is priced first
    assert voi["outcome"] == "ghq12" and voi["n_boot"] == 400 == len(primary.replicate_costs)
    declared = design.value_of_information
    expected = evpi_table(
        primary.replicate_costs,
        primary.replicate_effects,
        wtp=declared.wtp,
        population=declared.population,
        years=declared.years,
        discount_rate=declared.discount_rate,
        research_cost=declared.research_cost,
    )
    assert voi["by_threshold"] == expected.to_dict("records")
    assert [row["wtp"] for row in voi["by_threshold"]] == list(declared.wtp)


def test_the_evpi_matches_a_hand_computation_on_the_draws(priced):
    design, section, seen = priced
    voi = section["value_of_information"]
    cost, effect = seen[0].replicate_costs, seen[0].replicate_effects
    # 2,500 staff a year for 3 years, each year (the first too) discounted at 3.5% from its end
    multiplier = 2500 * (1 / 1.035 + 1 / 1.035**2 + 1 / 1.035**3)
    assert voi["population_multiplier"] == pytest.approx(multiplier, rel=1e-12)
    for row in voi["by_threshold"]:
        inb = row["wtp"] * effect - cost  # GHQ-12 points avoided, priced
        per_person = np.maximum(inb, 0).mean() - max(inb.mean(), 0)
        assert row["evpi_per_person"] == pytest.approx(per_person, abs=1e-9)
        assert row["evpi_population"] == pytest.approx(per_person * multiplier, rel=1e-9)
        assert row["decision"] == ("intervention" if inb.mean() > 0 else "control")
        assert row["research_may_be_worthwhile"] is (row["evpi_population"] > 250_000)
    assert section["cost_effectiveness"][0]["outcome"] == voi["outcome"]


def test_a_design_without_the_section_writes_none(priced):
    design, _, _ = priced
    _, data, events = _schwartz()
    plain = design.model_copy(update={"value_of_information": None})
    section, _ = cost_sections.costs_section(
        plain, events, data, rng=np.random.default_rng(3), n_boot=100
    )
    assert "value_of_information" not in section.to_json_dict()
