from __future__ import annotations

import dataclasses
import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest

from analysis.costs import (
    CostModel,
    UnitCost,
    bootstrap_cost_effect,
    build_ledger,
    cost_model_from_mapping,
    cost_per_participant,
    eef_cost_band,
    head_count_shares,
    one_way_sensitivity,
    summarise_ledger,
)

# The seed's Schwartz Rounds table (CASCADE, mean cost per LA, GBP): per component, per LA.
SCHWARTZ_SITES = ("LA1", "LA3", "LA4", "LA5", "LA6")
SCHWARTZ_SEED_UNIT_COSTS = {
    "training": ("training_held", "setup", (716, 673, 1123, 983, 1170)),
    "panel_meeting": ("panel_meeting_held", "running", (166, 253, 267, 289, 203)),
    "round": ("round_held", "running", (742, 678, 1446, 1000, 795)),
    "steering_group": ("steering_group_held", "running", (238, 515, 350, 461, 983)),
}
# The seed's published totals per Round, excluding the initial training.
SCHWARTZ_SEED_TOTALS_PER_ROUND = dict(
    zip(SCHWARTZ_SITES, (1146, 1446, 2063, 1750, 1981), strict=True)
)
SEED_COST_PER_ATTENDEE_PER_ROUND = 20
START = "2020-01-15"


def _schwartz_mapping(extra_items: tuple[dict, ...] = ()) -> dict:
    items = [
        {
            "name": name,
            "event_type": event_type,
            "unit": "per_" + event_type.removesuffix("_held"),
            "category": category,
            "kind": "direct",
            "amount": dict(zip(SCHWARTZ_SITES, amounts, strict=True)),
        }
        for name, (event_type, category, amounts) in SCHWARTZ_SEED_UNIT_COSTS.items()
    ]
    return {
        "currency": "GBP",
        "currency_year": 2020,
        "source": "CASCADE evaluation (seed), mean cost per LA",
        "items": items + list(extra_items),
    }


def _schwartz_events(rounds_per_site: dict[str, int], attendees: dict[str, float]) -> pd.DataFrame:
    rows = []
    for site, n_rounds in rounds_per_site.items():
        base = {"unit_id": site, "site": site, "organisation": site}
        rows.append({**base, "event_type": "training_held", "occurred_at": "2020-01-10"})
        for r in range(n_rounds):
            day = pd.Timestamp("2020-02-03") + pd.Timedelta(days=30 * r)
            rows.append(
                {
                    **base,
                    "event_type": "panel_meeting_held",
                    "occurred_at": day - pd.Timedelta(days=7),
                }
            )
            rows.append(
                {
                    **base,
                    "event_type": "round_held",
                    "occurred_at": day,
                    "attendees": attendees[site],
                    "hours": 1.0,
                }
            )
            rows.append(
                {
                    **base,
                    "event_type": "steering_group_held",
                    "occurred_at": day + pd.Timedelta(days=5),
                }
            )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------
# The seed's Schwartz table
# ---------------------------------------------------------------------------
def test_schwartz_seed_table_is_reproduced_per_site_and_at_20_pounds_per_attendee():
    rounds = dict(zip(SCHWARTZ_SITES, (3, 4, 5, 6, 4), strict=True))
    # The seed gives the cost per attendee per Round (£20), not the attendance; the
    # attendance that implies it is the site's cost per Round divided by £20, e.g.
    # LA1's 1146 / 20 = 57.3 people per Round on average.
    implied = {
        s: t / SEED_COST_PER_ATTENDEE_PER_ROUND for s, t in SCHWARTZ_SEED_TOTALS_PER_ROUND.items()
    }
    model = cost_model_from_mapping(_schwartz_mapping())
    ledger = build_ledger(_schwartz_events(rounds, implied), model, start_date=START)
    for k, site in enumerate(SCHWARTZ_SITES):
        by_hand = sum(
            SCHWARTZ_SEED_UNIT_COSTS[c][2][k] for c in ("panel_meeting", "round", "steering_group")
        )
        assert by_hand == SCHWARTZ_SEED_TOTALS_PER_ROUND[site]
        at_site = ledger[ledger["site"] == site]
        # attendance comes from the Rounds logged: the sum of 'attendees' on round_held events
        attendances = float(implied[site] * rounds[site])
        summary = cost_per_participant(
            at_site,
            n_randomised_intervention=80,
            n_took_up=60,
            n_completed=20,
            n_rounds=rounds[site],
            attendances=attendances,
        )
        assert summary.per_round.total.undiscounted == SCHWARTZ_SEED_TOTALS_PER_ROUND[site]
        assert summary.per_round.total.discounted == SCHWARTZ_SEED_TOTALS_PER_ROUND[site]
        assert summary.per_round.direct.undiscounted == SCHWARTZ_SEED_TOTALS_PER_ROUND[site]
        assert summary.setup.total.undiscounted == SCHWARTZ_SEED_UNIT_COSTS["training"][2][k]
        assert summary.per_attendee_per_round.total.undiscounted == pytest.approx(20, rel=1e-12)
    # pooled over the five LAs, at each LA's implied attendance, it is still £20
    total_rounds = sum(rounds.values())
    pooled = cost_per_participant(
        ledger,
        n_randomised_intervention=400,
        n_took_up=300,
        n_completed=100,
        n_rounds=total_rounds,
        attendances=sum(implied[s] * rounds[s] for s in SCHWARTZ_SITES),
    )
    assert pooled.per_attendee_per_round.direct.undiscounted == pytest.approx(20, rel=1e-12)


