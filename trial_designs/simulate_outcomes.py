"""Synthetic surveys and HR extracts with known true effects (seeded, pure).

True effects built in (on the scale of each trial's primary outcome):

- letters: +0.4 on feeling valued (0-10) for the letter arm;
- goal_setting: +1.5 SWEMWBS metric points for those who took the course up
  (about 20% of the arm), so an ITT of about +0.3;
- coffee: +0.5 SWEMWBS metric points for coffee buildings;
- schwartz_rounds: -1.0 GHQ-12 points (less distress) at sites with Rounds.

Wellbeing has an intra-cluster correlation of about 0.05 within buildings,
sites or teams; 20-40% of staff do not answer at endline; about 15% leave
within the window and about 3% of FTE-days are lost to sickness absence.  A
few bad rows of every kind are added so the ingest's quarantine has work.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from trial_designs.design import TrialDesign

__all__ = ["TRUE_EFFECTS", "simulate_outcomes"]

TRUE_EFFECTS = {
    "letters": ("feeling_valued", 0.4),
    "goal_setting": ("swemwbs", 1.5),  # among takers
    "coffee": ("swemwbs", 0.5),
    "schwartz_rounds": ("ghq12", -1.0),
}

_ITEMS = {"swemwbs": (7, 1, 5), "ghq12": (12, 0, 3)}


def _date(day: dt.date, offsets: np.ndarray) -> list[str]:
    return [(day + dt.timedelta(days=int(o))).isoformat() for o in offsets]


def _items(
    latent: np.ndarray, instrument: str, rng: np.random.Generator, sign: float
) -> np.ndarray:
    n_items, low, high = _ITEMS[instrument]
    centre = 3.2 if instrument == "swemwbs" else 1.1
    raw = centre + sign * 0.5 * latent[:, None] + rng.normal(0, 0.55, (len(latent), n_items))
    return np.clip(np.rint(raw), low, high)


def _survey(design, people, latent, effect, timepoint, day, rng) -> pd.DataFrame:  # noqa: ANN001
    frame = pd.DataFrame({"participant_id": people["participant_id"].to_numpy()})
    frame["collected_on"] = _date(day, rng.integers(0, 21, len(people)))
    for outcome in design.outcomes:
        if outcome.source != "survey":
            continue
        shift = effect.get(outcome.name, 0.0)
        if outcome.instrument in _ITEMS:
            # an effect of `shift` score points moves each item by shift/n_items on average
            n_items = _ITEMS[outcome.instrument][0]
            sign = 1.0 if outcome.higher_is_better else -1.0
            per_item = shift / n_items / 0.5
            items = _items(latent + sign * per_item, outcome.instrument, rng, sign)
            for j in range(items.shape[1]):
                frame[f"{outcome.instrument}_{j + 1}"] = items[:, j].astype(int)
        elif outcome.instrument == "single_item":
            sign = 1.0 if outcome.higher_is_better else -1.0
            value = 6.0 + sign * 1.6 * latent + shift + rng.normal(0, 1.2, len(people))
            frame[outcome.name] = np.clip(
                np.rint(value), outcome.min_value or 0, outcome.max_value or 10
            ).astype(int)
    return frame


def simulate_outcomes(
    design: TrialDesign,
    participants: pd.DataFrame,
    *,
    rng: np.random.Generator,
    took_up: pd.Series | None = None,
) -> dict[str, pd.DataFrame]:
    """Baseline and endline surveys and an HR extract, in the design's file layout.

    ``participants`` is what the store returns for a trial (participant_id,
    unit_id, arm, organisation, team); ``took_up`` (0/1 by participant id) sets
    who receives the effect in trials whose effect works through uptake.
    """
    people = participants.sort_values("participant_id").reset_index(drop=True)
    n = len(people)
    cluster = people["unit_id"] if design.unit == "cluster" else people["team"].fillna("none")
    codes, uniques = pd.factorize(cluster)
    cluster_effect = rng.normal(0, np.sqrt(0.05), len(uniques))[codes]
    trait = cluster_effect + rng.normal(0, np.sqrt(0.95), n)
    treated = (people["arm"] != design.control_arm).to_numpy()
    outcome_name, size = TRUE_EFFECTS.get(design.id, (design.primary_outcome.name, 0.0))
    receives = treated.astype(float)
    if design.id == "goal_setting" and took_up is not None:
        receives = took_up.reindex(people["participant_id"]).fillna(0).to_numpy(float)
    baseline_latent = trait + rng.normal(0, 0.45, n)
    endline_latent = trait + rng.normal(0, 0.45, n)
    fu = design.follow_up
    baseline = _survey(design, people, baseline_latent, {}, "baseline", fu.baseline, rng)
    endline = _survey(
        design, people, endline_latent, {outcome_name: size * receives}, "endline", fu.endline, rng
    )
    baseline_response = rng.random(n) < 0.92
    endline_response = rng.random(n) < np.clip(0.7 + 0.05 * trait, 0.55, 0.85)
    baseline = baseline[baseline_response].reset_index(drop=True)
    endline = endline[endline_response].reset_index(drop=True)
    baseline, endline = (
        _add_bad_rows(baseline, rng, fu.baseline),
        _add_bad_rows(endline, rng, fu.endline),
    )
    hr = _hr_extract(design, people, trait, treated, rng)
    cols = {
        **{"participant_id": "participant_id", "collected_on": "collected_on"},
        **design.survey.columns,
    }
    rename = {field: col for field, col in cols.items()}
    return {
        "survey_baseline.csv": baseline.rename(columns=rename),
        "survey_endline.csv": endline.rename(columns=rename),
        "hr_extract.csv": hr.rename(
            columns={**{"participant_id": "participant_id"}, **design.hr.columns}
        ),
    }


def _add_bad_rows(frame: pd.DataFrame, rng: np.random.Generator, day: dt.date) -> pd.DataFrame:
    """One of each kind of bad row: unknown id, out-of-range item, a duplicate, a date outside the window, missing items."""
    item_cols = [c for c in frame.columns if c not in ("participant_id", "collected_on")]
    picks = frame.sample(4, random_state=int(rng.integers(2**31))).reset_index(drop=True)
    unknown = picks.iloc[[0]].assign(participant_id="UNKNOWN001")
    out_of_range = picks.iloc[[1]].copy()
    out_of_range[item_cols[0]] = 9
    duplicate = picks.iloc[[2]].copy()
    duplicate[item_cols[-1]] = np.nan  # the less complete copy: the rule keeps the other
    late = picks.iloc[[3]].assign(
        participant_id="UNKNOWN002", collected_on=(day + dt.timedelta(days=900)).isoformat()
    )
    frame = frame.copy()
    if len(item_cols) > 2:
        frame.loc[frame.index[5], item_cols[1]] = (
            np.nan
        )  # a missing item: scored by the declared rule
    bad = pd.concat(
        [
            unknown,
            out_of_range.assign(participant_id=out_of_range["participant_id"]),
            duplicate,
            late,
        ]
    )
    bad = bad[
        ~bad["participant_id"].isin(out_of_range["participant_id"]) | (bad[item_cols[0]] == 9)
    ]
    frame = frame[~frame["participant_id"].isin(out_of_range["participant_id"])]
    return pd.concat([frame, bad], ignore_index=True)


def _hr_extract(design, people, trait, treated, rng) -> pd.DataFrame:  # noqa: ANN001
    fu = design.follow_up
    n = len(people)
    window_days = (fu.window_end - fu.window_start).days
    leave_p = np.clip(0.15 - 0.03 * trait - 0.01 * treated, 0.03, 0.4)
    leaves = rng.random(n) < leave_p
    leaving = [
        (fu.window_start + dt.timedelta(days=int(d))).isoformat() if left else None
        for left, d in zip(leaves, rng.integers(0, window_days, n), strict=True)
    ]
    fte = rng.choice([1.0, 0.8, 0.6], size=n, p=[0.8, 0.12, 0.08])
    staff = pd.DataFrame(
        {
            "participant_id": people["participant_id"],
            "record_type": "staff",
            "fte": fte,
            "leaving_date": leaving,
        }
    )
    # absence: about 3% of days, in episodes of 1-15 days, some overlapping (duplicated HR records)
    episodes = []
    rate = np.clip(0.03 * np.exp(-0.3 * trait), 0.005, 0.15)
    for pid, r in zip(people["participant_id"], rate, strict=True):
        for _ in range(rng.poisson(r * window_days / 5)):
            start = fu.window_start + dt.timedelta(days=int(rng.integers(0, window_days)))
            length = int(rng.integers(1, 10))
            episodes.append(
                (pid, start.isoformat(), (start + dt.timedelta(days=length - 1)).isoformat())
            )
            if rng.random() < 0.05:  # a duplicated, overlapping record
                episodes.append(
                    (
                        pid,
                        (start + dt.timedelta(days=1)).isoformat(),
                        (start + dt.timedelta(days=length)).isoformat(),
                    )
                )
    absence = pd.DataFrame(episodes, columns=["participant_id", "start_date", "end_date"]).assign(
        record_type="absence"
    )
    return pd.concat([staff, absence], ignore_index=True)[
        ["participant_id", "record_type", "fte", "leaving_date", "start_date", "end_date"]
    ]
