"""The store's schema under Alembic (flows.migrations), on SQLite and PostgreSQL.

``data/store_4effa0d.db`` is a store written by trialflow at commit 4effa0d
(before migrations and before this session's schema changes): the demo's
coffee trial, randomised, deliveries and surveys ingested.  Built with::

    git archive 4effa0d | tar -x -C /tmp/old
    TRIALFLOW_HOME=/tmp/h PYTHONPATH=/tmp/old .venv/bin/python -c \\
        "from flows.demo import demo_flow; demo_flow(['coffee'], pdf=False)"

``data/store_4effa0d_results.json`` holds that run's analysis numbers.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from flows.audit import CHAIN_STARTED, verify_audit_chain
from flows.migrations import StoreTooNewError, head_revision, store_revision
from flows.store import Store, metadata
from flows.store.responses import outcome_values_long

DATA = Path(__file__).resolve().parent / "data"
OLD_STORE = DATA / "store_4effa0d.db"


def _old_rows() -> dict[str, pd.DataFrame]:
    with sqlite3.connect(OLD_STORE) as conn:
        names = [
            n
            for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not n.startswith("sqlite_")
        ]
        return {n: pd.read_sql_query(f"SELECT * FROM {n}", conn) for n in names}


@pytest.fixture
def old_store(_isolated_home: Path) -> Path:
    """A copy of the committed old store, as the default store of this test's home."""
    _isolated_home.mkdir(parents=True, exist_ok=True)
    path = _isolated_home / "trialflow.db"
    shutil.copyfile(OLD_STORE, path)
    return path


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_head_builds_exactly_the_schema_of_flows_store(backend, request):
    # A table or column added to flows/store/schema.py without a revision shows up here as a diff.
    url = request.getfixturevalue("postgres_url") if backend == "postgresql" else None
    store = Store(url)
    with store.engine.connect() as conn:
        assert store_revision(conn) == head_revision()
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diffs == []


def test_a_forgotten_revision_is_a_diff(_isolated_home):
    # compare_metadata must see a column the migrations do not make, or the test above proves nothing
    store = Store()
    extra = sa.MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(extra)
    extra.tables["stage_runs"].append_column(sa.Column("added_later", sa.Integer))
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), extra)
    assert [(d[0], d[3].name) for d in diffs] == [("add_column", "added_later")]


def test_a_store_from_before_migrations_upgrades_in_place_with_every_row_kept(old_store):
    before = _old_rows()
    assert "alembic_version" not in before and "row_hash" not in before["audit_log"]
    assert sum(len(f) for f in before.values()) > 8000  # the fixture holds a real trial

    store = Store()

    with store.engine.connect() as conn:
        assert store_revision(conn) == head_revision()
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    with sqlite3.connect(old_store) as conn:  # read back as the old rows were read
        after = {n: pd.read_sql_query(f"SELECT * FROM {n}", conn) for n in before}
    for name, old in before.items():
        new = after[name]
        if name == "audit_log":
            # the upgrade appends one row sealing the old rows into the hash chain
            seal = new.iloc[len(old) :]
            assert seal["event"].tolist() == [CHAIN_STARTED]
            assert json.loads(seal["details_json"].iloc[0])["unhashed_rows"] == len(old)
            new = new.iloc[: len(old)]
        if name == "outcome_values":
            # 0004: survey values moved to one row per response, HR measures stayed long;
            # every value reads back through the readers' one door, equal to the bit
            with store.engine.connect() as conn:
                new = _as_old_rows(outcome_values_long(conn, "coffee"))
            old = _sorted_values(old)
            assert after["outcome_values"]["source_file"].unique().tolist() == ["hr_extract.csv"]
        assert len(new) == len(old), name
        # every old column of every row, value for value
        pd.testing.assert_frame_equal(
            new[old.columns], old, check_dtype=False, check_exact=True, obj=name
        )
    # 0005: whose delivery log each file and quarantined row was; the old trial has one
    # intervention, so every old row says none, and a file is its bytes and its intervention
    for name in ("ingested_files", "quarantine"):
        assert "intervention" not in before[name] and len(after[name]) > 0
        assert after[name]["intervention"].isna().all(), name
    unique = {
        u["name"]: u["column_names"]
        for u in sa.inspect(store.engine).get_unique_constraints("ingested_files")
    }
    assert unique["uq_ingested_file"] == [
        "trial_id",
        "kind",
        "file_hash",
        "timepoint",
        "intervention",
    ]
    responses = pd.read_sql_table("survey_responses", store.engine)
    survey = before["outcome_values"][before["outcome_values"]["source_file"] != "hr_extract.csv"]
    # one row per response: a participant's file row at a timepoint
    assert len(responses) == len(survey.drop_duplicates(["participant_id", "timepoint"])) > 0
    assert responses["n_values"].sum() == len(survey)
    verified = verify_audit_chain(store)
    assert verified.ok, [p.line() for p in verified.problems]
    assert verified.rows == len(before["audit_log"]) + 1

    # reopening changes nothing more
    Store()
    assert len(pd.read_sql_table("audit_log", store.engine)) == len(before["audit_log"]) + 1


