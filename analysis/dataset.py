"""The analysis dataset: one row per participant, pivoted from stored long values (pure).

This is what ``trialflow export`` writes for evaluators to take to R or Stata,
and what ``trialflow analyse`` reads.  Outcome columns follow one convention,
``<outcome>_<timepoint>`` (``swemwbs_baseline``, ``swemwbs_endline``,
``turnover_endline``), where ``<outcome>`` is the outcome's name in the design
and the value is the stored measure :func:`outcome_measure` names.

The dataset never holds a name, address or free text: it is built from the
store's participant table (ids, arms and organisational units only) and the
stored outcome values.
"""

from __future__ import annotations

import difflib
import json
import re

import numpy as np
import pandas as pd

from analysis.hr_outcomes import DAY_BASES
from common.validation import require_columns
from trial_designs.cycles import cycle_of_enrolment
from trial_designs.design import TrialDesign
from trial_designs.scale_files import declared_instrument, known_instruments
from trial_designs.sections import Outcome

__all__ = [
    "DICTIONARY_COLUMNS",
    "HR_MEASURES",
    "UPTAKE_COLUMNS",
    "analysis_dataset",
    "data_dictionary",
    "dictionary_markdown",
    "foreign_dataset",
    "outcome_measure",
    "order_timepoints",
]

#: The measures an HR ingest stores, with their range and meaning.
HR_MEASURES: dict[str, tuple[str, str]] = {
    "absence_rate": ("0-1", "FTE-days lost to sickness / FTE-days available in the window"),
    "days_lost_per_fte": ("0 or more", "FTE-days lost / mean FTE while employed in the window"),
    "days_lost": ("0 or more", "Days lost to sickness in the window (merged spells)"),
    "spells": ("0 or more", "Merged sickness-absence spells with a day lost in the window"),
    "turnover": ("0-1", "1 if the participant left the employer within the window"),
}

#: Uptake columns copied from the uptake table when deliveries were logged.
UPTAKE_COLUMNS: dict[str, str] = {
    "offered": "1 if the intervention was offered to the participant (or their cluster), else 0.",
    "took_up": "1 if the participant took the intervention up by the design's definition, else 0.",
    "dose": "Dose received (e.g. modules completed, Rounds attended); 0 if none.",
    "completed": "1 if the participant completed the intervention by the design's definition.",
    "not_received": "1 if the delivery came back (e.g. a returned letter), else 0.",
}

#: Columns of the data dictionary.
DICTIONARY_COLUMNS = ["column", "description", "instrument", "range", "direction", "missing_rule"]

_DEFAULT_SCORE = {"swemwbs": "metric", "wrqol": "total", "ghq12": "total"}
_HR_DEFAULT = {"absence": "absence_rate", "turnover": "turnover"}
_UNIT_COLUMNS = ["organisation", "building", "team", "role"]


def outcome_measure(outcome: Outcome) -> str:
    """The stored measure an outcome analyses.

    SWEMWBS -> ``swemwbs_metric`` (or ``swemwbs_raw``), WRQoL -> ``wrqol_total``
    or a subscale (``wrqol_GWB``), GHQ-12 -> ``ghq12_total``, ONS4 -> the item
    named by ``score`` (``ons4_anxious``), a single item -> the outcome's own
    name, absence -> ``absence_rate`` (or the ``score`` named), turnover ->
    ``turnover``.
    """
    instrument = outcome.instrument
    if instrument in _HR_DEFAULT:
        return outcome.score or _HR_DEFAULT[instrument]
    if instrument == "single_item":
        return outcome.name
    if instrument == "ons4":
        return f"ons4_{outcome.score or 'life_satisfaction'}"
    if instrument in _DEFAULT_SCORE:
        return f"{instrument}_{outcome.score or _DEFAULT_SCORE[instrument]}"
    if instrument in known_instruments():  # a packaged scale file (cbi_work, gse)
        scale = declared_instrument(instrument).scale
        return f"{instrument}_{outcome.score or scale.headline_score}"
    raise ValueError(
        f"The instrument '{instrument}' of outcome '{outcome.name}' is not known. Choose one of: "
        f"{', '.join([*known_instruments(), 'single_item', *_HR_DEFAULT])}. "
        f"Got '{instrument}' instead."
    )


