"""Row rules run by great-expectations, and the flag columns they check.

A :class:`Rule` names one check of one column; :func:`run_rules` runs a list
of them over a DataFrame and returns one problem row per failing cell
(:data:`intake.quarantine.PROBLEM_COLUMNS`).  Membership and dates are
computed here as numbers (:func:`known_flags`, :func:`day_numbers`) and the
expectation checks the number: far faster than great-expectations' own set
and date comparisons on large files.  Pure: great-expectations runs in an
ephemeral context over the frame in memory.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from intake.quarantine import PROBLEM_COLUMNS

__all__ = ["EPOCH", "Rule", "day_numbers", "known_flags", "run_rules"]

#: Day 0 of :func:`day_numbers`.
EPOCH = pd.Timestamp("1970-01-01")


def day_numbers(dates: pd.Series) -> pd.Series:
    """Days since 1970-01-01 as floats; NaN for a blank or a string that is not a date."""
    parsed = pd.to_datetime(dates, format="ISO8601", errors="coerce")
    return (parsed.dt.normalize() - EPOCH).dt.days.astype(float)


def known_flags(ids: pd.Series, known: pd.Index) -> np.ndarray:
    """1.0 for an id in ``known``, 0.0 for one that is not, NaN for a missing id.

    Membership is computed here and validated by great-expectations as a flag:
    GE's own in_set with a value set as large as the trial took 108 s for 1M
    rows.  Arrow's hash lookup takes 0.4 s where pandas' isin on Arrow strings
    takes 4 s.
    """
    values = pa.array(ids.astype(object), type=pa.string(), from_pandas=True)
    value_set = pa.array(pd.Series(known, dtype=object), type=pa.string(), from_pandas=True)
    flags = pc.is_in(values, value_set=value_set).to_numpy(zero_copy_only=False).astype(float)
    return np.where(ids.isna().to_numpy(), np.nan, flags)


_EXPECTATIONS = {
    "between": "ExpectColumnValuesToBeBetween",
    "in_set": "ExpectColumnValuesToBeInSet",
    "not_null": "ExpectColumnValuesToNotBeNull",
    "unique": "ExpectColumnValuesToBeUnique",
    "regex": "ExpectColumnValuesToMatchRegex",
}


@dataclass(frozen=True)
class Rule:
    """One named row rule, run as a great-expectations expectation.

    ``kind`` is one of ``between``, ``in_set``, ``not_null``, ``unique``,
    ``regex``; ``kwargs`` are the expectation's own (``min_value``,
    ``value_set``, ...).  ``file_column`` is the column's name in the file,
    for messages.
    """

    name: str
    column: str
    kind: str
    message: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    file_column: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in _EXPECTATIONS:
            raise ValueError(
                f"The rule kind '{self.kind}' is not known. Choose one of: {', '.join(_EXPECTATIONS)}. "
                f"Got '{self.kind}' instead."
            )


_suite_counter = itertools.count()


def run_rules(frame: pd.DataFrame, rules: list[Rule]) -> pd.DataFrame:
    """Validate ``frame`` with great-expectations; one problem row per failing cell.

    ``frame`` must have a ``source_row`` column; it names the failing rows.
    An expectation that *raises* is an error in trialflow, not in the data,
    so it is re-raised rather than reported as a failure.
    """
    if frame.empty or not rules:
        return pd.DataFrame(columns=PROBLEM_COLUMNS)
    import great_expectations as gx  # late: the import costs seconds and ~150 MB
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    name = f"trialflow-{next(_suite_counter)}"
    batch = (
        context.data_sources.add_or_update_pandas(name)
        .add_dataframe_asset("rows")
        .add_batch_definition_whole_dataframe("all")
    )
    # results come back in GX's order, not ours: tag each expectation with its rule's index
    expectations = [
        getattr(gxe, _EXPECTATIONS[r.kind])(column=r.column, meta={"trialflow_rule": i}, **r.kwargs)
        for i, r in enumerate(rules)
    ]
    suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=batch, suite=suite)
    )
    result = validation.run(
        batch_parameters={"dataframe": frame},
        result_format={
            "result_format": "COMPLETE",
            "unexpected_index_column_names": ["source_row"],
        },
    )
    found = []
    for outcome in result.results:
        rule = rules[int(outcome.expectation_config.meta["trialflow_rule"])]
        info = outcome.exception_info or {}
        raised = (
            info.get("raised_exception")
            if "raised_exception" in info
            else any(isinstance(v, dict) and v.get("raised_exception") for v in info.values())
        )
        if raised:
            raise RuntimeError(
                f"The check '{rule.name}' on column '{rule.column}' failed to run: {info}"
            )
        if outcome.success:
            continue
        for item in outcome.result.get("unexpected_index_list") or []:
            value = item.get(rule.column)
            found.append(
                {
                    "source_row": int(item["source_row"]),
                    "column": rule.file_column or rule.column,
                    "rule": rule.name,
                    "value": None
                    if pd.isna(value)
                    else (value.item() if hasattr(value, "item") else value),
                    "message": rule.message,
                }
            )
    return pd.DataFrame(found, columns=PROBLEM_COLUMNS)
