"""Costs, the cost-effectiveness bootstrap and EVPI for every active arm of a multi-arm trial.

A three-arm goal-setting design (control, course, course_reminders) built here from the
packaged two-arm one: the reminders arm gets the course and three reminder texts each,
priced by a cost item of its own.  Figures are checked against hand computations.
"""

from __future__ import annotations

import concurrent.futures
import pickle

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.costs import bootstrap_cost_effect, bootstrap_cost_effect_by_arm
from analysis.sections import costs as cost_sections
from analysis.value_of_information import evpi_table, evpi_table_by_option
from tests.designs import DESIGNS
from trial_designs.design import TrialDesign

N = 30  # per arm
REMINDER = 0.5  # pounds per text


def _design(*, voi: bool = True) -> TrialDesign:
    spec = yaml.safe_load((DESIGNS / "goal_setting.yaml").read_text())
    spec["arms"].append({"name": "course_reminders", "ratio": 1, "label": "Course and reminders"})
    spec["randomisation"]["block_sizes"] = [3, 6]
    course = spec["interventions"][0]
    spec["interventions"].append(
        {
            **course,
            "name": "goal_setting_reminders",
            "arm": "course_reminders",
            "event_types": [*course["event_types"], "reminder_sent"],
        }
    )
    spec["costs"]["items"].append(
        {
            "name": "reminder_texts",
            "event_type": "reminder_sent",
            "unit": "per_text",
            "category": "running",
            "kind": "direct",
            "amount": REMINDER,
            "source": "SMS gateway",
        }
    )
    if voi:
        spec["value_of_information"] = {
            "wtp": [20, 100, 1000],
            "population": 4000,
            "years": 2,
            "discount_rate": 0.035,
            "research_cost": 50000,
        }
    return TrialDesign.model_validate(spec)


