"""Subgroups of the primary outcome in results.json: level estimates and interaction tests (pure).

For each declared subgroup (``analysis.subgroups``) and each active arm against
control, :func:`subgroup_section` gives

* the ITT within each level: the primary model refitted to the level's
  participants of the two arms;
* the interaction test: one ANCOVA over both arms' participants with arm x level
  terms, and a joint Wald F test that those terms are all 0, with the primary
  analysis's standard errors (HC2, or CR2 clustered as the primary is);
* Holm's adjustment of the interaction p-values across the declared subgroups,
  per arm (:func:`analysis.multiplicity.holm_adjust`).

A level too small for an estimate of its own is listed in ``skipped`` with the
reason, never dropped in silence.  A subgroup added in an exploratory
reanalysis is computed the same way, marked ``prespecified: false`` and left
out of the Holm family.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis.estimators import fit_itt, ols_fit, ols_fit_absorbed
from analysis.estimators.absorb import absorbs
from analysis.estimators.design_matrix import drop_collinear
from analysis.multiplicity import holm_adjust
from analysis.results_model import SkippedLevel, SubgroupEstimate, SubgroupTest
from analysis.sections.outcomes import treatment_indicator
from trial_designs.design import TrialDesign
from trial_designs.subgroups import Subgroup, not_a_subgroup, subgroup_specs

__all__ = [
    "MIN_LEVEL_CLUSTERS",
    "MIN_LEVEL_N",
    "check_exploratory_subgroups",
    "refuse_unsplittable_subgroup",
    "holm_subgroup_tests",
    "subgroup_levels",
    "subgroup_section",
    "tertile_cut_points",
]

#: A level needs this many participants (both arms together) for an estimate of its own.
MIN_LEVEL_N = 10
#: ... and, with clustered standard errors, this many clusters.
MIN_LEVEL_CLUSTERS = 3


def tertile_cut_points(values: pd.Series) -> tuple[float, float]:
    """The 1/3 and 2/3 quantiles of the non-missing values (numpy's linear rule, R's type 7).

    Raises
    ------
    ValueError
        When the column is not numeric or has fewer than 3 values.
    """
    numbers = pd.to_numeric(values, errors="coerce")
    bad = values.notna() & numbers.isna()
    if bad.any():
        raise ValueError(
            f"Tertiles need a numeric column: '{values.name}' holds text such as "
            f"{values[bad].iloc[0]!r}. Got {int(bad.sum())} non-numeric values instead."
        )
    present = numbers.dropna().to_numpy(float)
    if present.size < 3:
        raise ValueError(
            f"Tertiles of '{values.name}' need at least 3 values. Got {present.size} instead."
        )
    low, high = np.quantile(present, [1 / 3, 2 / 3])
    return float(low), float(high)


def _tertile_labels(low: float, high: float) -> tuple[str, str, str]:
    return (
        f"lowest third (\u2264 {low:.4g})",
        f"middle third ({low:.4g} to {high:.4g})",
        f"highest third (> {high:.4g})",
    )


def subgroup_levels(
    data: pd.DataFrame, spec: Subgroup
) -> tuple[pd.Series, list[str], list[float] | None]:
    """Each row's level as text (NaN where unknown), every level in order, and any cut points.

    Tertile levels are cut on the pooled column of every row given (both arms):
    value <= low, low < value <= high, value > high.
    """
    column = data[spec.column]
    if not spec.tertiles:
        level = column.astype(str).where(column.notna())
        return level, sorted(level.dropna().unique()), None
    low, high = tertile_cut_points(column)
    labels = _tertile_labels(low, high)
    numbers = pd.to_numeric(column, errors="coerce")
    code = np.select([numbers <= low, numbers <= high], [0, 1], default=2)
    level = pd.Series(np.array(labels, dtype=object)[code], index=data.index)
    return level.where(numbers.notna()), list(labels), [low, high]


def _interaction_test(
    used: pd.DataFrame,
    level: pd.Series,
    y: str,
    treat: str,
    covariates: list[str],
    strata: str | None,
    cluster: str | None,
    se_type: str,
) -> dict:
    """The joint Wald F test of the arm x level terms (see :class:`SubgroupTest`'s ``test``)."""
    dummies = pd.get_dummies(level, drop_first=True).astype(float)
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
    clusters = None if cluster is None else used[cluster].to_numpy()
    if strata and absorbs(used[strata], None):
        # many strata (more than ABSORB_STRATA_ABOVE): absorbed by demeaning, as fit_itt
        # does, not n x strata dummy columns; the arm x level terms' estimates and
        # covariance are the dummy model's.  Columns the strata explain (a subgroup that is
        # the stratum, or nested in it) are dropped as the dummy model drops repeats.
        x = x.drop(columns="(Intercept)")
        x = x.loc[:, x.std() > 0]
        fit, _ = ols_fit_absorbed(
            used[y].to_numpy(float),
            x,
            used[strata],
            leading=[treat],
            covariates=[c for c in x.columns if c != treat],
            se_type=se_type,
            clusters=clusters,
        )
    else:
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
            clusters=clusters,
        )
    idx = [i for i, t in enumerate(fit.terms) if t.startswith("x:")]
    if not idx:
        return {
            "note": "No arm x level term could be estimated: every level but one is empty "
            "in an arm, or the levels repeat a stratum or covariate exactly."
        }
    beta = np.array([fit.coefficients[i].estimate for i in idx])
    vcov = np.asarray(fit.vcov)[np.ix_(idx, idx)]
    try:
        statistic = float(beta @ np.linalg.solve(vcov, beta)) / len(idx)
    except np.linalg.LinAlgError:
        return {
            "note": "The interaction terms' covariance is singular, so the Wald test "
            "cannot be computed."
        }
    df_denom = float(min(fit.coefficients[i].df for i in idx))
    return {
        "statistic": statistic,
        "df_num": len(idx),
        "df_denom": df_denom,
        "p_value": float(stats.f.sf(statistic, len(idx), df_denom)),
    }


