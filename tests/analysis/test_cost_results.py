"""The costs section of results.json: built from the delivery log, shared fairly, and self-consistent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.sections import costs as cost_sections
from trial_designs.design import load_design

DESIGNS = Path(__file__).resolve().parents[2] / "trial_designs"
SEED_SITES = ("LA1", "LA3", "LA4", "LA5", "LA6")


def costs_section(*args, **kwargs):  # noqa: ANN002, ANN003, ANN201
    """The section as results.json holds it (a JSON dict, or None), and the warnings."""
    section, warnings = cost_sections.costs_section(*args, **kwargs)
    return (None if section is None else section.to_json_dict()), warnings


def _schwartz(
    rounds_per_site: int = 4, attendees: int = 10, headcount: int = 25, round_ids: bool = False
):
    """Five LAs: LA1, LA4 and LA6 run Rounds; 20 staff each, all with a GHQ-12 endline.

    Each Round has ``headcount`` people in the room, ``attendees`` of them in the trial.
    With ``round_ids`` each Round's events (held, panel meeting, attended) carry its id.
    """
    design = load_design(DESIGNS / "schwartz_rounds.yaml")
    rng = np.random.default_rng(7)
    rounds_arm = {"LA1", "LA4", "LA6"}
    rows = []
    for site in SEED_SITES:
        for i in range(20):
            rows.append(
                {
                    "participant_id": f"{site}-{i:02d}",
                    "arm": "rounds" if site in rounds_arm else "waiting_list",
                    "cluster": site,
                    "organisation": site,
                    "took_up": int(site in rounds_arm and i < 12),
                    "completed": int(site in rounds_arm and i < 6),
                    "ghq12_endline": rng.normal(12 if site in rounds_arm else 13, 3),
                    "turnover_endline": float(rng.random() < 0.1),
                }
            )
    data = pd.DataFrame(rows)
    events = []
    for site in sorted(rounds_arm):
        day = pd.Timestamp("2020-02-03")
        events.append({"unit_id": site, "event_type": "training_held", "occurred_at": day})
        for r in range(rounds_per_site):
            when = day + pd.Timedelta(days=30 * (r + 1))
            held = {"round_id": f"{site}-R{r + 1}"} if round_ids else {}
            events.append(
                {
                    "unit_id": site,
                    "event_type": "round_held",
                    "occurred_at": when,
                    "hours": 1.0,
                    "attendees": headcount,
                    **held,
                }
            )
            events.append(
                {"unit_id": site, "event_type": "panel_meeting_held", "occurred_at": when, **held}
            )
            events += [
                {
                    "unit_id": f"{site}-{i:02d}",
                    "event_type": "attended",
                    "occurred_at": when,
                    **held,
                }
                for i in range(attendees)
            ]
    # a Round run by mistake in a waiting-list LA: contamination, not an intervention cost
    events.append(
        {
            "unit_id": "LA3",
            "event_type": "round_held",
            "occurred_at": pd.Timestamp("2020-03-01"),
            "hours": 1.0,
            "attendees": 10,
            "contaminated": True,
        }
    )
    frame = pd.DataFrame(events)
    for column in ("quantity", "hours", "attendees"):
        frame[column] = frame.get(column, pd.Series(np.nan, index=frame.index))
    frame["contaminated"] = frame["contaminated"].fillna(False).astype(bool)
    return design, data, frame


def test_schwartz_ledger_uses_each_sites_unit_costs_and_leaves_out_contamination():
    design, data, events = _schwartz()
    section, warnings = costs_section(
        design, events, data, rng=np.random.default_rng(1), n_boot=200
    )
    assert warnings == [
        "An arm has only 2 clusters: the cost-effectiveness bootstrap resamples whole clusters, "
        "so its intervals and acceptability curve are rough."
    ]
    amounts = {i["name"]: i["amount"] for i in design.costs["items"]}
    expected_direct = sum(
        amounts["training"][s] + 4 * (amounts["round"][s] + amounts["panel_meeting"][s])
        for s in ("LA1", "LA4", "LA6")
    )
    expected_staff = 3 * 4 * 25 * 1.0 * 31  # Rounds x head count x hours x hourly cost
    totals = section["totals"]
    assert totals["direct"] == pytest.approx(expected_direct)
    assert totals["staff_time"] == pytest.approx(expected_staff)
    assert totals["total"] == pytest.approx(expected_direct + expected_staff)
    assert "LA3" not in {row["site"] for row in section["ledger"]}
    # the Rounds are open to others: 10 of the 25 in each room are in the trial, so the trial's
    # participants bear 10/25 of the money and their own time (10 a Round), not colleagues'
    own_time = 3 * 4 * 10 * 1.0 * 31
    borne = expected_direct * 10 / 25 + own_time
    assert totals["participants_total"] == pytest.approx(borne)
    assert totals["participants_staff_time"] == pytest.approx(own_time)
    assert totals["others_staff_time"] == pytest.approx(expected_staff - own_time)
    per = section["per_participant"]
    assert per["randomised"] == pytest.approx(borne / 60)
    assert per["took_up"] == pytest.approx(borne / 36)
    assert per["completed"] == pytest.approx(borne / 18)
    # per Round: the money, as CASCADE reports it (set-up and attendees' time excluded)
    running_direct = sum(
        4 * (amounts["round"][s] + amounts["panel_meeting"][s]) for s in ("LA1", "LA4", "LA6")
    )
    assert per["per_round"] == pytest.approx(running_direct / 12)
    # shared over everyone in the room (12 Rounds x 25), not only the 10 trial participants
    assert per["per_attendee_per_round"] == pytest.approx(running_direct / 300)
    # what a Round costs the authority with everyone's time, per Round and per head
    assert per["per_round_including_staff_time"] == pytest.approx(
        (running_direct + expected_staff) / 12
    )
    assert per["per_attendee_per_round_including_staff_time"] == pytest.approx(
        (running_direct + expected_staff) / 300
    )
    # the CASCADE table per LA: Round plus panel meeting, per Round held there
    assert section["per_round_by_site"] == {
        s: pytest.approx(amounts["round"][s] + amounts["panel_meeting"][s])
        for s in ("LA1", "LA4", "LA6")
    }
    # EEF's band is on the participants' share of the money spent, staff time excluded
    assert section["direct_per_participant_per_year"] == pytest.approx(
        expected_direct * 10 / 25 / 60
    )
    assert section["denominators"] == {
        "randomised": 60,
        "took_up": 36,
        "completed": 18,
        "rounds": 12,
        "attendances": 300.0,
    }


def test_each_cluster_cost_is_shared_by_its_members_so_the_bootstrap_cost_is_the_per_participant_cost():
    design, data, events = _schwartz()
    section, _ = costs_section(design, events, data, rng=np.random.default_rng(2), n_boot=300)
    ghq, turnover = section["cost_effectiveness"]
    assert (ghq["outcome"], turnover["outcome"]) == ("ghq12", "turnover")
    # control costs nothing, so the incremental cost is the intervention arm's mean cost
    assert ghq["incremental_cost"] == pytest.approx(
        section["per_participant"]["randomised_discounted"]
    )
    assert ghq["n_clusters_per_arm"] == {"control": 2, "intervention": 3}
    assert ghq["n_per_arm"] == {"control": 40, "intervention": 60}
    assert ghq["verdict"] in {"dominant", "dominated", "trade-off"}
    assert ghq["sentence"].startswith("The intervention")
    assert len(ghq["ceac"]) > 10 and all(0 <= p["probability"] <= 1 for p in ghq["ceac"])
    # turnover is a proportion: priced per percentage point, the unit the report states it in
    assert turnover["effect_unit"] == "percentage point" and ghq["effect_unit"] == "point"
    assert "percentage point" in turnover["sentence"]
    assert turnover["effect_label"] == "turnover (percentage points avoided)"
    used = data[data["arm"].isin(["waiting_list", "rounds"])]
    means = used.groupby("arm")["turnover_endline"].mean()
    # turnover has no baseline, so the effect is the difference in means, in percentage points
    avoided = 100 * (means["waiting_list"] - means["rounds"])
    assert turnover["incremental_effect"] == pytest.approx(avoided)
    assert turnover["icer"] == pytest.approx(turnover["incremental_cost"] / avoided)


def test_more_rounds_cost_more_and_sensitivity_brackets_the_base():
    design, data, events = _schwartz(rounds_per_site=4)
    more_design, more_data, more_events = _schwartz(rounds_per_site=6)
    few, _ = costs_section(design, events, data, rng=np.random.default_rng(3), n_boot=200)
    many, _ = costs_section(
        more_design, more_events, more_data, rng=np.random.default_rng(3), n_boot=200
    )
    assert many["per_participant"]["randomised"] > few["per_participant"]["randomised"]
    for row in few["sensitivity"]:
        assert row["low"] <= row["base"] <= row["high"]
        assert row["base"] == pytest.approx(few["per_participant"]["randomised"])
    hourly = next(r for r in few["sensitivity"] if r["parameter"] == "attendee_time")
    assert hourly["item"] == "Attendee time (£25.00 to £40.00)"
    # the participants' own hours (10 a Round), not the 25 in the room
    assert hourly["high"] - hourly["low"] == pytest.approx(3 * 4 * 10 * (40 - 25) / 60)


def test_letters_cost_per_letter_sent_and_manager_time(letters_costs_section):
    section = letters_costs_section
    assert section["totals"]["direct"] == pytest.approx(18 * 1.45)
    assert section["totals"]["staff_time"] == pytest.approx(18 * 0.25 * 32)
    assert section["per_participant"]["randomised"] == pytest.approx(18 * (1.45 + 8) / 20)
    assert section["eef_band"] == "very low"
    (row,) = section["cost_effectiveness"]  # letters has no SWEMWBS or turnover column here
    assert row["incremental_effect"] == pytest.approx(0.5)
    assert row["icer"] == pytest.approx(section["per_participant"]["randomised"] / 0.5)
    assert row["verdict"] == "trade-off"


def test_no_cost_model_or_no_deliveries_means_no_costs_section():
    design, data, events = _schwartz()
    none, warnings = costs_section(design, events.iloc[0:0], data, rng=np.random.default_rng(5))
    assert none is None
    assert warnings == ["No delivery events for the intervention arm: costs are not estimated."]
    uncosted = design.model_copy(update={"costs": {}})
    assert costs_section(uncosted, events, data, rng=np.random.default_rng(5)) == (None, [])


def test_only_the_intervention_arms_units_are_costed_and_gaps_are_said():
    design, data, events = _schwartz()
    # a Round logged for a waiting-list LA without the contamination flag (another arm's
    # unit) and a Round with no head count
    stray = events[events["event_type"] == "round_held"].iloc[[0]].assign(unit_id="LA5")
    events = pd.concat([events, stray], ignore_index=True)
    base, _ = costs_section(design, events, data, rng=np.random.default_rng(6), n_boot=200)
    clean, _ = costs_section(
        design, events.iloc[:-1], data, rng=np.random.default_rng(6), n_boot=200
    )
    assert base["totals"] == clean["totals"]
    headless = events.copy()
    first_round = headless.index[headless["event_type"] == "round_held"][0]
    headless.loc[first_round, "attendees"] = np.nan
    none, warnings = costs_section(design, headless, data, rng=np.random.default_rng(6))
    assert none is None
    assert warnings[-1].startswith(
        "Costs are not estimated: The cost item 'attendee_time' takes its quantity from "
        "attendees x hours of 'round_held' events, so every such event needs attendees and hours."
    )
    # without attendees' time in the model the Round is still costed, and its attendance
    # falls back to the trial participants logged at it
    money_only = dict(design.costs)
    money_only["items"] = [i for i in design.costs["items"] if i["name"] != "attendee_time"]
    untaken = data.drop(columns=["took_up", "completed"])
    section, warnings = costs_section(
        design.model_copy(update={"costs": money_only}),
        headless,
        untaken,
        rng=np.random.default_rng(6),
        n_boot=200,
    )
    assert (
        "1 of 12 Rounds have no head count: their attendance is the trial participants logged "
        "at them, so the cost per attendee per Round is overstated." in warnings
    )
    assert (
        "The data have no took_up and completed columns: cost per taker and per completer are "
        "shown as if everyone randomised to the intervention took it up and completed it."
        in warnings
    )
    assert section["per_participant"]["took_up"] == section["per_participant"]["randomised"]
    # 11 Rounds of 25 and one counted from its 10 logged trial attendees
    assert section["denominators"]["attendances"] == 11 * 25 + 10


def test_the_priced_effect_is_the_baseline_adjusted_itt_not_the_raw_difference():
    """Baseline imbalance can turn a raw difference round; the ICER prices the ANCOVA effect."""
    from analysis.estimators import fit_itt

    design = load_design(DESIGNS / "letters.yaml")
    rng = np.random.default_rng(9)
    n = 200
    treated = np.r_[np.ones(n // 2), np.zeros(n // 2)]
    baseline = rng.normal(5, 2, n) - 1.0 * treated  # the letter arm starts lower
    endline = 1 + 0.8 * baseline + 0.5 * treated + rng.normal(0, 1, n)
    ids = [f"P{i:03d}" for i in range(n)]
    data = pd.DataFrame(
        {
            "participant_id": ids,
            "arm": np.where(treated == 1, "letter", "control"),
            "arm[letter]": treated,
            "cluster": np.nan,
            "organisation": "Dudley",
            "took_up": treated.astype(int),
            "completed": treated.astype(int),
            "feeling_valued_baseline": baseline,
            "feeling_valued_endline": endline,
        }
    )
    events = pd.DataFrame(
        {
            "unit_id": ids[: n // 2],
            "event_type": "letter_sent",
            "occurred_at": pd.Timestamp("2019-04-10"),
            "quantity": np.nan,
            "hours": np.nan,
            "attendees": np.nan,
            "contaminated": False,
        }
    )
    section, _ = costs_section(design, events, data, rng=np.random.default_rng(1), n_boot=200)
    (row,) = section["cost_effectiveness"]
    ancova = fit_itt(
        data,
        outcome="feeling_valued_endline",
        treatment_columns=["arm[letter]"],
        covariates=["feeling_valued_baseline"],
    ).fit["arm[letter]"]
    raw = endline[treated == 1].mean() - endline[treated == 0].mean()
    assert raw < 0 < ancova.estimate  # the imbalance turns the raw difference round
    assert row["incremental_effect"] == pytest.approx(ancova.estimate, rel=1e-9)
    assert row["verdict"] == "trade-off"


def test_a_round_open_to_others_costs_participants_their_head_count_share_and_their_own_time():
    """80 in the room, 10 from the trial: 10/80 of the money and 10 people's hours.

    Before the fix every attendee's time was spread over the trial's participants, so
    colleagues outside the trial raised the cost per participant.
    """
    design, data, events = _schwartz(rounds_per_site=1, attendees=10, headcount=80, round_ids=True)
    section, _ = costs_section(design, events, data, rng=np.random.default_rng(8), n_boot=200)
    amounts = {i["name"]: i["amount"] for i in design.costs["items"]}
    sites = ("LA1", "LA4", "LA6")
    money = sum(amounts[k][s] for s in sites for k in ("training", "panel_meeting", "round"))
    own_time = 3 * 10 * 1.0 * 31  # one Round a site, 10 trial attendees, an hour, £31
    assert section["per_participant"]["randomised"] == pytest.approx(
        (money * 10 / 80 + own_time) / 60
    )
    totals = section["totals"]
    assert totals["participants_total"] == pytest.approx(money * 10 / 80 + own_time)
    assert totals["participants_staff_time"] == pytest.approx(own_time)
    # the bootstrap prices the same cost
    ghq = section["cost_effectiveness"][0]
    assert ghq["incremental_cost"] == pytest.approx(section["per_participant"]["randomised"])
    # twice as many colleagues from outside the trial: 10 + 2 x 70 in the room
    design, data, crowded = _schwartz(
        rounds_per_site=1, attendees=10, headcount=150, round_ids=True
    )
    more, _ = costs_section(design, crowded, data, rng=np.random.default_rng(8), n_boot=200)

    def hourly_range(section: dict) -> float:  # the staff-time cost per participant, £25-£40
        row = next(r for r in section["sensitivity"] if r["parameter"] == "attendee_time")
        return row["high"] - row["low"]

    assert hourly_range(more) == pytest.approx(hourly_range(section))
    assert hourly_range(section) == pytest.approx(3 * 10 * 1.0 * (40 - 25) / 60)
    assert more["totals"]["participants_staff_time"] == pytest.approx(own_time)
    assert more["totals"]["others_staff_time"] == pytest.approx(3 * 140 * 31)
    assert more["totals"]["participants_direct"] == pytest.approx(money * 10 / 150)
    assert more["per_participant"]["randomised"] < section["per_participant"]["randomised"]
    # the Round's own cost is the same money over more heads
    assert more["per_participant"]["per_round"] == section["per_participant"]["per_round"]
    assert more["per_participant"]["per_attendee_per_round"] == pytest.approx(
        section["per_participant"]["per_attendee_per_round"] * 80 / 150
    )


def test_interventions_without_sessions_are_costed_whole_to_their_participants():
    """Letters have no head count: nothing is apportioned away (same as before the fix)."""
    design = load_design(DESIGNS / "letters.yaml")
    ids = [f"P{i:03d}" for i in range(8)]
    data = pd.DataFrame(
        {
            "participant_id": ids,
            "arm": ["letter"] * 4 + ["control"] * 4,
            "cluster": np.nan,
            "organisation": "Dudley",
            "took_up": [1] * 4 + [0] * 4,
            "completed": [1] * 4 + [0] * 4,
            "feeling_valued_endline": np.r_[np.full(4, 6.0), np.full(4, 5.5)],
        }
    )
    events = pd.DataFrame(
        {
            "unit_id": ids[:4],
            "event_type": "letter_sent",
            "occurred_at": pd.Timestamp("2019-04-10"),
            "quantity": np.nan,
            "hours": np.nan,
            "attendees": 30.0,  # a head count on events that are not sessions changes nothing
            "contaminated": False,
        }
    )
    section, _ = costs_section(design, events, data, rng=np.random.default_rng(4), n_boot=200)
    assert section["totals"]["participants_total"] == pytest.approx(section["totals"]["total"])
    assert section["totals"]["others_staff_time"] == pytest.approx(0)


def test_a_head_count_below_the_trial_attendees_logged_is_said_and_raised_to_them():
    design, data, events = _schwartz(rounds_per_site=1, attendees=10, headcount=80, round_ids=True)
    first = events.index[events["event_type"] == "round_held"][0]
    events.loc[first, "attendees"] = 6  # fewer in the room than the 10 logged at it
    section, warnings = costs_section(
        design, events, data, rng=np.random.default_rng(8), n_boot=200
    )
    assert (
        "1 of 3 'round_held' events have a head count below the trial participants logged at "
        "them ('attended'): the room is taken as those logged, so they bear the whole of its cost."
        in warnings
    )
    amounts = {i["name"]: i["amount"] for i in design.costs["items"]}
    site = events.loc[first, "unit_id"]
    whole = sum(amounts[k][site] for k in ("training", "panel_meeting", "round"))
    rest = sum(
        amounts[k][s]
        for s in ("LA1", "LA4", "LA6")
        if s != site
        for k in ("training", "panel_meeting", "round")
    )
    assert section["totals"]["participants_direct"] == pytest.approx(whole + rest * 10 / 80)


def test_the_baseline_slope_with_many_strata_equals_the_dummy_models(monkeypatch):
    # A national trial's 200 organisations made the costs' baseline adjustment build a
    # dense n x 200 dummy matrix; above 20 strata the slope now comes from demeaning.
    import analysis.estimators.absorb as absorb
    from analysis.sections.costs import _baseline_adjusted

    rng = np.random.default_rng(11)
    n = 3000
    stratum = rng.integers(0, 60, n)
    baseline = rng.normal(20, 4, n) + stratum / 10
    arm = np.where(rng.random(n) < 0.5, "control", "offer")
    data = pd.DataFrame(
        {
            "arm": arm,
            "stratum": [f"Org {s}" for s in stratum],
            "swemwbs_baseline": baseline,
            "swemwbs_endline": 0.6 * baseline
            + stratum / 5
            + (arm == "offer")
            + rng.normal(0, 3, n),
        }
    )
    used = pd.Series(True, index=data.index)

    def no_dummies(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("60 strata must be absorbed, not dummy-coded")

    with monkeypatch.context() as patched:
        patched.setattr(pd, "get_dummies", no_dummies)
        absorbed, _ = _baseline_adjusted(data, "swemwbs", used, ["offer"])
    monkeypatch.setattr(absorb, "ABSORB_STRATA_ABOVE", 1000)
    dummies, _ = _baseline_adjusted(data, "swemwbs", used, ["offer"])
    assert np.abs(absorbed - dummies).max() < 1e-10
    assert not np.array_equal(absorbed, data["swemwbs_endline"].to_numpy())
