"""analysis.costs.shares: the participants' share of sessions open to others, by head count."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from cost_cases import (
    SCHWARTZ_SEED_TOTALS_PER_ROUND,
    SCHWARTZ_SEED_UNIT_COSTS,
    SCHWARTZ_SITES,
    START,
    schwartz_mapping,
)

from analysis.costs import (
    build_ledger,
    cost_per_participant,
    head_count_shares,
)
from trial_designs.cost_model import cost_model_from_mapping


# ---------------------------------------------------------------------------
# Sessions open to people outside the trial: shares by head count
# ---------------------------------------------------------------------------
def _open_round(head_count: float, trial_attendees: int = 10) -> pd.DataFrame:
    """LA4: training, then one Round (panel, Round, steering group) with ``head_count`` in the room."""
    base = {"site": "LA4", "organisation": "LA4", "unit_id": "LA4"}
    day = pd.Timestamp("2020-03-02")
    rows = [
        {**base, "event_type": "training_held", "occurred_at": "2020-02-01"},
        {**base, "event_type": "panel_meeting_held", "occurred_at": day, "round_id": "R1"},
        {
            **base,
            "event_type": "round_held",
            "occurred_at": day,
            "round_id": "R1",
            "attendees": head_count,
            "hours": 1.5,
        },
        {**base, "event_type": "steering_group_held", "occurred_at": day, "round_id": "R1"},
    ]
    rows += [
        {
            "site": "LA4",
            "organisation": "LA4",
            "unit_id": f"P{i}",
            "event_type": "attended",
            "occurred_at": day,
            "round_id": "R1",
        }
        for i in range(trial_attendees)
    ]
    return pd.DataFrame(rows)


def _with_attendee_time(hourly: float = 31.0):
    return cost_model_from_mapping(
        schwartz_mapping(
            (
                {
                    "name": "attendee_time",
                    "event_type": "round_held",
                    "quantity_from": "attendee_hours",
                    "unit": "per_hour",
                    "category": "running",
                    "kind": "staff_time",
                    "amount": hourly,
                },
            )
        )
    )


def _participants_summary(events: pd.DataFrame):
    model = _with_attendee_time()
    shared = events.assign(
        share=head_count_shares(events, session_event="round_held", attendance_event="attended")
    )
    ledger = build_ledger(shared, model, start_date=START)
    theirs = build_ledger(shared, model, start_date=START, share_column="share")
    return cost_per_participant(
        ledger,
        n_randomised_intervention=40,
        n_took_up=10,
        n_completed=10,
        n_rounds=1,
        attendances=float(events.loc[events["event_type"] == "round_held", "attendees"].sum()),
        participants_ledger=theirs,
    )


def test_a_round_of_80_with_10_from_the_trial_costs_them_10_80ths_and_their_own_time():
    summary = _participants_summary(_open_round(80))
    k = SCHWARTZ_SITES.index("LA4")
    money = sum(SCHWARTZ_SEED_UNIT_COSTS[c][2][k] for c in SCHWARTZ_SEED_UNIT_COSTS)
    own_time = 10 * 1.5 * 31.0
    assert summary.participants.direct.undiscounted == pytest.approx(money * 10 / 80)
    assert summary.participants.staff_time.undiscounted == pytest.approx(own_time)
    assert summary.per_randomised.total.undiscounted == pytest.approx(
        (money * 10 / 80 + own_time) / 40
    )
    assert summary.per_taker.total.undiscounted == pytest.approx(money / 80 + 1.5 * 31.0)
    # the Round itself is still the whole cost, everyone's time included, over everyone there
    assert summary.per_round.direct.undiscounted == SCHWARTZ_SEED_TOTALS_PER_ROUND["LA4"]
    assert summary.per_round.staff_time.undiscounted == pytest.approx(80 * 1.5 * 31.0)
    assert summary.per_attendee_per_round.direct.undiscounted == pytest.approx(
        SCHWARTZ_SEED_TOTALS_PER_ROUND["LA4"] / 80
    )
    # twice the colleagues from outside the trial: the participants' own time does not move
    crowded = _participants_summary(_open_round(10 + 2 * 70))
    assert crowded.participants.staff_time.undiscounted == pytest.approx(own_time)
    assert crowded.participants.direct.undiscounted == pytest.approx(money * 10 / 150)
    assert crowded.total.staff_time.undiscounted == pytest.approx(150 * 1.5 * 31.0)


def test_head_count_shares_by_session_by_site_and_for_attendances():
    events = pd.concat(
        [
            _open_round(80),
            pd.DataFrame(
                [
                    # a second Round at LA4 with no trial attendee, and an event at a site
                    # that held no Round
                    {
                        "site": "LA4",
                        "unit_id": "LA4",
                        "event_type": "round_held",
                        "round_id": "R2",
                        "attendees": 40,
                        "occurred_at": "2020-04-01",
                    },
                    {
                        "site": "LA1",
                        "unit_id": "LA1",
                        "event_type": "training_held",
                        "occurred_at": "2020-02-01",
                    },
                ]
            ),
        ],
        ignore_index=True,
    )
    share = head_count_shares(events, session_event="round_held", attendance_event="attended")
    kind = events["event_type"]
    at_r1 = (events["round_id"] == "R1") & (kind != "attended")
    assert (share[at_r1] == 10 / 80).all()  # panel, Round and steering group of R1
    assert (share[kind == "attended"] == 1).all()  # a participant's own attendance
    assert share[(events["round_id"] == "R2")].tolist() == [0.0]
    # training serves all LA4's Rounds: 10 trial attendances of 120 people
    assert share[(kind == "training_held") & (events["site"] == "LA4")].tolist() == [10 / 120]
    assert share[events["site"] == "LA1"].tolist() == [1.0]
    # without any head count nothing is apportioned
    headless = events.assign(attendees=np.nan)
    assert (
        head_count_shares(headless, session_event="round_held", attendance_event="attended") == 1
    ).all()
    # without round ids every event at the site takes the site's share
    anonymous = events.drop(columns="round_id")
    share = head_count_shares(anonymous, session_event="round_held", attendance_event="attended")
    at_la4 = (anonymous["site"] == "LA4") & (anonymous["event_type"] != "attended")
    assert share[at_la4].tolist() == pytest.approx([10 / 120] * 5)


def test_a_head_count_below_the_participants_logged_is_raised_to_them():
    share = head_count_shares(
        _open_round(6), session_event="round_held", attendance_event="attended"
    )
    assert (share == 1).all()


def test_head_count_share_errors_name_the_rule():
    events = _open_round(80)
    with pytest.raises(ValueError, match=r"'session_event' and 'attendance_event' must differ"):
        head_count_shares(events, session_event="round_held", attendance_event="round_held")
    with pytest.raises(ValueError, match=r"head count\) must be a finite number at least 0"):
        head_count_shares(_open_round(-5), session_event="round_held", attendance_event="attended")
    with pytest.raises(ValueError, match=r"need the columns unit_id"):
        head_count_shares(
            events.drop(columns="unit_id"), session_event="round_held", attendance_event="attended"
        )
    model = _with_attendee_time()
    with pytest.raises(ValueError, match=r"'share_column' 'nope' is not a column"):
        build_ledger(events, model, start_date=START, share_column="nope")
    with pytest.raises(ValueError, match=r"must be a number from 0 to 1\. Got 1 outside it"):
        build_ledger(
            events.assign(share=[1.5] + [1.0] * (len(events) - 1)),
            model,
            start_date=START,
            share_column="share",
        )
