"""A national trial end to end: 1.3M staff in 200 organisations, randomised, 1M survey
responses ingested, analysed and reported (issue 18.4).  Time and peak memory per stage.

    .venv/bin/python bench/bench_national.py            (make bench-national; minutes)
    .venv/bin/python bench/bench_national.py --ri-draws 2000

Not in ``make bench`` (bench/run_all.py skips it): it takes minutes and gigabytes.

Each stage runs the flow the command line runs (``randomise``, ``outcomes ingest``,
``analyse``, ``report``) in a fresh process on one TRIALFLOW_HOME, so the peak RSS
printed (``ru_maxrss``, the process's high-water mark) is that stage's own; each
process first runs an empty flow, not timed, so Prefect's temporary server start-up
is not counted (its RSS, the floor every stage shares, is printed beside).  The
inputs (roster and survey CSV) are written by a first process, timed the same way.

There is no peer for a whole trial: the figures are seconds and megabytes on this
machine, printed with the load average, and a stage that fails is reported where it
failed and why (the rest are not run: each needs the one before).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N_STAFF = 1_300_000
N_ORGANISATIONS = 200
N_RESPONSES = 1_000_000
ITEMS = [f"swemwbs_{i}" for i in range(1, 8)]
STAGES = ("inputs", "randomise", "ingest", "analyse", "report")

DESIGN_YAML = """\
id: national_wellbeing
title: National staff wellbeing trial (benchmark)
question: Does a national offer of protected wellbeing time improve staff wellbeing?
unit: individual
strata: [organisation]
arms:
  - {{name: control, ratio: 1, control: true, label: Usual practice}}
  - {{name: offer, ratio: 1, label: Protected wellbeing time}}
randomisation: {{method: complete, seed: 2026}}
roster:
  columns: {{id: staff_id, organisation: organisation, team: team}}
outcomes:
  - {{name: swemwbs, instrument: swemwbs, score: metric, primary: true, label: Wellbeing (SWEMWBS)}}
survey:
  columns: {{participant_id: staff_id, collected_on: completed}}
follow_up:
  recruitment_start: 2026-01-01
  randomisation: 2026-02-01
  baseline: 2026-01-15
  endline: 2026-09-01
  window_start: 2026-02-01
  window_end: 2026-10-31
analysis:
  ri_draws: {ri_draws}
