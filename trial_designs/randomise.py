"""Randomising a roster under a design: the design-level entry points.

:func:`randomise` allocates a checked roster by the design's method and
returns an :class:`Allocation`; :func:`randomise_probabilities` is its twin;
:func:`draw_allocations` re-draws many allocations for randomisation
inference.  The algorithms are pure functions in
:mod:`trial_designs.allocate` (complete, blocked, cluster),
:mod:`trial_designs.constrained` (covariate-constrained clusters) and
:mod:`trial_designs.minimise` (Pocock-Simon); units come in canonical order
(:mod:`trial_designs.strata`), so the same seed gives the same allocation
whatever the order of the input rows.  Nothing here reads global random state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from trial_designs.allocate import (
    allocate_blocked,
    allocate_blocked_probabilities,
    allocate_clusters_probabilities,
    allocate_complete,
    allocate_complete_probabilities,
    cluster_table,
)
from trial_designs.constrained import (
    ConstrainedSet,
    allocate_constrained,
    allocate_constrained_probabilities,
    enumerate_constrained,
)
from trial_designs.design import ALGORITHM_VERSION, TrialDesign
from trial_designs.minimise import (
    allocate_minimisation,
    factor_levels,
    factor_weights,
    redraw_minimisation,
)
from trial_designs.strata import canonical_order, seeded_stream, stratum_codes

__all__ = ["Allocation", "draw_allocations", "randomise", "randomise_probabilities"]


# ---------------------------------------------------------------------------
# The design-level entry points
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Allocation:
    """The result of randomising a roster under a design.

    ``units`` has one row per randomised unit (participant, or cluster in a
    cluster trial): ``unit_id``, ``stratum``, ``arm``, ``sequence_position``.
    ``members`` maps each participant to its unit (itself, or its cluster).
    """

    units: pd.DataFrame
    members: pd.DataFrame
    design_id: str
    design_hash: str
    method: str
    seed: int
    algorithm_version: str
    balance_score: float | None = None
    n_candidates: int | None = None
    n_accepted: int | None = None

    def counts(self) -> pd.DataFrame:
        """Arm counts per stratum (units randomised)."""
        return (
            self.units.groupby(["stratum", "arm"], observed=False)
            .size()
            .unstack(fill_value=0)
            .reset_index()
            .rename_axis(columns=None)
        )


def _prepare(
    units: pd.DataFrame, design: TrialDesign
) -> tuple[pd.DataFrame, np.ndarray, list[str], pd.DataFrame]:
    """Randomised units in canonical order, their stratum codes and names, and the
    participant -> unit map."""
    grouping = [*design.strata, *([design.cluster_by] if design.unit == "cluster" else [])]
    absent = [c for c in dict.fromkeys(grouping) if c not in units.columns]
    if absent:
        raise ValueError(
            f"The design randomises by {', '.join(repr(c) for c in absent)}, which is not a column "
            f"of the roster. Map it in 'roster.columns' or add the column. Got columns "
            f"{[c for c in units.columns if c != 'source_row']} instead."
        )
    if design.unit == "cluster":
        table = cluster_table(
            units,
            cluster=design.cluster_by,
            strata=design.strata,
            covariates=design.randomisation.constraint.covariates
            if design.randomisation.constraint
            else (),
        )
        frame = table.reset_index().rename(columns={"cluster_id": "unit_id"})
        codes, names = pd.factorize(frame["stratum"], sort=True)
        names = list(names)
        members = pd.DataFrame(
            {
                "participant_id": units["id"].astype("str"),
                "unit_id": units[design.cluster_by].astype("str"),
            }
        )
    else:
        codes, names = stratum_codes(units, design.strata)
        frame = pd.DataFrame({"unit_id": units["id"].astype("str")})
        members = pd.DataFrame({"participant_id": frame["unit_id"], "unit_id": frame["unit_id"]})
    order = canonical_order(frame["unit_id"], codes)
    frame = frame.iloc[order].reset_index(drop=True)
    codes = codes[order]
    frame["stratum"] = pd.Categorical.from_codes(codes, categories=names)
    return frame, codes, names, members.sort_values("participant_id").reset_index(drop=True)


def _ratios(design: TrialDesign, frame: pd.DataFrame) -> tuple[int, ...]:
    """The ratios that allocate these units, refusing an allocation that can leave an arm empty.

    With ``n_units`` the ratios are the counts themselves (see
    :meth:`TrialDesign.allocation_ratios`).  A cluster trial needs at least
    one cluster in every arm for every seed: the floor of ``G·r_j/Σr`` over
    the whole trial is at least one.
    """
    n = len(frame)
    word = "clusters" if design.unit == "cluster" else "units"
    if design.unit == "cluster" and n < 2:
        raise ValueError(
            f"A cluster trial needs at least 2 clusters, one per arm at the least. Got {n} "
            f"({', '.join(frame['unit_id'])}) instead."
        )
    ratios = design.allocation_ratios(n)
    if design.unit == "cluster":
        for name, ratio in zip(design.arm_names, ratios, strict=True):
            if n * ratio // sum(ratios) < 1:
                raise ValueError(
                    f"arm '{name}' would get no {word} in some allocations: every arm needs at "
                    f"least one. Got {n} {word} at ratio {':'.join(map(str, ratios))} instead."
                )
    return ratios


def _constrained_set(frame: pd.DataFrame, design: TrialDesign, codes: np.ndarray) -> ConstrainedSet:
    constraint = design.randomisation.constraint
    return enumerate_constrained(
        codes,
        frame[list(constraint.covariates)].to_numpy(dtype=float),
        ratios=_ratios(design, frame),
        keep_fraction=constraint.keep_fraction,
        max_candidates=constraint.max_candidates,
        seed=design.randomisation.seed,
        cluster_ids=frame["unit_id"].tolist(),
    )


def _minimisation_options(design: TrialDesign) -> dict:
    settings = design.randomisation.minimisation
    return {
        "n_arms": len(design.arms),
        "p": settings.p,
        "weights": factor_weights(settings.factors, settings.weights),
        "measure": settings.imbalance,
    }


def _minimisation_levels(
    units: pd.DataFrame, frame: pd.DataFrame, design: TrialDesign
) -> np.ndarray:
    """The factor levels of ``frame``'s units, in ``frame``'s order."""
    levels = factor_levels(units, design.randomisation.minimisation.factors)
    row_of = pd.Index(units["id"].astype("str")).get_indexer(frame["unit_id"])
    return levels[row_of]


def _arrival_order(units: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` in arrival order: by ``units['arrival']`` if given (ties and gaps by the
    canonical order), else the canonical order itself."""
    if "arrival" not in units.columns:
        return frame
    arrival = pd.to_numeric(
        pd.Series(units["arrival"].to_numpy(), index=units["id"].astype("str")), errors="coerce"
    )
    key = arrival.reindex(frame["unit_id"]).to_numpy(dtype=float)
    order = np.lexsort((np.arange(len(frame)), np.nan_to_num(key, nan=np.inf)))
    return frame.iloc[order].reset_index(drop=True)


