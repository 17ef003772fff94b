"""Ingest 1,000,000 survey responses (7 SWEMWBS items each) into SQLite: time per stage and memory.

    .venv/bin/python bench/bench_outcomes.py

An NHS-scale trial of 1,000,000 staff is stored (setup, not timed), and a
survey export with one response each, plus a sprinkling of bad rows, is
written as CSV.  A fresh process then runs the ingest's own steps on it, the
code the ``outcomes ingest`` flow's tasks run, without Prefect's
orchestration: read, load participants, check (great-expectations' share
timed apart), score, store (bulk insert timed apart) and write the validation
report.  The child's peak RSS is its high-water mark, so setup does not
count.  Target (issue 18.3): under 30 s and 2 GB.  Each stage prints its
wall and CPU seconds: on a machine shared with other work the CPU time is
the steadier figure.

Then, in the child and at full size, the store stage (one row per response,
its values as JSON: :mod:`flows.store.responses`) against the same values
written plainly (:func:`store_peers`): a bare ``sqlite3`` executemany of the
long rows the store held before (one value a row; the floor of that layout,
29.49 s when the store stage was 27.05 s) and one wide row per response with
a REAL column per measure (a schema per design, rejected).

Then three peers, side by side in this process, on samples: the store's bulk
insert against SQLAlchemy dict rows (``Store.insert_new``), the known-id
check as a great-expectations flag against GE's own ``in_set`` over the
trial's ids, and vectorised scoring against a row-by-row loop.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

N_RESPONSES = 1_000_000
N_BAD = 1_000  # unknown ids, out-of-range items, duplicates, dates outside the window
ITEMS = [f"swemwbs_{i}" for i in range(1, 8)]


def bench_design():
    from trial_designs.design import TrialDesign

    return TrialDesign.model_validate(
        {
            "id": "nhs_wellbeing",
            "title": "NHS-scale outcome benchmark",
            "question": "How fast is outcome ingestion?",
            "unit": "individual",
            "arms": [{"name": "control", "control": True}, {"name": "offer"}],
            "randomisation": {"method": "complete", "seed": 11},
            "roster": {"columns": {"id": "id", "organisation": "organisation", "team": "team"}},
            "outcomes": [
                {"name": "swemwbs", "instrument": "swemwbs", "score": "metric", "primary": True}
            ],
            "survey": {"columns": {"participant_id": "staff_id", "collected_on": "completed"}},
            "follow_up": {
                "recruitment_start": "2026-01-01",
                "randomisation": "2026-02-01",
                "baseline": "2026-01-15",
                "endline": "2026-09-01",
                "window_start": "2026-02-01",
                "window_end": "2026-10-31",
            },
        }
    )


def _ids(n: int) -> np.ndarray:
    return np.char.add("E", np.char.zfill(np.arange(n).astype(str), 7)).astype(object)


def store_trial(design, n: int) -> None:
    """Participants and allocations written straight into the tables (setup, not timed)."""
    import sqlite3

    from flows.store import Store

    store = Store()  # creates the tables
    ids = _ids(n)
    arms = np.where(np.random.default_rng(1).random(n) < 0.5, "control", "offer")
    now = dt.datetime(2026, 2, 1).isoformat(sep=" ")
    database = store.engine.url.database
    store.engine.dispose()
    with sqlite3.connect(database) as raw:  # setup only: no fsync, no foreign-key checks
        raw.execute("PRAGMA synchronous=OFF")
        raw.execute(
            "INSERT INTO trials VALUES (?, ?, ?, ?, 1, ?)",
            (design.id, design.title, design.design_hash, design.canonical_json(), now),
        )
        raw.executemany(
            "INSERT INTO participants (trial_id, participant_id, organisation, team, stratum, "
            "unit_id, enrolment, enrolled_at) VALUES (?, ?, ?, ?, 'all', ?, 'initial', ?)",
            (
                (design.id, p, f"Trust {i % 200:03d}", f"Team {i % 9000:04d}", p, now)
                for i, p in enumerate(ids)
            ),
        )
        raw.executemany(
            "INSERT INTO allocations (trial_id, round, unit_id, unit_kind, stratum, arm, sequence, "
            "sequence_position, allocated_at, design_hash, algorithm_version) "
            "VALUES (?, 1, ?, 'participant', 'all', ?, 'initial', ?, ?, ?, 'bench')",
            (
                (design.id, p, a, i, now, design.design_hash)
                for i, (p, a) in enumerate(zip(ids, arms, strict=True))
            ),
        )
        assert raw.execute("select count(*) from participants").fetchone()[0] == n


def survey_file(path: Path, n: int, rng: np.random.Generator) -> None:
    """One response per participant, 7 items 1-5, 2% with an item skipped, N_BAD bad rows."""
    items = np.clip(np.rint(3.3 + rng.normal(0, 0.8, (n, 1)) + rng.normal(0, 0.5, (n, 7))), 1, 5)
    frame = pd.DataFrame(items.astype(np.int8), columns=ITEMS).astype("Int8")
    frame.insert(0, "staff_id", _ids(n))
    days = np.datetime64("2026-09-01") + rng.integers(0, 40, n).astype("timedelta64[D]")
    frame.insert(1, "completed", np.datetime_as_string(days, unit="D"))
    bad = frame.sample(N_BAD, random_state=2).reset_index(drop=True)
    quarter = N_BAD // 4
    bad.loc[: quarter - 1, "staff_id"] = [f"X{i:07d}" for i in range(quarter)]
    bad.loc[quarter : 2 * quarter - 1, "swemwbs_3"] = 7
    bad.loc[2 * quarter : 3 * quarter - 1, "completed"] = "2027-03-01"
    bad.loc[3 * quarter :, "completed"] = "2026-10-20"  # a later second response: it wins
    missing = rng.random(n) < 0.02  # half-finished questionnaires
    frame.loc[missing, "swemwbs_4"] = pd.NA
    pd.concat([frame, bad], ignore_index=True).to_csv(path, index=False)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed_ingest(path: str, home: str, queue) -> None:  # noqa: ANN001 - runs in a child process
    """The ingest's steps, each timed; sends {stage: seconds} and the peak RSS back."""
    os.environ["TRIALFLOW_HOME"] = home
    import flows.outcomes as outcomes
    import intake.surveys as surveys
    from flows.sources import file_hash
    from flows.store import Store

    design = bench_design()
    times: dict[str, float] = {}
    cpu_times: dict[str, float] = {}
    ge_seconds = [0.0]
    insert_seconds = [0.0]
    real_run_rules, real_insert = surveys.run_rules, Store.insert_new_many

    def timed_rules(*args, **kwargs):
        start = time.perf_counter()
        try:
            return real_run_rules(*args, **kwargs)
        finally:
            ge_seconds[0] += time.perf_counter() - start

    def timed_insert(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return real_insert(self, *args, **kwargs)
        finally:
            insert_seconds[0] += time.perf_counter() - start

    surveys.run_rules = timed_rules  # the survey checks call it by this module's name
    Store.insert_new_many = timed_insert
    start = time.perf_counter()
    import great_expectations  # noqa: F401 - the import itself is part of the check's cost

    times["import great-expectations"] = time.perf_counter() - start

    def stage(name, fn, *args):  # noqa: ANN001, ANN202
        began, cpu = time.perf_counter(), time.process_time()
        result = fn(*args)
        times[name] = time.perf_counter() - began
        cpu_times[name] = time.process_time() - cpu
        return result

    digest = stage("fingerprint (sha256)", file_hash, path)
    frame, mapping = stage("read CSV", outcomes.read_outcome_file.fn, path, design, "survey")
    known = stage("load participants", outcomes.load_participant_ids.fn, design)
    problems = stage(
        "check",
        outcomes.check_rows.fn,
        frame,
        design,
        "survey",
        known,
        {"wrqol_scoring": None},
        "endline",  # each response is checked against this timepoint's window
    )
    rows = stage("score", outcomes.score_task.fn, frame, design, None, problems)
    stored = stage(
        "store (one transaction)",
        outcomes.store_outcomes.fn,
        design,
        path,
        digest,
        "survey",
        "endline",
        rows,
        problems,
        mapping,
        len(frame),
    )
    stage(
        "validation report",
        outcomes.write_validation_report.fn,
        design,
        path,
        "survey",
        "endline",
        stored,
    )
    peak_mb = _peak_mb()  # the ingest's own high-water mark, before the peers below
    load_at_end = os.getloadavg()[0]
    queue.put(
        {
            "times": times,
            "cpu": cpu_times,
            "store_peers": store_peers(design, rows, Path(home).parent),
            "ge": ge_seconds[0],
            "insert": insert_seconds[0],
            "summary": stored.summary.line(),
            "problems": stored.problems["rule"].value_counts().to_dict(),
            "values": len(rows) * len(rows.measures),
            "peak_mb": peak_mb,
            "load_at_end": load_at_end,
        }
    )


def store_peers(design, rows, folder: Path) -> list[tuple[str, float, float, float]]:  # noqa: ANN001
    """(peer, wall s, CPU s, file MB): the same values written without trialflow, full size.

    - the floor: the same tuples by plain ``sqlite3`` executemany into an empty
      table of the store's schema (one transaction, no key lookups, no
      quarantine, no file record);
    - the other layout: the same values as one wide row per response (the
      nine values as columns; key trial, participant, timepoint), the storage
      issue 18.3 asks to weigh against the long rows.
    """
    import sqlite3

    import sqlalchemy as sa

    from flows.store import outcome_values
    from intake.outcome_rows import OUTCOME_COLUMNS

    out = []
    long_path, wide_path = folder / "peer_long.db", folder / "peer_wide.db"
    outcome_values.metadata.create_all(
        sa.create_engine(f"sqlite:///{long_path}"), tables=[outcome_values]
    )
    keys = rows.keys
    n = len(keys)
    wide_rows = zip(
        [design.id] * n,
        keys["participant_id"].tolist(),
        ["endline"] * n,
        keys["collected_on"].tolist(),
        ["survey_endline.csv"] * n,
        keys["source_row"].astype(int).tolist(),
        *[[None if v != v else v for v in rows.values[m].tolist()] for m in rows.measures],
        strict=True,
    )
    columns = ", ".join(f'"{m}" FLOAT' for m in rows.measures)
    marks = ", ".join("?" * (6 + len(rows.measures)))
    jobs = (
        (
            "plain sqlite3 executemany, long rows (old layout)",
            long_path,
            None,
            f"INSERT INTO outcome_values ({', '.join(OUTCOME_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(OUTCOME_COLUMNS))})",
            lambda: rows.tuples(
                trial_id=design.id, timepoint="endline", source_file="survey_endline.csv"
            ),
        ),
        (
            "one wide row per response, REAL columns",
            wide_path,
            "CREATE TABLE wide (trial_id TEXT NOT NULL, participant_id TEXT NOT NULL, "
            "timepoint TEXT NOT NULL, collected_on DATE, source_file TEXT NOT NULL, "
            f"source_row INTEGER NOT NULL, {columns}, "
            "PRIMARY KEY (trial_id, participant_id, timepoint))",
            f"INSERT INTO wide VALUES ({marks})",
            lambda: wide_rows,
        ),
    )
    for what, path, create, insert, make_rows in jobs:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        if create:
            conn.execute(create)
        began, cpu = time.perf_counter(), time.process_time()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(insert, make_rows())
        conn.execute("COMMIT")
        conn.close()
        out.append((what, time.perf_counter() - began, time.process_time() - cpu, _file_mb(path)))
    return out


def _file_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 1e6


def peers(home: Path) -> list[tuple[str, float, float]]:
    """(what, ours in s, peer in s) on samples, in this process."""
    from analysis.instruments import score_instrument
    from flows.store import Store, survey_responses
    from flows.store.responses import RESPONSE_COLUMNS, response_tuples
    from intake.outcome_rows import OutcomeRows
    from intake.rules import Rule, known_flags, run_rules
    from trial_designs.instruments import SWEMWBS_METRIC

    rng = np.random.default_rng(5)
    out = []
    # 1. storing 50,000 responses x 9 values: driver tuples against SQLAlchemy dict rows
    n = 50_000
    values = pd.DataFrame(rng.integers(1, 6, (n, 9)).astype(float), columns=[*ITEMS, "r", "m"])
    keys = pd.DataFrame(
        {"participant_id": _ids(n), "collected_on": "2026-09-01", "source_row": np.arange(n) + 2}
    )
    rows = OutcomeRows(keys, values, {})
    timings = []
    for label, bulk in (("ours", True), ("peer", False)):
        store = Store(f"sqlite:///{home / f'peer_{label}.db'}")
        tuples = response_tuples(rows, trial_id="t", timepoint="endline", source_file="f.csv")
        began = time.perf_counter()
        with store.transaction() as conn:
            if bulk:
                store.insert_new_many(conn, survey_responses, RESPONSE_COLUMNS, tuples)
            else:  # SQLAlchemy's Date type wants date objects, so the peer gets them
                day = dt.date(2026, 9, 1)
                dicts = [
                    dict(zip(RESPONSE_COLUMNS, t, strict=True)) | {"collected_on": day}
                    for t in tuples
                ]
                store.insert_new(conn, survey_responses, dicts)
        timings.append(time.perf_counter() - began)
    out.append(("store 50,000 responses: insert_new_many vs insert_new (dicts)", *timings))
    # 2. the known-id check on 50,000 rows against 50,000 ids: a GE flag vs GE's in_set
    n = 50_000
    ids = pd.Series(_ids(n)).astype("str")
    frame = pd.DataFrame({"source_row": np.arange(n) + 2, "participant_id": ids})
    known = pd.Index(ids)
    run_rules(frame.head(10), [Rule("warm-up", "participant_id", "not_null", "x")])
    began = time.perf_counter()
    run_rules(
        frame.assign(_known=known_flags(ids, known)),
        [Rule("known", "_known", "in_set", "x", {"value_set": [1.0]}, "participant_id")],
    )
    flag = time.perf_counter() - began
    began = time.perf_counter()
    run_rules(frame, [Rule("known", "participant_id", "in_set", "x", {"value_set": list(known)})])
    out.append(
        (
            "known-id check, 50,000 rows: flag vs GE in_set over the ids",
            flag,
            time.perf_counter() - began,
        )
    )
    # 3. scoring 100,000 responses: vectorised vs a loop over rows
    n = 100_000
    items = pd.DataFrame(rng.integers(1, 6, (n, 7)).astype(float), columns=ITEMS)
    began = time.perf_counter()
    score_instrument(items, instrument="swemwbs")
    vectorised = time.perf_counter() - began
    began = time.perf_counter()
    [SWEMWBS_METRIC[int(sum(row)) - 7] for row in items.itertuples(index=False)]
    out.append(
        (
            "score 100,000 SWEMWBS: score_instrument vs a row loop",
            vectorised,
            time.perf_counter() - began,
        )
    )
    return out


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="trialflow-bench-outcomes-") as tmp:
        tmp = Path(tmp)
        home = tmp / "home"
        os.environ["TRIALFLOW_HOME"] = str(home)
        os.environ.pop("TRIALFLOW_DATABASE_URL", None)
        began = time.perf_counter()
        store_trial(bench_design(), N_RESPONSES)
        path = tmp / "survey_endline.csv"
        survey_file(path, N_RESPONSES, np.random.default_rng(3))
        print(
            f"setup (not timed): {N_RESPONSES:,} participants stored, "
            f"{path.stat().st_size / 1e6:.0f} MB CSV, {time.perf_counter() - began:.1f} s"
        )
        load_at_start = os.getloadavg()[0]
        context = mp.get_context("spawn")
        queue = context.Queue()
        child = context.Process(target=timed_ingest, args=(str(path), str(home), queue))
        child.start()
        result = queue.get()
        child.join()
        times = result["times"]
        total = sum(v for k, v in times.items() if k != "import great-expectations")
        ge = result["ge"] + times["import great-expectations"]
        print(f"\ningest of {N_RESPONSES + N_BAD:,} rows ({result['values']:,} values stored)")
        cpu = result["cpu"]
        database = home / "trialflow.db"
        ours = (times["store (one transaction)"], cpu["store (one transaction)"])
        floor = result["store_peers"][0]  # the old layout's long rows, plain executemany
        print(f"  {'stage':<28} {'wall':>9} {'CPU':>9}   peer: {floor[0]}")
        for name, seconds in times.items():
            peer = ""
            if name == "store (one transaction)":
                peer = f"   {floor[1]:7.2f} s {floor[2]:7.2f} s  ({floor[1] / seconds:.1f}x ours)"
            print(f"  {name:<28} {seconds:7.2f} s {cpu.get(name, float('nan')):7.2f} s{peer}")
        cpu_total = sum(cpu.values())
        print(f"  {'total (stages, no import)':<28} {total:7.2f} s {cpu_total:7.2f} s")
        print(
            f"  great-expectations: {result['ge']:.2f} s validating + "
            f"{times['import great-expectations']:.2f} s import = {ge:.2f} s, "
            f"{ge / (total + times['import great-expectations']):.0%} of the ingest"
        )
        print(f"  bulk insert inside the store stage: {result['insert']:.2f} s")
        print(f"  peak RSS of the ingest process: {result['peak_mb']:,.0f} MB   target < 2,048 MB")
        print(f"  database file: {database.stat().st_size / 1e6:,.0f} MB")
        print(f"  {result['summary']}")
        print(f"  quarantined by rule: {result['problems']}")
        print(f"\nthe store stage against the same {result['values']:,} values written plainly")
        print(f"  {'':<52} {'wall':>9} {'CPU':>9} {'file':>9}  peer / ours (wall, CPU)")
        print(
            f"  {'trialflow store stage (one JSON row per response)':<52} {ours[0]:7.2f} s "
            f"{ours[1]:7.2f} s {database.stat().st_size / 1e6:6,.0f} MB"
        )
        for what, wall, peer_cpu, mb in result["store_peers"]:
            print(
                f"  {what:<52} {wall:7.2f} s {peer_cpu:7.2f} s {mb:6,.0f} MB  "
                f"{wall / ours[0]:.1f}x, {peer_cpu / ours[1]:.1f}x"
            )
        verdict = "met" if total < 30 else "missed"
        print(
            f"\n{'1M' if N_RESPONSES == 1_000_000 else f'{N_RESPONSES:,}'} survey rows: "
            f"{total:.2f} s   target < 30 s: {verdict}   "
            f"(issue 18.3, quiet 2-core machine: 81.8 s at first, 34.43 s with long rows)"
        )
        print(
            f"load average (1 min) at the ingest's start {load_at_start:.2f}, at its end "
            f"{result['load_at_end']:.2f}, on {os.cpu_count()} cores"
        )
        print("\npeers (same process, samples)")
        for what, ours, peer in peers(tmp):
            print(f"  {what}: {ours:.2f} s vs {peer:.2f} s, ratio {peer / ours:.1f}x")


if __name__ == "__main__":
    main()
