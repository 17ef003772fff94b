"""The system of record: the store's public API.

- :mod:`flows.store.schema`: the tables, their append-only triggers and the
  metadata Alembic compares against (flows.migrations). The tables are public:
  flows read them with queries of their own.
- :mod:`flows.store.store`: :class:`Store`, the connection, transactions and queries.
- :mod:`flows.store.randomisations`: the write of a randomisation's round.
- :mod:`flows.store.ingests`: the record of an ingested file and its quarantine.
- :mod:`flows.store.responses`: outcome values, stored and read (survey responses
  one row each, HR measures one value a row).
- :mod:`flows.store.values`: how a cell is written (UTC now, missing values).

Late entrants are allocated and written by :mod:`flows.enrol`.
"""

from flows.store.ingests import IngestSummary, quarantine_row_key
from flows.store.randomisations import (
    AlreadyRandomisedError,
    ForcedDesignChangeError,
    forced_design_changes,
)
from flows.store.schema import (
    allocations,
    amendments,
    audit_log,
    delivery_events,
    design_documents,
    ingested_files,
    metadata,
    outcome_values,
    participant_pii,
    participants,
    quarantine,
    stage_runs,
    survey_responses,
    trials,
    withdrawals,
)
from flows.store.store import DEFAULT_HOME, AlreadyWithdrawnError, Store, trialflow_home

__all__ = [
    "DEFAULT_HOME",
    "AlreadyRandomisedError",
    "AlreadyWithdrawnError",
    "ForcedDesignChangeError",
    "IngestSummary",
    "Store",
    "allocations",
    "amendments",
    "audit_log",
    "delivery_events",
    "design_documents",
    "forced_design_changes",
    "ingested_files",
    "metadata",
    "outcome_values",
    "participant_pii",
    "participants",
    "quarantine",
    "quarantine_row_key",
    "stage_runs",
    "survey_responses",
    "trials",
    "trialflow_home",
    "withdrawals",
]