def _sorted_values(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["participant_id", "timepoint", "measure"], ignore_index=True)


def _as_old_rows(long: pd.DataFrame) -> pd.DataFrame:
    """outcome_values_long's frame as the old table's rows read by sqlite3 (dates as text)."""
    rows = long.assign(
        trial_id="coffee",
        collected_on=[None if d is None else str(d) for d in long["collected_on"]],
    ).drop(columns="part")
    # built as pandas builds a query's rows, so missing values compare as read_sql's do
    rows = pd.DataFrame.from_records(
        [tuple(r) for r in rows.itertuples(index=False)], columns=list(rows.columns)
    )
    return _sorted_values(rows)


def test_0004_downgraded_puts_every_survey_value_back_as_it_was(old_store):
    # the move of 0004 loses nothing either way: down to 0003, the long rows are the old ones
    from alembic import command

    from flows.migrations import _config

    before = _old_rows()["outcome_values"]
    store = Store()
    with store.engine.begin() as conn:
        command.downgrade(_config(conn), "0003_quarantine_row_key")
    with sqlite3.connect(old_store) as conn:
        after = pd.read_sql_query("SELECT * FROM outcome_values", conn)
        tables = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "survey_responses" not in tables
    pd.testing.assert_frame_equal(
        _sorted_values(after), _sorted_values(before), check_dtype=False, check_exact=True
    )


def test_0005_downgraded_drops_the_intervention_columns_and_keeps_every_row(old_store):
    from alembic import command

    from flows.migrations import _config

    before = _old_rows()
    store = Store()
    with store.engine.begin() as conn:
        command.downgrade(_config(conn), "0004_survey_responses")
    with sqlite3.connect(old_store) as conn:
        for name in ("ingested_files", "quarantine"):
            after = pd.read_sql_query(f"SELECT * FROM {name}", conn)
            assert "intervention" not in after.columns
            assert len(after) == len(before[name]) > 0, name


def test_the_upgraded_old_store_analyses_to_the_same_numbers(old_store):
    from analysis.results import analyse_trial
    from flows.export import load_analysis_dataset
    from trial_designs.design import TrialDesign

    expected = json.loads((DATA / "store_4effa0d_results.json").read_text())
    store = Store()
    design = TrialDesign.model_validate(json.loads(store.trial("coffee")["design_json"]))
    frame = load_analysis_dataset(design, store)
    results = analyse_trial(frame, design, ri_draws=0)
    got = {o["name"]: o for o in results["outcomes"]}
    assert set(got) == set(expected["outcomes"])
    for name, want in expected["outcomes"].items():
        arms = [{k: a[k] for k in ("arm", "n", "mean", "sd")} for a in got[name]["arms"]]
        assert _close(arms, want["arms"]), name
        estimates = [
            {k: e[k] for k in ("arm", "estimate", "std_error", "n", "p_value")}
            for e in got[name]["estimates"]
        ]
        assert _close(estimates, want["estimates"]), name