def test_attendees_staff_time_is_costed_beside_the_seed_direct_costs():
    hourly = 31.0
    attendee_time = {
        "name": "attendee_time",
        "event_type": "round_held",
        "quantity_from": "attendee_hours",
        "unit": "per_hour",
        "category": "running",
        "kind": "staff_time",
        "amount": hourly,
        "low": 25,
        "high": 40,
    }
    model = cost_model_from_mapping(_schwartz_mapping((attendee_time,)))
    events = _schwartz_events({"LA4": 4}, {"LA4": 40})
    ledger = build_ledger(events, model, start_date=START)
    summary = cost_per_participant(
        ledger,
        n_randomised_intervention=100,
        n_took_up=70,
        n_completed=30,
        n_rounds=4,
        attendances=160,
    )
    assert summary.per_round.direct.undiscounted == SCHWARTZ_SEED_TOTALS_PER_ROUND["LA4"]
    assert summary.per_round.staff_time.undiscounted == 40 * 1.0 * hourly
    assert (
        summary.per_round.total.undiscounted == SCHWARTZ_SEED_TOTALS_PER_ROUND["LA4"] + 40 * hourly
    )
    split = summarise_ledger(ledger)
    assert split.by_kind["staff_time"].undiscounted == 4 * 40 * hourly
    assert split.by_category_and_kind["running/staff_time"].undiscounted == 4 * 40 * hourly


def test_events_at_a_site_without_a_declared_amount_are_refused():
    model = cost_model_from_mapping(_schwartz_mapping())
    events = _schwartz_events({"LA1": 2, "LA9": 1}, {"LA1": 10, "LA9": 10})
    with pytest.raises(
        ValueError, match=r"'training' has amounts for the sites .*Got events at LA9"
    ):
        build_ledger(events, model, start_date=START)


# ---------------------------------------------------------------------------
# The ledger and discounting
# ---------------------------------------------------------------------------
def _simple_model(rate: float = 0.035) -> CostModel:
    return cost_model_from_mapping(
        {
            "currency_year": 2021,
            "source": "test",
            "discount_rate": rate,
            "items": [
                {"name": "machine", "event_type": "machine_installed", "quantity_from": "quantity",
                 "unit": "per_machine", "category": "setup", "kind": "direct", "amount": 400},
                {"name": "supplies", "event_type": "supplies_restocked", "quantity_from": "quantity",
                 "unit": "per_restock", "category": "running", "kind": "direct", "amount": 55.5},
                {"name": "manager_time", "event_type": "letter_sent", "multiplier": 0.25,
                 "unit": "per_hour", "category": "running", "kind": "staff_time", "amount": 36,
                 "low": 30, "high": 45},
            ],
        }
    )  # fmt: skip


def _simple_events() -> pd.DataFrame:
    # start 2020-03-01: the year turns on each 1 March
    rows = [
        ("B1", "Kent", "machine_installed", "2020-02-20", 1),  # before the start: year 0
        ("B2", "Kent", "machine_installed", "2020-03-05", 2),  # year 0
        ("B1", "Kent", "supplies_restocked", "2021-02-28", 1),  # day before the anniversary: year 0
        ("B1", "Kent", "supplies_restocked", "2021-03-01", 3),  # year 1
        ("B2", "Kent", "supplies_restocked", "2023-06-01", 2),  # year 3
        ("P1", "Dudley", "letter_sent", "2022-03-01", np.nan),  # year 2
        ("P2", None, "letter_sent", "2020-04-01", np.nan),  # year 0, no organisation
        ("P3", "Dudley", "invited", "2020-04-01", np.nan),  # not costed
    ]
    frame = pd.DataFrame(
        rows, columns=["unit_id", "organisation", "event_type", "occurred_at", "quantity"]
    )
    return frame.assign(site=frame["unit_id"].where(frame["unit_id"].str.startswith("B")))


