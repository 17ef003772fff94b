"""``trialflow status``: where a trial stands, read straight from the store.

A coordinator asks "what has happened and what needs me?".  The answer comes
from what the store already records (allocations, the audit log, ingested
files, quarantine, delivery events, outcome values, withdrawals) plus one
small record per stage run, written by :func:`record_stage_run_hook` when a
stage flow completes or fails, and the drop folder's files compared by hash
with the ingest records.

Reading is fast and touches no Prefect: :func:`gather_status` does the I/O
and :func:`summarise_status` is a pure function of what it gathered.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from flows.settings import get_settings
from flows.sources import file_hash
from flows.store import (
    Store,
    audit_log,
    delivery_events,
    ingested_files,
    quarantine,
)
from flows.store.responses import outcome_value_counts
from trial_designs.cycles import is_late_entrant

__all__ = [
    "STAGE_HOOKS",
    "STATUS_STAGES",
    "StatusFacts",
    "UnknownTrialError",
    "drop_files",
    "gather_status",
    "record_stage_run_hook",
    "summarise_status",
    "trial_status",
]

#: The stages status reports, in the order a trial goes through them.
STATUS_STAGES = (
    "randomise",
    "enrol",
    "deliveries",
    "letters",
    "uptake",
    "outcomes",
    "analyse",
    "costs",
    "report",
)

#: Prefect flow name -> the stage it records.
_FLOW_STAGES = {
    "randomise": "randomise",
    "enrol": "enrol",
    "deliveries-ingest": "deliveries",
    "letters": "letters",
    "uptake": "uptake",
    "outcomes-ingest": "outcomes",
    "analyse": "analyse",
    "costs": "costs",
    "report": "report",
}

#: Audit events that say what happened to a trial (one 'allocated' row per unit is left out).
_AUDIT_EVENTS = ("randomised", "re-randomised", "enrolled", "withdrawn")


_ARCHIVED = re.compile(r";? archived as \S+?(?=\.(?:\s|$))")


class UnknownTrialError(LookupError):
    """A trial id the store does not know."""


@dataclass(frozen=True)
class StatusFacts:
    """Everything status reads about one trial, as plain tables (built by :func:`gather_status`)."""

    trial: dict
    participants: pd.DataFrame  # participant_id, unit_id, arm, enrolment
    withdrawals: pd.DataFrame  # participant_id, reason, who, withdrawn_at
    audit: pd.DataFrame  # event, who, at, round, details_json
    ingests: pd.DataFrame  # ingested_files rows
    quarantine: pd.DataFrame  # kind, file_name, rule, rows
    events: dict  # n, contaminated, letter_rendered, last_at
    outcomes: pd.DataFrame  # timepoint, participants, values
    stage_runs: pd.DataFrame  # stage_runs rows
    drop: pd.DataFrame  # path, kind, timepoint, ingested
    drop_folder: str = ""
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None))


# -- gathering (I/O) ----------------------------------------------------------------------
def _drop_kind(relative: Path, owners: tuple[str, ...] = ()) -> tuple[str, str | None] | None:
    """Which ingest a drop-folder file feeds: (kind, timepoint), as the pipeline reads it."""
    parts = relative.parts
    if relative.suffix.lower() not in (".csv", ".xlsx"):
        return None
    if len(parts) == 1 and relative.stem == "roster":
        return ("roster", None)
    if len(parts) == 2 and parts[0] == "deliveries":
        return ("deliveries", None)
    if len(parts) == 3 and parts[0] == "deliveries" and parts[1] in owners:
        return ("deliveries", None)  # deliveries/<intervention>/, with several interventions
    if len(parts) == 2 and parts[0] == "outcomes":
        if relative.stem.startswith("survey_"):
            return ("survey", relative.stem.removeprefix("survey_"))
        if relative.stem.startswith("hr_"):
            return ("hr", "endline")
    return None


def drop_files(folder: Path, ingests: pd.DataFrame, owners: tuple[str, ...] = ()) -> pd.DataFrame:
    """The drop folder's input files, each marked ingested or waiting (by content hash).

    A file counts as ingested when the same bytes were ingested as the same
    kind (and, for surveys, the same timepoint): the ingest's own rule for
    "nothing changed".  The roster is not an ingest; it is reported as
    ``roster`` and never as waiting.  ``owners`` names the interventions of a
    design with several: each one's logs sit in ``deliveries/<intervention>/``.
    """
    rows = []
    # with several interventions, a log in deliveries/<intervention>/ is that one's
    # (ingested_files.intervention): the same bytes in another's folder still wait
    seen = {
        (
            r.kind,
            r.file_hash,
            None if pd.isna(r.timepoint) else r.timepoint,
            None if pd.isna(getattr(r, "intervention", None)) else r.intervention,
        )
        for r in ingests.itertuples()
    }
    if folder.is_dir():
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            kind = _drop_kind(path.relative_to(folder), owners)
            if kind is None:
                continue
            name, timepoint = kind
            # the roster is randomised, not ingested: it never waits
            parts = path.relative_to(folder).parts
            owner = parts[1] if len(parts) == 3 else None
            done = name == "roster" or (name, file_hash(path), timepoint, owner) in seen
            rows.append(
                {
                    "file": str(path.relative_to(folder)),
                    "kind": name,
                    "timepoint": timepoint,
                    "ingested": done,
                    "modified": dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).replace(
                        tzinfo=None
                    ),
                }
            )
    return pd.DataFrame(rows, columns=["file", "kind", "timepoint", "ingested", "modified"])


def _owners(trial: dict) -> tuple[str, ...]:
    """The interventions whose logs have folders of their own: those of a design with several."""
    names = tuple(i["name"] for i in json.loads(trial["design_json"]).get("interventions") or [])
    return names if len(names) > 1 else ()


def _frame(found: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return found if len(found) else pd.DataFrame(columns=columns)


def gather_status(
    trial_id: str, *, store: Store | None = None, drop: str | Path | None = None
) -> StatusFacts:
    """Read what the store and the drop folder say about one trial.

    Raises
    ------
    UnknownTrialError
        If the store has no such trial; the message lists the trials it has.
    """
    store = store or Store()
    trial = store.trial(trial_id)
    if trial is None:
        known = store.trial_ids()
        raise UnknownTrialError(
            f"Trial '{trial_id}' is not in the store at {store.url}. Known trials: "
            f"{', '.join(known) if known else '(none yet: randomise a trial first)'}."
        )
    people = store.participant_arms(trial_id)
    people = _frame(people, ["participant_id", "unit_id", "arm", "enrolment"])
    audit = store.read(
        sa.select(
            audit_log.c.event,
            audit_log.c.who,
            audit_log.c.at,
            audit_log.c.round,
            audit_log.c.details_json,
        )
        .where(audit_log.c.trial_id == trial_id, audit_log.c.event.in_(_AUDIT_EVENTS))
        .order_by(audit_log.c.audit_id)
    )
    ingests = store.read(
        sa.select(ingested_files)
        .where(ingested_files.c.trial_id == trial_id)
        .order_by(ingested_files.c.file_id)
    )
    ingests = _frame(ingests, [c.name for c in ingested_files.columns])
    q = quarantine.c
    held = store.read(
        sa.select(
            q.kind,
            q.file_name,
            q.rule,
            sa.func.count(sa.distinct(q.row_number)).label("rows"),
        )
        .where(q.trial_id == trial_id)
        # two interventions' logs may share a file name: each one's rows are counted
        .group_by(q.kind, q.intervention, q.file_name, q.rule)
        .order_by(q.kind, q.intervention, q.file_name, q.rule)
    )
    e = delivery_events.c
    with store.engine.connect() as conn:
        n, contaminated, letters, last_at = conn.execute(
            sa.select(
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(sa.cast(e.contaminated, sa.Integer)), 0),
                sa.func.coalesce(
                    sa.func.sum(sa.case((e.event_type == "letter_rendered", 1), else_=0)), 0
                ),
                sa.func.max(e.occurred_at),
            ).where(e.trial_id == trial_id)
        ).one()
    with store.engine.connect() as conn:  # survey responses' values counted one by one
        outcomes = outcome_value_counts(conn, trial_id)
    folder = Path(drop) if drop else get_settings().drop_dir(trial_id)
    return StatusFacts(
        trial=trial,
        participants=people,
        withdrawals=store.withdrawals(trial_id),
        audit=_frame(audit, ["event", "who", "at", "round", "details_json"]),
        ingests=ingests,
        quarantine=_frame(held, ["kind", "file_name", "rule", "rows"]),
        events={
            "n": int(n),
            "contaminated": int(contaminated),
            "letter_rendered": int(letters),
            "last_at": last_at,
        },
        outcomes=_frame(outcomes, ["timepoint", "participants", "values"]),
        stage_runs=store.stage_runs(trial_id),
        drop=drop_files(folder, ingests, _owners(trial)),
        drop_folder=str(folder),
    )


# -- the summary (pure) -------------------------------------------------------------------
def _when(value: object) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "never"
    return f"{pd.Timestamp(value):%Y-%m-%d %H:%M} UTC"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _arms(facts: StatusFacts) -> list[dict]:
    design = json.loads(facts.trial["design_json"])
    order = [a["name"] for a in design.get("arms", [])]
    people = facts.participants
    withdrawn = set(facts.withdrawals["participant_id"])
    rows = []
    for arm in order + sorted(set(people["arm"].dropna()) - set(order)):
        mine = people[people["arm"] == arm]
        rows.append(
            {
                "arm": arm,
                "units": int(mine["unit_id"].nunique()),
                "participants": len(mine),
                # a later learning cycle's late entrants are labelled cycle<N>_late
                "late_entrants": int(is_late_entrant(mine["enrolment"]).sum()),
                "withdrawn": int(mine["participant_id"].isin(withdrawn).sum()),
            }
        )
    return rows


def _last(frame: pd.DataFrame, column: str) -> dict | None:
    if frame.empty:
        return None
    return frame.sort_values(column, kind="stable").iloc[-1].to_dict()


def _ingest_result(row: dict) -> str:
    text = (
        f"{row['file_name']}: {row['rows_read']} rows read, {row['rows_stored']} stored, "
        f"{row['rows_quarantined']} quarantined"
    )
    if isinstance(row.get("timepoint"), str) and row["kind"] == "survey":
        text += f" ({row['timepoint']})"
    return text


def _stages(facts: StatusFacts) -> list[dict]:
    """Each stage's last run: when, whether it worked and what it did."""
    runs = facts.stage_runs
    audit = facts.audit
    ingests = facts.ingests
    found: dict[str, dict] = {}

    def offer(stage: str, at: object, status: str, result: str) -> None:
        # the most recent record wins, whichever table it comes from
        if at is None or (not isinstance(at, str) and pd.isna(at)):
            return
        current = found.get(stage)
        if current is None or pd.Timestamp(at) >= pd.Timestamp(current["at"]):
            found[stage] = {"at": at, "status": status, "result": result}

    randomised = audit[audit["event"].isin(["randomised", "re-randomised"])]
    if len(randomised):
        last = randomised.iloc[-1]
        details = json.loads(last["details_json"] or "{}")
        n_rounds = len(randomised)
        offer(
            "randomise",
            last["at"],
            "completed",
            f"round {last['round']}: {details.get('n_units', '?')} units by {last['who']}"
            + (f" ({n_rounds} rounds)" if n_rounds > 1 else "")
            + (f"; forced: {details['reason']}" if details.get("forced") else ""),
        )
    enrolled = audit[audit["event"] == "enrolled"]
    if len(enrolled):
        offer(
            "enrol",
            enrolled["at"].max(),
            "completed",
            f"{_plural(len(enrolled), 'unit')} allocated late in all",
        )
    for stage, kinds in (("deliveries", ("deliveries",)), ("outcomes", ("survey", "hr"))):
        mine = ingests[ingests["kind"].isin(kinds)]
        if len(mine):
            last = _last(mine, "ingested_at")
            offer(
                stage,
                last["ingested_at"],
                "completed",
                _ingest_result(last) + f" ({_plural(len(mine), 'file')} in all)",
            )
    for run in runs.itertuples():
        # an archive name is a 64-digit hash: it tells a coordinator nothing here
        offer(run.stage, run.finished_at, run.status, _ARCHIVED.sub("", run.summary or ""))
    rows = []
    for stage in STATUS_STAGES:
        hit = found.get(stage)
        rows.append(
            {
                "stage": stage,
                "last_run": _when(hit["at"]) if hit else "never",
                "status": hit["status"] if hit else "not run",
                "result": hit["result"] if hit else "",
            }
        )
    return rows


