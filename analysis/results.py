"""The pre-specified analysis of one trial, as a results.json-shaped dict (pure).

:func:`analyse_trial` takes the one-row-per-participant analysis dataset
(see :mod:`analysis.dataset`), the design and a seeded generator, and returns
a dict that validates against ``analysis/results.schema.json``.  Same inputs,
same output, byte for byte once serialised with :func:`dump_results`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from analysis.balance import balance_auc, baseline_table
from analysis.cost_results import costs_section
from analysis.effect_sizes import hedges_g_from_estimate, icc_oneway
from analysis.estimators import SE_TYPES, covariate_frame, fit_cace, fit_itt, ols_fit
from analysis.estimators.design_matrix import drop_collinear
from analysis.inference import randomisation_inference
from analysis.multiplicity import holm_adjust
from analysis.sensitivity import attrition_section, missing_data_sensitivity
from trial_designs.design import ALGORITHM_VERSION, MAX_RI_DRAWS, Outcome, TrialDesign
from trial_designs.randomise import draw_allocations

__all__ = [
    "BALANCE_PERMUTATIONS",
    "SCHEMA_PATH",
    "SCHEMA_VERSION",
    "analyse_trial",
    "dump_results",
    "treatment_indicator",
]

SCHEMA_VERSION = "1.0.0"
SCHEMA_PATH = Path(__file__).resolve().parent / "results.schema.json"
# Labels of independent random streams, all seeded by the design's seed: each analysis
# step draws from its own, so adding one never changes another's numbers.
_RI_SEED_LABEL = 0x52493031  # "RI01": keeps RI draws apart from the allocation's own stream
_MI_SEED_LABEL = 0x4D493031  # "MI01"
_BALANCE_SEED_LABEL = 0x42414C31  # "BAL1"
_COSTS_SEED_LABEL = 0x434F5331  # "COS1"
#: Arm permutations of the global balance test: p-values to the nearest 0.01, each
#: permutation costing a 5-fold cross-validation.
BALANCE_PERMUTATIONS = 100


def treatment_indicator(arm: str) -> str:
    """The name of the 0/1 column that marks an active arm."""
    return f"arm[{arm}]"


def _clean(value: object) -> object:
    """JSON-safe: numpy scalars to Python, non-finite floats to None, recursively."""
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def dump_results(results: Mapping) -> str:
    """Canonical JSON: sorted keys, 2-space indent, floats to 12 significant digits.

    Rounding to 12 digits keeps the file byte-identical across machines whose
    BLAS differs in the last bits, and is far below any reported precision.
    """

    def rounded(value: object) -> object:
        if isinstance(value, float):
            return float(f"{value:.12g}")
        if isinstance(value, dict):
            return {k: rounded(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rounded(v) for v in value]
        return value

    return json.dumps(rounded(_clean(results)), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _columns(design: TrialDesign, outcome: Outcome, data: pd.DataFrame) -> tuple[str, str | None]:
    endline = f"{outcome.name}_endline"
    baseline = f"{outcome.name}_baseline"
    has_baseline = baseline in data and data[baseline].notna().sum() > 0
    return endline, baseline if has_baseline else None


def _is_binary(values: pd.Series) -> bool:
    observed = values.dropna().unique()
    return len(observed) > 0 and set(np.unique(observed)) <= {0.0, 1.0}


def _arm_summaries(
    data: pd.DataFrame, design: TrialDesign, endline: str, baseline: str | None
) -> list[dict]:
    rows = []
    for arm in design.arm_names:
        group = data[data["arm"] == arm]
        values = group[endline].dropna()
        rows.append(
            {
                "arm": arm,
                "n": int(len(values)),
                "mean": float(values.mean()) if len(values) else None,
                "sd": float(values.std(ddof=1)) if len(values) > 1 else None,
                "baseline_mean": float(group[baseline].mean())
                if baseline and group[baseline].notna().any()
                else None,
            }
        )
    return rows


def _ri_design_matrix(
    data: pd.DataFrame, covariates: Sequence[str], strata: str | None
) -> np.ndarray:
    parts = (
        [np.ones((len(data), 1)), data[list(covariates)].to_numpy(float)]
        if covariates
        else [np.ones((len(data), 1))]
    )
    if strata:
        parts.append(pd.get_dummies(data[strata].astype(str), drop_first=True).to_numpy(float))
    return np.column_stack(parts)


def _draws_for_rows(
    data: pd.DataFrame, design: TrialDesign, n_draws: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Re-drawn arm codes for every participant row: (n_draws, n_rows), with the design's randomiser.

    The randomiser reads the design's roster fields, but a dataset mapped with
    ``analysis.columns`` (``cluster: building``, ``stratum: local_authority``)
    holds them as ``cluster`` and ``stratum``: those are what define the units
    and strata re-drawn, so they stand in for the roster fields.
    """
    roster = data.rename(columns={"participant_id": "id"})
    if design.unit == "cluster":
        roster[design.cluster_by] = data["cluster"]
    if design.strata and not all(s in data for s in design.strata):
        # one column holding the stratum key partitions the units exactly as the fields do
        roster = roster.assign(**{s: "all" for s in design.strata})
        roster[design.strata[0]] = data["stratum"]
    unit_ids, draws = draw_allocations(roster, design, n_draws=n_draws, rng=rng)
    key = (
        data["cluster"].astype(str)
        if design.unit == "cluster"
        else data["participant_id"].astype(str)
    )
    position = pd.Index(unit_ids).get_indexer(key)
    return draws[:, position], position


