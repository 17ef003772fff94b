"""Costs: a ledger from delivery events, cost per participant, and cost-effectiveness.

A trial's cost model is declared in its design (the ``costs:`` mapping) and read with
:func:`trial_designs.cost_model.cost_model_from_mapping`; each cost item names the delivery
event that drives it.  This package costs the delivery log with it, one idea a module:

- :mod:`~analysis.costs.ledger`: :func:`build_ledger` turns the delivery log into costed,
  discounted ledger lines;
- :mod:`~analysis.costs.shares`: :func:`head_count_shares` gives the share of each event's
  cost the trial's participants bear when a session is open to others too (a Round open to
  all the authority's staff), for ``build_ledger(share_column=...)``;
- :mod:`~analysis.costs.summaries`: :func:`summarise_ledger` totals and splits the ledger;
- :mod:`~analysis.costs.per_participant`: :func:`cost_per_participant` and the EEF band;
- :mod:`~analysis.costs.effectiveness`: :func:`bootstrap_cost_effect` gives the
  incremental cost-effectiveness with bootstrap uncertainty and a coded verdict, and
  :func:`bootstrap_cost_effect_by_arm` the same for every active arm of a multi-arm trial
  from one joint resample;
- :mod:`~analysis.costs.resampling`: the bootstrap's replicate draws, in blocks that can run
  anywhere (:data:`MapBlocks`);
- :mod:`~analysis.costs.unit_cost_sensitivity`: :func:`unit_cost_sensitivity` gives tornado
  data (the cost per participant as each unit cost moves; not the missing-data sensitivity
  of :mod:`analysis.sections.missing_data`);
- :mod:`~analysis.costs.wording`: the sentences results.json stores about costs.

Check at the boundary, compute unchecked inside: the public functions check their
arguments; the private helpers trust them.
"""

from analysis.costs.effectiveness import (
    COST_EFFECT_VERDICTS,
    BootstrapResult,
    bootstrap_cost_effect,
    bootstrap_cost_effect_by_arm,
    cost_effect_verdict,
)
from analysis.costs.ledger import LEDGER_COLUMNS, build_ledger
from analysis.costs.per_participant import (
    EEF_COST_BANDS,
    CostSummary,
    cost_per_participant,
    eef_cost_band,
)
from analysis.costs.resampling import MapBlocks
from analysis.costs.shares import head_count_shares
from analysis.costs.summaries import CostBreakdown, CostFigure, LedgerSummary, summarise_ledger
from analysis.costs.unit_cost_sensitivity import unit_cost_sensitivity

__all__ = [
    "COST_EFFECT_VERDICTS",
    "EEF_COST_BANDS",
    "LEDGER_COLUMNS",
    "BootstrapResult",
    "MapBlocks",
    "CostBreakdown",
    "CostFigure",
    "CostSummary",
    "LedgerSummary",
    "bootstrap_cost_effect",
    "bootstrap_cost_effect_by_arm",
    "build_ledger",
    "cost_effect_verdict",
    "cost_per_participant",
    "eef_cost_band",
    "head_count_shares",
    "summarise_ledger",
    "unit_cost_sensitivity",
]