def _quarantine(facts: StatusFacts) -> list[dict]:
    """Quarantined rows per kind of file and rule."""
    held = facts.quarantine
    if held.empty:
        return []
    grouped = held.groupby(["kind", "rule"], sort=True)["rows"].sum().reset_index()
    return [{"kind": r.kind, "rule": r.rule, "rows": int(r.rows)} for r in grouped.itertuples()]


def _attention(facts: StatusFacts, stages: list[dict]) -> list[str]:
    """What the coordinator should look at, most urgent first."""
    items = []
    for row in stages:
        if row["status"] == "failed":
            items.append(f"The last {row['stage']} run failed ({row['last_run']}): {row['result']}")
    waiting = facts.drop[~facts.drop["ingested"].astype(bool)] if len(facts.drop) else facts.drop
    if len(waiting):
        items.append(
            f"{_plural(len(waiting), 'file')} waiting in {facts.drop_folder}, not ingested yet: "
            + ", ".join(waiting["file"])
            + ". Run `trialflow run` (or wait for the schedule)."
        )
    rows_held = int(facts.ingests["rows_quarantined"].sum()) if len(facts.ingests) else 0
    if rows_held:
        files = int((facts.ingests["rows_quarantined"] > 0).sum())
        items.append(
            f"{_plural(rows_held, 'row')} quarantined in {_plural(files, 'file')}: the validation "
            "reports and quarantine CSVs under the trial's out folder say what to fix."
        )
    design = json.loads(facts.trial["design_json"])
    if design.get("interventions") and facts.events["n"] == 0:
        items.append(
            "No delivery events yet: uptake cannot be tracked until a delivery log is ingested."
        )
    if facts.events["contaminated"]:
        items.append(
            f"{_plural(facts.events['contaminated'], 'delivery event')} reached the control arm "
            "(stored and flagged as contamination)."
        )
    if facts.outcomes.empty:
        items.append("No outcome data yet: the analysis needs a survey or HR file.")
    elif "endline" not in set(facts.outcomes["timepoint"]):
        items.append(
            "No endline outcomes yet (timepoints stored: "
            + ", ".join(facts.outcomes["timepoint"])
            + ")."
        )
    if len(facts.withdrawals):
        items.append(
            f"{_plural(len(facts.withdrawals), 'participant')} withdrawn: no letters or deliveries "
            "go to them; they stay in the ITT analysis and the CONSORT counts."
        )
    analysed = next(r for r in stages if r["stage"] == "analyse")
    latest_data = (
        facts.ingests.loc[facts.ingests["rows_stored"] > 0, "ingested_at"].max()
        if len(facts.ingests)
        else None
    )
    runs = facts.stage_runs
    done = runs[(runs["stage"] == "analyse") & (runs["status"] == "completed")]
    if (
        latest_data is not None
        and not pd.isna(latest_data)
        and len(done)
        and pd.Timestamp(done["finished_at"].max()) < pd.Timestamp(latest_data)
        and analysed["status"] != "failed"
    ):
        items.append("Data arrived after the last analysis: run `trialflow analyse` (or `run`).")
    return items


