"""Synthetic, seeded rosters (and late entrants) shaped like the seed trials.

Outcomes and delivery events are simulated in :mod:`trial_designs.simulate_outcomes`
and :mod:`trial_designs.simulate_deliveries`.

Everything here is pure: functions take a design and a ``numpy.random.Generator``
and return DataFrames whose columns are the *file* columns the design maps,
so the output can be written to disk and read back through the real pipeline.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from trial_designs.design import TrialDesign

__all__ = ["ROSTER_SIZES", "simulate_late_entrants", "simulate_roster"]

#: Staff and organisations per seed trial (../shared/DOMAIN.md), and the demo's three-arm design.
ROSTER_SIZES = {
    "letters": {"n": 391, "organisations": ["Bracknell Forest", "Dudley", "Shropshire"]},
    "goal_setting": {
        "n": 1315,
        "organisations": [
            "Bromley",
            "Central Bedfordshire",
            "Greenwich",
            "Kent",
            "Lambeth",
            "North Tyneside",
            "Telford and Wrekin",
            "Wolverhampton",
        ],
    },
    "coffee": {"n": 380, "organisations": ["Kent"], "min_cluster_size": 25},
    "schwartz_rounds": {"n": 310, "organisations": None, "min_cluster_size": 40},
    # the three-arm demo design (not a seed trial): made-up, plausible authorities
    "goal_setting_nudges": {
        "n": 900,
        "organisations": ["Barnsley", "Croydon", "Hertfordshire", "Sefton"],
    },
}

_FIRST = [
    "Amira",
    "Ben",
    "Chloe",
    "Dev",
    "Ella",
    "Femi",
    "Grace",
    "Hassan",
    "Isla",
    "Jack",
    "Kasia",
    "Liam",
    "Maya",
    "Nia",
    "Owen",
    "Priya",
    "Rosa",
    "Sam",
    "Tom",
    "Uma",
    "Vik",
    "Wen",
    "Yusuf",
    "Zara",
]
_LAST = [
    "Ahmed",
    "Brown",
    "Clarke",
    "Davies",
    "Evans",
    "Fisher",
    "Green",
    "Hughes",
    "Iqbal",
    "Jones",
    "Khan",
    "Lewis",
    "Morris",
    "Nowak",
    "Okafor",
    "Patel",
    "Quinn",
    "Roberts",
    "Smith",
    "Taylor",
    "Walker",
    "Young",
]
_ROLES = ["Social worker", "Senior practitioner", "Advanced practitioner", "Team manager"]
_ROLE_P = [0.62, 0.2, 0.08, 0.1]


def _sizes_at_least(n: int, groups: int, minimum: int, rng: np.random.Generator) -> np.ndarray:
    """Group sizes summing to n, each at least ``minimum``, with a realistic spread."""
    extra = n - groups * minimum
    if extra < 0:
        raise ValueError(f"Cannot split {n} staff into {groups} groups of at least {minimum}.")
    return minimum + rng.multinomial(extra, rng.dirichlet(np.full(groups, 2.0)))


def simulate_roster(
    design: TrialDesign, *, rng: np.random.Generator, n: int | None = None
) -> pd.DataFrame:
    """A staff roster for a design, with the seed trial's size and organisations.

    Columns are the file columns the design's ``roster.columns`` and
    ``roster.pii_columns`` name.  Everyone has consented (the roster a
    coordinator would upload after consent).
    """
    spec = ROSTER_SIZES.get(design.id, {"n": 400, "organisations": ["Org A", "Org B"]})
    n = n or spec["n"]
    record: dict[str, object] = {"id": [f"{design.id[:3].upper()}{i:05d}" for i in range(1, n + 1)]}
    if design.unit == "cluster":
        clusters = list(design.clusters) or [
            f"{design.cluster_by.title()} {i + 1}" for i in range(8)
        ]
        sizes = _sizes_at_least(n, len(clusters), spec.get("min_cluster_size", 5), rng)
        cluster_of = np.repeat(np.asarray(clusters, dtype=object), sizes)
        record[design.cluster_by] = cluster_of
        if design.cluster_by != "organisation":
            record["organisation"] = spec["organisations"][0] if spec["organisations"] else "Kent"
        teams = [f"{c} team {rng.integers(1, 4)}" for c in cluster_of]
    else:
        orgs = spec["organisations"]
        weights = rng.dirichlet(np.full(len(orgs), 4.0))
        org_of = np.asarray(orgs, dtype=object)[rng.choice(len(orgs), size=n, p=weights)]
        record["organisation"] = org_of
        teams = [f"{o} team {rng.integers(1, 9)}" for o in org_of]
    record["team"] = teams
    record["role"] = np.asarray(_ROLES, dtype=object)[rng.choice(len(_ROLES), size=n, p=_ROLE_P)]
    start = dt.date(2005, 1, 1).toordinal() + rng.integers(0, 14 * 365, size=n)
    record["start_date"] = [dt.date.fromordinal(int(d)).isoformat() for d in start]
    record["consent"] = "yes"
    first = np.asarray(_FIRST, dtype=object)[rng.integers(0, len(_FIRST), size=n)]
    last = np.asarray(_LAST, dtype=object)[rng.integers(0, len(_LAST), size=n)]
    pii = {
        "first_name": first,
        "surname": last,
        "address": [
            f"{rng.integers(1, 200)} {s} Road, {o}"
            for s, o in zip(last, record.get("organisation", ["Kent"] * n), strict=False)
        ],
    }
    frame = pd.DataFrame(record)
    columns = {field: col for field, col in design.roster.columns.items() if field in frame}
    out = frame[list(columns)].rename(columns=columns)
    for field, col in design.roster.pii_columns.items():
        out[col] = pii[field]
    for extra in design.roster.covariates:
        if extra == "fte":
            out["fte"] = np.round(
                rng.choice([1.0, 0.8, 0.6, 0.5], size=n, p=[0.75, 0.12, 0.08, 0.05]), 2
            )
    return out


def simulate_late_entrants(
    design: TrialDesign, *, n: int, rng: np.random.Generator
) -> pd.DataFrame:
    """New starters who join after randomisation, in the roster's file layout."""
    pool = simulate_roster(design, rng=rng)
    extra = pool.iloc[rng.choice(len(pool), size=n, replace=False)].copy()
    id_col = design.roster.columns["id"]
    extra[id_col] = [f"NEW{design.id[:3].upper()}{i:04d}" for i in range(1, n + 1)]
    start_col = design.roster.columns.get("start_date")
    if start_col:
        extra[start_col] = design.follow_up.randomisation.isoformat()
    return extra.reset_index(drop=True)
