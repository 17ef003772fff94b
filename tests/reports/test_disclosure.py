"""Disclosure control: no count under 5, and none that subtraction would give away."""

from __future__ import annotations

import re

import numpy as np
import pytest

from reports.baseline_rows import baseline_rows
from reports.disclosure import (
    DISCLOSURE_FOOTNOTE,
    SUPPRESSED_MARK,
    Relation,
    coarsen_cumulative,
    suppress_counts,
    table_relations,
)
from reports.format import format_percent
from reports.render import render_trial


def _pinned_down(counts, relations, unknown) -> set:
    """An independent check: x_j is pinned down iff adding e_j to the equations adds no rank."""
    usable = [r for r in relations if all(counts[c] is not None for c in r.cells())]
    cells = sorted({c for r in usable for c in r.cells() if c in unknown}, key=repr)
    if not cells:
        return set()
    matrix = np.array(
        [
            [(1.0 if c == r.whole else 0.0) - (1.0 if c in r.parts else 0.0) for c in cells]
            for r in usable
        ]
    )
    rank = np.linalg.matrix_rank(matrix)
    pinned = set()
    for j, cell in enumerate(cells):
        unit = np.zeros(len(cells))
        unit[j] = 1.0
        if np.linalg.matrix_rank(np.vstack([matrix, unit])) == rank:
            pinned.add(cell)
    return pinned


def test_small_counts_are_suppressed_and_zero_is_shown():
    result = suppress_counts({"a": 3, "b": 0, "c": 5, "d": 120})
    assert result.primary == {"a"}
    assert [result.display(k) for k in "abcd"] == [SUPPRESSED_MARK, "0", "5", "120"]
    assert result.any and not result.is_shown("a") and result.value("d") == 120


def test_a_row_with_one_small_cell_loses_its_smallest_other_part_not_its_total():
    counts = {"total": 60, "x": 3, "y": 20, "z": 37}
    result = suppress_counts(counts, [Relation("total", ("x", "y", "z"))])
    assert result.primary == {"x"} and result.complementary == {"y"}
    assert result.is_shown("total") and result.is_shown("z")


def test_a_hidden_difference_protects_the_counts_that_imply_it():
    # started 189 of 192 offered: "3 offered but not started" is never printed but is implied
    counts = {"offered": 192, "started": 189, "gap": 3}
    result = suppress_counts(counts, [Relation("offered", ("started", "gap"))], hidden={"gap"})
    assert result.complementary == {"started"} and result.display("started") == SUPPRESSED_MARK
    assert result.is_shown("offered") and "gap" not in result.suppressed


def test_equal_cells_in_two_tables_are_hidden_together():
    counts = {"lost": 4, "followed": 191, "allocated": 195, "lost_in_table_2": 4}
    relations = [
        Relation("allocated", ("lost", "followed")),
        Relation("lost_in_table_2", ("lost",)),
    ]
    result = suppress_counts(counts, relations)
    assert {"lost", "lost_in_table_2"} <= result.primary
    assert "followed" in result.complementary


def test_a_two_by_two_table_with_margins_loses_the_whole_rectangle():
    cells = {("c", 0, 0): 3, ("c", 0, 1): 20, ("c", 1, 0): 30, ("c", 1, 1): 40}
    counts = {**cells, ("r", 0): 23, ("r", 1): 70, ("k", 0): 33, ("k", 1): 60}
    relations = table_relations(
        [0, 1],
        [0, 1],
        cell=lambda r, c: ("c", r, c),
        row_total=lambda r: ("r", r),
        column_total=lambda c: ("k", c),
    )
    result = suppress_counts(counts, relations)
    assert result.suppressed == set(cells)