def summarise_status(facts: StatusFacts) -> dict:
    """The status of a trial as plain data (pure: a function of ``facts`` only).

    Returns
    -------
    dict
        ``trial`` (id, title, design hash, active round), ``arms`` (units,
        participants, late entrants and withdrawn per arm), ``stages`` (each
        stage's last run, status and result), ``drop`` (the drop folder's
        files and whether each is ingested), ``quarantine`` (rows per kind
        and rule), ``outcomes`` (participants per timepoint), ``events`` and
        ``attention`` (sentences, most urgent first).
    """
    stages = _stages(facts)
    return {
        "trial": {
            "id": facts.trial["trial_id"],
            "title": facts.trial["title"],
            "design_hash": facts.trial["design_hash"],
            "round": int(facts.trial["active_round"]),
        },
        "arms": _arms(facts),
        "stages": stages,
        "drop_folder": facts.drop_folder,
        "drop": [
            {
                "file": r.file,
                "kind": r.kind,
                # the roster is randomised from, not ingested
                "status": "randomised"
                if r.kind == "roster"
                else ("ingested" if r.ingested else "waiting"),
            }
            for r in facts.drop.itertuples()
        ],
        "quarantine": _quarantine(facts),
        "outcomes": [
            {"timepoint": r.timepoint, "participants": int(r.participants)}
            for r in facts.outcomes.itertuples()
        ],
        "events": {
            "delivery_events": facts.events["n"],
            "contaminated": facts.events["contaminated"],
            "letters_logged": facts.events["letter_rendered"],
        },
        "withdrawn": len(facts.withdrawals),
        "attention": _attention(facts, stages),
    }


