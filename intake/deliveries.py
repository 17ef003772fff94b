"""Delivery logs: every problem of a log's rows, and the good rows as stored events.

The checks run great-expectations rules: known participants and clusters, the
intervention's event vocabulary, dates inside the trial window and not before
randomisation, modules 1-6, attendance only at Rounds that were held, numeric
quantities, nothing after a withdrawal.  Each event gets a key hashed from
what happened (:func:`event_keys`), so the same event in two exports is one
event.  Pure: frames in, frames out.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from analysis.uptake import contaminated_events
from common.validation import is_member
from intake.mapping import delivery_file_columns
from intake.quarantine import PROBLEM_COLUMNS
from intake.rules import EPOCH, Rule, run_rules
from trial_designs.cycles import cycle_window
from trial_designs.design import TrialDesign
from trial_designs.sections import Intervention
from trial_designs.uptake_rules import DELIVERY_FIELDS

__all__ = ["EVENT_COLUMNS", "check_deliveries", "event_keys", "event_rows", "intervention_of"]

_NUMBERS = ("quantity", "hours", "attendees")
_NUMBER = r"^\s*\d+(?:\.\d+)?\s*$"
_MODULE = r"^\s*[1-6](?:\.0*)?\s*$"

#: Columns of a stored delivery event, in the store's table order (the store adds event_id).
#: The delivery fields themselves are DELIVERY_FIELDS, in their order; a stored event also
#: says which trial and intervention it belongs to, its key (what makes a repeated line the
#: same event), whether its unit is a participant or a cluster, whether it reached the
#: control arm, and the file and row it came from: these the file does not hold.
EVENT_COLUMNS = [
    "trial_id",
    "event_key",
    "unit_id",
    "unit_kind",
    "intervention",
    *(f for f in DELIVERY_FIELDS if f != "unit_id"),
    "contaminated",
    "source_file",
    "source_row",
]


def intervention_of(design: TrialDesign, name: str | None = None) -> Intervention:
    """The intervention whose delivery log is ingested: the one named ``name``.

    Without a name, the design's only intervention; a design with several
    (one per active arm) must say which, since each has its own vocabulary.
    """
    if not design.interventions:
        raise ValueError(
            f"The design '{design.id}' declares no intervention, so it has no delivery log. "
            "Add an 'interventions:' entry with its event_types."
        )
    names = [i.name for i in design.interventions]
    if name is None:
        if len(names) > 1:
            raise ValueError(
                f"The design '{design.id}' declares {len(names)} interventions, so a delivery log "
                f"must say whose it is. Choose one of: {', '.join(names)}. Got none instead."
            )
        return design.interventions[0]
    if name not in names:
        raise ValueError(
            f"The intervention '{name}' is not declared in the design '{design.id}'. "
            f"Choose one of: {', '.join(names)}. Got '{name}' instead."
        )
    return design.interventions[names.index(name)]


def _seconds(moment: pd.Timestamp | pd.Series) -> float | pd.Series:
    """Seconds since 1970: great-expectations compares numbers 30 times faster than datetimes."""
    delta = moment - EPOCH
    return delta.dt.total_seconds() if isinstance(delta, pd.Series) else delta.total_seconds()


def _window_rules(
    checked: pd.DataFrame,
    design: TrialDesign,
    cols: dict,
    cycle_of: dict[str, int] | None,
) -> tuple[Rule, Rule]:
    """The ``date_in_window`` and ``not_before_randomisation`` rules, each event against
    its participant's cycle (helper columns added to ``checked``)."""
    fu = design.follow_up
    number = (
        checked["unit_id"].astype("object").map(cycle_of).fillna(1).astype(int)
        if cycle_of and design.cycles
        else None
    )
    if number is None or (number == 1).all():
        end_of_window = pd.Timestamp(fu.window_end) + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
        return (
            Rule(
                "date_in_window",
                "_when",
                "between",
                f"Deliveries must fall inside the trial window, {fu.window_start} to "
                f"{fu.window_end}.",
                {
                    "min_value": _seconds(pd.Timestamp(fu.window_start)),
                    "max_value": _seconds(end_of_window),
                },
                cols["occurred_at"],
            ),
            Rule(
                "not_before_randomisation",
                "_when",
                "between",
                f"Nothing can be delivered before randomisation on {fu.randomisation}.",
                {"min_value": _seconds(pd.Timestamp(fu.randomisation))},
                cols["occurred_at"],
            ),
        )
    # a later cohort's events fall in its own cycle's window: seconds outside the row's
    # window (0 inside) and before the row's randomisation (0 after) are checked against 0
    windows = {n: cycle_window(fu, design.cycles, n) for n in range(1, len(design.cycles) + 1)}
    start = number.map(lambda n: _seconds(pd.Timestamp(windows[n][0])))
    end = number.map(lambda n: _seconds(pd.Timestamp(windows[n][1]) + pd.Timedelta(days=1))) - 1.0
    randomised = number.map(lambda n: _seconds(pd.Timestamp(design.cycles[n - 1].randomisation)))
    at = checked["_when"]
    checked["_outside_window"] = (at - start).clip(upper=0) + (at - end).clip(lower=0)
    checked["_before_randomisation"] = (at - randomised).clip(upper=0)
    spans = "; ".join(
        f"cycle {n} ({c.name}) {windows[n][0]} to {windows[n][1]}"
        for n, c in enumerate(design.cycles, start=1)
    )
    return (
        Rule(
            "date_in_window",
            "_outside_window",
            "between",
            f"Deliveries must fall inside the window of the participant's cycle: {spans}.",
            {"min_value": 0.0, "max_value": 0.0},
            cols["occurred_at"],
        ),
        Rule(
            "not_before_randomisation",
            "_before_randomisation",
            "between",
            "Nothing can be delivered before the participant's cycle was randomised: "
            + ", ".join(
                f"cycle {n} on {c.randomisation}" for n, c in enumerate(design.cycles, start=1)
            )
            + ".",
            {"min_value": 0.0},
            cols["occurred_at"],
        ),
    )


