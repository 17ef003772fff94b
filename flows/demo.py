"""The demo: the four seed trials and a three-arm design simulated and run end to end, on embedded defaults."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.cycles import cycle_randomise_flow
from flows.letters import letters_flow
from flows.pipeline import STAGES, default_drop, pipeline_flow
from flows.report import report_flow
from flows.results_file import read_results_file, results_path
from flows.safe_io import write_csv
from flows.store import Store
from flows.tasks import IO_RETRIES, load_design_task
from flows.uptake import participant_uptake_from_store
from flows.workers import demo_processes
from reports.evidence import evidence_caveats
from reports.format import format_money
from trial_designs.cycles import cycle_of_enrolment
from trial_designs.design import TrialDesign
from trial_designs.simulate_deliveries import simulate_deliveries
from trial_designs.simulate_outcomes import simulate_outcomes
from trial_designs.simulate_roster import simulate_late_entrants, simulate_roster

__all__ = [
    "DEMO_TRIALS",
    "demo_flow",
    "demo_processes",
    "demo_trial_flow",
    "run_trial",
    "summary_row",
]

#: The four seed trials, then a three-arm demo design (not from the seeds) that runs every
#: multi-arm part of the pipeline.
DEMO_TRIALS = ("letters", "goal_setting", "coffee", "schwartz_rounds", "goal_setting_nudges")
DEMO_SEED = 2026
#: New starters in each later learning cycle of a demo trial.
DEMO_COHORT = 200


@task(name="simulate roster", cache_policy=NO_CACHE, **IO_RETRIES)
def simulate_roster_file(design: TrialDesign, drop: Path) -> Path:
    """Write the synthetic roster once; later runs keep the file so nothing changes."""
    drop.mkdir(parents=True, exist_ok=True)
    path = drop / "roster.csv"
    if not path.exists():
        write_csv(simulate_roster(design, rng=np.random.default_rng([DEMO_SEED, 1])), path)
    return path


@task(name="simulate delivery logs", cache_policy=NO_CACHE, **IO_RETRIES)
def simulate_delivery_files(design: TrialDesign, drop: Path) -> dict[str, Path]:
    """The delivery log in ``deliveries/`` and, for letters, managers' feedback, written once.

    A design with several interventions gets one log per intervention, in
    ``deliveries/<intervention>/`` (where the deliveries stage looks for them).
    """
    folder = drop / "deliveries"
    log, feedback = folder / "deliveries.csv", drop / "manager_feedback.csv"
    logs = (
        [log]
        if len(design.interventions) < 2
        else [folder / i.name / f"{i.name}.csv" for i in design.interventions]
    )
    if not all(path.exists() for path in logs):
        folder.mkdir(parents=True, exist_ok=True)
        people = Store().participant_arms(design.id)
        files = simulate_deliveries(design, people, rng=np.random.default_rng([DEMO_SEED, 2]))
        files = _dated_by_cycle(files, design, people)
        for name, frame in files.items():
            if name != "manager_feedback.csv":
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                write_csv(frame, folder / name)
        if "manager_feedback.csv" in files:
            write_csv(files["manager_feedback.csv"], feedback)
    return {
        "deliveries": log if len(logs) == 1 else folder,
        **({"feedback": feedback} if feedback.exists() else {}),
    }


@task(name="simulate outcome files", cache_policy=NO_CACHE, **IO_RETRIES)
def simulate_outcome_files(design: TrialDesign, drop: Path) -> list[Path]:
    """Surveys and HR extract for the randomised participants, written once.

    Effects that work through uptake (letters, goal-setting) reach only those
    the stored delivery log says took the intervention up.
    """
    folder = drop / "outcomes"
    if folder.exists() and any(folder.iterdir()):
        return sorted(folder.iterdir())
    folder.mkdir(parents=True, exist_ok=True)
    store = Store()
    uptake = participant_uptake_from_store(design, store)
    people = store.participant_arms(design.id)
    files = simulate_outcomes(
        design,
        people,
        rng=np.random.default_rng([DEMO_SEED, 3]),
        took_up=None if uptake is None else uptake["took_up"],
    )
    files = _dated_by_cycle(files, design, people)
    paths = []
    for name, frame in files.items():
        write_csv(frame, folder / name)
        paths.append(folder / name)
    return paths


@task(name="randomise later cycles", cache_policy=NO_CACHE, **IO_RETRIES)
def randomise_later_cycles(name: str, design: TrialDesign, drop: Path) -> None:
    """Each later learning cycle: the staff list of its day (everyone on the first roster plus
    a cohort of new starters, written once) randomised with ``--cycle``; a cycle already
    randomised is left as it is, so a re-run changes nothing."""
    people = Store().participant_arms(design.id)
    done = set(cycle_of_enrolment(people["enrolment"])) if len(people) else set()
    first = pd.read_csv(drop / "roster.csv", dtype=str, keep_default_na=False)
    id_col = design.roster.columns["id"]
    for number, cycle in enumerate(design.cycles[1:], start=2):
        if number in done:
            continue
        path = drop / f"roster_cycle{number}.csv"
        if not path.exists():
            new = simulate_late_entrants(
                design, n=DEMO_COHORT, rng=np.random.default_rng([DEMO_SEED, 10 + number])
            )
            new[id_col] = [
                f"C{number}{design.id[:3].upper()}{i:04d}" for i in range(1, len(new) + 1)
            ]
            start = design.roster.columns.get("start_date")
            if start:
                new[start] = cycle.recruitment_start.isoformat()
            write_csv(pd.concat([first, new.astype(str)], ignore_index=True), path)
        cycle_randomise_flow(name, str(path), number)


def _dated_by_cycle(files: dict, design: TrialDesign, people: pd.DataFrame) -> dict:
    """Later cycles' survey responses, letters and HR records moved to their own cycle's dates.

    The simulators date everyone by follow_up, the first cycle's dates; a later
    cohort is surveyed, written to and employed as many days later as its cycle's
    dates are.  A later cohort's new starter cannot have left before their cycle's
    randomisation: such a leaving date (the simulators' few "gone before the
    window") is dropped, so nobody who had left is on that cycle's roster.
    """
    if not design.cycles or not len(people):
        return files
    cycle = dict(
        zip(
            people["participant_id"].astype(str),
            cycle_of_enrolment(people["enrolment"]),
            strict=True,
        )
    )
    fu = design.follow_up
    out = dict(files)
    for name, frame in files.items():
        timepoint = name.removeprefix("survey_").removesuffix(".csv")
        if name.startswith("survey_") and timepoint in ("baseline", "endline"):
            ids, whens = (
                design.survey.columns["participant_id"],
                [design.survey.columns["collected_on"]],
            )
            # a baseline answer keeps its distance from randomisation, so a later cohort's
            # comes before its own randomisation too (its window: trial_designs.cycles)
            key = "randomisation" if timepoint == "baseline" else "endline"
        elif name == "deliveries.csv" or "/" in name:  # with several, "<intervention>/<it>.csv"
            own = name.split("/")[0]
            columns = next(
                (i for i in design.interventions if i.name == own), design.interventions[0]
            ).columns
            ids, whens, key = columns["unit_id"], [columns["occurred_at"]], "randomisation"
        elif name == "hr_extract.csv":
            columns = design.hr.columns
            ids, key = columns["participant_id"], "randomisation"
            whens = [
                columns[c]
                for c in ("effective_from", "leaving_date", "start_date", "end_date")
                if c in columns
            ]
        else:
            continue
        number = frame[ids].astype(str).map(cycle).fillna(1).astype(int)
        shift = number.map(lambda n, key=key: getattr(design.cycles[n - 1], key) - getattr(fu, key))
        delta = pd.to_timedelta(shift)
        moved = {when: _moved(frame[when], number, delta) for when in whens}
        if name == "hr_extract.csv" and "leaving_date" in design.hr.columns:
            left = design.hr.columns["leaving_date"]
            day = pd.to_datetime(moved[left], format="%Y-%m-%d", errors="coerce")
            opened = number.map(lambda n: pd.Timestamp(design.cycles[n - 1].randomisation))
            moved[left] = moved[left].mask((number > 1) & (day < opened), None)
        out[name] = frame.assign(**moved)
    return out


def _moved(text: pd.Series, number: pd.Series, delta: pd.Series) -> pd.Series:
    """The dates of a later cycle's rows moved on by ``delta``; each keeps its written form."""
    text = text.astype("str").where(text.notna(), None)
    moved = text.copy()
    # the simulators write some dates the way exports do (15/10/2019): keep each one's form
    for form in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d", "%d/%m/%Y"):
        parsed = pd.to_datetime(text, format=form, errors="coerce")
        hit = parsed.notna() & (number > 1)
        moved[hit] = (parsed[hit] + delta[hit]).dt.strftime(form)
    return moved


def summary_row(design: TrialDesign) -> dict:
    """Trial, N, uptake, primary effect [CI] and cost per participant, from results.json."""
    results = read_results_file(results_path(design.id))
    primary = next(o for o in results["outcomes"] if o["primary"])
    itts = [e for e in primary["estimates"] if e["estimand"] == "ITT"]
    allocated = sum(v["allocated"] for v in results["consort"]["individuals"].values())
    uptake = results.get("uptake") or {}
    active = [r for r in uptake.get("funnel", []) if r["arm"] != design.control_arm]
    labels = {a.name: a.label or a.name for a in design.arms}
    several = len(itts) > 1  # then each active arm's figures, named, in the arms' order
    effects = []
    for itt in itts:
        effect = f"{itt['estimate']:+.2f} [{itt['ci_low']:+.2f}, {itt['ci_high']:+.2f}]"
        # as the report's first sentence says
        if evidence_caveats(results, outcome=primary, arm=itt.get("arm") if several else None):
            effect += " (weak evidence: see the report)"
        effects.append(
            f"{labels.get(itt.get('arm'), itt.get('arm'))} {effect}" if several else effect
        )
    costs = results.get("costs") or {}
    per_arm = [costs, *(costs.get("other_arms") or [])] if several else [costs]
    money = [
        (f"{labels.get(c.get('arm'), c.get('arm'))} " if several else "")
        + format_money(c["per_participant"]["randomised"], decimals=2)
        for c in per_arm
        if (c.get("per_participant") or {}).get("randomised") is not None
    ]
    return {
        "trial": design.title,
        "n": allocated,
        "uptake": "; ".join(
            (f"{labels.get(r['arm'], r['arm'])} " if several else "")
            + f"{r['started_pct']:.0f}% started"
            for r in (active if several else active[:1])
        ),
        "primary effect [95% CI]": f"{primary['label']}: {'; '.join(effects)}",
        "cost per participant": "; ".join(money),
    }


def _add_seconds(seconds: dict[str, float], more: dict[str, float]) -> None:
    for stage, spent in more.items():
        seconds[stage] = round(seconds.get(stage, 0.0) + spent, 1)


def run_trial(name: str, pdf: bool = True) -> dict:
    """One seed trial end to end: its summary row, report paths and seconds per stage.

    Roster -> randomise -> delivery logs (and, for letters, the mail-merge from
    managers' feedback) -> ingest deliveries -> outcomes simulated from who
    took the intervention up -> the whole pipeline.  One ``demo-trial`` flow
    run per trial holds it all (see :func:`demo_trial_flow`).
    """
    return demo_trial_flow(name, pdf)


@flow(name="demo-trial", log_prints=True)
def demo_trial_flow(name: str, pdf: bool = True) -> dict:
    """:func:`run_trial`'s flow: the simulation tasks and the pipeline's stages, in one run.

    The pipeline's body runs three times (before and after the simulated
    delivery logs and outcomes) inside this run rather than as three
    ``pipeline`` runs of its own: the stages' own flows (randomise, letters,
    deliveries-ingest, uptake, outcomes-ingest, analyse, costs, report) are
    this run's subflows, each still a run in the UI with its tasks.
    """
    seconds: dict[str, float] = {}

    def timed(step: str, run, *args, **kwargs):  # noqa: ANN001, ANN202 - any callable
        start = time.perf_counter()
        result = run(*args, **kwargs)
        _add_seconds(seconds, {step: time.perf_counter() - start})
        return result

    def stages(done: dict) -> dict:
        _add_seconds(seconds, done["seconds"])
        return done["stages"]

    design = load_design_task(name)
    drop = default_drop(design.id)
    timed("simulate", simulate_roster_file, design, drop)
    stages(pipeline_flow.fn(name, str(drop), ["randomise"]))
    if design.cycles:
        timed("randomise", randomise_later_cycles, name, design, drop)
    files = timed("simulate", simulate_delivery_files, design, drop)
    if "feedback" in files:
        day = design.follow_up.randomisation.isoformat()
        timed("letters", letters_flow, name, str(files["feedback"]), day)
    stages(pipeline_flow.fn(name, str(drop), ["deliveries"]))
    timed("simulate", simulate_outcome_files, design, drop)
    # randomise and deliveries ran just above; the rest of the pipeline, in order
    rest = [stage for stage in STAGES if stage not in ("randomise", "deliveries")]
    reports = stages(pipeline_flow.fn(name, str(drop), rest, pdf=pdf))["report"]
    return {"summary": summary_row(design), "reports": reports, "seconds": seconds}


def run_trial_here(name: str, pdf: bool) -> dict:
    """:func:`run_trial` in a worker process (see :func:`flows.workers.run_demo_trial`)."""
    from flows.tasks import embedded_prefect

    with embedded_prefect(heartbeats=False):
        return run_trial(name, pdf)


def _api_url() -> str:
    """The API this process talks to: the running server, or the temporary one it started."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return str(client.api_url).rstrip("/")


@flow(name="demo", log_prints=True)
def demo_flow(
    trials: list[str] | None = None, pdf: bool = True, processes: int | None = None
) -> dict:
    """Simulate each seed trial into its drop folder, run its pipeline end to end, then the portfolio.

    The trials are independent (each has its own seeds, drop folder and store
    rows), so with ``processes`` > 1 (default: one per core) they run in worker
    processes at the same time, each against this run's Prefect API; results
    are the same as one after the other.  Re-running changes nothing: every
    file is written once and every stage finds no new work, except that
    analysis and reports are redone.

    ``seconds`` adds each stage's time over the trials (with workers it can
    exceed the wall time).
    """
    entered = time.perf_counter()
    names = list(trials or DEMO_TRIALS)
    processes = demo_processes(len(names)) if processes is None else processes
    seconds: dict[str, float] = {}
    if processes > 1:
        from contextlib import nullcontext

        from flows.workers import current_pool, demo_pool, run_demo_trial

        pool = current_pool()  # started by the command line before Prefect, already warm
        with nullcontext(pool) if pool is not None else demo_pool(processes) as workers:
            api = [_api_url()] * len(names)
            done = list(workers.map(run_demo_trial, names, [pdf] * len(names), api))
    else:
        done = [run_trial(name, pdf) for name in names]
    summary, reports = [], {}
    for trial in done:
        summary.append(trial["summary"])
        reports.update(trial["reports"])
        _add_seconds(seconds, trial["seconds"])
    start = time.perf_counter()
    portfolio = report_flow(portfolio=True, pdf=pdf, trial_reports=False)["portfolio"]
    _add_seconds(seconds, {"portfolio report": time.perf_counter() - start})
    return {
        "summary": summary,
        "seconds": seconds,
        "reports": reports,
        "portfolio": portfolio,
        "entered_at": entered,
        "processes": processes,
    }