def _skip_reason(subset: pd.DataFrame, treat: str, cluster: str | None) -> str | None:
    if subset.empty:
        return "no one in the level"
    if subset[treat].nunique() < 2:
        arm = "the active arm" if subset[treat].iloc[0] == 0 else "the control arm"
        return f"no one from {arm} in the level"
    if len(subset) < MIN_LEVEL_N:
        return f"fewer than {MIN_LEVEL_N} participants ({len(subset)})"
    if cluster and subset[cluster].nunique() < MIN_LEVEL_CLUSTERS:
        return (
            f"fewer than {MIN_LEVEL_CLUSTERS} clusters ({subset[cluster].nunique()}), too few "
            "for clustered standard errors"
        )
    return None


def _one_subgroup(
    pair: pd.DataFrame,
    spec: Subgroup,
    arm: str,
    y: str,
    covariates: list[str],
    strata: str | None,
    cluster: str | None,
    se_type: str,
    *,
    cut_on: pd.DataFrame,
    prespecified: bool,
    se_clustered_by: str | None,
) -> tuple[list[SubgroupEstimate], SubgroupTest]:
    treat = treatment_indicator(arm)
    # tertiles are cut on everyone analysed (every arm), so each arm's comparison uses the
    # same cut points
    all_levels, order, cut_points = subgroup_levels(cut_on, spec)
    level = all_levels.reindex(pair.index)
    used = pair.assign(_level=level).dropna(
        subset=[y, *covariates, "_level", *([cluster] if cluster else [])]
    )
    test: dict = {}
    present = [lv for lv in order if (used["_level"] == lv).any()]
    if len(present) < 2:
        test["note"] = (
            f"Fewer than 2 levels have data ({len(present)}), so there is nothing to compare."
        )
    else:
        test = _interaction_test(
            used, used["_level"], y, treat, covariates, strata, cluster, se_type
        )
    estimates, skipped = [], []
    for name in order:
        subset = used[used["_level"] == name]
        reason = _skip_reason(subset, treat, cluster)
        if reason is None:
            try:
                result = fit_itt(
                    subset,
                    outcome=y,
                    treatment_columns=[treat],
                    covariates=covariates,
                    strata=strata if strata and subset[strata].nunique() > 1 else None,
                    cluster=cluster,
                    se_type=se_type,
                )
            except ValueError as exc:  # e.g. more covariate columns than people in the level
                reason = f"the model could not be fitted: {exc}"
        if reason is not None:
            skipped.append(SkippedLevel(level=name, n=len(subset), reason=reason))
            continue
        effect = result.fit[treat]
        estimates.append(
            SubgroupEstimate(
                variable=spec.name,
                level=name,
                n=int(result.n),
                estimate=effect.estimate,
                ci_low=effect.ci_low,
                ci_high=effect.ci_high,
                interaction_p_value=test.get("p_value"),
                arm=arm,
                std_error=effect.std_error,
                df=effect.df,
                p_value=effect.p_value,
                prespecified=prespecified,
            )
        )
    return estimates, SubgroupTest(
        variable=spec.name,
        column=spec.column,
        arm=arm,
        prespecified=prespecified,
        derivation="tertiles" if spec.tertiles else "levels",
        **({"cut_points": cut_points} if cut_points is not None else {}),
        levels=order,
        skipped=skipped,
        n=len(used),
        test="wald_f",
        statistic=test.get("statistic"),
        df_num=test.get("df_num"),
        df_denom=test.get("df_denom"),
        p_value=test.get("p_value"),
        p_value_holm=None,
        se_type=se_type,
        se_clustered_by=se_clustered_by,
        **({"note": test["note"]} if "note" in test else {}),
    )


