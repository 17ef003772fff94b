from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest

from analysis.hr_outcomes import DAY_BASES, sickness_absence, turnover

# January 2020 starts on a Wednesday and has 23 working days.
START, END = dt.date(2020, 1, 1), dt.date(2020, 1, 31)
NO_EPISODES = pd.DataFrame(columns=["participant_id", "start_date", "end_date"])


def _episodes(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["participant_id", "start_date", "end_date"])


def test_overlapping_episodes_are_merged_and_clipped_to_the_window():
    staff = pd.DataFrame({"participant_id": ["a", "b"], "fte": [1.0, 0.5]})
    episodes = _episodes(
        ("a", "2020-01-03", "2020-01-07"),
        ("a", "2020-01-05", "2020-01-09"),  # overlaps the first: Fri 3rd to Thu 9th
        ("a", "2019-12-25", "2020-01-01"),  # clipped to Wed 1st
        ("a", "2020-01-05", "2020-01-09"),  # exact duplicate
        ("b", "2020-01-30", "2020-02-10"),  # clipped to Thu 30th, Fri 31st
    )
    out = sickness_absence(episodes, staff, window_start=START, window_end=END)
    assert out.loc["a", "days_lost"] == 1 + 5  # Wed 1st; Fri 3rd, Mon 6th..Thu 9th
    assert out.loc["a", "spells"] == 2
    assert out.loc["a", "absence_rate"] == pytest.approx(6 / 23)
    assert out.loc["b", "days_lost"] == 2
    assert out.loc["b", "fte_days_lost"] == pytest.approx(1.0)
    assert out.loc["b", "fte_days_available"] == pytest.approx(23 * 0.5)
    assert out.loc["b", "days_lost_per_fte"] == pytest.approx(2.0)

    calendar = sickness_absence(
        episodes, staff, window_start=START, window_end=END, day_basis="calendar"
    )
    assert calendar.loc["a", "days_lost"] == 1 + 7  # 3rd..9th merged, plus 1st
    assert calendar.loc["a", "absence_rate"] == pytest.approx(8 / 31)
    assert calendar.loc["b", "days_available"] == 31


def test_touching_episodes_are_one_spell_and_a_weekend_gap_is_two():
    staff = pd.DataFrame({"participant_id": ["touch", "weekend"], "fte": [1.0, 1.0]})
    episodes = _episodes(
        ("touch", "2020-01-06", "2020-01-07"),
        ("touch", "2020-01-08", "2020-01-09"),
        ("weekend", "2020-01-10", "2020-01-10"),  # Friday
        ("weekend", "2020-01-13", "2020-01-13"),  # Monday
    )
    out = sickness_absence(episodes, staff, window_start=START, window_end=END)
    assert out.loc["touch", ["days_lost", "spells"]].tolist() == [4, 1]
    assert out.loc["weekend", ["days_lost", "spells"]].tolist() == [2, 2]


def test_a_spell_only_on_a_weekend_loses_no_working_day():
    staff = pd.DataFrame({"participant_id": ["a"], "fte": [1.0]})
    out = sickness_absence(
        _episodes(("a", "2020-01-04", "2020-01-05")), staff, window_start=START, window_end=END
    )
    assert out.loc["a", ["days_lost", "spells"]].tolist() == [0, 0]


def test_fte_changes_use_the_fte_in_force_each_day():
    staff = pd.DataFrame(
        {
            "participant_id": ["a", "a"],
            "fte": [1.0, 0.5],
            "effective_from": [None, "2020-01-17"],  # a Friday
        }
    )
    episodes = _episodes(("a", "2020-01-15", "2020-01-18"))  # Wed, Thu at 1.0; Fri at 0.5; Sat
    out = sickness_absence(episodes, staff, window_start=START, window_end=END).loc["a"]
    assert out["days_lost"] == 3
    assert out["fte_days_lost"] == pytest.approx(1.0 + 1.0 + 0.5)
    # 12 working days at 1.0 (1st..16th), 11 at 0.5 (17th..31st)
    assert out["fte_days_available"] == pytest.approx(12 * 1.0 + 11 * 0.5)
    assert out["days_available"] == 23
    assert out["absence_rate"] == pytest.approx(2.5 / 17.5)
    assert out["days_lost_per_fte"] == pytest.approx(2.5 / (17.5 / 23))