@pytest.mark.parametrize("seed", range(25))
def test_no_small_count_can_be_worked_out_from_what_is_shown(seed):
    rng = np.random.default_rng(seed)
    rows, columns = rng.integers(2, 5), rng.integers(2, 5)
    values = rng.choice([0, 1, 2, 3, 4, 6, 9, 15, 40], size=(rows, columns))
    counts = {("c", r, c): int(values[r, c]) for r in range(rows) for c in range(columns)}
    counts.update({("r", r): int(values[r].sum()) for r in range(rows)})
    counts.update({("k", c): int(values[:, c].sum()) for c in range(columns)})
    relations = table_relations(
        range(rows),
        range(columns),
        cell=lambda r, c: ("c", r, c),
        row_total=lambda r: ("r", r),
        column_total=lambda c: ("k", c),
    )
    result = suppress_counts(counts, relations)
    small = {k for k, v in counts.items() if 0 < v < 5}
    assert small <= result.suppressed
    assert not small & _pinned_down(counts, relations, set(result.suppressed))


def test_options_are_checked():
    with pytest.raises(ValueError, match="'threshold' must be at least 1. Got 0 instead"):
        suppress_counts({"a": 1}, threshold=0)
    with pytest.raises(ValueError, match="not in 'counts': 'b'"):
        suppress_counts({"a": 1}, [Relation("a", ("b",))])


@pytest.mark.parametrize(
    "series",
    [
        [0, 61, 94, 111, 120, 126, 130, 132, 133, 134, 134],
        [0, 0, 31, 31, 53, 53, 70, 81, 90, 96],
        [2, 3, 9, 10, 30],
        [0, 0, 0],
    ],
)
def test_weekly_uptake_keeps_only_steps_of_zero_or_at_least_five(series):
    kept = coarsen_cumulative(series)
    assert kept[-1] == len(series) - 1
    shown = [0] + [series[i] for i in kept]
    steps = np.diff(shown)
    assert all(s == 0 or s >= 5 for s in steps)


def test_a_small_uptake_total_hides_the_whole_series():
    assert coarsen_cumulative([0, 1, 3]) == []


# --------------------------------------------------------------------------- in the rendered reports


def _counts_shown(report, element) -> list[str]:
    """Every table cell and CONSORT box under ``element``, as shown."""
    return [
        report.text(e) for e in element.iter() if report.tag(e) == "td" or (e.get("class") == "n")
    ]


def _three_team_managers(doc: dict) -> dict:
    """Coffee with 3 team managers in the coffee arm, the rest of its managers social workers.

    The simulated coffee arm has 18 team managers, too many to hide; the disclosure rule is
    about a level under 5 in a column, so the baseline rows are moved to 3 (shares, percents
    and binary SMDs recomputed) and the social workers take the other 15.
    """
    rows = {(r["covariate"], r["arm"]): r for r in doc["balance"]["table"]}
    manager, worker = rows["role=Team manager", "coffee"], rows["role=Social worker", "coffee"]
    n = manager["n"]
    moved = round(manager["mean"] * n) - 3
    assert moved > 0
    manager["mean"] = 3 / n
    worker["mean"] += moved / n
    for level, row in (("Team manager", manager), ("Social worker", worker)):
        row["percent"] = 100 * row["mean"]
        p0, p1 = rows[f"role={level}", "control"]["mean"], row["mean"]
        row["smd"] = (p1 - p0) / np.sqrt((p1 * (1 - p1) + p0 * (1 - p0)) / 2)
    return doc


def _quarantined(doc: dict) -> dict:
    """Goal setting with a few quarantined survey rows (2, 2 and 4 by three rules).

    The simulated files are clean, so the analysis of them quarantines nothing; a real export
    has a few bad rows, each count under 5 in the validation table.
    """
    doc["data_validation"] = {
        "rows_quarantined": 8,
        "by_rule": [
            {"files": 2, "kind": "survey", "rows": 2, "rule": "date_in_window"},
            {"files": 2, "kind": "survey", "rows": 2, "rule": "duplicate_response"},
            {"files": 2, "kind": "survey", "rows": 4, "rule": "known_participant"},
        ],
    }
    return doc


