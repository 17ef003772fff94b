"""An ingest killed with SIGKILL in the middle of its bulk write leaves the store as it was.

The child process runs the real write path (:func:`flows.ingest.store_ingest`
around :meth:`Store.insert_new_many` of survey responses, one row each, as
:mod:`flows.outcomes` writes them) and is killed after its first chunk of rows
went to SQLite inside the open transaction, before the commit: no row of that
chunk, no quarantine row, no file record and no audit row may survive, and a
re-run then stores every row.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from flows.ingest import Written, store_ingest
from flows.sources import file_hash
from flows.store import Store, survey_responses
from flows.store.responses import RESPONSE_COLUMNS
from intake.quarantine import PROBLEM_COLUMNS
from tests.designs import DESIGNS
from trial_designs.design import load_design

TABLES = ("survey_responses", "quarantine", "ingested_files", "audit_log")
N_ROWS = 120_000  # three chunks of Store.insert_new_many's 50,000
MID_WRITE = "first chunk written, not committed"


def _rows(n: int, *, pause_after: int | None = None):  # noqa: ANN202 - a generator of tuples
    for i in range(n):
        if i == pause_after:  # the first chunk is in the open transaction now
            print(MID_WRITE, flush=True)
            time.sleep(600)
        yield (
            "goal_setting",
            f"P{i:07d}",
            "endline",
            0,
            "2026-09-01",
            "f.csv",
            i + 2,
            2,
            f'{{"m_1":{float(i % 7)!r},"m":{float(i % 5)!r}}}',
            '{"m":"complete"}',
        )


def ingest(file: str, *, pause: bool) -> None:
    """Store N_ROWS survey responses, one bad row and the file's record in one transaction."""
    design = load_design(DESIGNS / "goal_setting.yaml")
    store = Store()
    problems = pd.DataFrame(
        [[N_ROWS + 2, "m", "item_in_range", "9", "out of range"]], columns=PROBLEM_COLUMNS
    )

    def write(conn: sa.Connection) -> Written:
        rows = _rows(N_ROWS, pause_after=50_000 if pause else None)
        added = store.insert_new_many(conn, survey_responses, RESPONSE_COLUMNS, rows)
        return Written(added, problems)

    store_ingest(
        store,
        design,
        path=file,
        digest=file_hash(file),
        kind="survey",
        timepoint="endline",
        rows_read=N_ROWS + 1,
        write=write,
    )


def _counts() -> dict[str, int]:
    with Store().engine.connect() as conn:
        return {t: conn.execute(sa.text(f"select count(*) from {t}")).scalar_one() for t in TABLES}


def test_sigkill_mid_bulk_write_leaves_the_store_as_before_and_a_rerun_completes(tmp_path):
    file = tmp_path / "survey.csv"
    file.write_text("participant_id,m\nP0000000,1\n")
    store = Store()
    with store.transaction() as conn:  # something stored before, which must stay as it is
        store.insert_new_many(conn, survey_responses, RESPONSE_COLUMNS, _rows(10))
    store.engine.dispose()
    before = _counts()
    code = f"from tests.flows.test_ingest_atomic import ingest; ingest({str(file)!r}, pause=True)"
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        env=os.environ.copy(),  # the test's TRIALFLOW_HOME
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen = ""
    while line := child.stdout.readline():
        seen += line
        if MID_WRITE in line:
            break
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    assert MID_WRITE in seen, seen[-2000:]
    assert child.returncode == -signal.SIGKILL
    # the killed writer's 50,000 rows sat in the WAL uncommitted: a new reader sees none
    assert _counts() == before
    with Store().engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
    ingest(str(file), pause=False)  # the lock died with the writer: a re-run goes through
    after = _counts()
    assert after["survey_responses"] == before["survey_responses"] + N_ROWS - 10
    assert after["quarantine"] == before["quarantine"] + 1
    assert after["ingested_files"] == before["ingested_files"] + 1