def _trial(seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """90 staff, 30 an arm; everyone offered is invited, the first 20 of an arm start 3 modules."""
    rng = np.random.default_rng(seed)
    arms = ["control"] * N + ["course"] * N + ["course_reminders"] * N
    ids = [f"P{i:03d}" for i in range(3 * N)]
    gain = {"control": 0.0, "course": 1.0, "course_reminders": 2.0}
    baseline = rng.normal(22, 4, 3 * N)
    data = pd.DataFrame(
        {
            "participant_id": ids,
            "arm": arms,
            "cluster": np.nan,
            "organisation": ["LA1", "LA2"] * (3 * N // 2),
            "stratum": ["LA1", "LA2"] * (3 * N // 2),
            "took_up": [int(i % N < 20) for i in range(3 * N)],
            "completed": [int(i % N < 10) for i in range(3 * N)],
            "swemwbs_baseline": baseline,
            "swemwbs_endline": baseline + [gain[a] for a in arms] + rng.normal(0, 2, 3 * N),
        }
    )
    day = pd.Timestamp("2019-09-10")
    events = []
    for pid, arm, i in zip(ids, arms, range(3 * N), strict=True):
        if arm == "control":
            continue
        events.append({"unit_id": pid, "event_type": "invited", "occurred_at": day})
        if i % N < 20:
            events.append({"unit_id": pid, "event_type": "diary_slot_booked", "occurred_at": day})
            events += [
                {"unit_id": pid, "event_type": "module_started", "occurred_at": day}
                for _ in range(3)
            ]
        if arm == "course_reminders":
            events += [
                {"unit_id": pid, "event_type": "reminder_sent", "occurred_at": day}
                for _ in range(3)
            ]
    # an invitation sent in error to a control participant: contamination, not a cost
    events.append(
        {"unit_id": "P000", "event_type": "invited", "occurred_at": day, "contaminated": True}
    )
    frame = pd.DataFrame(events)
    for column in ("quantity", "hours", "attendees"):
        frame[column] = np.nan
    frame["contaminated"] = frame["contaminated"].fillna(False).astype(bool)
    return data, frame


def _section(design=None, data=None, events=None, **kwargs):  # noqa: ANN001, ANN003, ANN202
    if data is None:
        data, events = _trial()
    section, warnings = cost_sections.costs_section(
        design or _design(), events, data, rng=np.random.default_rng(11), n_boot=300, **kwargs
    )
    return (None if section is None else section.to_json_dict()), warnings


# the course per participant randomised: invitations, 20 diary slots (6 minutes of a manager
# at £32 an hour) and 60 modules started (30 minutes of a social worker at £28 an hour)
COURSE = (N * 2.0 + 20 * 0.1 * 32 + 20 * 3 * 0.5 * 28) / N
REMINDERS = COURSE + 3 * REMINDER


def test_every_active_arm_is_costed_from_its_own_participants_events():
    section, warnings = _section()
    assert section["arm"] == "course"
    (other,) = section["other_arms"]
    assert other["arm"] == "course_reminders"
    assert section["per_participant"]["randomised"] == pytest.approx(COURSE)
    assert other["per_participant"]["randomised"] == pytest.approx(REMINDERS)
    # per taker: 20 of 30 took it up in each arm
    assert section["per_participant"]["took_up"] == pytest.approx(COURSE * N / 20)
    assert other["per_participant"]["took_up"] == pytest.approx(REMINDERS * N / 20)
    assert other["denominators"] == {
        "randomised": N,
        "took_up": 20,
        "completed": 10,
        "rounds": None,
        "attendances": None,
    }
    # each arm's own totals; the section's are the whole trial's
    assert section["arm_totals"]["total"] == pytest.approx(COURSE * N)
    assert other["arm_totals"]["total"] == pytest.approx(REMINDERS * N)
    assert section["totals"]["total"] == pytest.approx((COURSE + REMINDERS) * N)
    assert section["totals"]["participants_total"] == pytest.approx((COURSE + REMINDERS) * N)
    assert sum(r["cost"] for r in section["ledger"]) == pytest.approx((COURSE + REMINDERS) * N)
    texts = [r for r in section["ledger"] if r["item"] == "reminder_texts"]
    assert sum(r["quantity"] for r in texts) == 3 * N
    # the reminder texts' unit cost moves the reminders arm's cost only
    varied = {r["parameter"] for r in other["sensitivity"]}
    assert "reminder_texts" in varied
    (unmoved,) = [r for r in section["sensitivity"] if r["parameter"] == "reminder_texts"]
    assert unmoved["low"] == unmoved["high"] == pytest.approx(COURSE)
    assert not any("not costed" in w for w in warnings)


def test_each_arm_gets_cost_effectiveness_rows_against_control():
    section, _ = _section()
    (other,) = section["other_arms"]
    data, _ = _trial()
    for block, arm, cost in ((section, "course", COURSE), (other, "course_reminders", REMINDERS)):
        (row,) = block["cost_effectiveness"]
        assert row["outcome"] == "swemwbs"
        assert row["n_per_arm"] == {"control": N, "intervention": N}
        # control costs nothing: the incremental cost is the arm's mean cost
        assert row["incremental_cost"] == pytest.approx(cost)
        # the effect is the ANCOVA's: arm dummies for both active arms, strata and baseline
        x = pd.get_dummies(data[["arm", "stratum"]], drop_first=True, dtype=float)
        x = np.column_stack([np.ones(len(data)), x, data["swemwbs_baseline"]])
        beta, *_ = np.linalg.lstsq(x, data["swemwbs_endline"].to_numpy(), rcond=None)
        effect = beta[1] if arm == "course" else beta[2]
        assert row["incremental_effect"] == pytest.approx(effect, abs=0.05)
        assert len(row["plane"]) == 300 and row["ceac"]


def test_the_bootstrap_resamples_every_arm_jointly_as_a_plain_loop_does():
    rng = np.random.default_rng(0)
    sizes = (12, 9, 15)
    codes = np.repeat([0, 1, 2], sizes)
    costs = rng.gamma(2, 50, codes.size) * (codes > 0)
    effects = rng.normal(codes, 3)
    results = bootstrap_cost_effect_by_arm(
        costs, effects, codes, rng=np.random.default_rng(42), n_boot=200
    )
    # by hand: per replicate, control then each arm draws its units with replacement
    draw = np.random.default_rng(42)
    index = [
        draw.integers(0, n, size=(200, n)) for n in sizes
    ]  # one block: each arm's index matrix in turn
    rows = [np.flatnonzero(codes == k) for k in range(3)]
    for k in (1, 2):
        for b in range(200):
            c0 = costs[rows[0][index[0][b]]].mean()
            e0 = effects[rows[0][index[0][b]]].mean()
            ck = costs[rows[k][index[k][b]]].mean()
            ek = effects[rows[k][index[k][b]]].mean()
            assert results[k - 1].replicate_costs[b] == pytest.approx(ck - c0)
            assert results[k - 1].replicate_effects[b] == pytest.approx(ek - e0)


def test_the_first_arm_draws_as_a_two_arm_bootstrap_does():
    rng = np.random.default_rng(1)
    codes = np.repeat([0, 1, 2], (20, 20, 20))
    costs, effects = rng.gamma(2, 50, 60), rng.normal(0, 1, 60)
    joint = bootstrap_cost_effect_by_arm(
        costs, effects, codes, rng=np.random.default_rng(3), n_boot=500, chunk_size=500
    )
    two = codes < 2
    alone = bootstrap_cost_effect(
        costs[two], effects[two], codes[two], rng=np.random.default_rng(3), n_boot=500
    )
    assert np.array_equal(joint[0].replicate_costs, alone.replicate_costs)
    assert joint[0].to_dict() == alone.to_dict()


def _threads(function, blocks, shared):  # noqa: ANN001, ANN202
    """Blocks run elsewhere: pickled there and back (as a Dask worker would), in parallel."""
    shipped = pickle.loads(pickle.dumps(shared))
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        return list(pool.map(lambda block: function(*shipped, block), blocks))


def test_blocks_run_elsewhere_give_the_same_multiarm_result():
    rng = np.random.default_rng(2)
    codes = np.repeat([0, 1, 2], (25, 30, 20))
    clusters = np.array([f"k{k}-{i % 5}" for k, i in zip(codes, range(75), strict=True)])
    costs, effects = rng.gamma(2, 50, 75), rng.normal(0, 1, 75)

    def run(map_blocks=None):  # noqa: ANN001, ANN202
        return bootstrap_cost_effect_by_arm(
            costs,
            effects,
            codes,
            rng=np.random.default_rng(9),
            clusters=clusters,
            n_boot=400,
            chunk_size=90,
            map_blocks=map_blocks,
        )

    for here, there in zip(run(), run(_threads), strict=True):
        assert np.array_equal(here.replicate_costs, there.replicate_costs)
        assert here.to_dict() == there.to_dict()
    data, events = _trial()
    serial, _ = _section(data=data, events=events)
    elsewhere, _ = _section(data=data, events=events, map_blocks=_threads)
    assert serial == elsewhere


def test_hostile_arm_codes_and_clusters_are_named():
    codes = np.repeat([0, 1, 2], 4)
    with pytest.raises(ValueError, match=r"'arm' must be integer codes, 0 for control"):
        bootstrap_cost_effect_by_arm(
            np.ones(12), np.ones(12), codes.astype(float), rng=np.random.default_rng(0), n_boot=100
        )
    clusters = np.array(["a", "a", "b", "b", "c", "c", "d", "d", "a", "e", "f", "f"])
    with pytest.raises(ValueError, match=r"Got clusters in more than one arm: a"):
        bootstrap_cost_effect_by_arm(
            np.ones(12), np.ones(12), codes, rng=np.random.default_rng(0), n_boot=100,
            clusters=clusters,
        )  # fmt: skip
    with pytest.raises(ValueError, match=r"The active arm 2 arm needs at least 2 participants"):
        bootstrap_cost_effect_by_arm(
            np.ones(9), np.ones(9), np.r_[0, 0, 0, 0, 1, 1, 1, 1, 2],
            rng=np.random.default_rng(0), n_boot=100,
        )  # fmt: skip


def _evpi_by_hand(costs: np.ndarray, effects: np.ndarray, wtp: float) -> float:
    """mean_r max(0, NB_1r, ..., NB_Kr) - max(0, mean NB_1, ..., mean NB_K), as a plain loop."""
    n, k = costs.shape
    best_each = 0.0
    totals = [0.0] * k
    for r in range(n):
        nbs = [wtp * effects[r, j] - costs[r, j] for j in range(k)]
        best_each += max([0.0, *nbs])
        for j in range(k):
            totals[j] += nbs[j]
    return best_each / n - max([0.0, *(t / n for t in totals)])


def test_evpi_over_every_option_matches_a_hand_computation():
    rng = np.random.default_rng(4)
    costs = np.column_stack([rng.normal(40, 15, 2000), rng.normal(60, 20, 2000)])
    effects = np.column_stack([rng.normal(0.5, 0.6, 2000), rng.normal(0.7, 0.6, 2000)])
    table = evpi_table_by_option(
        costs,
        effects,
        options=["control", "a", "b"],
        wtp=[10, 80, 100, 400],
        population=1000,
        years=3,
        discount_rate=0.035,
        research_cost=30000,
    )
    multiplier = 1000 * sum(1 / 1.035**t for t in (1, 2, 3))
    names = ["control", "a", "b"]
    for row in table.to_dict("records"):
        k = row["wtp"]
        per_person = _evpi_by_hand(costs, effects, k)
        assert row["evpi_per_person"] == pytest.approx(per_person, abs=1e-9)
        assert row["evpi_population"] == pytest.approx(per_person * multiplier, rel=1e-9)
        means = [0.0, *(k * effects - costs).mean(axis=0)]
        best = int(np.argmax(means))
        assert row["best_option"] == names[best]
        assert row["decision"] == ("control" if best == 0 else "intervention")
        assert row["expected_inb"] == pytest.approx(max(means[1:]))
        wins = [0, 0, 0]
        for r in range(len(costs)):
            nbs = [0.0, *(k * effects[r] - costs[r])]
            wins[int(np.argmax(nbs))] += 1
        assert row["prob_best_by_option"] == pytest.approx(
            {n: w / len(costs) for n, w in zip(names, wins, strict=True)}
        )
        assert row["research_may_be_worthwhile"] is (row["evpi_population"] > 30000)
    # the thresholds straddle a change of best option, where the joint EVPI is largest
    assert {r["best_option"] for r in table.to_dict("records")} == {"control", "a", "b"}


def test_evpi_with_one_active_arm_is_the_two_arm_table():
    rng = np.random.default_rng(5)
    cost, effect = rng.normal(40, 15, 500), rng.normal(0.5, 0.6, 500)
    one = evpi_table_by_option(
        cost[:, None], effect[:, None], options=["control", "a"], wtp=[50, 100], population=10
    )
    pd.testing.assert_frame_equal(one, evpi_table(cost, effect, wtp=[50, 100], population=10))
    with pytest.raises(ValueError, match=r"The 'options' must name control and each of the 1"):
        evpi_table_by_option(cost[:, None], effect[:, None], options=["a"], wtp=50)


def test_the_sections_evpi_is_joint_over_every_arm(monkeypatch):
    seen = []
    real = cost_sections.bootstrap_cost_effect_by_arm

    def keep(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        seen.append(real(*args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(cost_sections, "bootstrap_cost_effect_by_arm", keep)
    section, _ = _section()
    voi = section["value_of_information"]
    assert voi["options"] == ["control", "course", "course_reminders"]
    (primary,) = seen  # swemwbs only: the design's data have no turnover
    costs = np.column_stack([r.replicate_costs for r in primary])
    effects = np.column_stack([r.replicate_effects for r in primary])
    for row in voi["by_threshold"]:
        assert row["evpi_per_person"] == pytest.approx(
            _evpi_by_hand(costs, effects, row["wtp"]), abs=1e-9
        )
        assert set(row["prob_best_by_option"]) == set(voi["options"])
    # each arm's plane is its own draws from the same resample
    assert section["other_arms"][0]["cost_effectiveness"][0]["plane"][0] == {
        "effect": pytest.approx(primary[1].replicate_effects[0]),
        "cost": pytest.approx(primary[1].replicate_costs[0]),
    }


def test_an_arm_without_events_is_left_out_and_named():
    data, events = _trial()
    reminders = set(data.loc[data["arm"] == "course_reminders", "participant_id"])
    section, warnings = _section(data=data, events=events[~events["unit_id"].isin(reminders)])
    assert section["arm"] == "course" and "other_arms" not in section
    assert "No delivery events for the 'course_reminders' arm: it is not costed." in warnings
    assert section["value_of_information"].get("options") is None


def test_an_arm_nobody_answered_in_is_left_out_of_that_outcomes_bootstrap():
    data, events = _trial()
    data.loc[data["arm"] == "course", "swemwbs_endline"] = np.nan
    section, warnings = _section(data=data, events=events)
    assert section["cost_effectiveness"] == []
    assert section["other_arms"][0]["cost_effectiveness"][0]["outcome"] == "swemwbs"
    assert (
        "No cost-effectiveness for 'swemwbs' in the 'course' arm: no one in it has a "
        "'swemwbs_endline' value." in warnings
    )
    # the EVPI then chooses between control and the one arm priced, and says so
    assert section["value_of_information"]["options"] == ["control", "course_reminders"]