def test_discounting_matches_hand_computation():
    ledger = build_ledger(_simple_events(), _simple_model(), start_date="2020-03-01")
    r = 0.035
    by_hand = [
        400 * 1,
        400 * 2,
        55.5 * 1,
        55.5 * 3 / (1 + r),
        55.5 * 2 / (1 + r) ** 3,
        0.25 * 36 / (1 + r) ** 2,
        0.25 * 36,
    ]
    assert ledger["cost"].sum() == pytest.approx(400 * 3 + 55.5 * 6 + 0.5 * 36, rel=1e-14)
    assert ledger["cost_discounted"].sum() == pytest.approx(sum(by_hand), rel=1e-14)
    assert sorted(ledger["year"].unique()) == [0, 1, 2, 3]
    year3 = ledger[ledger["year"] == 3]
    assert year3["discount_factor"].tolist() == pytest.approx([1 / 1.035**3], rel=1e-14)
    year0 = ledger[ledger["year"] == 0]
    assert (year0["cost_discounted"] == year0["cost"]).all()
    # the design's rate is used unless the caller overrides it
    other = build_ledger(_simple_events(), _simple_model(0.05), start_date="2020-03-01")
    override = build_ledger(
        _simple_events(), _simple_model(), start_date="2020-03-01", discount_rate=0.05
    )
    assert other["cost_discounted"].sum() == pytest.approx(
        override["cost_discounted"].sum(), rel=1e-14
    )
    assert other["cost_discounted"].sum() < ledger["cost_discounted"].sum()


def test_ledger_summary_partitions_the_total_and_names_unassigned_lines():
    ledger = build_ledger(_simple_events(), _simple_model(), start_date="2020-03-01")
    summary = summarise_ledger(ledger)
    for split in (
        "by_category",
        "by_kind",
        "by_category_and_kind",
        "by_organisation",
        "by_site",
        "by_item",
        "by_year",
    ):
        figures = getattr(summary, split).values()
        assert sum(f.undiscounted for f in figures) == pytest.approx(
            summary.total.undiscounted, rel=1e-13
        )
        assert sum(f.discounted for f in figures) == pytest.approx(
            summary.total.discounted, rel=1e-13
        )
    assert summary.by_organisation["unassigned"].undiscounted == 0.25 * 36
    assert summary.by_site["unassigned"].undiscounted == 0.5 * 36  # letters are not at a site
    assert summary.by_category["setup"].undiscounted == 1200
    assert summary.by_category_and_kind["setup/staff_time"].undiscounted == 0
    assert summary.currency_years == (2021,)
    json.dumps(summary.to_dict(), allow_nan=False)


def test_ledger_does_not_depend_on_the_order_of_events():
    events = _simple_events()
    shuffled = events.sample(frac=1, random_state=3).reset_index(drop=True)
    a = build_ledger(events, _simple_model(), start_date="2020-03-01")
    b = build_ledger(shuffled, _simple_model(), start_date="2020-03-01")
    pd.testing.assert_frame_equal(a, b)


def test_quantity_fields_that_an_item_needs_must_be_present():
    events = _simple_events()
    events.loc[1, "quantity"] = np.nan
    with pytest.raises(
        ValueError, match=r"'machine' takes its quantity from quantity .*Got 1 of 2 without"
    ):
        build_ledger(events, _simple_model(), start_date="2020-03-01")
    events = _simple_events()
    events.loc[3, "occurred_at"] = None
    with pytest.raises(ValueError, match=r"needs a date in 'occurred_at'.*Got 1 without one"):
        build_ledger(events, _simple_model(), start_date="2020-03-01")
    with pytest.raises(ValueError, match=r"need the columns event_type, occurred_at or timestamp"):
        build_ledger(events.drop(columns="occurred_at"), _simple_model(), start_date="2020-03-01")


# ---------------------------------------------------------------------------
# Cost per participant and EEF bands
# ---------------------------------------------------------------------------
def test_cost_per_participant_divides_by_each_denominator_and_is_json_safe():
    ledger = build_ledger(_simple_events(), _simple_model(), start_date="2020-03-01")
    total = ledger["cost"].sum()
    summary = cost_per_participant(
        ledger, n_randomised_intervention=190, n_took_up=38, n_completed=0
    )
    assert summary.per_randomised.total.undiscounted == pytest.approx(total / 190, rel=1e-14)
    assert summary.per_taker.total.undiscounted == pytest.approx(total / 38, rel=1e-14)
    assert math.isnan(summary.per_completer.total.undiscounted)
    assert summary.per_round is None
    assert summary.eef_band == eef_cost_band(total / 190)
    out = summary.to_dict()
    json.dumps(out, allow_nan=False)
    assert out["per_completer"]["total"]["undiscounted"] is None
    two_years = cost_per_participant(
        ledger, n_randomised_intervention=190, n_took_up=38, n_completed=0, delivery_years=2
    )
    assert two_years.per_participant_per_year == pytest.approx(total / 190 / 2, rel=1e-14)