def _untested(
    spec: Subgroup,
    arm: str,
    prespecified: bool,  # noqa: FBT001
    se_type: str,
    se_clustered_by: str | None,
    note: str,
) -> SubgroupTest:
    return SubgroupTest(
        variable=spec.name,
        column=spec.column,
        arm=arm,
        prespecified=prespecified,
        derivation="tertiles" if spec.tertiles else "levels",
        levels=[],
        skipped=[],
        n=0,
        test="wald_f",
        statistic=None,
        df_num=None,
        df_denom=None,
        p_value=None,
        p_value_holm=None,
        se_type=se_type,
        se_clustered_by=se_clustered_by,
        note=note,
    )


def holm_subgroup_tests(
    estimates: Sequence[SubgroupEstimate], tests: Sequence[SubgroupTest]
) -> tuple[list[SubgroupEstimate], list[SubgroupTest]]:
    """Holm across the pre-declared subgroups' interaction p-values, per active arm.

    Exploratory subgroups stay unadjusted (null): they are not in the family the
    design declared.  Each level's ``interaction_p_value_holm`` is its test's.
    """
    adjusted: dict[tuple[str, str], float | None] = {}
    for arm in dict.fromkeys(t.arm for t in tests):
        family = {t.variable: t.p_value for t in tests if t.arm == arm and t.prespecified}
        held = holm_adjust(family) if family else {}
        for variable, p in held.items():
            adjusted[(arm, variable)] = None if np.isnan(p) else p
    tests = [
        t.model_copy(update={"p_value_holm": adjusted.get((t.arm, t.variable))}) for t in tests
    ]
    estimates = [
        e.model_copy(update={"interaction_p_value_holm": adjusted.get((e.arm, e.variable))})
        for e in estimates
    ]
    return estimates, tests


def refuse_unsplittable_subgroup(
    name: str, design: TrialDesign, columns: Sequence[str] = ()
) -> None:
    """Refuse an exploratory subgroup no interaction test can mean anything for.

    The design validator's rule (:func:`trial_designs.subgroups.not_a_subgroup`):
    not an outcome measured after randomisation (``<outcome>_<timepoint>`` other
    than baseline, among the design's timepoints or the data's ``columns``), not
    the arm, not a column with one level per person.

    Raises
    ------
    ValueError
        Naming the subgroup and why it cannot be one.
    """
    later = [
        *(
            f"{o.name}_{t}"
            for o in design.outcomes
            for t in design.follow_up.timepoints
            if t != "baseline"
        ),
        *(
            str(c)
            for c in columns
            if any(str(c).startswith(f"{o.name}_") for o in design.outcomes)
            and not str(c).endswith("_baseline")
        ),
    ]
    why = not_a_subgroup(name, later=later)
    if why:
        raise ValueError(
            f"The exploratory subgroup {why}. Name a column fixed before randomisation that "
            f"groups people (a role, a team, a stratum). Got '{name}' instead."
        )