def test_a_later_row_with_the_same_effective_date_wins():
    staff = pd.DataFrame(
        {"participant_id": ["a", "a"], "fte": [1.0, 0.6], "effective_from": [None, None]}
    )
    out = sickness_absence(NO_EPISODES, staff, window_start=START, window_end=END)
    assert out.loc["a", "fte_days_available"] == pytest.approx(23 * 0.6)


def test_leavers_and_late_starters_count_only_while_employed():
    staff = pd.DataFrame(
        {
            "participant_id": ["leaver", "gone", "new", "future"],
            "fte": [0.8, 1.0, 1.0, 1.0],
            "effective_from": [None, None, "2020-01-27", "2020-02-03"],
            "leaving_date": ["2020-01-10", "2019-12-31", None, None],
        }
    )
    episodes = _episodes(
        ("leaver", "2020-01-09", "2020-01-20"),
        ("gone", "2020-01-06", "2020-01-06"),
        ("new", "2020-01-20", "2020-01-28"),
    )
    out = sickness_absence(episodes, staff, window_start=START, window_end=END)
    assert out.loc["leaver", "days_lost"] == 2  # Thu 9th, Fri 10th; after leaving does not count
    assert out.loc["leaver", "fte_days_available"] == pytest.approx(8 * 0.8)
    assert out.loc["new", "days_lost"] == 2  # Mon 27th, Tue 28th
    assert out.loc["new", "days_available"] == 5
    assert out.loc[["gone", "future"]].isna().all(axis=None)


def test_holidays_are_not_working_days():
    staff = pd.DataFrame({"participant_id": ["a"], "fte": [1.0]})
    episodes = _episodes(("a", "2020-01-01", "2020-01-03"))
    out = sickness_absence(
        episodes, staff, window_start=START, window_end=END, holidays=[dt.date(2020, 1, 1)]
    ).loc["a"]
    assert out["days_lost"] == 2
    assert out["days_available"] == 22


def test_no_episodes_means_zero_and_unknown_participants_are_ignored():
    staff = pd.DataFrame({"participant_id": ["z", "y"], "fte": [1.0, 1.0]})
    out = sickness_absence(NO_EPISODES, staff, window_start=START, window_end=END)
    assert (out[["days_lost", "fte_days_lost", "absence_rate", "spells"]] == 0).all(axis=None)
    assert list(out.index) == ["y", "z"]
    stranger = sickness_absence(
        _episodes(("x", "2020-01-06", "2020-01-07")), staff, window_start=START, window_end=END
    )
    pd.testing.assert_frame_equal(stranger, out)