def _close(got: list[dict], want: list[dict]) -> bool:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.keys() == w.keys()
        for key, value in w.items():
            if isinstance(value, float):
                assert g[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
            else:
                assert g[key] == value, key
    return True


def test_a_half_upgraded_store_from_the_ad_hoc_upgrade_is_finished(old_store):
    # This session's code before migrations added columns one by one on open: a store it had
    # opened has some of them and no alembic_version. The migration completes it.
    with sqlite3.connect(old_store) as conn:
        conn.execute("ALTER TABLE audit_log ADD COLUMN os_user VARCHAR(128)")
        conn.execute("ALTER TABLE participants ADD COLUMN superseded_in_round INTEGER")
    store = Store()
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    assert verify_audit_chain(store).ok


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_store_newer_than_the_code_is_refused(backend, request):
    url = request.getfixturevalue("postgres_url") if backend == "postgresql" else None
    store = Store(url)
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
    shown = sa.make_url(store.url).render_as_string(hide_password=True)
    with pytest.raises(StoreTooNewError) as refused:
        Store(store.url)
    message = str(refused.value)
    assert shown in message
    assert "'0099_from_the_future'" in message
    assert f"'{head_revision()}'" in message
    assert "newer trialflow" in message
    # nothing was written: still the future revision
    with store.engine.connect() as conn:
        assert store_revision(conn) == "0099_from_the_future"


def test_a_postgresql_store_from_before_migrations_upgrades_in_place(postgres_url):
    # The same old rows, in a PostgreSQL store at the baseline schema as 4effa0d created it.
    from alembic import command

    from flows.migrations import _config

    old = sa.create_engine(f"sqlite:///{OLD_STORE}")
    old_columns = {
        name: [c["name"] for c in sa.inspect(old).get_columns(name)]
        for name in sa.inspect(old).get_table_names()
    }
    server = sa.create_engine(postgres_url)
    before: dict[str, list[tuple]] = {}
    with server.begin() as conn:
        command.upgrade(_config(conn), "0001_baseline")
        conn.execute(sa.text("DROP TABLE alembic_version"))  # 4effa0d had none
        for table in metadata.sorted_tables:  # parents first
            if table.name not in old_columns:
                continue
            columns = [table.c[n] for n in old_columns[table.name]]
            key = list(table.primary_key.columns)
            with old.connect() as source:
                rows = [
                    dict(r) for r in source.execute(sa.select(*columns).order_by(*key)).mappings()
                ]
            before[table.name] = [tuple(r.values()) for r in rows]
            conn.execute(table.insert(), rows)
            serial = [c.name for c in key if c.autoincrement is True]
            for column in serial:  # as if the rows had been inserted one by one
                conn.execute(
                    sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column}'), "
                        f"(SELECT max({column}) FROM {table.name}))"
                    )
                )
        # and its guards, as 4effa0d meant to make them (its own attempt failed through
        # psycopg, which read RAISE's '%' as a placeholder)
        conn.execute(
            sa.text(
                "CREATE FUNCTION trialflow_append_only() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$ LANGUAGE plpgsql"
            )
        )
        for name in ("allocations", "audit_log"):
            conn.execute(
                sa.text(
                    f"CREATE TRIGGER {name}_append_only BEFORE UPDATE OR DELETE ON {name} "
                    "FOR EACH ROW EXECUTE FUNCTION trialflow_append_only()"
                )
            )
    assert sum(len(rows) for rows in before.values()) > 8000

    store = Store(postgres_url)

    with store.engine.connect() as conn:
        assert store_revision(conn) == head_revision()
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        for name, rows in before.items():
            table = metadata.tables[name]
            columns = [table.c[n] for n in old_columns[name]]
            got = conn.execute(sa.select(*columns).order_by(*table.primary_key.columns)).all()
            if name == "outcome_values":  # survey values moved to survey_responses (0004)
                long = outcome_values_long(conn, "coffee")
                got = sorted(
                    (
                        "coffee",
                        *r[:3],
                        None if r[3] != r[3] else r[3],  # NaN is the NULL it was
                        *r[4:8],
                    )
                    for r in long.itertuples(index=False)
                )
                assert [tuple(g) for g in got] == [tuple(r) for r in rows]  # columns in order
                assert long["part"].dropna().eq(0).all() and long["part"].notna().sum() > 5000
            if name == "audit_log":  # plus the row sealing the old ones into the chain
                assert got[-1].event == CHAIN_STARTED
                got = got[:-1]
            assert [tuple(r) for r in got] == rows, name
    verified = verify_audit_chain(store)
    assert verified.ok, [p.line() for p in verified.problems]
    with (
        pytest.raises(sa.exc.DBAPIError, match="audit_log is append-only"),
        store.engine.begin() as c,
    ):
        c.exec_driver_sql("DELETE FROM audit_log")