@pytest.mark.parametrize(
    ("value", "band"),
    [
        (0, "very low"),
        (79.99, "very low"),
        (80, "low"),
        (200, "low"),
        (200.01, "moderate"),
        (720, "moderate"),
        (720.01, "high"),
        (1200, "high"),
        (1200.01, "very high"),
        (1e6, "very high"),
    ],
)
def test_eef_bands_at_their_boundaries(value, band):
    assert eef_cost_band(value) == band


def test_eef_band_refuses_negative_or_missing_costs():
    for value in (-1, math.nan, math.inf, "80"):
        with pytest.raises(ValueError, match="must be a finite number at least 0"):
            eef_cost_band(value)


def test_cost_per_participant_checks_its_counts():
    ledger = build_ledger(_simple_events(), _simple_model(), start_date="2020-03-01")
    with pytest.raises(
        ValueError, match=r"n_completed <= n_took_up <= n_randomised_intervention. Got 5, 4 and 10"
    ):
        cost_per_participant(ledger, n_randomised_intervention=10, n_took_up=4, n_completed=5)
    with pytest.raises(
        ValueError, match=r"'n_randomised_intervention' must be a whole number at least 1. Got 0"
    ):
        cost_per_participant(ledger, n_randomised_intervention=0, n_took_up=0, n_completed=0)
    with pytest.raises(ValueError, match=r"'attendances' needs 'n_rounds'"):
        cost_per_participant(
            ledger, n_randomised_intervention=10, n_took_up=4, n_completed=1, attendances=5
        )


# ---------------------------------------------------------------------------
# The bootstrap
# ---------------------------------------------------------------------------
def _trial(rng, n=80, effect=0.8, cost=30.0):
    arm = np.arange(n) % 2 == 1
    rng.shuffle(arm)
    costs = np.where(arm, rng.gamma(2.0, cost / 2, n), rng.gamma(1.0, 2.0, n))
    effects = rng.normal(21, 3.5, n) + effect * arm
    return costs, effects, arm


def _slow_replicates(costs, effects, arm, clusters, n_boot, chunk, seed, sign=1.0):
    """A per-replicate loop over the same index draws as the documented protocol."""
    rng = np.random.default_rng(seed)
    members = []
    for value in (False, True):
        rows = np.flatnonzero(arm == value)
        if clusters is None:
            members.append([np.array([r]) for r in rows])
        else:
            labels = sorted(set(clusters[rows]))
            members.append([rows[clusters[rows] == label] for label in labels])
    draws = [[], []]
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        for a in (0, 1):
            draws[a].append(rng.integers(0, len(members[a]), size=(size, len(members[a]))))
    draws = [np.vstack(d) for d in draws]
    delta_c, delta_e = np.empty(n_boot), np.empty(n_boot)
    for b in range(n_boot):
        means = []
        for a in (0, 1):
            rows = np.concatenate([members[a][g] for g in draws[a][b]])
            means.append((costs[rows].mean(), effects[rows].mean()))
        delta_c[b] = means[1][0] - means[0][0]
        delta_e[b] = sign * (means[1][1] - means[0][1])
    return delta_c, delta_e