def check_deliveries(
    frame: pd.DataFrame,
    design: TrialDesign,
    intervention: Intervention,
    *,
    known_units: list[str] | set[str],
    held_rounds: list[str],
    withdrawn: dict[str, pd.Timestamp] | None = None,
    cycle_of: dict[str, int] | None = None,
) -> pd.DataFrame:
    """Every problem of a delivery log, one row per failing cell (great-expectations).

    Rules: ``required_unit``, ``known_unit`` (a participant or cluster of the
    trial), ``required_event_type``, ``known_event_type`` (the intervention's
    vocabulary), ``valid_date``, ``date_in_window`` (the design's follow-up
    window), ``not_before_randomisation``, ``numeric`` (quantity, hours,
    attendees: numbers, 0 or more), ``module_1_to_6`` and ``round_was_held``
    (``attended`` names a Round with a ``round_held`` event in this file or
    in the store), and ``withdrawn``: an event dated after its participant
    was withdrawn (``withdrawn`` maps participant id to the time of
    withdrawal).  Events from before the withdrawal are history and are
    stored: the participant stays in the analysis, uptake included.
    ``cycle_of`` maps participant id to their learning cycle (1-based): an
    event of a later cycle's participant is checked against that cycle's
    window (:func:`trial_designs.cycles.cycle_window`) and randomisation;
    any other unit against the design's ``follow_up``.

    Returns
    -------
    DataFrame
        :data:`intake.quarantine.PROBLEM_COLUMNS`, values as written in the file.
    """
    cols = delivery_file_columns(intervention)
    when = pd.to_datetime(frame["occurred_at"], errors="coerce", format="ISO8601")
    # great-expectations re-validates a value set item by item many times over (24 s for
    # 200,000 staff ids), so membership is one hash lookup and the expectation checks its flag
    known = pd.Series(is_member(frame["unit_id"], known_units), index=frame.index)
    checked = frame[["source_row", "unit_id", "event_type", *_NUMBERS, "module"]].assign(
        _when=_seconds(when),
        _known_unit=known.where(frame["unit_id"].notna()),
    )
    window_rule, randomised_rule = _window_rules(checked, design, cols, cycle_of)
    rules = [
        Rule(
            "required_unit",
            "unit_id",
            "not_null",
            "Every event needs the participant or cluster it was delivered to.",
            file_column=cols["unit_id"],
        ),
        Rule(
            "known_unit",
            "_known_unit",
            "in_set",
            "Not a participant or cluster of this trial.",
            {"value_set": [True]},
            cols["unit_id"],
        ),
        Rule(
            "required_event_type",
            "event_type",
            "not_null",
            "Every event needs an event type.",
            file_column=cols["event_type"],
        ),
        Rule(
            "known_event_type",
            "event_type",
            "in_set",
            f"Not an event of '{intervention.name}'. Choose one of: {', '.join(intervention.event_types)}.",
            {"value_set": list(intervention.event_types)},
            cols["event_type"],
        ),
        Rule(
            "valid_date",
            "_when",
            "not_null",
            "Every event needs a date: YYYY-MM-DD, optionally with a time (YYYY-MM-DDTHH:MM).",
            file_column=cols["occurred_at"],
        ),
        window_rule,
        randomised_rule,
    ]
    for field in _NUMBERS:
        if frame[field].notna().any():
            rules.append(
                Rule(
                    "numeric",
                    field,
                    "regex",
                    f"'{cols[field]}' must be a number, 0 or more.",
                    {"regex": _NUMBER},
                    cols[field],
                )
            )
    if frame["module"].notna().any():
        rules.append(
            Rule(
                "module_1_to_6",
                "module",
                "regex",
                "Modules are numbered 1 to 6.",
                {"regex": _MODULE},
                cols["module"],
            )
        )
    attended = frame["event_type"] == "attended"
    if "attended" in intervention.event_types and attended.any():
        in_file = frame.loc[frame["event_type"] == "round_held", "round_id"].dropna()
        held = sorted(set(held_rounds) | set(in_file.astype("str")))
        checked["_attended_round"] = frame["round_id"].fillna("").where(attended)
        rules.append(
            Rule(
                "round_was_held",
                "_attended_round",
                "in_set",
                "Attendance can only be logged at a Round that was held: log its round_held "
                "event (same round id) in this file or an earlier one.",
                {"value_set": held or ["(no Round held yet)"]},
                cols["round_id"],
            )
        )
    problems = run_rules(checked, rules)
    if withdrawn:
        gone = pd.Series(withdrawn, dtype="datetime64[us]")
        after = when > frame["unit_id"].map(gone)  # NaT (not withdrawn) compares False
        if after.any():
            late = frame.loc[after, ["source_row", "unit_id"]]
            problems = pd.concat(
                [
                    problems,
                    pd.DataFrame(
                        {
                            "source_row": late["source_row"].astype(int),
                            "column": cols["unit_id"],
                            "rule": "withdrawn",
                            "value": late["unit_id"].astype("object"),
                            "message": "This participant was withdrawn before this date: nothing "
                            "more is delivered to them. Check the log; the row is kept here.",
                        }
                    ),
                ],
                ignore_index=True,
            )
    if problems.empty:
        return pd.DataFrame(columns=PROBLEM_COLUMNS)
    # report what the file says, not the parsed helper columns
    raw = frame.set_index("source_row")
    problems["value"] = problems["value"].astype("object")
    for rule, field in (
        ("known_unit", "unit_id"),
        ("valid_date", "occurred_at"),
        ("date_in_window", "occurred_at"),
        ("not_before_randomisation", "occurred_at"),
        ("round_was_held", "round_id"),
    ):
        hit = problems["rule"] == rule
        if hit.any():
            values = raw[field].reindex(problems.loc[hit, "source_row"])
            problems.loc[hit, "value"] = (
                values.astype("object").where(values.notna(), None).to_numpy()
            )
    return problems.sort_values(["source_row", "rule"], kind="stable").reset_index(drop=True)