def trial_status(trial_id: str, *, store: Store | None = None, drop: str | None = None) -> dict:
    """:func:`summarise_status` of :func:`gather_status`: the whole ``trialflow status``."""
    return summarise_status(gather_status(trial_id, store=store, drop=drop))


# -- recording stage runs ------------------------------------------------------------------
def _trial_id_of(design: object) -> str | None:
    if not design:
        return None
    text = str(design)
    path = Path(text)
    if path.suffix not in (".yaml", ".yml") and not path.exists():
        return text  # a packaged design's id is the trial id
    from trial_designs.design import load_design

    return load_design(path).id


def _result_line(stage: str, result: object) -> str:
    """One line saying what a completed stage did (counts and paths, never staff ids)."""
    if not isinstance(result, dict):
        return "" if result is None else str(result)[:300]
    if "summary" in result and isinstance(result["summary"], str):
        return result["summary"]
    if stage == "randomise":
        return f"round {result.get('round')}: {result.get('units')} units randomised"
    if stage == "enrol":
        done = pd.DataFrame(result.get("enrolled") or [], columns=["status"])
        counts = done["status"].value_counts()
        return "; ".join(f"{n} {status}" for status, n in counts.items()) or "nobody new"
    if stage == "letters":
        return (
            f"{result.get('letters')} letter(s) written; "
            f"{len({p['participant_id'] for p in result.get('problems') or []})} participant(s) "
            "without a letter"
        )
    if stage == "uptake":
        return f"{result.get('events')} delivery events; dashboard {result.get('dashboard')}"
    if stage == "analyse":
        return f"results {result.get('results')}"
    if stage == "costs":
        files = result.get("files") or {}
        return ("tables " + ", ".join(files.values())) if files else "no costs in results.json"
    if stage == "report":
        return "; ".join(
            f"{trial}: {paths.get('html')}"
            for trial, paths in (result.get("reports") or {}).items()
        )
    return json.dumps(result, default=str)[:300]