def randomise(units: pd.DataFrame, design: TrialDesign) -> Allocation:
    """Randomise a checked roster under a design.

    Parameters
    ----------
    units : DataFrame
        The roster with canonical column names (``id``, ``organisation``, ...),
        plus any other strata or cluster column by its own name (``village``).
    design : TrialDesign

    Returns
    -------
    Allocation
        Reproducible from (design seed, design, algorithm version), and the same
        whatever the order of ``units``' rows.
    """
    frame, codes, names, members = _prepare(units, design)
    ratios = _ratios(design, frame)
    seed = design.randomisation.seed
    method = design.randomisation.method
    positions = np.arange(len(frame))
    extra: dict[str, float | int] = {}
    if method == "blocked":
        arms, positions = allocate_blocked(
            codes,
            list(names),
            ratios=ratios,
            block_sizes=design.randomisation.block_sizes,
            seed=seed,
        )
    elif method == "minimisation":
        # arrival order of a roster randomised at once: canonical order (stratum, id), so
        # the allocation is the same whatever the order of the file's rows
        arms = allocate_minimisation(
            _minimisation_levels(units, frame, design), **_minimisation_options(design), seed=seed
        )
    elif method == "constrained_cluster":
        constrained = _constrained_set(frame, design, codes)
        arms, score = allocate_constrained(constrained, rng=seeded_stream(seed, "allocate"))
        extra = {
            "balance_score": score,
            "n_candidates": constrained.n_candidates,
            "n_accepted": len(constrained.accepted),
        }
    else:  # complete, cluster
        arms = allocate_complete(codes, ratios=ratios, rng=seeded_stream(seed, "allocate"))
    if method not in ("blocked", "minimisation"):  # minimisation: the arrival position
        # position within stratum in canonical order: documents the slot each unit took
        positions = np.arange(len(codes)) - np.searchsorted(codes, codes)
    frame = frame.assign(
        arm=pd.Categorical.from_codes(arms, categories=design.arm_names),
        sequence_position=positions,
    )[["unit_id", "stratum", "arm", "sequence_position"]]
    return Allocation(
        units=frame,
        members=members,
        design_id=design.id,
        design_hash=design.design_hash,
        method=method,
        seed=seed,
        algorithm_version=ALGORITHM_VERSION,
        **extra,
    )