@pytest.mark.parametrize("chunk", [200, 64])
def test_bootstrap_equals_a_per_replicate_loop_on_the_same_draws(rng, chunk):
    costs, effects, arm = _trial(rng)
    result = bootstrap_cost_effect(
        costs, effects, arm, rng=np.random.default_rng(7), n_boot=200, chunk_size=chunk
    )
    slow_c, slow_e = _slow_replicates(costs, effects, arm, None, 200, chunk, seed=7)
    np.testing.assert_allclose(result.replicate_costs, slow_c, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(result.replicate_effects, slow_e, rtol=1e-12, atol=1e-12)
    assert result.incremental_cost == pytest.approx(
        costs[arm].mean() - costs[~arm].mean(), rel=1e-14
    )


def test_cluster_bootstrap_equals_a_per_replicate_loop_on_the_same_draws(rng):
    costs, effects, arm = _trial(rng, n=120)
    # clusters nested in arms, of unequal sizes, labelled out of order
    clusters = np.where(arm, "t", "c") + (rng.integers(0, 7, 120) ** 2).astype(str)
    result = bootstrap_cost_effect(
        costs, effects, arm, clusters=clusters, rng=np.random.default_rng(9), n_boot=150,
        higher_is_better=False, chunk_size=150,
    )  # fmt: skip
    slow_c, slow_e = _slow_replicates(costs, effects, arm, clusters, 150, 150, seed=9, sign=-1.0)
    np.testing.assert_allclose(result.replicate_costs, slow_c, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(result.replicate_effects, slow_e, rtol=1e-12, atol=1e-12)
    assert result.n_clusters_per_arm == {
        "control": len(set(clusters[~arm])),
        "intervention": len(set(clusters[arm])),
    }


def test_cluster_bootstrap_keeps_clusters_intact():
    # control: three clusters worth nothing; intervention: three clusters of sizes 2, 3, 5
    # whose members share a value.  A replicate resampling whole clusters can only give
    # a mean of whole clusters; resampling people gives others.
    sizes, values = (2, 3, 5), (1.0, 10.0, 100.0)
    effects = np.concatenate(
        [np.zeros(9), *[np.full(s, v) for s, v in zip(sizes, values, strict=True)]]
    )
    arm = np.r_[np.zeros(9, bool), np.ones(10, bool)]
    clusters = np.r_[np.repeat(["c1", "c2", "c3"], 3), np.repeat(["t1", "t2", "t3"], sizes)]
    possible = set()
    for counts in itertools.product(range(4), repeat=3):
        if sum(counts) == 3:
            weights = np.array(counts) * np.array(sizes)
            possible.add(round(float(weights @ values / weights.sum()), 9))
    kept = bootstrap_cost_effect(
        np.zeros(19), effects, arm, clusters=clusters, rng=np.random.default_rng(1), n_boot=500
    )
    assert {round(v, 9) for v in kept.replicate_effects} <= possible
    assert len({round(v, 9) for v in kept.replicate_effects}) > 3
    broken = bootstrap_cost_effect(
        np.zeros(19), effects, arm, rng=np.random.default_rng(1), n_boot=500
    )
    assert not {round(v, 9) for v in broken.replicate_effects} <= possible


def test_icer_interval_is_the_ratio_percentile_when_every_replicate_gains(rng):
    costs, effects, arm = _trial(rng, n=400, effect=3.0)
    result = bootstrap_cost_effect(costs, effects, arm, rng=rng, n_boot=1000)
    assert (result.replicate_effects > 0).all()
    ratios = result.replicate_costs / result.replicate_effects
    low, high = np.quantile(ratios, [0.025, 0.975])
    assert result.icer_ci_low == pytest.approx(low, rel=1e-10)
    assert result.icer_ci_high == pytest.approx(high, rel=1e-10)
    assert result.icer == pytest.approx(
        result.incremental_cost / result.incremental_effect, rel=1e-14
    )
    assert result.to_dict()["icer"]["ci_defined"] is True


def test_icer_interval_is_undefined_when_the_effect_interval_includes_zero(rng):
    costs, effects, arm = _trial(rng, n=60, effect=0.0)
    result = bootstrap_cost_effect(costs, effects, arm, rng=rng, n_boot=2000, n_plane_points=300)
    low, high = result.incremental_effect_ci
    assert low < 0 < high
    assert math.isnan(result.icer_ci_low) and math.isnan(result.icer_ci_high)
    out = result.to_dict()
    json.dumps(out, allow_nan=False)
    assert out["icer"]["ci_low"] is None and out["icer"]["ci_defined"] is False
    assert out["icer"]["note"].startswith("Undefined")
    # the joint replicates are reported for the plane all the same
    assert len(out["plane"]) == 300
    assert out["plane"][0] == {
        "effect": result.replicate_effects[0],
        "cost": result.replicate_costs[0],
    }


def test_ceac_is_the_share_of_replicates_with_positive_net_benefit(rng):
    costs, effects, arm = _trial(rng, n=100, effect=1.0)
    wtp = np.array([0.0, 5.0, 20.0, 80.0, 1000.0])
    result = bootstrap_cost_effect(costs, effects, arm, rng=rng, n_boot=400, wtp=wtp)
    for w, probability in result.ceac:
        expected = np.mean(w * result.replicate_effects - result.replicate_costs > 0)
        assert probability == expected
    assert result.ceac[0][1] == np.mean(result.replicate_costs < 0)
    assert sum(result.quadrant_shares.values()) == pytest.approx(1.0)


def test_bootstrap_is_reproducible_from_its_generator(rng):
    costs, effects, arm = _trial(rng)
    a = bootstrap_cost_effect(costs, effects, arm, rng=np.random.default_rng(4), n_boot=300)
    b = bootstrap_cost_effect(costs, effects, arm, rng=np.random.default_rng(4), n_boot=300)
    assert a.to_dict() == b.to_dict()


def _two_arms(control: tuple, intervention: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    (c0, e0), (c1, e1) = control, intervention
    costs = np.array([*c0, *c1], float)
    effects = np.array([*e0, *e1], float)
    arm = np.array([0] * len(c0) + [1] * len(c1))
    return costs, effects, arm


@pytest.mark.parametrize(
    ("control", "intervention", "higher", "verdict", "sentence"),
    [
        (
            ((0, 0), (20, 22)),
            ((40, 60), (22, 24)),
            True,
            "trade-off",
            "The intervention costs £50.00 more per participant and improves SWEMWBS by 2.00 points: "
            "£25.00 per point gained.",
        ),
        (
            ((100, 100), (20, 22)),
            ((40, 60), (22, 24)),
            True,
            "dominant",
            "The intervention is dominant: it costs £50.00 less per participant and improves SWEMWBS by 2.00 points.",
        ),
        (
            ((0, 0), (22, 24)),
            ((40, 60), (20, 22)),
            True,
            "dominated",
            "The intervention is dominated: it costs £50.00 more per participant and worsens SWEMWBS by 2.00 points.",
        ),
        (
            ((100, 100), (22, 24)),
            ((40, 60), (20, 22)),
            True,
            "trade-off",
            "The intervention costs £50.00 less per participant and worsens SWEMWBS by 2.00 points: "
            "£25.00 saved per point lost.",
        ),
        (
            ((0, 0, 0, 0, 0), (1, 0, 0, 0, 0)),
            ((5, 5, 5, 5, 5), (0, 0, 0, 0, 0)),
            False,
            "trade-off",
            "The intervention costs £5.00 more per participant and reduces turnover by 0.2 cases: "
            "£25.00 per case avoided.",
        ),
    ],
)
def test_dominance_verdicts_in_words(control, intervention, higher, verdict, sentence):
    costs, effects, arm = _two_arms(control, intervention)
    label, unit = ("SWEMWBS", "point") if higher else ("turnover", "case")
    result = bootstrap_cost_effect(
        costs, effects, arm, rng=np.random.default_rng(0), n_boot=200,
        higher_is_better=higher, outcome_label=label, effect_unit=unit,
    )  # fmt: skip
    assert result.verdict == verdict
    assert result.sentence == sentence


# ---------------------------------------------------------------------------
# One-way sensitivity
# ---------------------------------------------------------------------------
def _rebuilt_per_participant(events, model, name, amount_of, n):
    items = tuple(
        dataclasses.replace(i, amount=amount_of(i), low=None, high=None) if i.name == name else i
        for i in model.items
    )
    ledger = build_ledger(events, dataclasses.replace(model, items=items), start_date=START)
    return ledger["cost_discounted"].sum() / n, ledger["cost"].sum() / n


def test_one_way_sensitivity_equals_rebuilding_the_ledger_with_each_cost_moved():
    staff = {
        "name": "attendee_time", "event_type": "round_held", "quantity_from": "attendee_hours",
        "unit": "per_hour", "category": "running", "kind": "staff_time", "amount": 31, "low": 25, "high": 40,
    }  # fmt: skip
    model = cost_model_from_mapping(_schwartz_mapping((staff,)))
    # Rounds run past the first anniversary, so discounting matters
    events = _schwartz_events({"LA1": 14, "LA5": 16}, {"LA1": 30, "LA5": 25})
    n = 250
    table = one_way_sensitivity(events, model, start_date=START, n_participants=n, vary=0.25)
    assert list(table["range"]) == sorted(table["range"], reverse=True)
    assert set(table["parameter"]) == set(model.names)
    for row in table.itertuples():
        if row.parameter == "attendee_time":
            low = _rebuilt_per_participant(events, model, row.parameter, lambda i: 25.0, n)
            high = _rebuilt_per_participant(events, model, row.parameter, lambda i: 40.0, n)
            assert row.variation == "£25.00 to £40.00"
        else:
            low = _rebuilt_per_participant(
                events, model, row.parameter, lambda i: i.amount * 0.75, n
            )
            high = _rebuilt_per_participant(
                events, model, row.parameter, lambda i: i.amount * 1.25, n
            )
            assert row.variation == "±25%"
        assert row.low_per_participant == pytest.approx(low[0], rel=1e-12)
        assert row.high_per_participant == pytest.approx(high[0], rel=1e-12)
        assert row.low_per_participant_undiscounted == pytest.approx(low[1], rel=1e-12)
        assert row.high_per_participant_undiscounted == pytest.approx(high[1], rel=1e-12)
        assert row.low_per_participant < row.base_per_participant < row.high_per_participant
    assert (
        table["base_per_participant"].iloc[0] < table["base_per_participant_undiscounted"].iloc[0]
    )
    # bounds given by the caller replace the declared ones
    wider = one_way_sensitivity(
        events, model, start_date=START, n_participants=n, hourly_bounds={"attendee_time": (15, 50)}
    ).set_index("parameter")
    low = _rebuilt_per_participant(events, model, "attendee_time", lambda i: 15.0, n)
    assert wider.loc["attendee_time", "low_per_participant"] == pytest.approx(low[0], rel=1e-12)


def test_one_way_sensitivity_checks_hourly_bounds():
    model = _simple_model()
    events = _simple_events()
    kwargs = {"start_date": "2020-03-01", "n_participants": 10}
    with pytest.raises(
        ValueError,
        match=r"names the item 'nurse_time', which .*Choose from: machine, supplies, manager_time",
    ):
        one_way_sensitivity(events, model, hourly_bounds={"nurse_time": (1, 2)}, **kwargs)
    with pytest.raises(ValueError, match=r"is for staff_time items; 'machine' is of kind 'direct'"):
        one_way_sensitivity(events, model, hourly_bounds={"machine": (300, 500)}, **kwargs)
    with pytest.raises(
        ValueError, match=r"for 'manager_time' must contain its amount 36. Got \(40, 50\)"
    ):
        one_way_sensitivity(events, model, hourly_bounds={"manager_time": (40, 50)}, **kwargs)
    with pytest.raises(ValueError, match=r"'vary' must be a fraction between 0 and 1.*Got 1.5"):
        one_way_sensitivity(events, model, vary=1.5, **kwargs)


# ---------------------------------------------------------------------------
# Validation of the cost model
# ---------------------------------------------------------------------------
def _item(**changes) -> dict:
    item = {
        "name": "letter", "event_type": "letter_sent", "unit": "per_letter", "category": "running",
        "kind": "direct", "amount": 1.2, "source": "Royal Mail", "currency_year": 2020,
    }  # fmt: skip
    return {k: v for k, v in {**item, **changes}.items() if v is not None}


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ([], r"A cost model must be a mapping .*Got list instead"),
        (
            {"items": [_item()], "rate": 0.03},
            r"key\(s\) rate are not known. Choose from: currency, .*Got rate instead",
        ),
        ({"items": []}, r"needs a non-empty list of 'items'. Got \[\] instead"),
        (
            {"items": [_item(category="annual")]},
            r"'letter': the 'category' 'annual' is not known. Choose one of: setup, running. Got 'annual' instead",
        ),
        (
            {"items": [_item(kind="overhead")]},
            r"the 'kind' 'overhead' is not known. Choose one of: direct, staff_time",
        ),
        (
            {"items": [_item(quantity_from="minutes")]},
            r"the 'quantity_from' 'minutes' is not known. Choose one of: events, quantity, hours, attendees, attendee_hours",
        ),
        (
            {"items": [_item(amount=-3)]},
            r"'letter': 'amount' must be a finite number at least 0. Got -3 instead",
        ),
        (
            {"items": [_item(amount="cheap")]},
            r"'amount' must be a finite number at least 0. Got 'cheap' instead",
        ),
        ({"items": [_item(unit=None)]}, r"The cost item 'letter' needs 'unit'. Got none instead"),
        ({"items": [_item(colour="red")]}, r"'letter': the key\(s\) colour are not known"),
        ({"items": [_item(low=2)]}, r"'low' must not exceed 'amount' \(1.2\). Got 2 instead"),
        ({"items": [_item(high=1)]}, r"'high' must not be below 'amount' \(1.2\). Got 1 instead"),
        ({"items": [_item(multiplier=0)]}, r"'multiplier' must be above 0. Got 0 instead"),
        (
            {"items": [_item(currency_year=20.5)]},
            r"'currency_year' must be a whole year such as 2020. Got 20.5 instead",
        ),
        ({"items": [_item(), _item()]}, r"'letter' is declared twice"),
        (
            {"items": [_item(site="LA1"), _item()]},
            r"either once for all sites or once per site",
        ),
        (
            {"items": [_item(amount={"LA1": 2, "LA2": 3}, low={"LA1": 1})]},
            r"'low' keyed by site must name the same sites as 'amount' \(LA1, LA2\). Got LA1 instead",
        ),
        (
            {"items": [_item(amount={"LA1": 2}, site="LA1")]},
            r"gives 'amount' by site, so it must not also give 'site'",
        ),
        ({"items": [_item(low={"LA1": 1})]}, r"'low' may be keyed by site only when 'amount' is"),
        ({"items": [_item()], "currency": "EUR"}, r"'currency' must be GBP .*Got 'EUR' instead"),
        (
            {"items": [_item()], "discount_rate": 3.5},
            r"'discount_rate' must be a number in \[0, 1\), such as 0.035. Got 3.5 instead",
        ),
    ],
)
def test_cost_model_validation_names_the_field_rule_and_value(mapping, message):
    with pytest.raises(ValueError, match=message):
        cost_model_from_mapping(mapping)


def test_per_site_declarations_of_a_name_must_agree():
    with pytest.raises(
        ValueError, match=r"same 'kind' at every site. Got 'direct' and 'staff_time'"
    ):
        CostModel(
            items=(
                UnitCost(**{**_item(), "site": "LA1"}),
                UnitCost(**{**_item(kind="staff_time"), "site": "LA2"}),
            )
        )


def test_a_valid_mapping_round_trips_through_to_dict():
    model = cost_model_from_mapping(_schwartz_mapping())
    assert len(model.items) == 4 * len(SCHWARTZ_SITES)
    assert model.names == tuple(SCHWARTZ_SEED_UNIT_COSTS)
    assert model.discount_rate == 0.035
    out = model.to_dict()
    json.dumps(out, allow_nan=False)
    assert {i["site"] for i in out["items"]} == set(SCHWARTZ_SITES)


def test_bootstrap_validation_messages(rng):
    costs, effects, arm = _trial(rng, n=20)
    with pytest.raises(ValueError, match=r"'arm' must be 0/1 or bool .*Got values \[1, 2\]"):
        bootstrap_cost_effect(costs, effects, arm.astype(int) + 1, rng=rng)
    with pytest.raises(ValueError, match=r"'n_boot' must be a whole number at least 100. Got 10"):
        bootstrap_cost_effect(costs, effects, arm, rng=rng, n_boot=10)
    with pytest.raises(ValueError, match=r"'effects' must have no missing.*Got 1 instead"):
        bootstrap_cost_effect(costs, np.r_[effects[:-1], np.nan], arm, rng=rng)
    with pytest.raises(
        ValueError, match=r"Each cluster must lie in one arm.*Got clusters in both arms: k"
    ):
        bootstrap_cost_effect(costs, effects, arm, rng=rng, clusters=np.array(["k"] * 20))
    clusters = np.where(arm, "t", "c")
    with pytest.raises(
        ValueError, match=r"The control arm needs at least 2 clusters to bootstrap. Got 1"
    ):
        bootstrap_cost_effect(costs, effects, arm, rng=rng, clusters=clusters)
    with pytest.raises(ValueError, match=r"'rng' must be a numpy.random.Generator. Got int"):
        bootstrap_cost_effect(costs, effects, arm, rng=42)


def test_icer_bound_is_unbounded_when_its_order_statistic_crosses_zero_effect():
    from analysis.costs import _icer_interval

    # 96% of replicates gain at ICERs 1..96; 4% are dearer and worse (beyond zero effect)
    delta_e = np.r_[np.ones(96), -np.ones(4)]
    delta_c = np.r_[np.arange(1.0, 97.0), np.full(4, 5.0)]
    low, high = _icer_interval(delta_c, delta_e, 0.95, 1.0)
    assert high == math.inf
    # linear interpolation at position 99 x 0.025 of the sorted ICERs 1, 2, 3, ...
    assert low == pytest.approx(1 + 99 * 0.025, rel=1e-12)
    # mirrored replicates with the effect CI on the negative side give the same interval
    assert _icer_interval(-delta_c, -delta_e, 0.95, -1.0) == (low, high)


def test_the_module_docstring_example_is_a_valid_cost_model():
    import textwrap

    import yaml

    import analysis.costs

    doc = analysis.costs.__doc__
    block = doc.split("::\n", 1)[1].split("\nGoal-setting", 1)[0]
    model = cost_model_from_mapping(yaml.safe_load(textwrap.dedent(block))["costs"])
    assert {i.site for i in model.items if i.name == "round"} == set(SCHWARTZ_SITES)
    staff = [i for i in model.items if i.kind == "staff_time"]
    assert [(i.quantity_from, i.low, i.high) for i in staff] == [("attendee_hours", 25, 40)]


def test_numeric_site_labels_match_declared_sites_even_when_read_as_floats():
    mapping = {
        "currency_year": 2020,
        "source": "test",
        "items": [
            {"name": "machine", "event_type": "machine_installed", "unit": "per_machine",
             "category": "setup", "kind": "direct", "amount": {"3": 400, "7": 500}},
        ],
    }  # fmt: skip
    events = pd.DataFrame(
        {
            "event_type": ["machine_installed"] * 3,
            "occurred_at": ["2020-02-01"] * 3,
            "site": [3.0, 7.0, 7.0],
        }
    )
    ledger = build_ledger(events, cost_model_from_mapping(mapping), start_date=START)
    assert dict(zip(ledger["site"], ledger["cost"], strict=True)) == {"3": 400, "7": 1000}


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
        _schwartz_mapping(
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
