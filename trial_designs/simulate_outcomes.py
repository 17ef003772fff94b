"""Synthetic survey exports and HR extracts with known true effects (seeded, pure).

:func:`simulate_outcomes` returns the files a coordinator would receive, in the
column layout each design's ``survey.columns`` and ``hr.columns`` declare, so
they go through the real ingest: ``survey_baseline.csv``,
``survey_endline.csv`` (one row per response, a free-text ``comments``
column included, which the ingest drops) and ``hr_extract.csv`` (staff rows
and absence episodes in one file, told apart by ``record_type``).

True effects (:data:`TRUE_EFFECTS`), in the primary outcome's own units,
added at endline to the people who receive the intervention:

- letters: +0.4 on feeling valued (0-10) among those whose letter arrived;
- goal_setting: +0.3 SWEMWBS metric points among those who took the course
  up.  With about 20% uptake that is an ITT of about +0.06: a realistic null;
- coffee: +0.5 SWEMWBS metric points in buildings with a machine;
- schwartz_rounds: -1.0 GHQ-12 points (less distress) at sites holding Rounds;
- goal_setting_nudges (the three-arm demo design): +0.3 SWEMWBS metric points
  among those who took the course up, in either active arm (``by_arm`` says
  an effect per arm).

``took_up`` (0/1 by participant id, e.g. from the simulated delivery log)
says who receives the effect in the two trials whose effect works through
uptake; without it everyone assigned to the active arm receives it.  Every
other outcome, absence and turnover included, has a true effect of zero.

What the data look like (:data:`SCORE_NORMS` and the constants below):

- scores follow one common wellbeing factor with an intra-cluster correlation
  of :data:`ICC` = 0.05 within the unit of randomisation (cluster trials) or
  team (individual trials); baseline and endline correlate about 0.6;
  instruments correlate about 0.6 with each other;
- each score is generated as a target in its own units (SWEMWBS metric about
  21, SD about 3.5; WRQoL total about 77, SD about 15; GHQ-12 about 12, SD
  about 5; CBI work-related burnout about 45, SD about 19), then turned into
  item answers (SWEMWBS through the inverse of the official Rasch table), so
  the scores the ingest computes come from items;
- about 90% answer at baseline and 20-40% are lost at endline (non-response
  rising as wellbeing falls, and leavers); some responses skip an item or two;
- about 15% leave within the follow-up window and about 3% of FTE-days are
  lost to sickness absence, in episodes of a day to two months, a few
  recorded twice with overlapping dates; a few staff change FTE mid-window;
- every file has a sprinkling of bad rows of every kind the ingest
  quarantines: unknown ids, out-of-range and non-numeric answers, duplicate
  responses, dates outside the window or not dates at all, an empty response;
  in the HR extract an unknown id, an impossible FTE, an unknown record type,
  an episode ending before it starts and an impossible date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trial_designs.cycles import last_survey_day, survey_window
from trial_designs.design import TrialDesign
from trial_designs.instruments import SWEMWBS_METRIC, instrument_spec
from trial_designs.scale_files import declared_instrument, read_wrqol_scoring
from trial_designs.sections import Outcome

__all__ = [
    "ABSENCE_RATE",
    "ICC",
    "SCORE_NORMS",
    "TRUE_EFFECTS",
    "TURNOVER",
    "TrueEffect",
    "simulate_outcomes",
]


@dataclass(frozen=True)
class TrueEffect:
    """A simulated trial's built-in effect on one outcome, in that outcome's units.

    ``effect`` is what every active arm receives; ``by_arm`` (arm name -> effect)
    says it per arm instead, for a multi-arm design whose arms differ (an arm
    it leaves out receives ``effect``).
    """

    outcome: str
    effect: float
    among: str  # "assigned" or "took_up"
    by_arm: tuple[tuple[str, float], ...] = ()

    def of_arm(self, arm: str) -> float:
        """The effect the arm ``arm`` receives (the control arm's is never asked)."""
        return dict(self.by_arm).get(arm, self.effect)

    def to_dict(self) -> dict:
        out = {"outcome": self.outcome, "effect": float(self.effect), "among": self.among}
        if self.by_arm:
            out["by_arm"] = {arm: float(v) for arm, v in self.by_arm}
        return out


TRUE_EFFECTS: dict[str, TrueEffect] = {
    "letters": TrueEffect("feeling_valued", 0.4, "took_up"),
    "goal_setting": TrueEffect("swemwbs", 0.3, "took_up"),
    "coffee": TrueEffect("swemwbs", 0.5, "assigned"),
    "schwartz_rounds": TrueEffect("ghq12", -1.0, "assigned"),
    # the demo's three-arm design: the course works the same in either active arm, for those
    # who take it up; the reminders arm's larger ITT comes from its higher uptake alone
    "goal_setting_nudges": TrueEffect(
        "swemwbs", 0.3, "took_up", by_arm=(("course", 0.3), ("course_reminders", 0.3))
    ),
}

#: Population mean and SD of each score the survey yields (observed, after item rounding).
SCORE_NORMS: dict[str, tuple[float, float]] = {
    "swemwbs": (21.0, 3.5),
    "wrqol": (77.0, 15.0),
    "ghq12": (12.0, 5.0),
    # CBI work-related burnout, 0-100: a plausible level for social workers (mean about 45,
    # SD about 19), chosen for the demo rather than taken from one published norm
    "cbi_work": (45.0, 19.0),
    "ons4_life_satisfaction": (7.0, 1.8),
    "ons4_worthwhile": (7.4, 1.6),
    "ons4_happy": (7.0, 2.2),
    "ons4_anxious": (3.4, 2.7),
    "feeling_valued": (5.5, 2.2),
    "job_satisfaction": (6.5, 2.0),
    "time_pressure": (7.2, 1.9),
}
_SINGLE_ITEM_DEFAULT = (6.0, 2.0)  # on a 0-10 scale, rescaled to a declared range

#: Intra-cluster correlation of every score.
ICC = 0.05
#: Share of each score's non-cluster variance that is stable within a person over time.
_STABILITY = 0.65
#: Loading of each score on the common wellbeing factor.
_LOADING = 0.8
#: Leaving within the follow-up window, and the share of FTE-days lost to sickness.
TURNOVER = 0.15
ABSENCE_RATE = 0.03

# Item-level noise (SD, before rounding) and the latent SD that gives the observed SD above.
# Calibrated once by simulation at N = 200,000 (see tests/trial_designs/test_simulate_outcomes.py).
_ITEM_NOISE = {"swemwbs": 0.45, "wrqol": 0.55, "ghq12": 0.45, "cbi_work": 0.6}
_LATENT_SD_FACTOR = {"swemwbs": 0.95, "wrqol": 1.005, "ghq12": 0.96, "cbi_work": 0.985}
_METRIC = np.asarray(SWEMWBS_METRIC)
_RAW = np.arange(7, 36, dtype=float)


def _survey_items(design: TrialDesign) -> list[str]:
    items: list[str] = []
    for outcome in design.outcomes:
        if outcome.source != "survey":
            continue
        names = (
            [outcome.name]
            if outcome.instrument == "single_item"
            else list(declared_instrument(outcome.instrument).items)
        )
        items += [c for c in names if c not in items]
    return items


def _received_effect(
    design: TrialDesign, people: pd.DataFrame, took_up: pd.Series | None, true: TrueEffect
) -> np.ndarray:
    """Each participant's shift: their arm's effect, if they receive the intervention."""
    effect = (
        people["arm"]
        .map(lambda arm: 0.0 if arm == design.control_arm else true.of_arm(arm))
        .to_numpy(float)
    )
    if true.among == "assigned" or took_up is None:
        return effect
    taken = pd.Series(took_up).astype(float)
    taken.index = taken.index.astype(str)
    return effect * people["participant_id"].astype(str).map(taken).fillna(0.0).to_numpy()


class _Factors:
    """The latent structure: cluster effects, stable person parts, and fresh noise per wave."""

    def __init__(self, people: pd.DataFrame, design: TrialDesign, rng: np.random.Generator):
        key = people["unit_id"] if design.unit == "cluster" else people["team"].fillna("-")
        codes, uniques = pd.factorize(key.astype(str))
        self.rng = rng
        self.n = len(people)
        self.cluster = rng.normal(size=len(uniques))[codes]
        self.person = rng.normal(size=self.n)
        self.specific: dict[str, np.ndarray] = {}

    def common(self, wave: np.ndarray) -> np.ndarray:
        """The person's wellbeing factor at a wave (SD 1 before the cluster part)."""
        return np.sqrt(_STABILITY) * self.person + np.sqrt(1 - _STABILITY) * wave

    def score(self, name: str, wave: np.ndarray) -> np.ndarray:
        """A standardised score: cluster part (ICC) plus common and score-specific parts."""
        if name not in self.specific:
            self.specific[name] = self.rng.normal(size=self.n)
        own = np.sqrt(_STABILITY) * self.specific[name] + np.sqrt(1 - _STABILITY) * self.rng.normal(
            size=self.n
        )
        within = _LOADING * self.common(wave) + np.sqrt(1 - _LOADING**2) * own
        return np.sqrt(ICC) * self.cluster + np.sqrt(1 - ICC) * within


def _rounded_items(
    target_per_item: np.ndarray, n_items: int, noise: float, low: int, high: int, rng
):
    raw = target_per_item[:, None] + rng.normal(0.0, noise, (len(target_per_item), n_items))
    return np.clip(np.rint(raw), low, high)


def _instrument_items(
    outcome_instrument: str,
    z: np.ndarray,
    shift: np.ndarray,
    rng: np.random.Generator,
    wrqol_reverse: tuple[int, ...],
) -> dict[str, np.ndarray]:
    """Item answers of one multi-item instrument, from a standardised score ``z``."""
    mean, sd = SCORE_NORMS[outcome_instrument]
    # distress and burnout fall as wellbeing rises
    sign = -1.0 if outcome_instrument in ("ghq12", "cbi_work") else 1.0
    target = mean + sign * sd * _LATENT_SD_FACTOR[outcome_instrument] * z + shift
    noise = _ITEM_NOISE[outcome_instrument]
    if outcome_instrument == "swemwbs":
        raw = np.interp(target, _METRIC, _RAW)  # the Rasch table read backwards
        items = _rounded_items(raw / 7, 7, noise, 1, 5, rng)
    elif outcome_instrument == "ghq12":
        items = _rounded_items(np.clip(target, 0, 36) / 12, 12, noise, 0, 3, rng)
    elif outcome_instrument == "cbi_work":  # answers 1-5 score 0-100; item 7 is written reversed
        items = _rounded_items(1 + np.clip(target, 0, 100) / 25, 7, noise, 1, 5, rng)
        for item in declared_instrument("cbi_work").scale.reversed_items:
            items[:, int(item) - 1] = 6 - items[:, int(item) - 1]
    else:  # wrqol: answers are positive-worded; reverse-worded items are written the other way
        items = _rounded_items(np.clip(target, 23, 115) / 23, 23, noise, 1, 5, rng)
        for item in wrqol_reverse:
            items[:, item - 1] = 6 - items[:, item - 1]
    spec = declared_instrument(outcome_instrument)
    return {column: items[:, j] for j, column in enumerate(spec.items)}


def _single_items(
    name: str, outcome: Outcome | None, z: np.ndarray, shift: np.ndarray, low: float, high: float
) -> np.ndarray:
    mean, sd = SCORE_NORMS.get(name, _SINGLE_ITEM_DEFAULT)
    if name not in SCORE_NORMS:  # a declared item on another scale: rescale the 0-10 norm
        mean, sd = low + (high - low) * mean / 10, (high - low) * sd / 10
    sign = (
        -1.0
        if (outcome is not None and not outcome.higher_is_better) or name == "ons4_anxious"
        else 1.0
    )
    return np.clip(np.rint(mean + sign * sd * z + shift), low, high)


def _survey_wave(
    design: TrialDesign,
    factors: _Factors,
    shift_by_outcome: dict[str, np.ndarray],
    rng: np.random.Generator,
    wrqol_reverse: tuple[int, ...],
) -> pd.DataFrame:
    wave = rng.normal(size=factors.n)
    columns: dict[str, np.ndarray] = {}
    zero = np.zeros(factors.n)
    for outcome in design.outcomes:
        if outcome.source != "survey":
            continue
        shift = shift_by_outcome.get(outcome.name, zero)
        if outcome.instrument in ("swemwbs", "wrqol", "ghq12", "cbi_work"):
            if f"{outcome.instrument}_1" not in columns:
                z = factors.score(outcome.instrument, wave)
                columns.update(_instrument_items(outcome.instrument, z, shift, rng, wrqol_reverse))
        elif outcome.instrument == "ons4":
            for item in instrument_spec("ons4").items:
                if item not in columns:
                    z = factors.score(item, wave)
                    own = shift if item == f"ons4_{outcome.score}" else zero
                    columns[item] = _single_items(item, None, z, own, 0, 10)
        else:
            z = factors.score(outcome.name, wave)
            columns[outcome.name] = _single_items(
                outcome.name, outcome, z, shift, outcome.min_value, outcome.max_value
            )
    return pd.DataFrame(columns)


def _dates(start: dt.date, offsets: np.ndarray, low: dt.date, high: dt.date) -> np.ndarray:
    days = np.datetime64(start) + offsets.astype("timedelta64[D]")
    days = np.clip(days, np.datetime64(low), np.datetime64(high))
    return np.datetime_as_string(days, unit="D").astype(object)


def _skip_items(items: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """A few half-finished questionnaires: 4% skip one item, 1% skip two or three."""
    values = items.to_numpy(dtype=float, copy=True)
    n, k = values.shape
    skips = rng.choice([0, 1, 2, 3], size=n, p=[0.95, 0.04, 0.007, 0.003])
    for row in np.flatnonzero(skips):
        values[row, rng.choice(k, size=min(skips[row], k), replace=False)] = np.nan
    return pd.DataFrame(values, columns=items.columns, index=items.index)


_COMMENTS = (
    "More time for supervision would help.",
    "Caseloads are too high this quarter.",
    "The team has been very supportive.",
    "Please fix the car park barrier.",
    "Thank you for asking.",
)


def _with_bad_rows(
    survey: pd.DataFrame,
    items: list[str],
    design: TrialDesign,
    absent_ids: np.ndarray,
    prefix: str,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Add one or two rows of every kind the ingest quarantines (all real participants but two)."""
    fu = design.follow_up
    picks = survey.iloc[rng.choice(len(survey), size=8, replace=False)].reset_index(drop=True)
    first = items[0]
    spec_high = survey[first].max()
    bad = []
    for i in range(2):  # not in the trial
        bad.append(picks.iloc[[i]].assign(participant_id=f"{prefix}X{rng.integers(10**5):05d}"))
    out_of_range = picks.iloc[[2]].copy()
    out_of_range[first] = spec_high + 1 if spec_high == spec_high else 99
    non_numeric = picks.iloc[[3]].copy().astype({items[-1]: object})
    non_numeric[items[-1]] = "n/a"
    # after the last day any cohort may answer (a trial with cycles surveys its last one later)
    last_day = last_survey_day(fu, design.cycles)
    late = picks.iloc[[4]].assign(collected_on=(last_day + dt.timedelta(days=30)).isoformat())
    not_a_date = picks.iloc[[5]].assign(collected_on=pd.Timestamp(fu.endline).strftime("%d/%m/%Y"))
    # a second, less complete and earlier response: the duplicate rule keeps the first one
    partial = picks.iloc[[6]].copy()
    partial[items[: max(1, len(items) // 3)]] = np.nan
    partial["collected_on"] = (
        pd.Timestamp(partial["collected_on"].iloc[0]) - pd.Timedelta(days=3)
    ).strftime("%Y-%m-%d")
    resent = picks.iloc[[7]].copy()  # the same answers submitted twice
    bad += [out_of_range, non_numeric, late, not_a_date, partial, resent]
    replaced = set(picks["participant_id"].iloc[2:6])
    survey = survey[~survey["participant_id"].isin(replaced)]
    if len(absent_ids):  # someone who opened the survey and answered nothing
        empty = picks.iloc[[0]].assign(participant_id=absent_ids[0])
        empty[items] = np.nan
        bad.append(empty)
    return pd.concat([survey, *bad], ignore_index=True)


def _to_file(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    return frame.rename(columns={f: columns.get(f, f) for f in frame.columns})


def _hr_extract(
    design: TrialDesign,
    people: pd.DataFrame,
    wellbeing: np.ndarray,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Staff rows and absence episodes; also each person's leaving date (NaT if none)."""
    fu = design.follow_up
    n = len(people)
    start, end = np.datetime64(fu.window_start), np.datetime64(fu.window_end)
    span = int((end - start) / np.timedelta64(1, "D")) + 1
    ids = people["participant_id"].astype(str).to_numpy(object)
    # turnover: about 15% within the window, more among the less well; 0.5% gone before it
    hazard = TURNOVER * np.exp(-0.3 * wellbeing) / np.mean(np.exp(-0.3 * wellbeing))
    leaves = rng.random(n) < np.clip(hazard, 0, 0.9)
    leaving = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    leaving[leaves] = start + rng.integers(0, span, leaves.sum()).astype("timedelta64[D]")
    gone_before = ~leaves & (rng.random(n) < 0.005)
    leaving[gone_before] = start - rng.integers(5, 60, gone_before.sum()).astype("timedelta64[D]")
    fte = rng.choice([1.0, 0.8, 0.6, 0.5], size=n, p=[0.75, 0.12, 0.08, 0.05])
    staff = pd.DataFrame(
        {
            "participant_id": ids,
            "record_type": "staff",
            "fte": fte,
            "effective_from": None,
            "leaving_date": np.where(
                np.isnat(leaving), None, np.datetime_as_string(leaving, unit="D")
            ).astype(object),
        }
    )
    changed = rng.random(n) < 0.03  # an FTE change part-way through the window
    change = staff[changed].assign(
        fte=rng.choice([1.0, 0.8, 0.6], size=changed.sum()),
        effective_from=np.datetime_as_string(
            start + rng.integers(30, max(31, span - 30), changed.sum()).astype("timedelta64[D]"),
            unit="D",
        ),
    )
    # absence: episode counts vary by person; lengths mostly short, a few long-term
    frailty = rng.gamma(0.8, 1 / 0.8, n) * np.exp(-0.35 * wellbeing)
    frailty /= frailty.mean()
    days_expected = ABSENCE_RATE * span * 5 / 7  # working days lost per person
    mean_length = 0.7 * 2.0 + 0.25 * 9.0 + 0.05 * 37.5  # calendar days per episode
    # 1.1: episodes cut off by the window's end and by leaving lose about a tenth of their days
    rate = 1.1 * frailty * days_expected / (mean_length * 5 / 7)
    counts = rng.poisson(rate)
    who = np.repeat(np.arange(n), counts)
    kind = rng.choice(3, size=len(who), p=[0.7, 0.25, 0.05])
    length = np.select(
        [kind == 0, kind == 1],
        [rng.integers(1, 4, len(who)), rng.integers(4, 15, len(who))],
        rng.integers(15, 61, len(who)),
    )
    first = start + rng.integers(0, span, len(who)).astype("timedelta64[D]")
    last = first + (length - 1).astype("timedelta64[D]")
    twice = rng.random(len(who)) < 0.04  # recorded twice, the copy shifted by a day
    who = np.concatenate([who, who[twice]])
    first = np.concatenate([first, first[twice] + np.timedelta64(1, "D")])
    last = np.concatenate([last, last[twice] + np.timedelta64(1, "D")])
    if len(who):
        # nobody is off sick after leaving: an episode that would start later is dropped
        stop = leaving[who]
        keep = np.isnat(stop) | (first <= stop)
        who, first, last = who[keep], first[keep], last[keep]
    episodes = pd.DataFrame(
        {
            "participant_id": ids[who],
            "record_type": "absence",
            "start_date": np.datetime_as_string(first, unit="D").astype(object),
            "end_date": np.datetime_as_string(last, unit="D").astype(object),
        }
    )
    extract = pd.concat([staff, change, episodes], ignore_index=True)
    return extract, leaving


def _hr_bad_rows(extract: pd.DataFrame, prefix: str, rng: np.random.Generator) -> pd.DataFrame:
    staff = extract[extract["record_type"] == "staff"]
    episodes = extract[extract["record_type"] == "absence"]
    picks = staff.iloc[rng.choice(len(staff), size=3, replace=False)]
    bad = [
        picks.iloc[[0]].assign(participant_id=f"{prefix}X{rng.integers(10**5):05d}"),
        picks.iloc[[1]].assign(fte=1.5),  # a second staff row with an impossible FTE
        picks.iloc[[2]].assign(record_type="contractor"),
    ]
    if len(episodes) >= 2:
        swapped = episodes.iloc[[0]].copy()
        swapped[["start_date", "end_date"]] = swapped[["end_date", "start_date"]].to_numpy()
        if swapped["start_date"].iloc[0] == swapped["end_date"].iloc[0]:
            swapped["start_date"] = (
                pd.Timestamp(swapped["start_date"].iloc[0]) + pd.Timedelta(days=2)
            ).strftime("%Y-%m-%d")
        impossible = episodes.iloc[[1]].assign(end_date="2020-02-30")
        bad += [swapped, impossible]
    return pd.concat([extract, *bad], ignore_index=True)


def simulate_outcomes(
    design: TrialDesign,
    participants: pd.DataFrame,
    *,
    rng: np.random.Generator,
    took_up: pd.Series | None = None,
) -> dict[str, pd.DataFrame]:
    """Baseline, endline and follow-up wave survey exports and an HR extract, in the design's layout.

    Parameters
    ----------
    design : TrialDesign
        Declares the outcomes (which items the survey holds), the file columns
        (``survey.columns``, ``hr.columns``), HR record codes and the dates.
    participants : DataFrame
        The store's participant arms: participant_id, unit_id, arm,
        organisation, team. Row order does not matter.
    rng : numpy.random.Generator
        The only source of randomness.
    took_up : Series, optional
        0/1 by participant id: who took the intervention up (letters, goal
        setting). Without it, everyone assigned to the active arm receives the
        effect.

    Returns
    -------
    dict of str to DataFrame
        ``survey_baseline.csv``, ``survey_endline.csv``, ``hr_extract.csv`` and a
        ``survey_<name>.csv`` per declared follow-up wave, columns named as the design
        maps them.
    """
    people = participants.sort_values("participant_id", kind="stable").reset_index(drop=True)
    people = people.assign(participant_id=people["participant_id"].astype(str))
    n = len(people)
    fu = design.follow_up
    factors = _Factors(people, design, rng)
    items = _survey_items(design)
    reverse = ()
    if any(o.instrument == "wrqol" for o in design.outcomes):
        reverse = tuple(read_wrqol_scoring()["reverse"])

    true = TRUE_EFFECTS.get(design.id)
    shift = {}
    if true is not None:
        shift = {true.outcome: _received_effect(design, people, took_up, true)}
    baseline = _survey_wave(design, factors, {}, rng, reverse)
    endline = _survey_wave(design, factors, shift, rng, reverse)

    prefix = design.id[:3].upper()
    wellbeing = factors.common(np.zeros(n))
    hr, leaving = _hr_extract(design, people, wellbeing, rng)
    endline_day = np.datetime64(fu.endline) + rng.integers(0, 29, n).astype("timedelta64[D]")
    endline_day = np.minimum(endline_day, np.datetime64(fu.window_end))
    stayed = np.isnat(leaving) | (leaving >= endline_day)
    answered_baseline = rng.random(n) < 0.9
    answered_endline = stayed & (rng.random(n) < 1 / (1 + np.exp(-(1.45 + 0.35 * wellbeing))))

    def export(wave: pd.DataFrame, answered: np.ndarray, collected_on: np.ndarray) -> pd.DataFrame:
        survey = pd.DataFrame(
            {
                "participant_id": people["participant_id"].to_numpy(object),
                "collected_on": collected_on,
            }
        )
        survey = pd.concat([survey, _skip_items(wave[items], rng)], axis=1)[answered]
        survey = _with_bad_rows(
            survey, items, design, people["participant_id"].to_numpy()[~answered], prefix, rng
        )
        survey["comments"] = np.where(
            rng.random(len(survey)) < 0.15,
            np.asarray(_COMMENTS, dtype=object)[rng.integers(0, len(_COMMENTS), len(survey))],
            None,
        )
        order = np.argsort(
            pd.to_datetime(survey["collected_on"], errors="coerce", format="ISO8601").to_numpy(),
            kind="stable",
        )
        survey = survey.iloc[order].reset_index(drop=True)
        for column in items:  # whole numbers print without ".0"; text answers stay text
            numbers = pd.to_numeric(survey[column], errors="coerce")
            text = survey[column].notna() & numbers.isna()
            survey[column] = np.where(
                text, survey[column].astype(object), numbers.astype("Int64").astype(object)
            )
        return _to_file(survey, design.survey.columns)

    files = {}
    baseline_closes = survey_window(fu, design.cycles, "baseline").end
    for name, wave, answered, offsets in (
        ("survey_baseline.csv", baseline, answered_baseline, rng.integers(-7, 22, n)),
        ("survey_endline.csv", endline, answered_endline, None),
    ):
        files[name] = export(
            wave,
            answered,
            # no later than the baseline's own window closes (randomisation): a later
            # response is quarantined (intake.surveys, trial_designs.cycles.survey_window)
            _dates(fu.baseline, offsets, fu.recruitment_start, baseline_closes)
            if offsets is not None
            else np.datetime_as_string(endline_day, unit="D").astype(object),
        )

    codes = {"staff": "staff", "absence": "absence", **design.hr.options.get("record_types", {})}
    hr = _hr_bad_rows(hr, prefix, rng)
    hr["record_type"] = hr["record_type"].map(lambda kind: codes.get(kind, kind))
    hr = hr[
        [
            "participant_id",
            "record_type",
            "fte",
            "effective_from",
            "leaving_date",
            "start_date",
            "end_date",
        ]
    ]
    files["hr_extract.csv"] = _to_file(hr, design.hr.columns)
    # declared follow-up waves last, so a design without one draws exactly what it drew before:
    # the effect is there from the first wave (the course is over by the mid-point), fewer
    # have left, and a few more answer than at endline
    for follow_up in sorted(fu.waves, key=lambda w: w.date):
        wave = _survey_wave(design, factors, shift, rng, reverse)
        day = np.datetime64(follow_up.date) + rng.integers(0, 29, n).astype("timedelta64[D]")
        there = np.isnat(leaving) | (leaving >= day)
        answered = there & (rng.random(n) < 1 / (1 + np.exp(-(1.6 + 0.35 * wellbeing))))
        files[f"survey_{follow_up.name}.csv"] = export(
            wave, answered, np.datetime_as_string(day, unit="D").astype(object)
        )
    return files