def event_keys(
    trial_id: str,
    intervention: str,
    unit_id: pd.Series,
    event_type: pd.Series,
    occurred_at: pd.Series,
    module: pd.Series,
    round_id: pd.Series,
) -> list[str]:
    """A stable key per event: the same event in two exports gets the same key.

    The key is the SHA-256 of ``trial|unit|intervention|event type|time|module|round``,
    with the time as ``YYYY-MM-DDTHH:MM:SS`` and a missing module or Round as
    the empty string.  Built column-wise, then hashed in one pass.
    """

    def text(values: pd.Series) -> pd.Series:
        return values.astype("object").where(values.notna(), "").astype("str")

    modules = pd.to_numeric(module, errors="coerce")
    module_text = modules.astype("Int64").astype("str").where(modules.notna(), "")
    joined = (
        f"{trial_id}|"
        + text(unit_id)
        + f"|{intervention}|"
        + text(event_type)
        + "|"
        + np.datetime_as_string(
            pd.to_datetime(occurred_at).to_numpy().astype("datetime64[s]"), unit="s"
        )
        + "|"
        + module_text
        + "|"
        + text(round_id)
    )
    sha = hashlib.sha256
    return [sha(line.encode()).hexdigest() for line in joined.tolist()]


def event_rows(
    good: pd.DataFrame,
    design: TrialDesign,
    intervention: Intervention,
    participants: pd.DataFrame,
    *,
    file_name: str,
) -> pd.DataFrame:
    """Checked log rows as stored events: typed, keyed, and flagged if delivered to the control arm."""
    when = pd.to_datetime(good["occurred_at"], format="ISO8601")
    numbers = {f: pd.to_numeric(good[f], errors="coerce") for f in (*_NUMBERS, "module")}
    unit = good["unit_id"].astype("str")
    round_id = good["round_id"].astype("object").where(good["round_id"].notna(), None)
    rows = pd.DataFrame(
        {
            "trial_id": design.id,
            "event_key": event_keys(
                design.id,
                intervention.name,
                unit,
                good["event_type"],
                when,
                numbers["module"],
                good["round_id"],
            ),
            "unit_id": unit.to_numpy(),
            "unit_kind": np.where(
                is_member(unit, participants["participant_id"].astype("str")),
                "participant",
                "cluster",
            ),
            "intervention": intervention.name,
            "event_type": good["event_type"].astype("str").to_numpy(),
            "occurred_at": when.to_numpy(),
            "quantity": numbers["quantity"].to_numpy(),
            "hours": numbers["hours"].to_numpy(),
            "attendees": numbers["attendees"].to_numpy(),
            "module": numbers["module"].astype("Int64").to_numpy(),
            "round_id": round_id.to_numpy(),
            "facilitator": good["facilitator"]
            .astype("object")
            .where(good["facilitator"].notna(), None)
            .to_numpy(),
            "contaminated": contaminated_events(
                good.assign(unit_id=unit), participants, control_arm=design.control_arm
            ),
            "source_file": file_name,
            "source_row": good["source_row"].astype(int).to_numpy(),
        }
    )
    return rows[EVENT_COLUMNS]