def randomise_probabilities(units: pd.DataFrame, design: TrialDesign) -> pd.DataFrame:
    """The probabilities twin of :func:`randomise`: one row per unit, one column per arm."""
    frame, codes, _names, _members = _prepare(units, design)
    ratios = _ratios(design, frame)
    method = design.randomisation.method
    if method == "constrained_cluster":
        prob = allocate_constrained_probabilities(
            _constrained_set(frame, design, codes), len(design.arms)
        )
    elif method == "blocked":
        prob = allocate_blocked_probabilities(codes, ratios=ratios)
    elif method == "minimisation":
        # equal ratios only, and the rule is symmetric in the arms: exactly 1/K for every
        # unit (see trial_designs.minimise; minimisation_probabilities enumerates it)
        prob = allocate_complete_probabilities(codes, ratios=ratios)
    elif method == "cluster":
        prob = allocate_clusters_probabilities(codes, ratios=ratios)
    else:
        prob = allocate_complete_probabilities(codes, ratios=ratios)
    return (
        pd.DataFrame(prob, columns=list(design.arm_names))
        .assign(unit_id=frame["unit_id"])
        .set_index("unit_id")
    )


def draw_allocations(
    units: pd.DataFrame, design: TrialDesign, *, n_draws: int, rng: np.random.Generator
) -> tuple[pd.Index, np.ndarray]:
    """Re-draw the allocation ``n_draws`` times with the design's own randomiser.

    For randomisation inference.  Returns the unit ids (canonical order) and
    an ``(n_draws, n_units)`` array of arm codes.  Blocks, strata, clusters
    and constraints are all honoured.

    Notes
    -----
    Permuted blocks are drawn as complete randomisation within strata: it is
    the same distribution of allocations, at a fraction of the cost.
    :func:`allocate_blocked` gives a stratum's units, in a uniformly random
    order independent of the sequence, the first ``n`` slots of its sequence,
    so the allocation is a uniformly random arrangement of those slots' arm
    counts.  Full blocks hold exactly ``r_j / T`` of each size in arm ``j``,
    and the block the roster ends inside holds floor/ceil counts of
    ``k r_j / T`` for its first ``k`` slots (:func:`trial_designs.allocate._floor_ceil_counts`).
    As ``n - k`` is a multiple of ``T``, ``k r_j mod T = n r_j mod T``, so the
    counts have exactly the distribution :func:`allocate_complete` draws for
    ``n``.  This holds for the units randomised together; late entrants, who
    took later slots of the sequence, are re-drawn as if they had been there
    from the start.

    Minimisation is re-run in the trial's arrival order with fresh random
    numbers (:func:`trial_designs.minimise.redraw_minimisation`): the order is
    ``units['arrival']`` (the store's sequence position) when given, else the
    canonical order the initial randomisation used.
    """
    frame, codes, _names, _members = _prepare(units, design)
    ratios = _ratios(design, frame)
    method = design.randomisation.method
    if method == "minimisation":
        ordered = _arrival_order(units, frame)
        draws = redraw_minimisation(
            _minimisation_levels(units, ordered, design),
            **_minimisation_options(design),
            n_draws=n_draws,
            rng=rng,
        )
        return pd.Index(ordered["unit_id"], name="unit_id"), draws
    if method == "constrained_cluster":
        constrained = _constrained_set(frame, design, codes)
        picks = rng.choice(len(constrained.accepted), size=n_draws, p=constrained.weights)
        draws = constrained.accepted[picks]
    else:
        draws = np.stack([allocate_complete(codes, ratios=ratios, rng=rng) for _ in range(n_draws)])
    return pd.Index(frame["unit_id"], name="unit_id"), draws
