"""analysis.costs.summaries: the ledger's total and its splits."""

from __future__ import annotations

import json

import pytest
from cost_cases import (
    simple_events,
    simple_model,
)

from analysis.costs import (
    build_ledger,
    summarise_ledger,
)


def test_ledger_summary_partitions_the_total_and_names_unassigned_lines():
    ledger = build_ledger(simple_events(), simple_model(), start_date="2020-03-01")
    summary = summarise_ledger(ledger)
    for split in (
        "by_category",
        "by_kind",
        "by_category_and_kind",
        "by_organisation",
        "by_site",
        "by_item",
        "by_year",
    ):
        figures = getattr(summary, split).values()
        assert sum(f.undiscounted for f in figures) == pytest.approx(
            summary.total.undiscounted, rel=1e-13
        )
        assert sum(f.discounted for f in figures) == pytest.approx(
            summary.total.discounted, rel=1e-13
        )
    assert summary.by_organisation["unassigned"].undiscounted == 0.25 * 36
    assert summary.by_site["unassigned"].undiscounted == 0.5 * 36  # letters are not at a site
    assert summary.by_category["setup"].undiscounted == 1200
    assert summary.by_category_and_kind["setup/staff_time"].undiscounted == 0
    assert summary.currency_years == (2021,)
    json.dumps(summary.to_dict(), allow_nan=False)