def record_stage_run_hook(flow, flow_run, state) -> None:  # noqa: ANN001 - Prefect's hook signature
    """A flow state hook: note a stage's completion or failure in the store.

    Put it in a stage flow's ``on_completion`` and ``on_failure``.  It never
    raises: status is a convenience, and a stage must not fail because of it.
    """
    stage = _FLOW_STAGES.get(flow.name, flow.name)
    try:
        params = flow_run.parameters or {}
        failed = state.is_failed() or state.is_crashed()
        result = None if failed else state.result(raise_on_failure=False)
        trial_ids = [_trial_id_of(params.get("design"))]
        if trial_ids == [None] and isinstance(result, dict):
            trial_ids = list(result.get("reports") or {})  # a report of every trial
        summary = (state.message or "failed") if failed else _result_line(stage, result)
        store = Store()
        for trial_id in trial_ids:
            if trial_id is None or store.trial(trial_id) is None:
                continue
            store.record_stage_run(
                trial_id=trial_id,
                stage=stage,
                status="failed" if failed else "completed",
                summary=summary[:2000],
                started_at=flow_run.start_time.replace(tzinfo=None)
                if getattr(flow_run, "start_time", None)
                else None,
                flow_run_id=str(flow_run.id),
            )
    except Exception as exc:  # noqa: BLE001 - see the docstring
        import logging

        logging.getLogger("trialflow.status").warning(
            "Could not record the %s run for status: %s", stage, exc
        )


#: ``@flow(..., **STAGE_HOOKS)``: a stage flow records each completion and failure for status.
STAGE_HOOKS = {
    "on_completion": [record_stage_run_hook],
    "on_failure": [record_stage_run_hook],
    "on_crashed": [record_stage_run_hook],
}