def test_small_counts_in_the_demo_reports_are_marked_and_footnoted(results, page):
    doc = _quarantined(results("goal_setting"))
    assert 0 < doc["uptake"]["contamination"] < 5  # the simulated control arm's few takers
    goal = page(render_trial(doc))
    assert report_text(goal, data_field="contamination").startswith(
        f"Contamination: {SUPPRESSED_MARK} "
    )
    rows = [e for e in goal.all("table", data_table="validation")[0].iter() if goal.tag(e) == "tr"]
    assert [_cells(goal, r)[-1] for r in rows[1:]] == [SUPPRESSED_MARK] * 3
    assert goal.text(goal.one(id="disclosure-footnote")) == DISCLOSURE_FOOTNOTE
    coffee = page(render_trial(_three_team_managers(results("coffee"))))
    baseline = coffee.one("table", data_table="baseline")
    manager = next(
        r for r in baseline.iter() if coffee.tag(r) == "tr" and "Team manager" in coffee.text(r)
    )
    # the 3 team managers in the coffee arm, and a second role in that column, or 174 minus
    # the other roles would give the 3 away
    coffee_column = [
        _cells(coffee, r)[2]
        for r in baseline.iter()
        if coffee.tag(r) == "tr" and "Role:" in coffee.text(r)
    ]
    assert _cells(coffee, manager)[2] == SUPPRESSED_MARK
    assert _cells(coffee, manager)[-1] == SUPPRESSED_MARK, "the SMD would give the share away"
    assert coffee_column.count(SUPPRESSED_MARK) == 2


def report_text(report, **attrs) -> str:
    return report.text(report.one(**attrs))


def _cells(report, row) -> list[str]:
    return [report.text(e) for e in row if report.tag(e) in ("th", "td")]


def _lose_three(doc: dict) -> dict:
    """The letters trial, but only 3 of the letter arm were lost to follow-up."""
    box = doc["consort"]["individuals"]["letter"]
    box.update(lost=3, excluded=9, analysed=183)
    for outcome in doc["outcomes"]:
        if outcome["source"] == "survey":
            outcome["arms"][1]["n"] = 192
            for estimate in outcome["estimates"]:
                estimate["n_per_arm"]["letter"] = 183
                estimate["n"] = sum(estimate["n_per_arm"].values())
    for row in doc["attrition"]["by_arm"]:
        if row["arm"] == "letter":
            row.update(followed_up=192, lost=3, lost_pct=100 * 3 / 195)
    return doc


def test_a_count_of_three_never_appears_and_cannot_be_worked_out(results, page):
    doc = _lose_three(results("letters"))
    report = page(render_trial(doc))
    consort_arm = next(
        e for e in report.one(data_level="individuals").iter() if e.get("data-arm") == "letter"
    )
    boxes = {e.get("data-box"): report.text(e) for e in consort_arm.iter() if e.get("data-box")}
    assert boxes["Lost to follow-up (no endline measure)"] == SUPPRESSED_MARK
    assert boxes["Allocated"] == "195"
    # with allocated shown, followed-up and excluded must go too, or 195 - 192 = 3 gives it away
    hidden = [k for k, v in boxes.items() if v == SUPPRESSED_MARK]
    assert len(hidden) >= 2
    main = report.one("main")
    for cell in _counts_shown(report, main):
        assert not re.fullmatch(r"3( \(.*\))?", cell), cell
    attrition = report.one("table", data_table="attrition")
    letter_row = next(
        r
        for r in attrition.iter()
        if report.tag(r) == "tr" and "Letter of appreciation" in report.text(r)
    )
    assert _cells(report, letter_row)[-1] == SUPPRESSED_MARK, "the % lost gives it away too"
    shown = [
        int(v.replace(",", ""))
        for v in boxes.values()
        if v != SUPPRESSED_MARK and v.replace(",", "").isdigit()
    ]
    assert 3 not in shown and 192 not in shown
    assert report.one(id="disclosure-footnote") is not None