def _subgroups(
    data: pd.DataFrame,
    design: TrialDesign,
    y: str,
    covariates: list[str],
    strata: str | None,
    cluster: str | None,
    se_type: str,
) -> list[dict]:
    out = []
    active = [a for a in design.arm_names if a != design.control_arm]
    if len(active) != 1:
        return out
    treat = treatment_indicator(active[0])
    for variable in design.analysis.subgroups:
        if variable not in data:
            continue
        used = data.dropna(subset=[y, *covariates, variable, *([cluster] if cluster else [])])
        levels = sorted(used[variable].astype(str).unique())
        if len(levels) < 2:
            continue
        # interaction model: arm x level, Wald test of the interaction terms
        dummies = pd.get_dummies(used[variable].astype(str), drop_first=True).astype(float)
        x = pd.concat(
            [
                pd.Series(1.0, index=used.index, name="(Intercept)"),
                used[treat],
                used[covariates],
                dummies,
                dummies.mul(used[treat], axis=0).add_prefix("x:"),
            ],
            axis=1,
        )
        if strata:
            x = pd.concat(
                [
                    x,
                    pd.get_dummies(used[strata].astype(str), prefix="s", drop_first=True).astype(
                        float
                    ),
                ],
                axis=1,
            )
        x = x.loc[:, x.std() > 0].assign(**{"(Intercept)": 1.0})
        # a subgroup that is also a stratum or a covariate repeats their dummies: drop the
        # repeats (R's lm order) rather than fail on a rank-deficient design
        x = x[["(Intercept)", *(c for c in x.columns if c != "(Intercept)")]]
        x, _ = drop_collinear(x, protected=["(Intercept)", treat])
        fit = ols_fit(
            used[y].to_numpy(float),
            x.to_numpy(float),
            terms=list(x.columns),
            se_type=se_type,
            clusters=None if cluster is None else used[cluster].to_numpy(),
        )
        idx = [i for i, t in enumerate(fit.terms) if t.startswith("x:")]
        p_interaction = None
        if idx:
            beta = np.array([fit.coefficients[i].estimate for i in idx])
            vcov = np.asarray(fit.vcov)[np.ix_(idx, idx)]
            try:
                wald = float(beta @ np.linalg.solve(vcov, beta)) / len(idx)
                df2 = min(fit.coefficients[i].df for i in idx)
                p_interaction = float(stats.f.sf(wald, len(idx), df2))
            except np.linalg.LinAlgError:
                p_interaction = None
        for level in levels:
            subset = used[used[variable].astype(str) == level]
            if subset[treat].nunique() < 2 or len(subset) < 10:
                continue
            if cluster and subset[cluster].nunique() < 3:
                continue
            result = fit_itt(
                subset,
                outcome=y,
                treatment_columns=[treat],
                covariates=covariates,
                strata=strata if strata and subset[strata].nunique() > 1 else None,
                cluster=cluster,
                se_type=se_type,
            )
            effect = result.fit[treat]
            out.append(
                {
                    "variable": variable,
                    "level": level,
                    "n": int(result.n),
                    "estimate": effect.estimate,
                    "ci_low": effect.ci_low,
                    "ci_high": effect.ci_high,
                    "interaction_p_value": p_interaction,
                }
            )
    return out


