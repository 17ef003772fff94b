"""The pre-specified analysis of one trial: every results.json section, built as models (pure).

:func:`analyse_trial` takes the one-row-per-participant analysis dataset
(see :mod:`analysis.dataset`) and the design, and builds a
:class:`analysis.results_model.ResultsDocument` from the section builders in
:mod:`analysis.sections`.  Same inputs, same output, byte for byte once
serialised with :func:`analysis.results_model.dump_results`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.costs import MapBlocks
from analysis.estimators import covariate_frame, fit_itt
from analysis.results_model import (
    SCHEMA_VERSION,
    Attrition,
    Estimate,
    Outcome,
    ResultsDocument,
)
from analysis.sections.balance import balance_section, baseline_characteristics
from analysis.sections.consort import consort_section
from analysis.sections.costs import costs_section
from analysis.sections.cycles import cycles_section
from analysis.sections.lost_arms import arms_without_responses, not_estimated_arms
from analysis.sections.methods import methods_section
from analysis.sections.missing_data import (
    attrition_section,
    imputation_method,
    missing_data_sensitivity,
)
from analysis.sections.outcomes import (
    arm_summaries,
    cace_estimates,
    effect_fields,
    effect_size,
    holm_secondary,
    is_binary,
    n_per_arm,
    outcome_columns,
    outcome_icc,
    treatment_indicator,
)
from analysis.sections.ri import ri_model, with_randomisation_inference
from analysis.sections.subgroups import check_exploratory_subgroups, subgroup_section
from analysis.sections.trial import allocation_ratios, dates_section, trial_section
from analysis.sections.waves import headline_timepoint, waves_section
from trial_designs.design import TrialDesign
from trial_designs.sections import MAX_RI_DRAWS

__all__ = ["analyse_trial", "results_document"]

# Labels of independent random streams, all seeded by the design's seed: each analysis
# step draws from its own, so adding one never changes another's numbers (the balance
# test's is analysis.sections.balance.BALANCE_SEED_LABEL).
_RI_SEED_LABEL = 0x52493031  # "RI01": keeps RI draws apart from the allocation's own stream
_MI_SEED_LABEL = 0x4D493031  # "MI01"
_COSTS_SEED_LABEL = 0x434F5331  # "COS1"


def results_document(
    data: pd.DataFrame,
    design: TrialDesign,
    *,
    ri_draws: int | None = None,
    events: pd.DataFrame | None = None,
    extras: Mapping | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    map_blocks: MapBlocks | None = None,
    exploratory_subgroups: Sequence[str] = (),
) -> ResultsDocument:
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
        The delivery log (see :func:`analysis.sections.costs.costs_section`),
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
    map_blocks : callable, optional
        Where the cost-effectiveness bootstrap's replicate blocks run, e.g. on a Dask
        cluster (see :func:`analysis.costs.bootstrap_cost_effect`); the result is the same.
    exploratory_subgroups : sequence of str
        Columns of ``data`` analysed as subgroups besides the declared ones, for an
        exploratory reanalysis: marked ``prespecified: false`` and not Holm-adjusted.

    Notes
    -----
    All randomness (RI draws, imputations, balance permutations, the cost
    bootstrap) comes from generators seeded by the design's seed, each step
    with its own stream, so the result is reproducible.
    """
    extras = dict(extras or {})
    placeholder_scoring = set(extras.pop("placeholder_scoring", ()))
    cycle_records = extras.pop("cycle_records", None)
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
    # with learning cycles every model pools the cycles with cycle fixed effects
    cycle_effects = ["cycle"] if design.cycles and "cycle" in data else []
    declared = covariate_frame(data, [*design.analysis.covariates, *cycle_effects])
    data = pd.concat([data, declared.drop(columns=[c for c in declared if c in data])], axis=1)
    model_covariates = list(declared.columns)
    explored = check_exploratory_subgroups(data, design, exploratory_subgroups)
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
    steps = len(design.outcomes) + 2
    report = on_progress or (lambda done, total: None)
    report(0, steps)
    # each ITT estimate's RI model, with where its estimate is: refitted on the re-drawn
    # allocations, in blocks, once every outcome is estimated (analysis.sections.ri)
    ri_models: list = []
    if n_draws and design.randomisation.method == "minimisation" and "arrival" not in data:
        warnings.append(
            "The dataset has no 'arrival' column, so randomisation inference re-ran the "
            "minimisation in participant-id order within strata (the order of a roster "
            "randomised at once), not the order late entrants arrived in."
        )
    report(1, steps)
    outcomes = []
    primary_used: pd.DataFrame | None = None
    primary_covariates: list[str] = []
    imputation = "chained_bootstrap"  # the methods text's, when no imputation is run
    for done, outcome in enumerate(design.outcomes, start=1):
        if done > 1:
            report(done, steps)  # the outcome before this one is finished
        # the headline is the pre-declared timepoint's (endline unless the design names a wave)
        endline, baseline = outcome_columns(
            outcome, data, timepoint=headline_timepoint(design, outcome)
        )
        if endline not in data or data[endline].notna().sum() == 0:
            warnings.append(f"No endline data for '{outcome.name}': it is not analysed.")
            continue
        # an arm with no response has no estimable effect: estimate the others, name it
        lost = arms_without_responses(data, design, endline)
        estimable, not_estimated = not_estimated_arms(data, design, outcome.name, endline, lost)
        warnings.extend(n.reason for n in not_estimated)
        covariates = [c for c in [baseline, *model_covariates] if c]
        # the rows the model uses: complete on these (a row without a team has no cluster)
        model_columns = [endline, *covariates, *([se_cluster] if se_cluster else [])]
        icc = outcome_icc(data, endline) if cluster else None
        estimates = []
        result = (
            fit_itt(
                data,
                outcome=endline,
                treatment_columns=[treatment_indicator(a) for a in estimable],
                covariates=covariates,
                strata=strata,
                cluster=se_cluster,
                se_type=se_type,
            )
            if estimable
            else None
        )
        for arm in estimable:
            effect = result.fit[treatment_indicator(arm)]
            per_arm = n_per_arm(data, design, model_columns)
            if n_draws:
                where = (len(outcomes), len(estimates))
                ri_models.append(
                    (
                        where,
                        ri_model(
                            data,
                            design,
                            arm=arm,
                            treatment=treatment_indicator(arm),
                            endline=endline,
                            covariates=covariates,
                            model_columns=model_columns,
                            strata=strata,
                            arms=estimable,
                        ),
                    )
                )
            estimates.append(
                Estimate(
                    estimand="ITT",
                    arm=arm,
                    **effect_fields(effect),
                    se_type=se_type,
                    se_clustered_by=se_clustered_by,
                    n=int(result.n),
                    n_per_arm=per_arm,
                    n_clusters=result.fit.n_clusters,
                    **effect_size(
                        data,
                        design,
                        endline,
                        arm,
                        effect,
                        per_arm,
                        icc,
                        clustered_se=se_cluster is not None,
                    ),
                )
            )
            if outcome.primary and arm == active[0]:
                primary_used = data.dropna(subset=model_columns)
                # the cycles section adds its own cycle terms to the primary's model
                primary_covariates = [c for c in covariates if not c.startswith("cycle[")]
        # CACE, sensitivity, subgroups and waves model every arm: not run when one has no data
        if not lost:
            estimates.extend(
                cace_estimates(
                    data,
                    design,
                    endline,
                    covariates,
                    strata,
                    se_cluster,
                    se_type,
                    active,
                    se_clustered_by,
                )
            )
        sensitivity = []
        if outcome.primary and not lost:
            # the primary's own (joint) model on every arm's rows, so each arm's complete-case
            # row is its primary ITT and IPW and MI change only how the missing are handled
            imputation = imputation_method(data, strata=strata)
            sensitivity, notes = missing_data_sensitivity(
                data,
                endline=endline,
                treatment=[treatment_indicator(arm) for arm in active],
                arm=active,
                covariates=covariates,
                response_covariates=baseline_characteristics(data, design, baseline),
                strata=strata,
                cluster=se_cluster,
                se_type=se_type,
                rng=_mi_rng(design.randomisation.seed),
                m=design.analysis.mi_imputations,
            )
            warnings.extend(notes)
        subgroups, subgroup_tests = (
            subgroup_section(
                data,
                design,
                endline,
                covariates,
                strata,
                se_cluster,
                se_type,
                se_clustered_by=se_clustered_by,
                exploratory=explored,
            )
            if outcome.primary and not lost
            else ([], [])
        )
        if outcome.instrument in placeholder_scoring:
            warnings.append(
                f"'{outcome.name}' is scored with the placeholder {outcome.instrument.upper()} item "
                "map, not the licensed one: its total is right only if the map's reversed items "
                "are, and its subscales mean nothing."
            )
        outcomes.append(
            Outcome(
                name=outcome.name,
                label=outcome.label or outcome.name,
                primary=outcome.primary,
                instrument=outcome.instrument,
                source=outcome.source,
                scale_min=outcome.min_value,
                scale_max=outcome.max_value,
                higher_is_better=outcome.higher_is_better,
                binary=is_binary(data[endline]),
                prespecified=True,
                # the report flags the score wherever it shows it: a placeholder map is not the
                # licensed one, so its subscales mean nothing and its total may be wrong
                **(
                    {"scoring_placeholder": True}
                    if outcome.instrument in placeholder_scoring
                    else {}
                ),
                estimates=estimates,
                arms=arm_summaries(data, design, endline, baseline),
                subgroups=subgroups,
                **({"subgroup_tests": subgroup_tests} if outcome.primary else {}),
                sensitivity=sensitivity,
                **({"not_estimated": not_estimated} if not_estimated else {}),
                **(
                    {"waves": waves}
                    if not lost
                    and (
                        waves := waves_section(
                            data,
                            design,
                            outcome,
                            baseline=baseline,
                            covariates=covariates,
                            strata=strata,
                            se_cluster=se_cluster,
                            se_type=se_type,
                        )
                    )
                    else {}
                ),
                **(
                    {"icc": icc.icc, "icc_ci_low": icc.ci_low, "icc_ci_high": icc.ci_high}
                    if icc
                    else {}
                ),
            )
        )
    # New streams since the draws run in blocks (issue 18.4): every RI p-value and CI
    # changed once then; they no longer depend on where or in how many pieces they ran.
    outcomes = with_randomisation_inference(
        outcomes,
        ri_models,
        data,
        design,
        n_draws=n_draws,
        entropy=[design.randomisation.seed, _RI_SEED_LABEL],
        map_blocks=map_blocks,
    )
    report(steps - 1, steps)
    outcomes.sort(key=lambda o: not o.primary)
    outcomes = holm_secondary(
        outcomes, primary_across_arms=design.analysis.adjust_across_arms == "holm"
    )
    primary = next((o for o in outcomes if o.primary), None)
    costs, cost_notes = (
        costs_section(
            design,
            events,
            data,
            rng=np.random.default_rng([design.randomisation.seed, _COSTS_SEED_LABEL]),
            map_blocks=map_blocks,
        )
        if events is not None
        else (None, [])
    )
    warnings.extend(cost_notes)
    report(steps, steps)
    return ResultsDocument(
        schema_version=SCHEMA_VERSION,
        trial=trial_section(
            design,
            extras.pop("data_source", "store"),
            extras.pop("balance_score", None),
            allocation_ratios(data, design),
        ),
        dates=dates_section(design),
        consort=consort_section(data, design, outcomes, primary_used),
        outcomes=outcomes,
        attrition=attrition_section(
            data,
            endline=f"{primary.name}_{headline_timepoint(design, primary)}",
            arm_order=design.arm_names,
            control=design.control_arm,
            clustered=se_cluster is not None,
        )
        if primary
        else Attrition(by_arm=[], test=None),
        balance=balance_section(data, design, warnings),
        costs=costs,
        **(
            {
                "cycles": cycles_section(
                    data,
                    design,
                    outcome=f"{primary.name}_endline",
                    covariates=primary_covariates,
                    strata=strata,
                    cluster=se_cluster,
                    se_type=se_type,
                    records=cycle_records,
                )
            }
            # the cycles' models need every arm of the primary (none listed as not estimated)
            if design.cycles
            and primary is not None
            and "cycle" in data
            and not primary.not_estimated
            else {}
        ),
        data_validation=extras.pop("data_validation", {"rows_quarantined": 0, "by_rule": []}),
        warnings=warnings,
        methods=methods_section(design, se_type, n_draws, se_clustered_by, imputation=imputation),
        # sections computed elsewhere (uptake, the registered plan) pass through, checked
        **extras,
    )


def analyse_trial(
    data: pd.DataFrame,
    design: TrialDesign,
    *,
    ri_draws: int | None = None,
    events: pd.DataFrame | None = None,
    extras: Mapping | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    map_blocks: MapBlocks | None = None,
    exploratory_subgroups: Sequence[str] = (),
) -> dict:
    """:func:`results_document` as results.json holds it: a JSON-safe dict (see its parameters)."""
    return results_document(
        data,
        design,
        ri_draws=ri_draws,
        events=events,
        extras=extras,
        on_progress=on_progress,
        map_blocks=map_blocks,
        exploratory_subgroups=exploratory_subgroups,
    ).to_json_dict()


def _mi_rng(seed: int) -> np.random.Generator:
    """The imputations' generator: the stream ``[seed, MI]`` every trial has always used.

    With several active arms one imputation of every arm's data serves them all (the
    primary's joint model is fitted to each), so there is one stream, not one per arm.
    """
    return np.random.default_rng([seed, _MI_SEED_LABEL])


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