"""


def _ids(n: int) -> np.ndarray:
    return np.char.add("S", np.char.zfill(np.arange(n).astype(str), 7))


def write_inputs(folder: Path, ri_draws: int) -> str:
    """The design, a roster of N_STAFF and a survey export of N_RESPONSES of them."""
    import pandas as pd

    rng = np.random.default_rng(2026)
    (folder / "national_wellbeing.yaml").write_text(DESIGN_YAML.format(ri_draws=ri_draws))
    # organisations of very different sizes, as NHS trusts are (a few large, many small)
    weights = rng.pareto(1.5, N_ORGANISATIONS) + 0.2
    organisation = rng.choice(N_ORGANISATIONS, size=N_STAFF, p=weights / weights.sum())
    team = organisation * 1000 + rng.integers(0, 60, N_STAFF)
    ids = _ids(N_STAFF)
    pd.DataFrame(
        {
            "staff_id": ids,
            "organisation": np.char.add("Org ", np.char.zfill(organisation.astype(str), 3)),
            "team": np.char.add("Team ", team.astype(str)),
        }
    ).to_csv(folder / "roster.csv", index=False)
    who = np.sort(rng.choice(N_STAFF, size=N_RESPONSES, replace=False))
    person = rng.normal(0, 0.8, (N_RESPONSES, 1))
    items = np.clip(np.rint(3.3 + person + rng.normal(0, 0.5, (N_RESPONSES, 7))), 1, 5)
    survey = pd.DataFrame(items.astype(np.int8), columns=ITEMS)
    survey.insert(0, "staff_id", ids[who])
    days = np.datetime64("2026-09-01") + rng.integers(0, 40, N_RESPONSES).astype("timedelta64[D]")
    survey.insert(1, "completed", np.datetime_as_string(days, unit="D"))
    survey.to_csv(folder / "survey.csv", index=False)
    size = sum((folder / f).stat().st_size for f in ("roster.csv", "survey.csv")) / 1e6
    return f"roster.csv ({N_STAFF:,} staff) and survey.csv ({N_RESPONSES:,} rows): {size:.0f} MB"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_stage(stage: str, folder: Path, ri_draws: int) -> dict:
    """One stage in this (fresh) process: its seconds, peak RSS and a line on what it did."""
    if stage == "inputs":
        began = time.perf_counter()
        what = write_inputs(folder, ri_draws)
        return {"seconds": time.perf_counter() - began, "peak_mb": _peak_mb(), "what": what}
    from prefect import flow

    from flows.progress import listening
    from flows.tasks import embedded_prefect

    def progress(label: str, done: int, total: int) -> None:
        # to stderr, with the time: a stage stopped by --stage-timeout shows where it was
        stamp = time.strftime("%H:%M:%S")
        print(f"{stamp} progress: {label} {done}/{total}", file=sys.stderr, flush=True)

    design = str(folder / "national_wellbeing.yaml")
    with embedded_prefect(), listening(progress):
        flow(lambda: None, name="warm-up")()  # Prefect's temporary server, not timed
        floor = _peak_mb()
        began = time.perf_counter()
        if stage == "randomise":
            from flows.randomise import randomise_flow

            done = randomise_flow(design, str(folder / "roster.csv"))
            what = {k: v for k, v in done.items() if isinstance(v, (int, str))}
        elif stage == "ingest":
            from flows.outcomes import outcomes_ingest_flow

            done = outcomes_ingest_flow(design, str(folder / "survey.csv"))
            what = {k: v for k, v in done.items() if isinstance(v, (int, str))}
        elif stage == "analyse":
            from flows.analyse import analyse_flow

            done = analyse_flow(design)
            results = json.loads(Path(done["results"]).read_text())
            primary = results["outcomes"][0]["estimates"][0]
            what = {
                "results": done["results"],
                "n": primary.get("n"),
                "estimate": primary.get("estimate"),
                "ri_p_value": primary.get("ri_p_value"),
            }
        else:
            from flows.report import report_flow

            done = report_flow(design)
            what = done["reports"]
        seconds = time.perf_counter() - began
    return {"seconds": seconds, "peak_mb": _peak_mb(), "floor_mb": floor, "what": what}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument(
        "--stage-timeout",
        type=float,
        default=3600,
        help="Seconds a stage may take before it is stopped and reported (default 3600).",
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="Fraction of the national size (a quick check)."
    )
    parser.add_argument(
        "--ri-draws", type=int, default=100, help="Randomisation-inference draws (default 100)."
    )
    args = parser.parse_args()
    global N_STAFF, N_RESPONSES
    N_STAFF, N_RESPONSES = int(N_STAFF * args.scale), int(N_RESPONSES * args.scale)
    if args.stage:  # a child: one stage, one JSON line
        print(json.dumps(run_stage(args.stage, Path(args.folder), args.ri_draws), default=str))
        return
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"National trial: {N_STAFF:,} staff in {N_ORGANISATIONS} organisations, "
        f"{N_RESPONSES:,} survey responses, RI with {args.ri_draws} draws; "
        f"{os.cpu_count()} cores, load average {load} at the start.",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="trialflow-national-") as tmp:
        folder = Path(tmp)
        env = {**os.environ, "TRIALFLOW_HOME": str(folder / "home")}
        # Prefect's temporary server can take minutes to start on a loaded machine
        env.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")
        total = 0.0
        for stage in STAGES:
            began = time.perf_counter()
            try:
                child = subprocess.run(
                    [sys.executable, __file__, "--stage", stage, "--folder", tmp]
                    + ["--ri-draws", str(args.ri_draws), "--scale", str(args.scale)],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                    timeout=args.stage_timeout,
                )
            except subprocess.TimeoutExpired as exc:
                print(
                    f"  {stage:10s} STOPPED: not done after {args.stage_timeout:.0f} s "
                    "(--stage-timeout). Its last log lines:"
                )
                tail = (exc.stderr or b"").decode(errors="replace").strip().splitlines()[-10:]
                print("    " + "\n    ".join(tail))
                sys.exit(1)
            wall = time.perf_counter() - began
            total += wall
            if child.returncode:
                print(f"  {stage:10s} FAILED after {wall:.1f} s (exit {child.returncode}):")
                print("    " + "\n    ".join(child.stderr.strip().splitlines()[-15:]))
                sys.exit(1)
            done = json.loads(child.stdout.strip().splitlines()[-1])
            floor = f", Prefect floor {done['floor_mb']:.0f} MB" if "floor_mb" in done else ""
            print(
                f"  {stage:10s} {done['seconds']:7.1f} s   peak RSS {done['peak_mb']:7.0f} MB"
                f"{floor}   (process wall {wall:.1f} s)   {done['what']}",
                flush=True,
            )
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(
            f"  all stages: {total:.0f} s wall, processes included; load average {load} at the end."
        )


if __name__ == "__main__":
    main()