def analyse_trial(
    data: pd.DataFrame,
    design: TrialDesign,
    *,
    ri_draws: int | None = None,
    events: pd.DataFrame | None = None,
    extras: Mapping | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict:
    """The pre-specified analysis: ITT for every outcome, CACE, RI, CONSORT counts,
    attrition with missing-data sensitivity, baseline balance and costs.

    Parameters
    ----------
    data : DataFrame
        The analysis dataset: participant_id, arm, stratum, cluster, uptake
        columns (took_up, dose) when delivered, ``<outcome>_<timepoint>``.
    design : TrialDesign
    ri_draws : int, optional
        Randomisation-inference draws (default: the design's ``analysis.ri_draws``).
    events : DataFrame, optional
        The delivery log (see :func:`analysis.cost_results.costs_section`),
        which the costs are built from; without it there is no costs section.
    extras : mapping, optional
        Sections computed elsewhere and passed through (uptake,
        data_validation), already JSON-shaped; ``placeholder_scoring`` lists
        the instruments (``wrqol``) scored with a placeholder item map, whose
        outcomes are flagged ``scoring_placeholder``.
    on_progress : callable, optional
        ``on_progress(done, total)`` after each step: the randomisation-inference
        draws, each outcome (with its RI and sensitivity analyses), the costs.
        For a progress bar; it changes nothing in the result.

    Notes
    -----
    All randomness (RI draws, imputations, balance permutations, the cost
    bootstrap) comes from generators seeded by the design's seed, each step
    with its own stream, so the result is reproducible.
    """
    extras = dict(extras or {})
    placeholder_scoring = set(extras.pop("placeholder_scoring", ()))
    # one canonical row order: imputation, cross-validation folds and the bootstrap
    # depend on it, and results.json must not depend on how the file was sorted
    data = (
        data[data["arm"].isin(design.arm_names)]
        .sort_values("participant_id", kind="stable")
        .reset_index(drop=True)
    )
    active = [a for a in design.arm_names if a != design.control_arm]
    for arm in active:
        data[treatment_indicator(arm)] = (data["arm"] == arm).astype(float)
    # a text covariate (a team) enters every model, RI and imputation as fixed effects:
    # one 0/1 column per level after the first, in sorted order
    declared = covariate_frame(data, design.analysis.covariates)
    data = pd.concat([data, declared.drop(columns=[c for c in declared if c in data])], axis=1)
    model_covariates = list(declared.columns)
    cluster = "cluster" if design.unit == "cluster" else None
    strata = "stratum" if design.strata and data["stratum"].nunique() > 1 else None
    # Standard errors cluster on the unit of randomisation in cluster trials, else on the
    # grouping the design names (staff randomised one by one but working in teams).
    se_cluster = cluster or design.analysis.cluster_se_by
    se_clustered_by = design.cluster_by if cluster else design.analysis.cluster_se_by
    se_type = design.analysis.se_type or ("CR2" if se_cluster else "HC2")
    warnings: list[str] = []
    if not cluster and se_cluster:
        warnings.extend(_check_cluster_se_by(data, se_cluster))
    n_draws = design.analysis.ri_draws if ri_draws is None else ri_draws
    if not 0 <= n_draws <= MAX_RI_DRAWS:
        raise ValueError(
            f"'ri_draws' must be between 0 and {MAX_RI_DRAWS}: the randomisation p-value's Monte "
            f"Carlo SE is under 0.0016 at the maximum. Got {n_draws} instead."
        )
    rng = np.random.default_rng([design.randomisation.seed, _RI_SEED_LABEL])
    steps = len(design.outcomes) + 2
    report = on_progress or (lambda done, total: None)
    report(0, steps)
    draws = None
    if n_draws:
        draws, _ = _draws_for_rows(data, design, n_draws, rng)
        if design.randomisation.method == "minimisation" and "arrival" not in data:
            warnings.append(
                "The dataset has no 'arrival' column, so randomisation inference re-ran the "
                "minimisation in participant-id order within strata (the order of a roster "
                "randomised at once), not the order late entrants arrived in."
            )
    report(1, steps)
    outcomes = []
    primary_used: pd.DataFrame | None = None
    for done, outcome in enumerate(design.outcomes, start=1):
        if done > 1:
            report(done, steps)  # the outcome before this one is finished
        endline, baseline = _columns(design, outcome, data)
        if endline not in data or data[endline].notna().sum() == 0:
            warnings.append(f"No endline data for '{outcome.name}': it is not analysed.")
            continue
        covariates = [c for c in [baseline, *model_covariates] if c]
        # the rows the model uses: complete on these (a row without a team has no cluster)
        model_columns = [endline, *covariates, *([se_cluster] if se_cluster else [])]
        icc = _icc(data, endline) if cluster else None
        estimates = []
        result = fit_itt(
            data,
            outcome=endline,
            treatment_columns=[treatment_indicator(a) for a in active],
            covariates=covariates,
            strata=strata,
            cluster=se_cluster,
            se_type=se_type,
        )
        for arm in active:
            effect = result.fit[treatment_indicator(arm)]
            estimate = {
                "estimand": "ITT",
                "arm": arm,
                "estimate": effect.estimate,
                "std_error": effect.std_error,
                "df": effect.df,
                "ci_low": effect.ci_low,
                "ci_high": effect.ci_high,
                "p_value": effect.p_value,
                "se_type": se_type,
                "se_clustered_by": se_clustered_by,
                "n": int(result.n),
                "n_per_arm": {
                    a: int(((data["arm"] == a) & data[model_columns].notna().all(axis=1)).sum())
                    for a in design.arm_names
                },
                "n_clusters": result.fit.n_clusters,
            }
            if draws is not None:
                pair = data["arm"].isin([design.control_arm, arm]).to_numpy()
                used = pair & data[model_columns].notna().all(axis=1).to_numpy()
                subset = data[used]
                ri = randomisation_inference(
                    subset[endline].to_numpy(float),
                    subset[treatment_indicator(arm)].to_numpy(float),
                    _ri_design_matrix(subset, covariates, strata),
                    (draws[:, used] == design.arm_names.index(arm)).astype(float),
                    term=arm,
                )
                estimate.update(
                    {
                        "ri_p_value": ri.p_value,
                        "ri_ci_low": ri.ci_low,
                        "ri_ci_high": ri.ci_high,
                        "ri_draws": ri.n_draws,
                    }
                )
            estimate.update(
                _effect_size(
                    data,
                    design,
                    endline,
                    arm,
                    effect,
                    estimate["n_per_arm"],
                    icc,
                    clustered_se=se_cluster is not None,
                )
            )
            estimates.append(estimate)
            if outcome.primary and arm == active[0]:
                primary_used = data.dropna(subset=model_columns)
        cace = _cace(
            data, design, endline, covariates, strata, se_cluster, se_type, active, se_clustered_by
        )
        if cace:
            estimates.append(cace)
        sensitivity = []
        if outcome.primary:
            pair = data[data["arm"].isin([design.control_arm, active[0]])]
            sensitivity, notes = missing_data_sensitivity(
                pair,
                endline=endline,
                treatment=treatment_indicator(active[0]),
                arm=active[0],
                covariates=covariates,
                response_covariates=_baseline_characteristics(pair, design, baseline),
                strata=strata,
                cluster=se_cluster,
                se_type=se_type,
                rng=np.random.default_rng([design.randomisation.seed, _MI_SEED_LABEL]),
            )
            warnings.extend(notes)
        if outcome.instrument in placeholder_scoring:
            warnings.append(
                f"'{outcome.name}' is scored with the placeholder {outcome.instrument.upper()} item "
                "map, not the licensed one: its total is right only if the map's reversed items "
                "are, and its subscales mean nothing."
            )
        outcomes.append(
            {
                "name": outcome.name,
                "label": outcome.label or outcome.name,
                "primary": outcome.primary,
                "instrument": outcome.instrument,
                "source": outcome.source,
                "scale_min": outcome.min_value,
                "scale_max": outcome.max_value,
                "higher_is_better": outcome.higher_is_better,
                "binary": _is_binary(data[endline]),
                "prespecified": True,
                # the report flags the score wherever it shows it: a placeholder map is not the
                # licensed one, so its subscales mean nothing and its total may be wrong
                **(
                    {"scoring_placeholder": True}
                    if outcome.instrument in placeholder_scoring
                    else {}
                ),
                "estimates": estimates,
                "arms": _arm_summaries(data, design, endline, baseline),
                "subgroups": _subgroups(
                    data, design, endline, covariates, strata, se_cluster, se_type
                )
                if outcome.primary
                else [],
                "sensitivity": sensitivity,
                **(
                    {"icc": icc.icc, "icc_ci_low": icc.ci_low, "icc_ci_high": icc.ci_high}
                    if icc
                    else {}
                ),
            }
        )
    report(steps - 1, steps)
    outcomes.sort(key=lambda o: not o["primary"])
    _holm_secondary(outcomes)
    primary = next((o for o in outcomes if o["primary"]), None)
    costs, cost_notes = (
        costs_section(
            design,
            events,
            data,
            rng=np.random.default_rng([design.randomisation.seed, _COSTS_SEED_LABEL]),
        )
        if events is not None
        else (None, [])
    )
    warnings.extend(cost_notes)
    report(steps, steps)
    results = {
        "schema_version": SCHEMA_VERSION,
        "trial": _trial_section(
            design,
            extras.pop("data_source", "store"),
            extras.pop("balance_score", None),
            _allocation_ratios(data, design),
        ),
        "dates": {
            k: (v.isoformat() if hasattr(v, "isoformat") else v)
            for k, v in design.follow_up.model_dump().items()
            if k != "waves"
        },
        "consort": _consort(data, design, outcomes, primary_used),
        "outcomes": outcomes,
        "attrition": attrition_section(
            data, endline=f"{primary['name']}_endline", arm_order=design.arm_names
        )
        if primary
        else {"by_arm": [], "test": None},
        "balance": _balance(data, design, warnings),
        "costs": costs,
        "data_validation": extras.pop("data_validation", {"rows_quarantined": 0, "by_rule": []}),
        "warnings": warnings,
        "methods": _methods(design, se_type, n_draws, se_clustered_by),
    }
    results.update(extras)
    return _clean(results)


def _check_cluster_se_by(data: pd.DataFrame, column: str) -> list[str]:
    """The design's ``cluster_se_by`` column is in the data; warnings for rows without a value."""
    if column not in data:
        present = [c for c in data.columns if not c.startswith("arm[")]
        raise ValueError(
            f"The design's 'analysis.cluster_se_by' names the column '{column}', which is not in "
            f"the analysis data. Name one of: {', '.join(map(str, present))}. Got '{column}' "
            "instead."
        )
    missing = int(data[column].isna().sum())
    if missing == len(data):
        raise ValueError(
            f"The column '{column}' named by 'analysis.cluster_se_by' has no values, so there "
            "is nothing to cluster standard errors by. Map it in the design's roster.columns "
            f"(or analysis.columns for a --data file). Got {len(data)} empty values instead."
        )
    if not missing:
        return []
    return [
        f"{missing} participant(s) have no '{column}', the grouping standard errors are "
        "clustered by: they are left out of every model (complete cases)."
    ]


def _baseline_characteristics(
    data: pd.DataFrame, design: TrialDesign, primary_baseline: str | None = None
) -> list[str]:
    """Baseline columns that describe participants: strata, role, declared covariates, baselines.

    Columns with no observed value or a single value are left out; in cluster
    trials the clustering variable is too (it is the unit of randomisation).
    """
    candidates = [
        *design.strata,
        "role",
        *design.analysis.covariates,
        *([primary_baseline] if primary_baseline else []),
        *(f"{o.name}_baseline" for o in design.outcomes if o.source != "hr"),
    ]
    chosen = []
    for column in dict.fromkeys(candidates):
        if column not in data or column == design.cluster_by:
            continue
        if data[column].nunique(dropna=True) > 1:
            chosen.append(column)
    return chosen


def _balance(data: pd.DataFrame, design: TrialDesign, warnings: list[str]) -> dict | None:
    """Baseline table by arm with SMDs, and the cross-validated AUC of predicting arm.

    The AUC's permutation test shuffles individual arms, which is the right null
    only when individuals were randomised; cluster trials get the table alone.
    """
    covariates = _baseline_characteristics(data, design)
    if not covariates:
        return None
    table = baseline_table(data, arm="arm", covariates=covariates, control=design.control_arm)
    section: dict = {
        "table": table.astype(object).where(table.notna(), None).to_dict("records"),
        "auc": None,
        "auc_p_value": None,
    }
    if design.unit == "cluster":
        warnings.append(
            "The global balance test (AUC) is not reported for a cluster trial: arms were "
            "allocated to clusters, so shuffling individuals' arms is not the randomisation."
        )
        return section
    auc = balance_auc(
        data,
        arm="arm",
        covariates=covariates,
        rng=np.random.default_rng([design.randomisation.seed, _BALANCE_SEED_LABEL]),
        n_permutations=BALANCE_PERMUTATIONS,
    )
    section.update(auc=auc.auc, auc_p_value=auc.p_value, auc_detail=auc.to_dict())
    return section


def _icc(data: pd.DataFrame, endline: str):  # noqa: ANN202
    """ICC of the endline outcome within clusters, arms taken out first."""
    used = data.dropna(subset=[endline])
    if used["cluster"].nunique() < 3:
        return None
    return icc_oneway(used[endline], used["cluster"].astype(str), arm=used["arm"])


def _effect_size(  # noqa: ANN001
    data, design, endline, arm, effect, n_per_arm, icc, *, clustered_se: bool = False
) -> dict:
    """Hedges' g of an ITT coefficient: pooled SD (individual trials) or total SD (cluster trials, EEF).

    With SEs clustered by a grouping (``analysis.cluster_se_by``) the interval of g is
    the model's clustered CI rescaled, not the independent-observations formula.
    """
    n_treat, n_control = n_per_arm.get(arm, 0), n_per_arm.get(design.control_arm, 0)
    if min(n_treat, n_control) < 2:
        return {"hedges_g": None, "hedges_g_ci_low": None, "hedges_g_ci_high": None}
    if icc is not None:
        g = hedges_g_from_estimate(
            effect.estimate,
            n_treat=n_treat,
            n_control=n_control,
            sd_total=icc.sd_total,
            estimate_std_error=effect.std_error,
            df=effect.df,
        )
    else:
        sds = data.groupby("arm")[endline].agg(["std", "count"]).loc[[arm, design.control_arm]]
        pooled = float(
            np.sqrt(((sds["count"] - 1) * sds["std"] ** 2).sum() / (sds["count"].sum() - 2))
        )
        g = hedges_g_from_estimate(
            effect.estimate,
            n_treat=n_treat,
            n_control=n_control,
            sd_pooled=pooled,
            **({"estimate_std_error": effect.std_error, "df": effect.df} if clustered_se else {}),
        )
    return {"hedges_g": g.estimate, "hedges_g_ci_low": g.ci_low, "hedges_g_ci_high": g.ci_high}


def _holm_secondary(outcomes: list[dict]) -> None:
    """Holm-adjust the ITT p-values of the secondary outcomes; the primary stays unadjusted."""
    family = {
        f"{i}:{j}": e["p_value"]
        for i, o in enumerate(outcomes)
        if not o["primary"]
        for j, e in enumerate(o["estimates"])
        if e["estimand"] == "ITT"
    }
    adjusted = holm_adjust(family) if family else {}
    for i, o in enumerate(outcomes):
        for j, e in enumerate(o["estimates"]):
            e["p_value_holm"] = adjusted.get(f"{i}:{j}")


def _cace(
    data, design, endline, covariates, strata, cluster, se_type, active, se_clustered_by
) -> dict | None:  # noqa: ANN001
    """CACE when uptake is partial: assignment instruments uptake."""
    if "took_up" not in data or len(active) != 1:
        return None
    arm = active[0]
    treated = data[treatment_indicator(arm)] == 1
    rate = data.loc[treated, "took_up"].mean()
    if not (0 < rate < 0.95) or data.loc[~treated, "took_up"].mean() >= rate:
        return None
    result = fit_cace(
        data,
        outcome=endline,
        uptake="took_up",
        assignment=treatment_indicator(arm),
        covariates=covariates,
        strata=strata,
        cluster=cluster,
        se_type=se_type,
    )
    effect = result.effect
    model_columns = [endline, *covariates, *([cluster] if cluster else [])]
    return {
        "estimand": "CACE",
        "arm": arm,
        "estimate": effect.estimate,
        "std_error": effect.std_error,
        "df": effect.df,
        "ci_low": effect.ci_low,
        "ci_high": effect.ci_high,
        "p_value": effect.p_value,
        "se_type": se_type,
        "se_clustered_by": se_clustered_by,
        "n": int(result.n),
        "n_per_arm": {
            a: int(((data["arm"] == a) & data[model_columns].notna().all(axis=1)).sum())
            for a in design.arm_names
        },
        "n_clusters": result.fit.n_clusters,
        "first_stage_f": result.first_stage_f,
        "weak_instrument": result.weak_instrument,
    }


def _allocation_ratios(data: pd.DataFrame, design: TrialDesign) -> tuple[int, ...]:
    """Each arm's allocation ratio as randomised.

    Arms with exact counts (``n_units``) leave ``ratio`` at 1, so a 7:6 design read "ratio 1"
    for each arm: their ratio is the count, the arm without one taking the rest of the units
    randomised (the design's clusters, else the data's units).
    """
    if not design.fixed_counts:
        return design.ratios
    if all(a.n_units is not None for a in design.arms):
        return tuple(a.n_units for a in design.arms)
    unit = "cluster" if design.unit == "cluster" and "cluster" in data else None
    if design.unit == "cluster" and design.clusters:
        n_units = len(design.clusters)
    else:
        n_units = int(data[unit].nunique()) if unit else len(data)
    try:
        return design.allocation_ratios(n_units)
    except ValueError:  # a dataset short of units: count each arm's units in it
        counts = data.groupby("arm")[unit].nunique() if unit else data["arm"].value_counts()
        return tuple(int(counts.get(a, 0)) for a in design.arm_names)


def _trial_section(
    design: TrialDesign,
    data_source: str,
    balance_score: float | None,
    ratios: tuple[int, ...],
) -> dict:
    return {
        "id": design.id,
        "title": design.title,
        "question": design.question.strip(),
        "unit": design.unit,
        "cluster_by": design.cluster_by,
        "cluster_se_by": design.analysis.cluster_se_by,
        "strata": list(design.strata),
        "arms": [
            {"name": a.name, "label": a.label or a.name, "ratio": ratio, "control": a.control}
            for a, ratio in zip(design.arms, ratios, strict=True)
        ],
        "control_arm": design.control_arm,
        "design_hash": design.design_hash,
        "randomisation": {
            "method": design.randomisation.method,
            "seed": design.randomisation.seed,
            "algorithm_version": ALGORITHM_VERSION,
            "block_sizes": list(design.randomisation.block_sizes),
            "balance_score": balance_score,
        },
        "data_source": data_source,
    }


def _consort(
    data: pd.DataFrame, design: TrialDesign, outcomes: list[dict], primary_used: pd.DataFrame | None
) -> dict:
    primary = next((o for o in outcomes if o["primary"]), None)
    endline = f"{primary['name']}_endline" if primary else None
    individuals = {}
    for arm in design.arm_names:
        group = data[data["arm"] == arm]
        followed = int(group[endline].notna().sum()) if endline else 0
        analysed = int((primary_used["arm"] == arm).sum()) if primary_used is not None else 0
        received = int(group["took_up"].sum()) if "took_up" in group else None
        individuals[arm] = {
            "allocated": int(len(group)),
            "received": received,
            "not_received": None if received is None else int(len(group) - received),
            "lost": int(len(group) - followed),
            # followed up but not analysed: a baseline or covariate was missing (complete cases)
            "excluded": int(followed - analysed),
            "analysed": analysed,
        }
    clusters = None
    if design.unit == "cluster":
        clusters = {}
        for arm in design.arm_names:
            group = data[data["arm"] == arm]
            ids = group["cluster"].dropna().unique()
            with_data = group.dropna(subset=[endline])["cluster"].nunique() if endline else 0
            analysed = (
                primary_used[primary_used["arm"] == arm]["cluster"].nunique()
                if primary_used is not None
                else 0
            )
            received = (
                int(group.groupby("cluster")["took_up"].max().sum()) if "took_up" in group else None
            )
            clusters[arm] = {
                "allocated": int(len(ids)),
                "received": received,
                "not_received": None if received is None else int(len(ids) - received),
                "lost": int(len(ids) - with_data),
                "analysed": int(analysed),
            }
    return {"assessed": None, "excluded": None, "individuals": individuals, "clusters": clusters}


def _standard_errors_text(design: TrialDesign, se_type: str, clustered_by: str | None) -> str:
    text = {
        "HC2": "HC2 (estimatr's lm_robust default), t with N-K df.",
        "CR2": "CR2 (Bell-McCaffrey) with Pustejovsky-Tipton Satterthwaite df per coefficient, as clubSandwich and estimatr.",
    }.get(se_type, f"{se_type}: {SE_TYPES[se_type][0]}.")
    if clustered_by is None or design.unit == "cluster":
        return text
    return (
        f"Standard errors clustered by {clustered_by} ({se_type}): participants were randomised "
        f"individually but share a {clustered_by}, so their outcomes may be correlated. {text} "
        "Randomisation inference still re-draws the individual allocation."
    )


def _minimisation_redraw_text(design: TrialDesign) -> str:
    settings = design.randomisation.minimisation
    if design.randomisation.method != "minimisation" or settings is None:
        return ""
    return (
        "each re-draw re-runs the Pocock-Simon minimisation over "
        f"{', '.join(settings.factors)} (p = {settings.p}, {settings.imbalance} imbalance) with "
        "fresh random elements, participant by participant in the trial's own arrival order, "
        "since each allocation depended on the people allocated before; "
    )


def _methods(design: TrialDesign, se_type: str, n_draws: int, clustered_by: str | None) -> dict:
    return {
        "itt": "ANCOVA by OLS: endline outcome on arm indicators, the same outcome at baseline, stratum fixed effects and declared covariates; complete cases.",
        "standard_errors": _standard_errors_text(design, se_type, clustered_by),
        "binary_outcomes": "Binary and count HR outcomes use the same linear model: risk or rate differences.",
        "cace": "Complier average causal effect by 2SLS, random assignment instrumenting uptake, same SE rules; first-stage F reported, weak if under 10.",
        "randomisation_inference": (
            f"{n_draws} re-draws of the allocation with the design's own randomiser ({design.randomisation.method}); "
            + _minimisation_redraw_text(design)
            + "two-sided p-value for the sharp null of no effect; CI by inverting the test under a constant effect."
        ),
        "effect_sizes": "Hedges' g with small-sample correction; cluster trials standardise by the total SD (EEF convention).",
        "multiplicity": "The primary outcome is unadjusted; secondary outcomes carry Holm-adjusted p-values.",
        "missing_data": "Primary: complete cases with baseline adjustment. Sensitivity: inverse-probability weighting (stabilised weights from a logistic model of response on baseline characteristics and arm) and multiple imputation (IterativeImputer with posterior draws, m = 20, Rubin's rules with Barnard-Rubin df).",
        "balance": "Baseline characteristics by arm with standardised mean differences; for individually randomised trials, the cross-validated AUC of a logistic model predicting arm, with a permutation p-value.",
        "costs": "Intervention-arm delivery events costed at the design's unit costs (staff time at declared hourly costs), discounted from the randomisation date at the design's rate (Green Book); cluster costs shared equally among the cluster's members. Cost-effectiveness: bootstrap of participant-level (cost, baseline-adjusted endline outcome) pairs within arms (whole clusters in cluster trials), percentile intervals; one-way sensitivity of cost per participant to each unit cost (declared bounds, else +/-25%). The EEF cost band is on direct costs per participant per year (staff time excluded). In trials with several active arms, costs and the missing-data sensitivity analyses are for the first active arm against control.",
        "prespecified": "Outcomes, covariates, subgroups and the analysis above are declared in the design before analysis (design hash below).",
        "exploratory": "Subgroup estimates are exploratory.",
    }
