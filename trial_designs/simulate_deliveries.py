"""Synthetic delivery logs shaped like the seed trials (seeded, pure).

- **goal-setting**: everyone in the course arm is invited and about one in
  ten has time booked in their diary (the seed's survey: about 10% had time
  scheduled); about 20% start and fewer than 2% complete all six
  weekly modules, with fewer active each week; two control-arm social workers
  find the course anyway (contamination);
- **Schwartz Rounds**: each site with Rounds holds a training day, then 3-6
  monthly Rounds, each with a panel meeting before and a steering group
  after, with hours and attendees; attendance varies by person and by Round;
  a Round lasts an hour and a half and is open to all the authority's staff,
  so its head count (57-103, as the seed's £1,146-£2,063 per Round at about
  £20 a person implies) includes the trial participants logged as attending
  and colleagues outside the trial; one waiting-list member attends a Round
  (contamination);
- **letters**: two lines of feedback per letter-arm participant from their
  manager (a few missing, so the letters flow has something to report), a
  letter sent to everyone whose feedback is complete, and a few returned;
- **coffee**: a machine and a thank-you note per coffee-arm building, then
  supplies restocked every four weeks;
- **goal-setting nudges** (the three-arm demo design, not a seed trial): one
  log per intervention; the course by email as in goal-setting (about 20%
  start), and with manager reminders (a weekly reminder for six weeks, a
  diary slot booked before each module started): about 40% start and more go
  on from module to module.

Each log also holds a few deliberately bad rows (an unknown participant or
building, an event outside the vocabulary, a date outside the trial window,
module 7, attendance at a Round never held) and one line exported twice, so
a demo shows quarantine and de-duplication at work.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from trial_designs.design import TrialDesign
from trial_designs.sections import Intervention
from trial_designs.uptake_rules import DELIVERY_FIELDS, REQUIRED_DELIVERY_FIELDS

__all__ = [
    "FEEDBACK_LINES",
    "NUDGES_STARTED",
    "ROUND_ATTENDANCE",
    "ROUND_HOURS",
    "simulate_deliveries",
]

_WHOLE_NUMBERS = ("quantity", "attendees", "module")

#: Share of the course arm with time for the course booked in their diary (the seed's survey).
_DIARY_BOOKED = 0.10
#: A Round's length in hours: staff describe it as "an hour and a half a month" (the seed).
ROUND_HOURS = 1.5
#: Head count of a Round, inclusive: the seed's £1,146-£2,063 per Round at about £20 a person.
ROUND_ATTENDANCE = (57, 103)

#: Specific, plausible lines a team manager might write (first line: what they did; second: why it mattered).
FEEDBACK_LINES = (
    (
        "Your patient work with a family in crisis this spring helped keep three children safely at home.",
        "The way you prepared the family for their child protection conference gave them a real voice.",
        "You stepped in to cover the duty desk through a very busy fortnight without being asked.",
        "Your calm, careful assessment of a complex referral helped the whole team make a sound decision.",
        "You have built real trust with a young person who had stopped talking to professionals.",
        "Your clear and thoughtful case recording made a difficult court hearing go smoothly.",
        "You welcomed two newly qualified colleagues and supported them through their first months.",
        "Your persistence in finding a specialist placement has made a lasting difference to a teenager.",
    ),
    (
        "Colleagues often tell me how much they value your steady advice.",
        "Families you work with regularly mention how listened to they feel.",
        "It has not gone unnoticed, and I wanted you to know how much it is appreciated.",
        "Your good humour on hard days lifts the whole team.",
        "Thank you for the care and professionalism you bring to every visit.",
        "Your reflective practice is an example to all of us.",
    ),
)


def _stamp(day: dt.date, offset_days: int, minutes: int | None = None) -> str:
    moment = day + dt.timedelta(days=int(offset_days))
    if minutes is None:
        return moment.isoformat()
    clock = dt.datetime.combine(moment, dt.time(8, 30)) + dt.timedelta(minutes=int(minutes))
    return clock.isoformat(timespec="seconds")


def _arm_members(design: TrialDesign, people: pd.DataFrame, intervention: Intervention):  # noqa: ANN202
    return people[people["arm"] == intervention.arm], people[people["arm"] == design.control_arm]


def _course_modules(
    pid: str,
    day0: dt.date,
    invited: int,
    rng: np.random.Generator,
    finish_module: float,
    go_on: float,
    first_week_p: tuple[float, ...] = (0.55, 0.25, 0.12, 0.08),
) -> list[dict]:
    """One starter's weekly modules: started, completed with ``finish_module``, the next
    started with ``go_on``; the first in the week drawn from ``first_week_p``."""
    rows: list[dict] = []
    first_week = int(rng.choice(len(first_week_p), p=list(first_week_p)))
    for module in range(1, 7):
        day = invited + 7 * (first_week + module - 1) + int(rng.integers(0, 5))
        rows.append(
            {
                "unit_id": pid,
                "event_type": "module_started",
                "occurred_at": _stamp(day0, day, rng.integers(0, 480)),
                "module": module,
            }
        )
        if rng.random() >= finish_module:
            break
        rows.append(
            {
                "unit_id": pid,
                "event_type": "module_completed",
                "occurred_at": _stamp(day0, day + int(rng.integers(0, 3)), rng.integers(0, 480)),
                "module": module,
            }
        )
        if rng.random() >= go_on:
            break
    return rows


def _goal_setting(
    design: TrialDesign, people: pd.DataFrame, rng: np.random.Generator
) -> list[dict]:
    intervention = design.interventions[0]
    course, control = _arm_members(design, people, intervention)
    day0 = design.follow_up.randomisation
    rows: list[dict] = []
    finish_module, go_on = 0.85, 0.65  # P(complete a started module), P(start the next one)
    # the seed's survey: about 10% of staff had time for the course scheduled in their diary
    for pid in course["participant_id"]:
        invited = int(rng.integers(1, 4))
        rows.append(
            {
                "unit_id": pid,
                "event_type": "invited",
                "occurred_at": _stamp(day0, invited, rng.integers(0, 120)),
            }
        )
        if rng.random() < _DIARY_BOOKED:
            rows.append(
                {
                    "unit_id": pid,
                    "event_type": "diary_slot_booked",
                    "occurred_at": _stamp(
                        day0, invited + rng.integers(1, 10), rng.integers(0, 480)
                    ),
                }
            )
        if rng.random() >= 0.20:
            continue
        rows += _course_modules(pid, day0, invited, rng, finish_module, go_on)
    for pid in control["participant_id"].to_numpy()[rng.choice(len(control), 2, replace=False)]:
        rows.append(
            {
                "unit_id": pid,
                "event_type": "module_started",
                "occurred_at": _stamp(day0, 20, rng.integers(0, 480)),
                "module": 1,
            }
        )
    someone = course["participant_id"].iloc[0]
    rows += [
        {"unit_id": "GOA99999", "event_type": "invited", "occurred_at": _stamp(day0, 2, 30)},
        {
            "unit_id": someone,
            "event_type": "module_skipped",
            "occurred_at": _stamp(day0, 30, 60),
            "module": 2,
        },
        {
            "unit_id": someone,
            "event_type": "module_started",
            "occurred_at": _stamp(design.follow_up.window_end, 120, 0),
            "module": 1,
        },
        {
            "unit_id": someone,
            "event_type": "module_completed",
            "occurred_at": _stamp(day0, 60, 90),
            "module": 7,
        },
    ]
    return rows


#: The demo's three-arm follow-up (goal_setting_nudges): share who start, per intervention.
NUDGES_STARTED = {"course_by_email": 0.20, "course_with_reminders": 0.40}


def _goal_setting_nudges(
    design: TrialDesign, people: pd.DataFrame, rng: np.random.Generator
) -> dict[str, list[dict]]:
    """The three-arm demo's two logs, one per intervention (keyed by its name).

    The course by email goes as in the goal-setting trial (about 20% start).  With
    reminders, the team manager sends a weekly reminder for six weeks and books a
    diary slot before each module; about 40% start and more of them go on.
    """
    day0 = design.follow_up.randomisation
    logs: dict[str, list[dict]] = {}
    for intervention in design.interventions:
        members, control = _arm_members(design, people, intervention)
        nudged = "reminder_sent" in intervention.event_types
        finish_module, go_on = (0.9, 0.8) if nudged else (0.85, 0.65)
        rows: list[dict] = []
        for pid in members["participant_id"]:
            invited = int(rng.integers(1, 4))
            rows.append(
                {
                    "unit_id": pid,
                    "event_type": "invited",
                    "occurred_at": _stamp(day0, invited, rng.integers(0, 120)),
                }
            )
            if nudged:
                for week in range(1, 7):
                    if rng.random() < 0.9:  # a busy manager misses the odd week
                        rows.append(
                            {
                                "unit_id": pid,
                                "event_type": "reminder_sent",
                                "occurred_at": _stamp(
                                    day0, invited + 7 * week - 6, rng.integers(0, 120)
                                ),
                            }
                        )
            if rng.random() >= NUDGES_STARTED[intervention.name]:
                if nudged and rng.random() < 0.3:  # a slot booked, never used
                    rows.append(
                        {
                            "unit_id": pid,
                            "event_type": "diary_slot_booked",
                            "occurred_at": _stamp(day0, invited + 1, rng.integers(0, 480)),
                        }
                    )
                continue
            modules = _course_modules(
                pid, day0, invited, rng, finish_module, go_on, (0.7, 0.2, 0.07, 0.03)
            )
            for event in list(modules):
                if nudged and event["event_type"] == "module_started":
                    # booked the hour before: never before the invitation or randomisation
                    booked = dt.datetime.fromisoformat(event["occurred_at"]) - dt.timedelta(hours=1)
                    rows.append(
                        {
                            "unit_id": pid,
                            "event_type": "diary_slot_booked",
                            "occurred_at": booked.isoformat(timespec="seconds"),
                        }
                    )
            rows += modules
        if not nudged:  # two control-arm staff find the course anyway (contamination)
            for pid in control["participant_id"].to_numpy()[
                rng.choice(len(control), 2, replace=False)
            ]:
                rows.append(
                    {
                        "unit_id": pid,
                        "event_type": "module_started",
                        "occurred_at": _stamp(day0, 20, rng.integers(0, 480)),
                        "module": 1,
                    }
                )
        someone = members["participant_id"].iloc[0]
        rows += [
            {"unit_id": "GSN99999", "event_type": "invited", "occurred_at": _stamp(day0, 2, 30)},
            {  # not in this intervention's vocabulary when it is the course by email
                "unit_id": someone,
                "event_type": "reminder_sent" if not nudged else "module_skipped",
                "occurred_at": _stamp(day0, 30, 60),
            },
            {
                "unit_id": someone,
                "event_type": "module_completed",
                "occurred_at": _stamp(day0, 60, 90),
                "module": 7,
            },
        ]
        logs[intervention.name] = rows
    return logs


def _schwartz_rounds(
    design: TrialDesign, people: pd.DataFrame, rng: np.random.Generator
) -> list[dict]:
    intervention = design.interventions[0]
    active, waiting = _arm_members(design, people, intervention)
    start = max(design.follow_up.window_start, design.follow_up.randomisation)
    rows: list[dict] = []
    for k, (site, members) in enumerate(active.groupby("unit_id", sort=True)):
        facilitator = f"Facilitator {chr(ord('A') + k)}"
        rows.append(
            {
                "unit_id": site,
                "event_type": "training_held",
                "occurred_at": _stamp(start, rng.integers(3, 12)),
                "hours": 7.0,
                "attendees": int(rng.integers(6, 11)),
                "facilitator": facilitator,
            }
        )
        # some staff come to most Rounds, most come rarely
        propensity = rng.beta(1.0, 5.0, size=len(members))
        for r in range(int(rng.integers(3, 7))):
            round_id = f"{site}-R{r + 1}"
            day = 30 + 28 * r + int(rng.integers(0, 5))
            turnout = np.clip(propensity * rng.uniform(0.6, 1.4), 0, 1)
            came = members["participant_id"].to_numpy()[rng.random(len(members)) < turnout]
            rows.append(
                {
                    "unit_id": site,
                    "event_type": "panel_meeting_held",
                    "occurred_at": _stamp(start, day - 7),
                    "hours": 1.5,
                    "attendees": int(rng.integers(4, 7)),
                    "round_id": round_id,
                    "facilitator": facilitator,
                }
            )
            # the Round is open to all the authority's staff, not only those in the trial:
            # the head count is drawn from the seed's range and includes those logged below
            low, high = ROUND_ATTENDANCE
            if len(came) > high:  # a very large site: the room holds no more than the seed's
                came = np.sort(rng.choice(came, high, replace=False))
            head_count = max(int(rng.integers(low, high + 1)), len(came))
            rows.append(
                {
                    "unit_id": site,
                    "event_type": "round_held",
                    "occurred_at": _stamp(start, day),
                    "hours": ROUND_HOURS,
                    "attendees": head_count,
                    "round_id": round_id,
                    "facilitator": facilitator,
                }
            )
            rows += [
                {
                    "unit_id": pid,
                    "event_type": "attended",
                    "occurred_at": _stamp(start, day),
                    "hours": ROUND_HOURS,
                    "round_id": round_id,
                }
                for pid in came
            ]
            rows.append(
                {
                    "unit_id": site,
                    "event_type": "steering_group_held",
                    "occurred_at": _stamp(start, day + 3),
                    "hours": 1.0,
                    "attendees": int(rng.integers(5, 9)),
                    "round_id": round_id,
                }
            )
    first_round = next(r for r in rows if r["event_type"] == "round_held")
    member = active.loc[active["unit_id"] == first_round["unit_id"], "participant_id"].iloc[0]
    if len(waiting):
        rows.append(_attendance(first_round, waiting["participant_id"].iloc[0]))
    rows += [
        {**_attendance(first_round, member), "round_id": f"{first_round['unit_id']}-R9"},
        _attendance(first_round, "SCH99999"),
        {**_attendance(first_round, member), "event_type": "round_cancelled"},
        {
            **first_round,
            "round_id": f"{first_round['unit_id']}-R0",
            "occurred_at": _stamp(design.follow_up.window_end, 30),
        },
    ]
    return rows


def _attendance(round_held: dict, participant_id: str) -> dict:
    return {
        "unit_id": participant_id,
        "event_type": "attended",
        "occurred_at": round_held["occurred_at"],
        "hours": ROUND_HOURS,
        "round_id": round_held["round_id"],
    }


def _feedback(design: TrialDesign, people: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    letter_arm, _ = _arm_members(design, people, design.interventions[0])
    ids = letter_arm["participant_id"].to_numpy()
    first, second = (np.asarray(lines, dtype=object) for lines in FEEDBACK_LINES)
    frame = pd.DataFrame(
        {
            "participant_id": ids,
            "feedback_1": first[rng.integers(0, len(first), len(ids))],
            "feedback_2": second[rng.integers(0, len(second), len(ids))],
        }
    )
    # a manager who has not written yet: a blank line, and a person left off the sheet
    gaps = rng.choice(len(ids), size=3, replace=False)
    frame.loc[gaps[0], "feedback_2"] = None
    frame.loc[gaps[1], "feedback_1"] = None
    return frame.drop(index=gaps[2]).reset_index(drop=True)


def _letters(
    design: TrialDesign, people: pd.DataFrame, rng: np.random.Generator, feedback: pd.DataFrame
) -> list[dict]:
    day0 = design.follow_up.randomisation
    complete = feedback.dropna(subset=["feedback_1", "feedback_2"])["participant_id"]
    rows: list[dict] = []
    for pid in complete:
        sent = int(rng.integers(7, 15))
        rows.append(
            {"unit_id": pid, "event_type": "letter_sent", "occurred_at": _stamp(day0, sent)}
        )
        if rng.random() < 0.03:
            rows.append(
                {
                    "unit_id": pid,
                    "event_type": "letter_returned",
                    "occurred_at": _stamp(day0, sent + int(rng.integers(10, 25))),
                }
            )
    someone = complete.iloc[0]
    rows += [
        {"unit_id": "LET99999", "event_type": "letter_sent", "occurred_at": _stamp(day0, 9)},
        {"unit_id": someone, "event_type": "letter_lost", "occurred_at": _stamp(day0, 30)},
        {
            "unit_id": someone,
            "event_type": "letter_returned",
            "occurred_at": _stamp(design.follow_up.window_end, 40),
        },
    ]
    return rows


def _coffee(design: TrialDesign, people: pd.DataFrame, rng: np.random.Generator) -> list[dict]:
    intervention = design.interventions[0]
    active, _ = _arm_members(design, people, intervention)
    day0 = design.follow_up.randomisation
    end = design.follow_up.window_end
    rows: list[dict] = []
    for building in sorted(active["unit_id"].unique()):
        installed = int(rng.integers(3, 21))
        for event in ("machine_installed", "note_delivered"):
            rows.append(
                {
                    "unit_id": building,
                    "event_type": event,
                    "occurred_at": _stamp(day0, installed),
                    "quantity": 1,
                }
            )
        restock = installed + 28
        while day0 + dt.timedelta(days=restock) <= end:
            rows.append(
                {
                    "unit_id": building,
                    "event_type": "supplies_restocked",
                    "occurred_at": _stamp(day0, restock + int(rng.integers(0, 3))),
                    "quantity": 1,
                }
            )
            restock += 28
    building = rows[0]["unit_id"]
    rows += [
        {
            "unit_id": "Whitstable",
            "event_type": "machine_installed",
            "occurred_at": _stamp(day0, 6),
            "quantity": 1,
        },  # fmt: skip
        {
            "unit_id": building,
            "event_type": "machine_repaired",
            "occurred_at": _stamp(day0, 40),
            "quantity": 1,
        },  # fmt: skip
        {
            "unit_id": building,
            "event_type": "supplies_restocked",
            "occurred_at": _stamp(end, 60),
            "quantity": 1,
        },  # fmt: skip
    ]
    return rows


def _file_layout(rows: list[dict], intervention: Intervention) -> pd.DataFrame:
    """Events in time order, one line exported twice, in the columns the design maps."""
    # the fields a delivery log can hold, in their order (the one list, uptake_rules)
    frame = pd.DataFrame(rows).reindex(columns=list(DELIVERY_FIELDS))
    frame = frame.sort_values("occurred_at", kind="stable").reset_index(drop=True)
    frame = pd.concat([frame, frame.iloc[[len(frame) // 2]]], ignore_index=True)
    for column in _WHOLE_NUMBERS:
        frame[column] = pd.array(frame[column], dtype="Int64")
    mapping = {field: intervention.columns.get(field, field) for field in DELIVERY_FIELDS}
    kept = [
        f for f in DELIVERY_FIELDS if f in intervention.columns or f in REQUIRED_DELIVERY_FIELDS
    ]
    return frame[kept].rename(columns=mapping)


def simulate_deliveries(
    design: TrialDesign, participants: pd.DataFrame, *, rng: np.random.Generator
) -> dict[str, pd.DataFrame]:
    """The delivery-log files of a seed trial, in the file layout its design declares.

    Parameters
    ----------
    design : TrialDesign
        One of the four seed designs (letters, goal_setting, coffee,
        schwartz_rounds) or the three-arm demo design goal_setting_nudges.
    participants : DataFrame
        The store's participant arms: ``participant_id``, ``unit_id``,
        ``arm``, ``organisation``, ``team``.
    rng : numpy.random.Generator
        The only source of randomness.

    Returns
    -------
    dict of str to DataFrame
        ``"deliveries.csv"``: the delivery log, columns named as the
        intervention's ``columns`` map them; for letters also
        ``"manager_feedback.csv"`` (participant_id, feedback_1, feedback_2).
        A design with several interventions (goal_setting_nudges) gets one
        log per intervention instead, ``"<intervention>/<intervention>.csv"`` (a name of
        its own: the store records an ingested file by its name).
    """
    if design.id not in _SIMULATORS:
        raise ValueError(
            f"The design '{design.id}' has no delivery simulator. Choose one of: "
            f"{', '.join(_SIMULATORS)}. Got '{design.id}' instead."
        )
    people = participants.sort_values("participant_id").reset_index(drop=True)
    intervention = design.interventions[0]
    if design.id == "letters":
        feedback = _feedback(design, people, rng)
        rows = _letters(design, people, rng, feedback)
        return {
            "deliveries.csv": _file_layout(rows, intervention),
            "manager_feedback.csv": feedback,
        }
    if design.id == "goal_setting_nudges":  # one log per intervention, in its own folder
        logs = _goal_setting_nudges(design, people, rng)
        return {
            f"{i.name}/{i.name}.csv": _file_layout(logs[i.name], i) for i in design.interventions
        }
    rows = _SIMULATORS[design.id](design, people, rng)
    return {"deliveries.csv": _file_layout(rows, intervention)}


_SIMULATORS = {
    "letters": None,  # needs the feedback sheet; handled in simulate_deliveries
    "goal_setting": _goal_setting,
    "coffee": _coffee,
    "schwartz_rounds": _schwartz_rounds,
    "goal_setting_nudges": None,  # one log per intervention; handled in simulate_deliveries
}