def _natural_key(name: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def order_timepoints(timepoints, first_dates: dict[str, object] | None = None) -> list[str]:
    """Baseline first, endline last, waves between: by first collection date, then by name.

    ``first_dates`` maps a timepoint to its earliest collection date when known;
    waves without one sort by name, with numbers compared as numbers
    (``wave_2`` before ``wave_10``).
    """
    first_dates = first_dates or {}
    waves = [t for t in dict.fromkeys(timepoints) if t not in ("baseline", "endline")]

    def key(t: str) -> tuple:
        day = pd.Timestamp(first_dates[t]) if first_dates.get(t) is not None else pd.NaT
        return (pd.isna(day), day if not pd.isna(day) else pd.Timestamp(0), _natural_key(t))

    ordered = sorted(waves, key=key)
    present = set(timepoints)
    return (
        (["baseline"] if "baseline" in present else [])
        + ordered
        + (["endline"] if "endline" in present else [])
    )


def _covariates(participants: pd.DataFrame, names: tuple[str, ...]) -> pd.DataFrame:
    """Declared roster covariates (e.g. fte) out of the store's JSON column."""
    if not names:
        return pd.DataFrame(index=participants.index)
    raw = (
        participants["covariates_json"]
        if "covariates_json" in participants
        else pd.Series(None, index=participants.index)
    )
    parsed = [json.loads(v) if isinstance(v, str) and v else {} for v in raw]
    out = pd.DataFrame({name: [p.get(name) for p in parsed] for name in names}, index=raw.index)
    for name in names:
        numbers = pd.to_numeric(out[name], errors="coerce")
        if numbers.notna().sum() == out[name].notna().sum():
            out[name] = numbers
    return out


def analysis_dataset(
    participants: pd.DataFrame,
    values: pd.DataFrame,
    design: TrialDesign,
    uptake: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per participant: arm, units, uptake and each outcome at each timepoint.

    Parameters
    ----------
    participants : DataFrame
        The store's participant arms: participant_id, unit_id, stratum, arm,
        organisation, building, team, role, and optionally enrolment,
        covariates_json (declared roster covariates) and arrival (under
        minimisation, the allocation's sequence position).
    values : DataFrame
        Long stored outcome values: participant_id, timepoint, measure, value,
        and optionally collected_on (orders repeated waves).
    design : TrialDesign
        Names the outcomes and how each is measured.
    uptake : DataFrame, optional
        Indexed by participant_id, with any of offered, took_up, dose,
        completed (what :mod:`analysis.uptake` returns). Participants missing
        from it get 0; without it no uptake columns are written.

    Returns
    -------
    DataFrame
        Sorted by participant_id, with participant_id, arm, stratum, cluster
        (the unit of randomisation in cluster trials, else empty), organisation,
        building, team, role, enrolment, arrival (minimisation only), declared
        roster covariates, uptake
        columns, ``<outcome>_<timepoint>`` for each outcome (survey outcomes
        always at baseline and endline, HR outcomes always at endline, and at
        any other timepoint with data) and ``responded_<timepoint>`` (1 if any
        survey outcome was recorded) for every survey timepoint.
    """
    require_columns(
        participants,
        ["participant_id", "unit_id", "stratum", "arm", *_UNIT_COLUMNS],
        where="the participants frame",
    )
    require_columns(
        values, ["participant_id", "timepoint", "measure", "value"], where="the values frame"
    )
    people = participants.drop_duplicates("participant_id").sort_values("participant_id")
    people = people.reset_index(drop=True)
    base = pd.DataFrame(
        {
            "participant_id": people["participant_id"].astype(str),
            "arm": people["arm"],
            "stratum": people["stratum"],
            # text either way, so a cluster column has one type across trials and file formats
            "cluster": people["unit_id"].astype("str")
            if design.unit == "cluster"
            else pd.Series(np.nan, index=people.index, dtype="str"),
            **{c: people[c].astype("str") for c in _UNIT_COLUMNS},
            "enrolment": people.get("enrolment", "initial"),
        }
    )
    if design.cycles:
        # each person's learning cycle, by name, read from the store's enrolment label
        number = cycle_of_enrolment(
            people.get("enrolment", pd.Series("initial", index=people.index))
        )
        names = [c.name for c in design.cycles]
        base["cycle"] = number.map(lambda n: names[n - 1] if n <= len(names) else f"cycle{n}")
    if design.randomisation.method == "minimisation" and "arrival" in people:
        # minimisation's re-draws for inference re-run the rule in this order
        base["arrival"] = pd.to_numeric(people["arrival"]).astype("Int64")
    base = pd.concat([base, _covariates(people, design.roster.covariates)], axis=1)
    if uptake is not None and len(uptake):
        present = [c for c in UPTAKE_COLUMNS if c in uptake.columns]
        taken = uptake[present].copy()
        taken.index = taken.index.astype(str)
        for column in present:
            mapped = base["participant_id"].map(taken[column])
            base[column] = pd.to_numeric(mapped, errors="coerce").fillna(0)

    values = values.assign(participant_id=values["participant_id"].astype(str))
    by_measure = {m: g for m, g in values.groupby("measure", sort=False)}
    survey_measures = {outcome_measure(o) for o in design.outcomes if o.source == "survey"}
    hr_measures = {outcome_measure(o) for o in design.outcomes if o.source == "hr"}
    first_dates = (
        values.groupby("timepoint")["collected_on"].min().to_dict()
        if "collected_on" in values and len(values)
        else {}
    )
    survey_times = set(values.loc[values["measure"].isin(survey_measures), "timepoint"])
    hr_times = set(values.loc[values["measure"].isin(hr_measures), "timepoint"])
    if survey_measures:
        survey_times |= {"baseline", "endline"}
    if hr_measures:
        hr_times |= {"endline"}

    columns: dict[str, pd.Series] = {}
    for outcome in design.outcomes:
        measure = outcome_measure(outcome)
        times = survey_times if outcome.source == "survey" else hr_times
        chosen = by_measure.get(measure, values.iloc[0:0])
        for timepoint in order_timepoints(times, first_dates):
            series = chosen.loc[chosen["timepoint"] == timepoint].set_index("participant_id")
            columns[f"{outcome.name}_{timepoint}"] = pd.to_numeric(
                base["participant_id"].map(series["value"]), errors="coerce"
            ).astype(float)
    answered = values[values["measure"].isin(survey_measures) & values["value"].notna()]
    for timepoint in order_timepoints(survey_times, first_dates):
        ids = answered.loc[answered["timepoint"] == timepoint, "participant_id"]
        columns[f"responded_{timepoint}"] = base["participant_id"].isin(ids).astype(int)
    return pd.concat([base, pd.DataFrame(columns, index=base.index)], axis=1)


#: Dataset fields of ``analysis.columns`` whose column in the analysis dataset has another name.
_FIELD_COLUMN = {"id": "participant_id", "uptake": "took_up"}
#: Columns read as text even when every value looks like a number (ids, arms, units).
_TEXT_COLUMNS = ["participant_id", "arm", "stratum", "cluster", *_UNIT_COLUMNS]


def foreign_dataset(frame: pd.DataFrame, design: TrialDesign, *, file_name: str) -> pd.DataFrame:
    """An analysis dataset read from a file (``trialflow analyse --data``), checked and renamed.

    Parameters
    ----------
    frame : DataFrame
        The file as read, every column text.
    design : TrialDesign
        Its ``analysis.columns`` maps dataset fields to the file's columns:
        ``id`` -> participant_id, ``uptake`` -> took_up (the 0/1 indicator
        behind the CACE and the CONSORT "received" box), ``arm``, ``stratum``,
        ``cluster``, ``dose``, covariates and ``<outcome>_<timepoint>``.
    file_name : str
        Named in every error.

    Returns
    -------
    DataFrame
        Columns renamed to the dataset's names; a column whose every value is
        a number becomes numeric (ids, arms, strata and units stay text, and so
        does a text covariate, which is analysed as fixed effects).  ``stratum``
        is built from the design's strata columns and ``cluster`` from its
        ``cluster_by`` column when the file has those instead.

    Raises
    ------
    ValueError
        Naming the file, the column and what needs it, when the file lacks the
        id, the arm, a cluster (cluster trials), a stratum (stratified
        designs), a declared covariate or any outcome's endline column, or
        holds arms the design does not declare.  A missing outcome column used
        to leave that outcome out without a word.
    """
    mapping = {
        column: _FIELD_COLUMN.get(field, field) for field, column in design.analysis.columns.items()
    }
    data = frame.drop(columns=[c for c in ("source_row",) if c in frame]).rename(columns=mapping)
    if "participant_id" not in data and "id" in data:
        data = data.rename(columns={"id": "participant_id"})
    if "uptake" in data and "took_up" not in data:
        data = data.rename(columns={"uptake": "took_up"})
    columns = [c for c in data.columns]

    # suggest only a column the analysis would not read anyway (not another outcome's or field's)
    spare = [
        c
        for c in columns
        if c not in (*_TEXT_COLUMNS, *UPTAKE_COLUMNS, *design.analysis.covariates)
        and not any(c.startswith(f"{o.name}_") for o in design.outcomes)
    ]

    def missing(column: str, needed_for: str) -> ValueError:
        close = difflib.get_close_matches(column, spare, n=1, cutoff=0.6)
        field = next((f for f, c in _FIELD_COLUMN.items() if c == column), column)
        return ValueError(
            f"{file_name}: the column '{column}' {needed_for} is missing"
            + (f"; did you mean '{close[0]}'?" if close else ".")
            + f" Name the file's column in the design's analysis.columns ({field}: <column>). "
            f"Got columns {columns} instead."
        )

    if "participant_id" not in data:
        raise missing("participant_id", "(the participant id, field 'id')")
    if "arm" not in data:
        raise missing("arm", "(the arm allocated)")
    if design.unit == "cluster" and "cluster" not in data:
        if design.cluster_by and design.cluster_by in data:
            data["cluster"] = data[design.cluster_by]
        else:
            raise missing("cluster", f"(the unit of randomisation, {design.cluster_by})")
    if design.strata and "stratum" not in data:
        if all(s in data for s in design.strata):
            data["stratum"] = data[list(design.strata)].astype(str).agg(" | ".join, axis=1)
        else:
            raise missing("stratum", f"(the randomisation stratum, {' x '.join(design.strata)})")
    for covariate in design.analysis.covariates:
        if covariate not in data:
            raise missing(covariate, "(a declared covariate)")
    for outcome in design.outcomes:
        if f"{outcome.name}_endline" not in data:
            raise missing(f"{outcome.name}_endline", f"of outcome '{outcome.name}'")
    arms = data["arm"].astype("str").str.strip()
    unknown = sorted(set(arms[data["arm"].notna()]) - set(design.arm_names))
    if unknown:
        shown = ", ".join(repr(a) for a in unknown[:5])
        raise ValueError(
            f"{file_name}: column 'arm' holds {shown}, which are not arms of the design. Every row's "
            f"arm must be one of: {', '.join(design.arm_names)}. Got {shown} instead."
        )
    data["arm"] = arms.where(data["arm"].notna())
    for column in data.columns.difference(_TEXT_COLUMNS):
        numbers = pd.to_numeric(data[column], errors="coerce")
        if numbers.notna().sum() == data[column].notna().sum():  # every value is a number
            data[column] = numbers
    return data


def _range(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return ""
    return f"{low:g}-{high:g}"


def _outcome_entry(outcome: Outcome, timepoint: str, design: TrialDesign) -> dict:
    measure = outcome_measure(outcome)
    direction = "higher is better" if outcome.higher_is_better else "lower is better"
    label = outcome.label or outcome.name
    where = "" if timepoint in ("baseline", "endline") else " (repeated wave)"
    description = f"{label} at {timepoint}{where}" + (
        " (primary outcome)" if outcome.primary else ""
    )
    if outcome.instrument in known_instruments():
        spec = declared_instrument(outcome.instrument)
        if spec.scale is not None and measure != f"{spec.name}_{spec.scale.headline_score}":
            low, high = None, None  # a subscale: its range is not the headline's
        elif measure == "swemwbs_raw":
            low, high = 7.0, 35.0
        elif outcome.instrument == "wrqol" and measure != "wrqol_total":
            low, high = None, None  # subscale ranges depend on the licensed item map
        else:
            low, high = spec.score_min, spec.score_max
        return {
            "description": f"{description}; stored measure {measure}.",
            "instrument": outcome.instrument,
            "range": _range(low, high),
            "direction": direction,
            "missing_rule": f"{spec.missing_rule_name}: {spec.missing_rule}",
        }
    if outcome.instrument == "single_item":
        return {
            "description": f"{description}; single item, scored as given.",
            "instrument": "single_item",
            "range": _range(outcome.min_value, outcome.max_value),
            "direction": direction,
            "missing_rule": "Missing if the item was unanswered or the person did not respond.",
        }
    day_basis = design.hr.options.get("day_basis", "working")
    valid, meaning = HR_MEASURES.get(measure, ("", measure))
    if outcome.instrument == "turnover":
        rule = (
            "Missing if the participant is not in the HR extract, or left before the window "
            f"({design.follow_up.window_start} to {design.follow_up.window_end}) began."
        )
    else:
        rule = (
            f"{DAY_BASES.get(day_basis, day_basis)} Missing if the participant is not in the HR "
            "extract or was not employed on any counted day of the window."
        )
    return {
        "description": f"{description}: {meaning}, over {design.follow_up.window_start} to "
        f"{design.follow_up.window_end}.",
        "instrument": outcome.instrument,
        "range": valid,
        "direction": direction,
        "missing_rule": rule,
    }


def data_dictionary(dataset: pd.DataFrame, design: TrialDesign) -> pd.DataFrame:
    """Describe every column of an analysis dataset.

    Returns
    -------
    DataFrame
        One row per column of ``dataset``, in order, with
        :data:`DICTIONARY_COLUMNS`: column, description, instrument, range,
        direction and missing_rule.

    Raises
    ------
    ValueError
        If a column is not one this module writes: an undocumented column
        must not reach an evaluator.
    """
    strata = " x ".join(design.strata) if design.strata else "none (one stratum)"
    fixed = {
        "participant_id": "Pseudonymous staff id (the roster's id); no names or addresses.",
        "arm": f"Arm allocated (intention to treat): {', '.join(design.arm_names)}; "
        f"control is '{design.control_arm}'.",
        "stratum": f"Randomisation stratum ({strata}).",
        "cluster": f"Unit of randomisation ({design.cluster_by}); standard errors cluster on it."
        if design.unit == "cluster"
        else "Empty: participants were randomised individually."
        + (
            f" Standard errors are clustered by '{design.analysis.cluster_se_by}' "
            "(analysis.cluster_se_by)."
            if design.analysis.cluster_se_by
            else ""
        ),
        "organisation": "Employing organisation (local authority or trust).",
        "building": "Office building, where the roster records one.",
        "team": "Team, as on the roster at randomisation.",
        "role": "Role (e.g. social worker, team manager), as on the roster at randomisation.",
        "enrolment": "initial (randomised with the roster) or late (a late entrant); with "
        "learning cycles also cycle<N> (randomised in cycle N) and cycle<N>_late (a late entrant "
        "of cycle N).",
        "cycle": "The learning cycle the participant was randomised in or, for a late entrant, "
        "joined, by name (designs with cycles only).",
        "arrival": "Minimisation only: position in the arrival order (0 first), which each "
        "allocation depended on; randomisation inference re-runs the minimisation in it.",
        **UPTAKE_COLUMNS,
    }
    # the longest outcome name wins, so "swemwbs_raw_endline" is not read as swemwbs at "raw_endline"
    by_name = sorted(design.outcomes, key=lambda o: len(o.name), reverse=True)
    by_column = {}
    for column in dataset.columns:
        outcome = next((o for o in by_name if column.startswith(f"{o.name}_")), None)
        if outcome is not None:
            timepoint = column.removeprefix(f"{outcome.name}_")
            by_column[column] = _outcome_entry(outcome, timepoint, design)
    rows = []
    for column in dataset.columns:
        if column in fixed:
            entry = {"description": fixed[column], "instrument": "", "range": "", "direction": ""}
            entry["missing_rule"] = ""
            if column in UPTAKE_COLUMNS:
                entry["range"] = "0 or more" if column == "dose" else "0-1"
                entry["direction"] = ""
                entry["missing_rule"] = "Never missing: 0 when no delivery event was logged."
        elif column in design.roster.covariates:
            entry = {
                "description": f"Roster covariate '{column}', as recorded at randomisation.",
                "instrument": "",
                "range": "",
                "direction": "",
                "missing_rule": "Missing if the roster left it empty.",
            }
        elif column.startswith("responded_"):
            timepoint = column.removeprefix("responded_")
            entry = {
                "description": f"1 if any survey outcome was recorded at {timepoint}, else 0 "
                "(the response indicator for attrition analyses).",
                "instrument": "",
                "range": "0-1",
                "direction": "",
                "missing_rule": "Never missing.",
            }
        elif column in by_column:
            entry = by_column[column]
        else:
            raise ValueError(
                f"The dataset column '{column}' has no entry in the data dictionary. Columns are "
                "participant fields, uptake, roster covariates, <outcome>_<timepoint> for the "
                f"design's outcomes ({', '.join(o.name for o in design.outcomes)}) and "
                f"responded_<timepoint>. Got '{column}' instead."
            )
        rows.append({"column": column, **entry})
    return pd.DataFrame(rows, columns=DICTIONARY_COLUMNS)


def _cell(value: object) -> str:
    text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def dictionary_markdown(dictionary: pd.DataFrame, design: TrialDesign, *, n_rows: int) -> str:
    """The data dictionary as a markdown document (a table plus how to read it)."""
    lines = [
        f"# Data dictionary: {design.title}",
        "",
        f"Trial `{design.id}`, design hash `{design.design_hash}`. One row per randomised "
        f"participant ({n_rows} rows). Outcome columns are `<outcome>_<timepoint>`; an empty "
        "cell is a missing value. No names, addresses or free text are included.",
        "",
        "| column | description | instrument | range | direction | missing-data rule |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        "| " + " | ".join(_cell(r[c]) for c in DICTIONARY_COLUMNS) + " |"
        for r in dictionary.to_dict("records")
    ]
    return "\n".join(lines) + "\n"
