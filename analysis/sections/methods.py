"""The ``methods`` section of results.json: the estimators in words, as the report prints them (pure)."""

from __future__ import annotations

from analysis.estimators import SE_TYPES
from analysis.results_model import Methods
from analysis.sections.missing_data import MI_INDICATOR_MAX_ROWS, MI_INDICATOR_MAX_STRATA
from analysis.sections.subgroups import MIN_LEVEL_CLUSTERS, MIN_LEVEL_N
from trial_designs.design import TrialDesign
from trial_designs.subgroups import subgroup_specs

__all__ = ["methods_section", "standard_errors_text"]


def standard_errors_text(design: TrialDesign, se_type: str, clustered_by: str | None) -> str:
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


def _bounds_text(clustered_by: str | None) -> str:
    text = (
        "Attrition bounds, which do not assume missing at random: for a continuous primary "
        "outcome, Lee (2009) trimming bounds on the unadjusted difference in means, assuming "
        "monotone response (being offered the intervention moves everyone's chance of "
        "answering the same way); for a binary one, worst/best-case bounds (every missing "
        "value set to 0 or 1). Each with an Imbens-Manski 95% interval, for every active arm."
    )
    if clustered_by is None:
        return text
    return (
        f"{text} Their analytic standard errors treat participants as independent although "
        f"they are clustered by {clustered_by}, so these intervals are too narrow (a cluster "
        "bootstrap was not used: with so few clusters it has few distinct resamples)."
    )


def _evpi_text(design: TrialDesign) -> str:
    declared = design.value_of_information
    if declared is None:
        return ""
    return (
        " Value of information: the expected value of perfect information (EVPI) of the "
        "primary outcome's cost-effectiveness, from the bootstrap draws at each declared "
        "willingness to pay (mean of max(INB, 0) minus max of mean INB), per person and for "
        f"the {declared.population:,} staff in scope over {declared.years} "
        f"year{'s' if declared.years != 1 else ''} discounted "
        f"at {declared.discount_rate:.1%}. EVPI bounds what any further study could be worth: "
        "research costing more is not worth its cost; research costing less may be."
        + (
            # resampling 2-4 whole clusters per arm gives too few distinct replicates; the
            # report (reports.evidence.FEW_CLUSTERS_PER_ARM) withholds its verdict then too
            " With fewer than 5 clusters in an arm the bootstrap understates the uncertainty "
            "and the EVPI cannot be assessed reliably."
            if design.unit == "cluster"
            else ""
        )
    )


def _waves_text(design: TrialDesign) -> dict[str, str]:
    """The repeated-measures paragraph: only for a design that declares follow-up waves."""
    follow_up = design.follow_up
    if not follow_up.waves:
        return {}
    clustered = design.unit == "cluster"
    text = (
        f"Follow-up waves ({', '.join(follow_up.timepoints[1:])}): each survey outcome is "
        "analysed at every wave as at endline (ANCOVA of that wave on baseline, same covariates "
        "and standard errors), and pooled across the waves by a linear mixed model fitted by "
        "REML: the outcome on arm x wave terms and baseline, with a random intercept for each "
        "participant" + (" and each cluster" if clustered else "") + ". The pooled effect is "
        "the mean of the arm's effects over the waves, its standard error from the fixed "
        "effects' covariance. A mixed model rather than GEE: it uses every wave a participant "
        "answered (valid when a missed wave is missing at random given the answered ones), and "
        "its REML criterion is exactly defined, so it is checked against R's lme4 (agreement "
        "within 2.2e-6 on the committed reference data). Its intervals and p-values are "
        "normal-based (z), without small-sample degrees of freedom"
    )
    if clustered:
        text += (
            f": this trial randomised clusters ({design.cluster_by}), and with few clusters "
            "normal-based intervals are too narrow, so the per-wave ANCOVA's CR2 intervals "
            "(small-sample df) are the ones to read first"
        )
    text += (
        f". The headline estimate is the pre-declared timepoint's ({follow_up.primary_timepoint})."
    )
    return {"repeated_measures": text}


def _subgroups_text(design: TrialDesign) -> str:
    """How the declared subgroups are tested; nothing when the design declares none."""
    specs = subgroup_specs(design.analysis.subgroups)
    if not specs:
        return ""
    text = (
        f" Each declared subgroup ({', '.join(s.name for s in specs)}) is tested for an "
        "interaction with each active arm: a joint Wald F test of the arm x level terms in one "
        "ANCOVA with the primary analysis's standard errors, Holm-adjusted across the declared "
        "subgroups for each arm (no adjustment across arms). Each level's estimate refits the "
        f"primary model to the level's participants of the two arms; a level with fewer than "
        f"{MIN_LEVEL_N} people (or, with clustered standard errors, under {MIN_LEVEL_CLUSTERS} "
        "clusters) has no estimate of its own and is listed with the reason."
    )
    if any(s.tertiles for s in specs):
        text += (
            " Tertiles are cut at the 1/3 and 2/3 quantiles of the baseline over both arms "
            "pooled: the baseline was measured before randomisation, so the arm cannot have "
            "moved anyone between thirds."
        )
    return text


def _several_arms_text(design: TrialDesign, text: str, *, otherwise: str = "") -> str:
    """``text`` for a design with two or more active arms, else ``otherwise``."""
    return text if len(design.arm_names) > 2 else otherwise


