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

A stage's process runs in its own session (process group), with its output in files,
and the parent waits for that process itself (``os.wait4``), not for the end of its
output: a stage killed by the kernel's OOM killer is reported at once, with its peak
RSS, although Prefect's temporary server (its child) still holds its files open.  The
whole group is then killed, as it is when ``--stage-timeout`` stops a stage.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
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
            import flows.randomise
            from flows.randomise import randomise_flow

            # the store's write (allocations, participants, PII, audit: one transaction) is
            # timed apart; the flow looks its task up by name when it runs
            write = flows.randomise.store_allocation
            timed: dict[str, float] = {}

            def timed_write(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
                started = time.perf_counter()
                try:
                    return write(*args, **kwargs)
                finally:
                    timed["write"] = time.perf_counter() - started

            flows.randomise.store_allocation = timed_write
            try:
                done = randomise_flow(design, str(folder / "roster.csv"))
            finally:
                flows.randomise.store_allocation = write
            what = {k: v for k, v in done.items() if isinstance(v, (int, str))}
            if timed.get("write"):
                what["store write"] = (
                    f"{timed['write']:.1f} s, {done['units'] / timed['write']:,.0f} units/s"
                )
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


@dataclass(frozen=True)
class StageRun:
    """How one stage's process ended: its exit code or signal, seconds, peak RSS, output."""

    exit_code: int | None  # None when a signal ended it
    signal: int | None
    seconds: float
    peak_mb: float  # the process's own high-water mark (ru_maxrss), even when killed
    timed_out: bool
    stdout: str
    log_tail: list[str]


def _tail(path: Path, lines: int) -> list[str]:
    """The last ``lines`` lines of a log that may be large (read from its end)."""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        handle.seek(max(0, handle.tell() - 64 * 1024))
        text = handle.read().decode(errors="replace")
    return text.strip().splitlines()[-lines:]


def _kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    # the stage's session: Prefect's temporary server (uvicorn) and anything else it started
    with contextlib.suppress(ProcessLookupError, PermissionError):  # nobody left in it
        os.killpg(pgid, sig)


def run_stage_process(
    command: list[str],
    *,
    env: dict[str, str],
    timeout: float,
    logs: Path,
    tail_lines: int = 15,
    poll: float = 0.2,
) -> StageRun:
    """Run ``command`` in its own session and wait for that process, not for its output.

    Its stdout and stderr go to files in ``logs`` (``stage.out``, ``stage.err``):
    with pipes, the parent waited for their end, which never came while a
    grandchild (Prefect's temporary server) held them open after the stage was
    SIGKILLed.  ``os.wait4`` gives the child's own peak RSS even when it was
    killed.  When it has ended, or after ``timeout`` seconds (SIGTERM, then
    SIGKILL 5 s later), its whole process group is killed.
    """
    logs.mkdir(parents=True, exist_ok=True)
    out_path, err_path = logs / "stage.out", logs / "stage.err"
    began = time.perf_counter()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        child = subprocess.Popen(
            command,
            env=env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    pid, status, usage, timed_out = child.pid, 0, None, False
    try:
        deadline = began + timeout
        while usage is None:
            done, status, rusage = os.wait4(pid, os.WNOHANG)
            if done:
                usage = rusage
            elif time.perf_counter() >= deadline and not timed_out:
                timed_out = True
                _kill_group(pid, signal.SIGTERM)
                deadline = time.perf_counter() + 5  # then SIGKILL, below
            elif timed_out and time.perf_counter() >= deadline:
                _kill_group(pid, signal.SIGKILL)
                deadline = float("inf")
            else:
                time.sleep(poll)
    finally:
        if usage is None:  # the parent itself was interrupted (Ctrl-C): leave nothing behind
            _kill_group(pid)
            _, status, usage = os.wait4(pid, 0)
        # the group outlives its leader while a member lives, so its id cannot be reused yet
        _kill_group(pid)
        child.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
    seconds = time.perf_counter() - began
    return StageRun(
        exit_code=os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        signal=os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        seconds=seconds,
        peak_mb=usage.ru_maxrss / 1024,  # KiB on Linux
        timed_out=timed_out,
        stdout=out_path.read_text(errors="replace"),
        log_tail=_tail(err_path, tail_lines),
    )


def failure_lines(stage: str, run: StageRun, timeout: float) -> list[str]:
    """What to print for a stage that did not finish (empty when it did); first line one line."""
    peak = f"peak RSS {run.peak_mb:,.0f} MB"
    if run.timed_out:
        head = (
            f"  {stage:10s} STOPPED: not done after {timeout:.0f} s (--stage-timeout); "
            f"{peak}; its process group was killed"
        )
    elif run.signal is not None:
        if run.signal == signal.SIGKILL:
            why = " (the kernel's OOM killer sends SIGKILL; see dmesg)"
        else:
            named = run.signal in signal.valid_signals()
            why = f" ({signal.Signals(run.signal).name})" if named else ""
        head = f"  {stage:10s} KILLED by signal {run.signal} after {run.seconds:.1f} s, {peak}{why}"
    elif run.exit_code:
        head = f"  {stage:10s} FAILED after {run.seconds:.1f} s (exit {run.exit_code}), {peak}"
    else:
        return []
    return [head, "    its last log lines:", *(f"    {line}" for line in run.log_tail)]


def exit_cleanly_when_stopped() -> None:
    """Turn SIGTERM and SIGHUP into SystemExit, so the stage runner's clean-up runs.

    ``timeout``, a CI runner or a closed terminal stops the parent with one of
    them; by default that ends it on the spot, and the stage, in a session of
    its own, would run on orphaned for as long as it takes.
    """

    def stopped(signum: int, _frame: object) -> None:
        raise SystemExit(f"bench_national: stopped by {signal.Signals(signum).name}")

    for stop in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, stopped)


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
    exit_cleanly_when_stopped()
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
            run = run_stage_process(
                [sys.executable, __file__, "--stage", stage, "--folder", tmp]
                + ["--ri-draws", str(args.ri_draws), "--scale", str(args.scale)],
                env=env,
                timeout=args.stage_timeout,
                logs=folder / "logs" / stage,
            )
            total += run.seconds
            failed = failure_lines(stage, run, args.stage_timeout)
            if failed:
                print("\n".join(failed), flush=True)
                sys.exit(1)
            done = json.loads(run.stdout.strip().splitlines()[-1])
            floor = f", Prefect floor {done['floor_mb']:.0f} MB" if "floor_mb" in done else ""
            print(
                f"  {stage:10s} {done['seconds']:7.1f} s   peak RSS {done['peak_mb']:7.0f} MB"
                f"{floor}   (process wall {run.seconds:.1f} s)   {done['what']}",
                flush=True,
            )
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(
            f"  all stages: {total:.0f} s wall, processes included; load average {load} at the end."
        )


if __name__ == "__main__":
    main()