def _brute_force(episodes, staff, start, end, day_basis, holidays) -> pd.DataFrame:
    """Day by day, straight from the definitions: an independent reference."""
    days = pd.date_range(start, end, freq="D")
    holiday_set = {pd.Timestamp(h) for h in holidays}
    rows = {}
    for pid, rows_of in staff.groupby("participant_id", sort=True):
        rows_of = rows_of.assign(
            eff=pd.to_datetime(rows_of["effective_from"]).fillna(pd.Timestamp("1000-01-01"))
        )
        leaving = pd.to_datetime(rows_of["leaving_date"]).max()
        eps = episodes[episodes["participant_id"] == pid]
        absent_days = {
            d
            for s, e in zip(eps["start_date"], eps["end_date"], strict=True)
            for d in pd.date_range(s, e)
            if days[0] <= d <= days[-1]
        }
        # later rows win ties on effective date, so a stable sort and "last at or before d"
        changes = list(
            rows_of.sort_values("eff", kind="stable")[["eff", "fte"]].itertuples(index=False)
        )
        fte_of, counted = [], []
        for d in days:
            in_force = [fte for eff, fte in changes if eff <= d]
            employed = bool(in_force) and (pd.isna(leaving) or d <= leaving)
            fte_of.append(float(in_force[-1]) if employed else 0.0)
            counted.append(day_basis == "calendar" or (d.weekday() < 5 and d not in holiday_set))
        fte_of, counted = np.array(fte_of), np.array(counted)
        absent = np.array([d in absent_days for d in days])
        use = counted & (fte_of > 0)
        lost = use & absent
        # a spell is a run of consecutive absent calendar days; it counts if it loses a day
        run_ids = np.cumsum(np.r_[True, ~absent[:-1]] & absent)
        spells = len({run_ids[i] for i in np.flatnonzero(lost)})
        available = fte_of[use].sum()
        if use.sum() == 0:
            rows[pid] = dict.fromkeys(
                ["days_lost", "fte_days_lost", "days_available", "fte_days_available",
                 "days_lost_per_fte", "absence_rate", "spells"], np.nan
            )  # fmt: skip
            continue
        rows[pid] = {
            "days_lost": float(lost.sum()),
            "fte_days_lost": fte_of[lost].sum(),
            "days_available": float(use.sum()),
            "fte_days_available": available,
            "days_lost_per_fte": fte_of[lost].sum() / (available / use.sum()),
            "absence_rate": fte_of[lost].sum() / available,
            "spells": float(spells),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("participant_id")


def _random_extract(rng: np.random.Generator, n: int = 25):
    origin = pd.Timestamp("2020-02-01")
    staff_rows, episode_rows = [], []
    for i in range(n):
        pid = f"p{i:02d}"
        leaving = (
            origin + pd.Timedelta(days=int(rng.integers(-20, 80))) if rng.random() < 0.4 else None
        )
        for k in range(int(rng.integers(1, 4))):
            effective = (
                None
                if k == 0 and rng.random() < 0.7
                else origin + pd.Timedelta(days=int(rng.integers(-10, 70)))
            )
            staff_rows.append(
                (
                    pid,
                    float(rng.choice([0.2, 0.5, 0.8, 1.0])),
                    effective,
                    leaving if k == 0 else None,
                )
            )
        for _ in range(int(rng.integers(0, 6))):
            first = origin + pd.Timedelta(days=int(rng.integers(-15, 70)))
            episode_rows.append((pid, first, first + pd.Timedelta(days=int(rng.integers(0, 9)))))
    staff = pd.DataFrame(
        staff_rows, columns=["participant_id", "fte", "effective_from", "leaving_date"]
    )
    return pd.DataFrame(episode_rows, columns=["participant_id", "start_date", "end_date"]), staff


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("day_basis", ["working", "calendar"])
def test_matches_a_day_by_day_reference(seed, day_basis):
    episodes, staff = _random_extract(np.random.default_rng(seed))
    start, end = dt.date(2020, 2, 1), dt.date(2020, 3, 31)
    holidays = [dt.date(2020, 2, 14), dt.date(2020, 3, 9)] if day_basis == "working" else []
    got = sickness_absence(
        episodes, staff, window_start=start, window_end=end, day_basis=day_basis, holidays=holidays
    )
    expected = _brute_force(episodes, staff, start, end, day_basis, holidays)
    pd.testing.assert_frame_equal(got, expected[got.columns], check_exact=False, rtol=1e-12)
    # rows shuffled, except that one participant's staff rows keep their order (later wins ties)
    rank = dict(zip(staff["participant_id"].unique()[::-1], range(len(staff)), strict=False))
    shuffled = sickness_absence(
        episodes.sample(frac=1, random_state=seed),
        staff.iloc[np.argsort(staff["participant_id"].map(rank).to_numpy(), kind="stable")],
        window_start=start,
        window_end=end,
        day_basis=day_basis,
        holidays=holidays,
    )
    pd.testing.assert_frame_equal(shuffled, got)


@pytest.mark.parametrize(
    ("kwargs", "staff", "episodes", "message"),
    [
        (
            {},
            pd.DataFrame({"participant_id": ["a"], "fte": [1.5]}),
            NO_EPISODES,
            "The 'fte' of participant 'a' must be above 0 and at most 1. Got 1.5 instead.",
        ),
        (
            {},
            pd.DataFrame({"participant_id": ["a"], "fte": [0.0]}),
            NO_EPISODES,
            "The 'fte' of participant 'a' must be above 0 and at most 1. Got 0.0 instead.",
        ),
        (
            {},
            pd.DataFrame({"participant_id": ["a"], "fte": [1.0]}),
            _episodes(("a", "2020-01-05", "2020-01-03")),
            "The absence episode of participant 'a' ends before it starts. "
            "Got '2020-01-05' to '2020-01-03' instead.",
        ),
        (
            {},
            pd.DataFrame({"participant_id": ["a"], "fte": [1.0]}),
            _episodes(("a", "2020-01-05", None)),
            "The absence episode of participant 'a' needs a start and an end date. "
            "Got '2020-01-05' to None instead.",
        ),
        (
            {"day_basis": "weekdays"},
            pd.DataFrame({"participant_id": ["a"], "fte": [1.0]}),
            NO_EPISODES,
            "The 'day_basis' 'weekdays' is not known. Choose one of: working, calendar. "
            "Got 'weekdays' instead.",
        ),
        (
            {"day_basis": "calendar", "holidays": [dt.date(2020, 1, 1)]},
            pd.DataFrame({"participant_id": ["a"], "fte": [1.0]}),
            NO_EPISODES,
            "The 'holidays' apply to day_basis 'working' only; calendar days count every day. "
            "Got 1 holiday(s) with day_basis 'calendar' instead.",
        ),
        (
            {"window_start": END, "window_end": START},
            pd.DataFrame({"participant_id": ["a"], "fte": [1.0]}),
            NO_EPISODES,
            "The window must end on or after its start. Got 2020-01-31 to 2020-01-01 instead.",
        ),
        (
            {},
            pd.DataFrame({"participant_id": ["a"]}),
            NO_EPISODES,
            "The column(s) 'fte' are not in the staff frame. Got columns: participant_id.",
        ),
    ],
)
def test_bad_input_is_refused_with_a_message_naming_it(kwargs, staff, episodes, message):
    window = {"window_start": START, "window_end": END}
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        sickness_absence(episodes, staff, **{**window, **kwargs})


def test_every_day_basis_is_described():
    assert set(DAY_BASES) == {"working", "calendar"}
    assert "Monday to Friday" in DAY_BASES["working"]


def test_turnover_edges():
    staff = pd.DataFrame(
        {
            "participant_id": ["in", "end", "start", "before", "after", "stay", "moved"],
            "leaving_date": [
                "2020-01-15",
                "2020-01-31",
                "2020-01-01",
                "2019-12-31",
                "2020-02-01",
                None,
                None,
            ],
        }
    )
    # a second row for one participant, carrying their leaving date
    staff = pd.concat(
        [staff, pd.DataFrame({"participant_id": ["moved"], "leaving_date": ["2020-01-20"]})],
        ignore_index=True,
    )
    out = turnover(staff, window_start=START, window_end=END)
    assert out.name == "turnover"
    assert list(out.index) == sorted(set(staff["participant_id"]))
    assert out[["in", "end", "start", "moved"]].tolist() == [1, 1, 1, 1]
    assert out[["after", "stay"]].tolist() == [0, 0]
    assert np.isnan(out["before"])


def test_turnover_with_no_leaving_date_column_is_all_zero():
    out = turnover(pd.DataFrame({"participant_id": [3, 1, 2]}), window_start=START, window_end=END)
    assert out.to_dict() == {1: 0.0, 2: 0.0, 3: 0.0}
