"""Outcome ingestion: the checks, scoring and store split as plain functions, then the flow."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from analysis.hr_outcomes import sickness_absence
from analysis.instruments import SWEMWBS_METRIC
from flows.outcomes import (
    OutcomeRows,
    check_hr_rows,
    check_survey_rows,
    hr_measures,
    outcomes_ingest_flow,
    score_survey,
    separate_stored,
    source_options,
    survey_fields,
)
from flows.sources import SourceError
from flows.store import Store, outcome_values
from trial_designs.design import load_design
from trial_designs.randomise import randomise

DESIGNS = Path(__file__).resolve().parents[2] / "trial_designs"
GOLDEN = Path(__file__).resolve().parents[1] / "trial_designs" / "golden"
COFFEE = load_design(DESIGNS / "coffee.yaml")
GOALS = load_design(DESIGNS / "goal_setting.yaml")
ITEMS = [f"swemwbs_{i}" for i in range(1, 8)]

# The tests that write to the store run on SQLite and on PostgreSQL (issue 18.1).
on_both = pytest.mark.usefixtures("store_backend")


def _response(pid: str | None, day: str | None = "2020-03-12", answer: int = 3, **cells) -> dict:
    return {"participant_id": pid, "collected_on": day, **dict.fromkeys(ITEMS, str(answer)),
            "feeling_valued": "6", **cells}  # fmt: skip


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["participant_id", "collected_on", *ITEMS, "feeling_valued"])
    frame.insert(0, "source_row", range(2, len(frame) + 2))
    return frame


def _problem_list(problems: pd.DataFrame) -> list[tuple]:
    return list(problems[["source_row", "column", "rule"]].itertuples(index=False, name=None))


# ---------------------------------------------------------------- survey checks (pure)


def test_every_kind_of_bad_survey_row_is_found_with_its_rule():
    known = ["A", "B", "C", "D", "E", "F"]
    frame = _frame(
        [
            _response("A"),  # 2 good
            _response("STRANGER"),  # 3 not in the trial
            _response(None),  # 4 no id
            _response("B", swemwbs_3="6"),  # 5 out of range
            _response("C", feeling_valued="n/a"),  # 6 not a number
            _response("D", day="2031-01-01"),  # 7 after follow-up
            _response("E", day="12/03/2020"),  # 8 not an ISO date
            _response("F", day=None),  # 9 no date
            {"participant_id": "F", "collected_on": "2020-03-01"},  # 10 nothing answered
        ]
    )
    problems = check_survey_rows(frame, COFFEE, known)
    assert _problem_list(problems) == [
        (3, "participant_id", "known_participant"),
        (4, "participant_id", "required_id"),
        (5, "swemwbs_3", "item_in_range"),
        (6, "feeling_valued", "item_in_range"),
        (7, "collected_on", "date_in_window"),
        (8, "collected_on", "valid_date"),
        (9, "collected_on", "valid_date"),
        (10, "swemwbs_1", "no_items_answered"),
    ]
    # values are shown as the file holds them, not as the checks derived them
    assert problems["value"].tolist() == [
        "STRANGER", None, "6", "n/a", "2031-01-01", "12/03/2020", None, None
    ]  # fmt: skip
    assert problems["message"].str.len().min() > 20


def test_the_window_starts_at_recruitment_so_baseline_may_precede_randomisation():
    fu = COFFEE.follow_up
    frame = _frame(
        [
            _response("A", day=str(fu.recruitment_start)),
            _response("B", day=str(fu.window_end)),
            _response("C", day=str(fu.recruitment_start - pd.Timedelta(days=1))),
            _response("D", day=str(fu.window_end + pd.Timedelta(days=1))),
        ]
    )
    problems = check_survey_rows(frame, COFFEE, ["A", "B", "C", "D"])
    assert _problem_list(problems) == [
        (4, "collected_on", "date_in_window"),
        (5, "collected_on", "date_in_window"),
    ]


def test_duplicate_rule_most_items_then_latest_date_then_last_row():
    complete_early = _response("A", day="2020-03-01")
    partial_late = _response("A", day="2020-03-20", swemwbs_2=None)
    same_day_first = _response("B", day="2020-03-05", answer=2)
    same_day_second = _response("B", day="2020-03-05", answer=4)
    early = _response("C", day="2020-03-02")
    late = _response("C", day="2020-03-09")
    rows = [complete_early, partial_late, same_day_first, same_day_second, early, late]
    problems = check_survey_rows(_frame(rows), COFFEE, ["A", "B", "C"])
    assert _problem_list(problems) == [
        (3, "participant_id", "duplicate_response"),  # fewer items, though later
        (4, "participant_id", "duplicate_response"),  # same items and day: the last row wins
        (6, "participant_id", "duplicate_response"),  # same items: the later date wins
    ]
    assert (
        problems["message"]
        .iloc[0]
        .startswith("This participant has another response at this timepoint; row 2 was kept")
    )
    # the winner does not depend on the order of the rows, except for exact ties
    for order in itertools.permutations([0, 1, 4, 5]):
        shuffled = _frame([rows[i] for i in order])
        kept = shuffled[
            ~shuffled["source_row"].isin(
                check_survey_rows(shuffled, COFFEE, ["A", "C"])["source_row"]
            )
        ]
        assert sorted(kept["collected_on"]) == ["2020-03-01", "2020-03-09"]


def test_a_bad_row_never_wins_a_duplicate_contest():
    rows = [_response("A", day="2020-03-01"), _response("A", day="2020-03-05", swemwbs_1="9")]
    problems = check_survey_rows(_frame(rows), COFFEE, ["A"])
    assert _problem_list(problems) == [(3, "swemwbs_1", "item_in_range")]


# ---------------------------------------------------------------- scoring (pure)


def test_scores_items_and_the_missing_item_rule_are_stored_together():
    frame = _frame(
        [_response("A", answer=3), _response("B", answer=4, swemwbs_5=None, feeling_valued=None)]
    )
    rows = score_survey(frame, COFFEE)
    assert rows.measures == [*ITEMS, "feeling_valued", "swemwbs_raw", "swemwbs_metric"]
    long = rows.long().set_index(["participant_id", "measure"])
    assert long.loc[("A", "swemwbs_metric"), "value"] == SWEMWBS_METRIC[21 - 7]
    assert long.loc[("A", "swemwbs_metric"), "rule"] == "complete"
    assert pd.isna(long.loc[("A", "swemwbs_1"), "rule"])
    assert np.isnan(long.loc[("B", "swemwbs_metric"), "value"])
    assert long.loc[("B", "swemwbs_metric"), "rule"] == "missing(1 item)"
    assert np.isnan(long.loc[("B", "swemwbs_5"), "value"])  # unanswered, and recorded as such
    assert long.loc[("B", "feeling_valued"), "rule"] == "missing(1 item)"
    assert set(long["collected_on"]) == {"2020-03-12"}
    # the store's tuples hold exactly the long rows, participant by participant
    tuples = list(rows.tuples(trial_id="coffee", timepoint="endline", source_file="f.csv", chunk=1))
    assert len(tuples) == len(long) == 2 * len(rows.measures)
    assert [t[1] for t in tuples] == sorted(t[1] for t in tuples)
    as_long = {(t[1], t[3]): (t[4], t[5]) for t in tuples}
    for (pid, measure), row in long.iterrows():
        value, rule = as_long[(pid, measure)]
        assert (value is None and np.isnan(row["value"])) or value == row["value"]
        assert rule == row["rule"] or (rule is None and pd.isna(row["rule"]))


def test_wrqol_is_scored_with_the_scoring_file_and_reverse_items():
    from analysis.instruments import load_scoring_file

    fields = survey_fields(GOALS)
    assert fields["swemwbs_1"] == "wb1" and fields["wrqol_23"] == "wrqol_q23"
    scoring = load_scoring_file()
    answers = {f: "5" for f in fields if f.startswith("wrqol_")}
    answers |= {f"wrqol_{i}": "1" for i in scoring["reverse"]}  # reverse-worded, disagreed with
    frame = pd.DataFrame(
        [
            {
                "participant_id": "A",
                "collected_on": "2020-01-20",
                **dict.fromkeys(ITEMS, "3"),
                "time_pressure": "5",
                "job_satisfaction": "5",
                **answers,
                **{f"cbi_work_{i}": "3" for i in range(1, 8)},  # goal_setting's burnout items
            }
        ]  # fmt: skip
    ).assign(source_row=2)
    long = score_survey(frame, GOALS, wrqol_scoring=scoring).long().set_index("measure")
    assert long.loc["wrqol_total", "value"] == 115.0


# ---------------------------------------------------------------- HR (pure)


def _hr(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(
        rows,
        columns=[
            "participant_id",
            "record_type",
            "fte",
            "effective_from",
            "leaving_date",
            "start_date",
            "end_date",
        ],  # fmt: skip
    ).astype(object)
    frame = frame.where(frame.notna(), None)
    frame.insert(0, "source_row", range(2, len(frame) + 2))
    return frame


def test_hr_rules_quarantine_bad_rows_and_hold_the_rest_of_that_person():
    options = source_options(GOALS, "hr")
    assert options["record_types"] == {"staff": "EMP", "absence": "SICK"}
    frame = _hr(
        [
            ("A", "EMP", "1", None, None, None, None),  # 2
            ("A", "SICK", None, None, None, "2019-10-07", "2019-10-09"),  # 3
            ("B", "EMP", "1.5", None, None, None, None),  # 4 impossible FTE
            ("B", "SICK", None, None, None, "2019-10-07", "2019-10-08"),  # 5 held
            ("C", "EMP", "0.8", None, "2019-13-01", None, None),  # 6 not a date
            ("D", "SICK", None, None, None, "2019-10-09", "2019-10-07"),  # 7 ends before start
            ("D", "EMP", "1", None, None, None, None),  # 8 held
            ("E", "SICK", None, None, None, "2019-10-09", "2019-10-10"),  # 9 no staff row
            ("Z", "EMP", "1", None, None, None, None),  # 10 not in the trial
            ("A", "staff", "1", None, None, None, None),  # 11 unknown record code
        ]
    )
    problems = check_hr_rows(frame, GOALS, ["A", "B", "C", "D", "E"], options)
    assert _problem_list(problems) == [
        (2, "participant_id", "held_with_bad_row"),
        (3, "participant_id", "held_with_bad_row"),
        (4, "fte", "fte_in_range"),
        (5, "participant_id", "held_with_bad_row"),
        (6, "leaving_date", "valid_date"),
        (7, "end_date", "end_after_start"),
        (8, "participant_id", "held_with_bad_row"),
        (9, "participant_id", "no_staff_record"),
        (10, "participant_id", "known_participant"),
        (11, "record_type", "known_record_type"),
    ]
    assert problems.loc[problems["source_row"] == 11, "value"].item() == "staff"


def test_hr_measures_merge_overlapping_episodes_over_the_design_window():
    options = source_options(GOALS, "hr")
    frame = _hr(
        [
            ("A", "EMP", "0.5", None, None, None, None),
            ("A", "SICK", None, None, None, "2019-10-07", "2019-10-11"),  # Mon-Fri
            ("A", "SICK", None, None, None, "2019-10-09", "2019-10-15"),  # overlaps: to Tue
            ("B", "EMP", "1", None, "2019-11-29", None, None),
            ("C", "EMP", "1", None, "2019-08-30", None, None),  # left before the window
        ]
    )
    rows = hr_measures(frame, GOALS, options)
    wide = rows.values.set_index(rows.keys["participant_id"])
    assert wide.loc["A", "days_lost"] == 7.0 and wide.loc["A", "spells"] == 1.0
    assert wide.loc["A", "turnover"] == 0.0 and wide.loc["B", "turnover"] == 1.0
    assert np.isnan(wide.loc["C", "turnover"]) and np.isnan(wide.loc["C", "absence_rate"])
    staff = frame[frame["record_type"] == "EMP"].assign(fte=lambda d: d["fte"].astype(float))
    direct = sickness_absence(
        frame[frame["record_type"] == "SICK"],
        staff,
        window_start=GOALS.follow_up.window_start,
        window_end=GOALS.follow_up.window_end,
        holidays=options["holidays"],
    )
    np.testing.assert_allclose(
        wide.loc[["A", "B"], "absence_rate"], direct.loc[["A", "B"], "absence_rate"]
    )
    rules = dict(zip(rows.keys["participant_id"], rows.rules["turnover"], strict=True))
    assert rules == {
        "A": "no leaving date in window",
        "B": "left within window",
        "C": "left before window: not at risk",
    }
    assert set(rows.keys["collected_on"]) == {"2020-02-28"}


@pytest.mark.parametrize(
    ("source", "options", "message"),
    [
        ("hr", {"day_basis": "hours"}, r"'day_basis' of design 'coffee' is not known\. Choose one of: working, calendar\. Got 'hours' instead\."),
        ("hr", {"holidays": ["Christmas"]}, r"must be dates \(YYYY-MM-DD\)\. Got 'Christmas' instead\."),
        ("hr", {"record_types": {"staff": "S", "absence": "S"}}, r"must give two distinct codes"),
        ("survey", {"duplicates": "first"}, r"unknown option\(s\) \['duplicates'\]\. Choose from: wrqol_scoring\."),
    ],
)  # fmt: skip
def test_source_options_are_checked_by_name(source, options, message):
    spec = getattr(COFFEE, source).model_copy(update={"options": options})
    design = COFFEE.model_copy(update={source: spec})
    with pytest.raises(ValueError, match=message):
        source_options(design, source)


# ---------------------------------------------------------------- stored values (pure)


def _rows(values: dict[str, list[float]], source_rows=(2, 3)) -> OutcomeRows:
    keys = pd.DataFrame(
        {
            "participant_id": ["A", "B"],
            "collected_on": "2020-03-12",
            "source_row": list(source_rows),
        }
    )
    return OutcomeRows(
        keys, pd.DataFrame(values), {"swemwbs_metric": np.array(["complete"] * 2, dtype=object)}
    )


@on_both
def test_stored_values_are_skipped_when_equal_and_quarantined_when_different():
    stored = pd.DataFrame(
        {
            "participant_id": ["A", "A", "B"],
            "measure": ["swemwbs_1", "swemwbs_metric", "swemwbs_1"],
            "value": [3.0, 21.54, 2.0],
            "source_file": "first.csv",
            "source_row": [7, 7, 8],
        }
    )
    rows = _rows({"swemwbs_1": [3.0, 4.0], "swemwbs_metric": [21.54, 22.35]})
    kept, conflicts, already = separate_stored(rows, stored, file_columns={"swemwbs_1": "q1"})
    assert already == 1 and len(kept) == 0
    assert _problem_list(conflicts) == [(3, "q1", "conflicts_with_stored")]
    assert conflicts["message"].item() == (
        "Already stored as 2 (from first.csv row 8); stored values are not overwritten."
    )
    # a row with a value not stored yet, and none that differs, is kept
    fresh = _rows({"swemwbs_1": [3.0, 2.0], "swemwbs_metric": [21.54, 19.25]})
    kept, conflicts, already = separate_stored(fresh, stored, file_columns={})
    assert already == 1 and kept.keys["participant_id"].tolist() == ["B"] and conflicts.empty


# ---------------------------------------------------------------- the flow


def _randomised(name: str = "coffee") -> list[str]:
    design = load_design(DESIGNS / f"{name}.yaml")
    roster = pd.read_csv(GOLDEN / f"{name}_roster.csv", dtype=str)
    Store().record_randomisation(design=design, allocation=randomise(roster, design), roster=roster)
    return sorted(roster["id"])


def _counts() -> dict:
    with Store().engine.connect() as conn:
        return {
            t: conn.execute(sa.text(f"select count(*) from {t}")).scalar()
            for t in ("outcome_values", "quarantine", "ingested_files")
        }


def _file_rows(rows: list[dict]) -> pd.DataFrame:
    # coffee's survey columns: staff_id, collected_on, feeling_valued, swemwbs_1..7
    return (
        pd.DataFrame(rows)
        .rename(columns={"participant_id": "staff_id"})
        .assign(comments="Lovely coffee, thanks Priya Patel")
    )


@on_both
@pytest.mark.flow
def test_survey_ingest_quarantines_bad_rows_stores_the_rest_and_is_idempotent(
    prefect_server, tmp_path, _isolated_home
):
    ids = _randomised()
    rows = [_response(pid) for pid in ids[:4]]
    rows += [
        _response("STRANGER"),
        _response(ids[4], swemwbs_3="6"),
        _response(ids[5], day="2031-01-01"),
        _response(ids[3], swemwbs_7=None),  # a less complete second response
    ]
    path = tmp_path / "endline.csv"
    _file_rows(rows).to_csv(path, index=False)
    result = outcomes_ingest_flow("coffee", str(path), "survey", "endline")
    assert result["summary"].startswith("endline.csv: 8 rows read, 4 stored, 4 quarantined;")
    quarantined = Store().quarantined("coffee")[["row_number", "column", "rule", "value"]]
    assert quarantined.to_records(index=False).tolist() == [
        (6, "staff_id", "known_participant", "STRANGER"),
        (7, "swemwbs_3", "item_in_range", "6"),
        (8, "collected_on", "date_in_window", "2031-01-01"),
        (9, "staff_id", "duplicate_response", ids[3]),
    ]
    stored = Store().read(sa.text("select * from outcome_values"))
    assert sorted(stored["participant_id"].unique()) == ids[:4]
    assert len(stored) == 4 * (7 + 1 + 2)  # items, the single item, raw and metric
    assert not stored.astype(str).apply(lambda c: c.str.contains("Priya")).any().any()
    # the raw file is archived under its hash; the report and CSV list each problem
    digest = result["summary"].split("archived as ")[1].split(".")[0]
    assert (
        _isolated_home / "archive" / "coffee" / f"{digest}.csv"
    ).read_bytes() == path.read_bytes()
    report = Path(result["validation_report"])
    assert report.name == f"endline-{digest[:12]}.html"
    assert report.parent == _isolated_home / "out" / "coffee" / "validation"
    html = report.read_text()
    assert html.count('<tr><td class="num">') == 4  # one table row per quarantined row
    assert all(f"<td>{rule}</td>" in html for rule in quarantined["rule"])
    assert len(pd.read_csv(result["problems_csv"])) == 4
    before = _counts()
    again = outcomes_ingest_flow("coffee", str(path), "survey", "endline")
    assert again["already_ingested"] and "nothing changed" in again["summary"]
    assert _counts() == before

    # an overlapping later export: a known row again, a changed row, and a new one
    overlap = tmp_path / "endline_2.csv"
    _file_rows(
        [_response(ids[0]), _response(ids[1], answer=5), _response(ids[4], answer=4)]
    ).to_csv(overlap, index=False)
    result = outcomes_ingest_flow("coffee", str(overlap), "survey", "endline")
    assert result["rows_stored"] == 1 and result["rows_already_stored"] == 1
    conflicts = Store().quarantined("coffee").query("file_name == 'endline_2.csv'")
    assert set(conflicts["rule"]) == {"conflicts_with_stored"} and set(conflicts["row_number"]) == {
        3
    }
    kept = Store().read(
        sa.select(outcome_values.c.value).where(
            outcome_values.c.participant_id == ids[1], outcome_values.c.measure == "swemwbs_1"
        )
    )
    assert kept["value"].tolist() == [3.0]  # the stored answer was not overwritten


@on_both
@pytest.mark.flow
def test_files_that_cannot_be_used_write_nothing(prefect_server, tmp_path):
    ids = _randomised()
    before = _counts()
    broken = tmp_path / "broken.csv"
    pd.DataFrame({"staff_id": [ids[0]], "collected_on": ["2020-03-01"], "swemwbs_1": [3]}).to_csv(
        broken, index=False
    )
    with pytest.raises(
        SourceError,
        match=r"^File broken.csv: column\(s\) 'swemwbs_2' \(for swemwbs_2\), .*'feeling_valued' "
        r"\(for feeling_valued\) named in the design are missing\. Got columns \['staff_id', ",
    ):
        outcomes_ingest_flow("coffee", str(broken), "survey", "endline")
    other_trial = tmp_path / "other.csv"
    _file_rows([_response("LET00001"), _response("LET00002")]).to_csv(other_trial, index=False)
    with pytest.raises(
        SourceError, match=r"^None of the 2 rows names a participant of trial 'coffee'"
    ):
        outcomes_ingest_flow("coffee", str(other_trial), "survey", "endline")
    with pytest.raises(ValueError, match=r"must be lowercase letters.*Got 'Endline 2' instead\."):
        outcomes_ingest_flow("coffee", str(other_trial), "survey", "Endline 2")
    assert _counts() == before


@on_both
@pytest.mark.flow
def test_hr_extract_ingest_stores_absence_and_turnover(prefect_server, tmp_path):
    ids = _randomised()
    extract = pd.DataFrame(
        {
            "staff_id": [ids[0], ids[0], ids[1], ids[2], "NOBODY"],
            "record_type": ["staff", "absence", "staff", "staff", "staff"],
            "fte": ["1", None, "0.5", "2", "1"],
            "fte_from": None,
            "leaving_date": [None, None, "2020-01-31", None, None],
            "absence_start": [None, "2019-12-02", None, None, None],
            "absence_end": [None, "2019-12-06", None, None, None],
        }
    )
    path = tmp_path / "hr.csv"
    extract.to_csv(path, index=False)
    result = outcomes_ingest_flow("coffee", str(path), "hr", "endline")
    assert result["summary"].startswith("hr.csv: 5 rows read, 2 stored, 2 quarantined;")
    stored = Store().read(
        sa.text("select participant_id, measure, value, rule from outcome_values")
    )
    wide = stored.pivot(index="participant_id", columns="measure", values="value")
    assert sorted(wide.index) == ids[:2]
    assert wide.loc[ids[0], "days_lost"] == 5.0 and wide.loc[ids[1], "turnover"] == 1.0
    assert set(Store().quarantined("coffee")["rule"]) == {"fte_in_range", "known_participant"}