def test_a_level_hidden_in_a_baseline_column_is_not_given_away_by_the_column_total(results, page):
    """The analysis's baseline rows carry each level's observed n, which the percentages print.

    Coffee's 3 team managers: hiding only their cell left 174 - 109 - 39 - 23 = 3 (and 109 at
    62.6% gives the 174 back), so a second level must be hidden with it.
    """
    # the analysis's long rows, as results.json holds them: each level's observed n is there
    doc = _three_team_managers(results("coffee"))
    rows = baseline_rows(doc["balance"], doc["trial"]["control_arm"])
    role = [row for row in rows if row["variable"] == "role"]
    assert len(role) == 4
    for arm in role[0]["arms"]:
        observed = sum(row["arms"][arm]["n"] for row in role)
        assert all(row["arms"][arm]["n_observed"] == observed for row in role)
    coffee = page(render_trial(doc))
    baseline = coffee.one("table", data_table="baseline")
    column = [
        _cells(coffee, r)[2]
        for r in baseline.iter()
        if coffee.tag(r) == "tr" and "Role:" in coffee.text(r)
    ]
    assert column.count(SUPPRESSED_MARK) == 2, column


def test_a_count_hidden_to_protect_another_keeps_its_mean_but_a_small_count_does_not():
    # 196 allocated, 194 with an HR record: 194 is hidden (196 - 194 would say 2 had none),
    # but a mean over 194 people does not give the 2 away (ONS: suppress counts, not means)
    counts = {"allocated": 196, "n": 194, "missing": 2, "small_n": 3}
    result = suppress_counts(counts, [Relation("allocated", ("n", "missing"))], hidden={"missing"})
    assert result.complementary == {"n"} and result.display("n") == SUPPRESSED_MARK
    assert result.mean_shown("n")
    assert not result.mean_shown("small_n"), "a mean of 3 people goes with their count"
    assert not result.mean_shown("missing") and not result.mean_shown("absent")


def _two_without_hr_records(doc: dict) -> dict:
    """The Schwartz Rounds trial with every waiting-list HR record and all but 2 of the Rounds'.

    The simulated HR extract misses a few records in both arms (as a real one does); the
    case here is one arm complete and the other missing exactly 2, so the counts are set so.
    """
    boxes = doc["consort"]["individuals"]
    turnover = next(o for o in doc["outcomes"] if o["name"] == "turnover")
    # the ITT alone, as for a trial without partial uptake: the simulated trial's CACE row
    # repeats every count, and its total then makes hiding the complete arm's count the cheaper
    # complementary cell, which is another case than the one held here
    turnover["estimates"] = [e for e in turnover["estimates"] if e["estimand"] == "ITT"]
    for arm in turnover["arms"]:
        arm["n"] = boxes[arm["arm"]]["allocated"] - (2 if arm["arm"] == "rounds" else 0)
        for estimate in turnover["estimates"]:
            estimate["n_per_arm"][arm["arm"]] = arm["n"]
    for estimate in turnover["estimates"]:
        estimate["n"] = sum(estimate["n_per_arm"].values())
    return doc


def test_an_hr_outcome_missing_two_records_hides_the_count_and_shows_the_mean(results, page):
    doc = _two_without_hr_records(results("schwartz_rounds"))
    waiting, rounds_arm = next(o for o in doc["outcomes"] if o["name"] == "turnover")["arms"]
    report = page(render_trial(doc))
    row = report.one("tr", data_outcome="turnover")
    cells = [report.text(e) for e in row if report.tag(e) == "td"]
    rounds = cells[1]  # arms in the design's order: waiting list, then Rounds
    assert rounds.endswith(f"({SUPPRESSED_MARK})"), f"n = {rounds_arm['n']} would give the 2 away"
    share = format_percent(100 * rounds_arm["mean"], 1)
    assert rounds.startswith(share), f"the share of {rounds_arm['n']} is not disclosive: {rounds}"
    assert cells[0].startswith(format_percent(100 * waiting["mean"], 1))
    assert cells[0].endswith(f"({waiting['n']})")
    # and the 2 cannot be worked out from anything else on the page
    assert str(rounds_arm["n"]) not in report.visible_text()