def check_exploratory_subgroups(
    data: pd.DataFrame, design: TrialDesign, names: Sequence[str]
) -> tuple[Subgroup, ...]:
    """Subgroups named for an exploratory reanalysis: each a column of ``data``, none declared.

    Raises
    ------
    ValueError
        For a name that is not a column of the analysis data (listing those that are),
        one the design already declares (its results are pre-specified), or one that
        cannot define subgroups (:func:`refuse_unsplittable_subgroup`).
    """
    declared = {s.name for s in subgroup_specs(design.analysis.subgroups)}
    out = []
    for name in names:
        if name in declared:
            raise ValueError(
                f"The subgroup '{name}' is declared in the design, so it is analysed as "
                "pre-specified in every run; name only subgroups the design does not declare "
                f"with '--subgroups'. Got '{name}' instead."
            )
        refuse_unsplittable_subgroup(name, design, data.columns)
        if name not in data.columns:
            columns = [c for c in data.columns if not str(c).startswith("arm[")]
            raise ValueError(
                f"The exploratory subgroup '{name}' is not a column of the analysis data. "
                f"Choose one of: {', '.join(map(str, columns))}. Got '{name}' instead."
            )
        out.append(Subgroup(name=name, column=name))
    return tuple(out)


def subgroup_section(
    data: pd.DataFrame,
    design: TrialDesign,
    y: str,
    covariates: list[str],
    strata: str | None,
    cluster: str | None,
    se_type: str,
    *,
    se_clustered_by: str | None = None,
    exploratory: Sequence[Subgroup] = (),
) -> tuple[list[SubgroupEstimate], list[SubgroupTest]]:
    """Every declared (and any exploratory) subgroup of the outcome ``y``, per active arm.

    Parameters
    ----------
    data : DataFrame
        The analysis dataset with the treatment indicators and covariate columns.
    design : TrialDesign
    y, covariates, strata, cluster, se_type
        The primary model's outcome column, covariates (the baseline first), stratum and
        clustering columns and SE type.
    se_clustered_by : str, optional
        What ``cluster`` stands for in the design (recorded with each test).
    exploratory : sequence of Subgroup
        Subgroups added by an exploratory reanalysis (:func:`check_exploratory_subgroups`).

    Returns
    -------
    (list of SubgroupEstimate, list of SubgroupTest)
        Level estimates and tests in declared order, subgroup by subgroup, arm by arm.

    Raises
    ------
    ValueError
        When a tertile column is not numeric.  A subgroup whose column is not in the
        data (a ``--data`` file that does not map it) is reported with a note instead.
    """
    specs = [(s, True) for s in subgroup_specs(design.analysis.subgroups)]
    specs += [(s, False) for s in exploratory]
    active = [a for a in design.arm_names if a != design.control_arm]
    estimates: list[SubgroupEstimate] = []
    tests: list[SubgroupTest] = []
    for spec, prespecified in specs:
        if spec.column not in data:
            # a --data file that does not map the column: reported, not skipped in silence
            note = (
                f"The column '{spec.column}' is not in the analysis data, so the subgroup "
                "was not analysed. Map it in the design (roster.columns, or analysis.columns "
                "for a --data file)."
            )
            tests.extend(
                _untested(spec, arm, prespecified, se_type, se_clustered_by, note) for arm in active
            )
            continue
        for arm in active:
            pair = data[data["arm"].isin([design.control_arm, arm])]
            level_estimates, test = _one_subgroup(
                pair,
                spec,
                arm,
                y,
                covariates,
                strata,
                cluster,
                se_type,
                cut_on=data,
                prespecified=prespecified,
                se_clustered_by=se_clustered_by,
            )
            estimates.extend(level_estimates)
            tests.append(test)
    return holm_subgroup_tests(estimates, tests)