def _multiplicity_text(design: TrialDesign) -> str:
    """Which p-values are Holm-adjusted, and how the families are formed with several arms."""
    if len(design.arm_names) <= 2:
        return "The primary outcome is unadjusted; secondary outcomes carry Holm-adjusted p-values."
    active = len(design.arm_names) - 1
    secondary = sum(not o.primary for o in design.outcomes)
    primary = (
        f"The primary outcome's ITT p-values are Holm-adjusted across the {active} active arms "
        "(each against control), as the design declares (analysis.adjust_across_arms: holm); "
        "the unadjusted p-values are reported beside them."
        if design.analysis.adjust_across_arms == "holm"
        else f"The primary outcome's ITT p-values are not adjusted across the {active} active "
        "arms (the design declares no adjustment across arms)."
    )
    if not secondary:
        return primary
    return (
        f"{primary} Secondary outcomes carry Holm-adjusted p-values over one family: every "
        f"secondary outcome's ITT estimate for every active arm against control ({secondary} "
        f"outcome{'s' if secondary != 1 else ''} x {active} arms = {secondary * active} tests). "
        "CACE, sensitivity and subgroup estimates are not in these families."
    )


#: The multiple imputation's model in words, by :data:`analysis.missing.IMPUTATION_METHODS` key.
_IMPUTATION_TEXT = {
    "chained_bootstrap": "IterativeImputer with posterior draws",
    "normal_absorbed": (
        "Bayesian normal linear regression of the outcome on arm, covariates and stratum fixed "
        "effects (absorbed), each imputation's parameters drawn from their posterior: Rubin's "
        "(1987) method, mice's norm, chained over the columns when covariates have gaps too"
    ),
}


def _imputation_text(imputation: str | None) -> str:
    if imputation is not None:
        return _IMPUTATION_TEXT[imputation]
    # before the data exist (the analysis plan) the rule that will choose the model
    return (
        f"{_IMPUTATION_TEXT['chained_bootstrap']} in a trial of at most "
        f"{MI_INDICATOR_MAX_ROWS:,} participants and {MI_INDICATOR_MAX_STRATA} strata; above "
        f"either, {_IMPUTATION_TEXT['normal_absorbed']}"
    )


def methods_section(
    design: TrialDesign,
    se_type: str,
    n_draws: int,
    clustered_by: str | None,
    *,
    imputation: str | None = "chained_bootstrap",
) -> Methods:
    """The methods as the report prints them, one sentence or paragraph per topic.

    ``imputation`` names the multiple imputation's model
    (:func:`analysis.sections.missing_data.imputation_method`); None, in a plan written
    before the data exist, states the rule that will choose it.
    """
    return Methods.model_validate(
        {
            "itt": "ANCOVA by OLS: endline outcome on arm indicators, the same outcome at baseline, stratum fixed effects"
            + (
                ", declared covariates and cycle fixed effects"
                if design.cycles
                else " and declared covariates"
            )
            + "; complete cases.",
            "standard_errors": standard_errors_text(design, se_type, clustered_by),
            "binary_outcomes": "Binary and count HR outcomes use the same linear model: risk or rate differences.",
            "cace": "Complier average causal effect by 2SLS, random assignment instrumenting uptake, same SE rules; first-stage F reported, weak if under 10."
            + _several_arms_text(
                design,
                " With several active arms, each arm whose uptake was partial gets its own CACE "
                "against control, fitted to the two arms' participants (assignment to that arm "
                "instrumenting its uptake).",
            ),
            "randomisation_inference": (
                f"{n_draws} re-draws of the allocation with the design's own randomiser ({design.randomisation.method}); "
                + _minimisation_redraw_text(design)
                + "two-sided p-value for the sharp null of no effect; CI by inverting the test under a constant effect."
                + _several_arms_text(
                    design,
                    " With several active arms, each arm's statistic is its coefficient in the "
                    "primary's joint model (every participant it uses, an indicator per active arm "
                    "built from each re-drawn allocation), so a participant re-drawn into another "
                    "active arm counts in that arm, not as control; the CI inverts the same joint "
                    "model with the other arms' indicators kept.",
                )
            ),
            "effect_sizes": "Hedges' g with small-sample correction; cluster trials standardise by the total SD (EEF convention).",
            "multiplicity": _multiplicity_text(design),
            "missing_data": "Primary: complete cases with baseline adjustment. Sensitivity: inverse-probability weighting (stabilised weights from a logistic model of response on baseline characteristics and arm) and multiple imputation ("
            f"{_imputation_text(imputation)}, m = {design.analysis.mi_imputations}, Rubin's rules with Barnard-Rubin df). "
            + _several_arms_text(
                design,
                "With several active arms, the complete-case, IPW and multiple-imputation "
                "analyses fit the primary's joint model (an indicator per active arm) to every "
                "arm's participants, so each arm's complete-case row is its primary ITT; the "
                "response model and the imputation model hold every arm's indicator, and each "
                "arm's coefficient is pooled over the imputations by Rubin's rules. ",
            )
            + _bounds_text(clustered_by),
            "balance": "Baseline characteristics by arm with standardised mean differences; for individually randomised trials, the cross-validated AUC of a logistic model predicting arm, with a permutation p-value.",
            "costs": "Intervention-arm delivery events costed at the design's unit costs (staff time at declared hourly costs), discounted from the randomisation date at the design's rate (Green Book); cluster costs shared equally among the cluster's members. Cost-effectiveness: bootstrap of participant-level (cost, baseline-adjusted endline outcome) pairs within arms (whole clusters in cluster trials), percentile intervals; one-way sensitivity of cost per participant to each unit cost (declared bounds, else +/-25%). The EEF cost band is on direct costs per participant per year (staff time excluded). In trials with several active arms, each active arm is costed against control."
            + _evpi_text(design),
            "prespecified": "Outcomes, covariates, subgroups and the analysis above are declared in the design before analysis (design hash below).",
            "exploratory": "Subgroup estimates are exploratory." + _subgroups_text(design),
            **_waves_text(design),
        }
    )
