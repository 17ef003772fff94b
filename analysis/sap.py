"""The statistical analysis plan (SAP) a design pre-specifies, and whether an analysis kept to it (pure).

:func:`build_sap` reads the plan off a :class:`~trial_designs.design.TrialDesign`:
estimands, outcomes with their timepoints and instruments, the ANCOVA model,
standard errors, randomisation inference, multiplicity, missing data,
subgroups, and the minimum detectable effect size.  The words describing each
method are the ones :func:`analysis.results.analyse_trial` writes into
results.json (one rule book), so the plan and the analysis cannot drift apart
in wording.

:func:`sap_adherence` compares a registered plan with the analysis that ran
and lists every deviation: a changed design or analysis section, an amendment
after registration, an analysis option outside the plan, or no plan at all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from analysis.power import PowerInputs, calculate, design_allocation
from analysis.sections.methods import methods_section
from trial_designs.design import TrialDesign
from trial_designs.subgroups import subgroup_specs

__all__ = [
    "ANALYSIS_SECTIONS",
    "SAP_VERSION",
    "build_sap",
    "canonical_sap_json",
    "sap_adherence",
    "sap_hash",
    "section_hashes",
]

#: The version of the plan's shape: a plan registered under another version is compared by hash only.
SAP_VERSION = "1"
#: Sections that pre-specify the analysis, with their titles.  ``power`` is left out on
#: purpose: the MDES moves with the number randomised, which is not an analysis choice.
ANALYSIS_SECTIONS: dict[str, str] = {
    "trial": "trial and randomisation",
    "estimands": "estimands",
    "outcomes": "outcomes",
    "model": "model",
    "standard_errors": "standard errors",
    "randomisation_inference": "randomisation inference",
    "multiplicity": "multiplicity",
    "missing_data": "missing-data strategy",
    "subgroups": "subgroups",
}
#: Intra-cluster correlations a cluster trial's MDES is shown at when none is given.
_DEFAULT_ICCS = (0.01, 0.05, 0.10)


def _canonical(value: Any) -> str:  # noqa: ANN401 - JSON-shaped
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def canonical_sap_json(sap: Mapping) -> str:
    """The plan as canonical JSON (sorted keys, no whitespace): the input to :func:`sap_hash`."""
    return _canonical(sap)


def sap_hash(sap: Mapping) -> str:
    """SHA-256 of the plan's canonical JSON: the hash that is registered."""
    return hashlib.sha256(canonical_sap_json(sap).encode()).hexdigest()


def section_hashes(sap: Mapping) -> dict[str, str]:
    """SHA-256 of each analysis section (:data:`ANALYSIS_SECTIONS`), to name what changed."""
    return {
        name: hashlib.sha256(_canonical(sap.get(name)).encode()).hexdigest()
        for name in ANALYSIS_SECTIONS
    }


def _se_type(design: TrialDesign) -> tuple[str, str | None]:
    # the same rule as analyse_trial: cluster on the unit of randomisation, else on cluster_se_by
    clustered_by = design.cluster_by if design.unit == "cluster" else design.analysis.cluster_se_by
    return design.analysis.se_type or ("CR2" if clustered_by else "HC2"), clustered_by


def _declares_uptake(design: TrialDesign) -> bool:
    # every active arm gets its own CACE against control (analysis.sections.outcomes)
    active = [a for a in design.arm_names if a != design.control_arm]
    return any(i.arm in active and i.uptake.get("started") for i in design.interventions)


def _outcome_rows(design: TrialDesign) -> list[dict]:
    dates = design.follow_up
    survey_times = [
        f"baseline ({dates.baseline.isoformat()})",
        *(f"{w.name} ({w.date.isoformat()})" for w in dates.waves),
        f"endline ({dates.endline.isoformat()})",
    ]
    rows = []
    for outcome in design.outcomes:
        rows.append(
            {
                "name": outcome.name,
                "label": outcome.label or outcome.name,
                "role": "primary" if outcome.primary else "secondary",
                "instrument": outcome.instrument,
                "score": outcome.score,
                "source": outcome.source,
                "range": [outcome.min_value, outcome.max_value]
                if outcome.min_value is not None
                else None,
                "higher_is_better": outcome.higher_is_better,
                # survey outcomes are collected at both; HR outcomes over the follow-up window
                "timepoints": survey_times
                if outcome.source == "survey"
                else [
                    f"baseline (before {design.follow_up.randomisation.isoformat()})",
                    f"follow-up window {design.follow_up.window_start.isoformat()} to "
                    f"{design.follow_up.window_end.isoformat()}",
                ],
            }
        )
    return rows


def _formula(design: TrialDesign) -> str:
    active = [a for a in design.arm_names if a != design.control_arm]
    terms = [f"{a}" for a in active] + ["y_baseline"]
    if design.strata:
        terms.append(f"factor({' x '.join(design.strata)})")
    terms += list(design.analysis.covariates)
    return "y_endline ~ " + " + ".join(terms)


def _power(
    design: TrialDesign,
    *,
    n: int | None,
    icc: float | None,
    r2: float,
    alpha: float,
    power: float,
) -> dict:
    """The MDES at the inputs ``trialflow power DESIGN --n N [--icc X]`` defaults to."""
    treated = next(a for a in design.arms if not a.control)
    control = next(a for a in design.arms if a.control)
    # An arm with exact counts (n_units) has ratio 1 unused: the allocation is the counts'.
    allocation, _ = design_allocation(design, n_units=None if design.unit == "cluster" else n)
    section: dict[str, Any] = {
        "n": n,
        "alpha": alpha,
        "power": power,
        "r2": r2,
        "allocation": allocation,
        "distribution": "t",
        "alternative": "two-sided",
        "comparison": f"{treated.name} vs {control.name}",
        "n_clusters": len(design.clusters) if design.unit == "cluster" else None,
        "icc_given": icc is not None,
        "calculations": [],
        "note": None,
    }
    if n is None:
        section["note"] = (
            "Not computed: the trial has no allocations yet and no sample size was given (--n)."
        )
        return section
    # the other inputs at PowerInputs' defaults: one cluster each, no covariates, t, two-sided
    inputs = PowerInputs(n=n, alpha=alpha, allocation=allocation, r2=r2)
    iccs: Sequence[float | None] = [None]
    if design.unit == "cluster":
        if not design.clusters:
            section["note"] = "Not computed: the cluster trial lists no clusters."
            return section
        inputs = replace(inputs, n_clusters=len(design.clusters))
        iccs = [icc] if icc is not None else list(_DEFAULT_ICCS)
    for value in iccs:
        try:
            result = calculate(replace(inputs, icc=value or 0.0), power=power, effect_size=None)
        except ValueError as exc:
            section["note"] = f"Not computed: {exc}"
            return section
        section["calculations"].append(
            {
                "icc": value,
                "mdes": result.effect_size,
                "df": result.df,
                "design_effect": result.design_effect,
                "standard_error": result.standard_error,
            }
        )
    return section


def build_sap(
    design: TrialDesign,
    *,
    n: int | None = None,
    icc: float | None = None,
    r2: float = 0.0,
    alpha: float = 0.05,
    power: float = 0.8,
) -> dict:
    """The statistical analysis plan the design pre-specifies, as a JSON-shaped dict.

    Parameters
    ----------
    design : TrialDesign
    n : int, optional
        Individuals in the control arm and the first active arm (the number
        randomised, once randomised); without it the MDES is not computed.
    icc : float, optional
        Intra-cluster correlation for a cluster trial's MDES; without it the
        MDES is given at ICC 0.01, 0.05 and 0.10.
    r2, alpha, power : float
        The MDES inputs, at ``trialflow power``'s defaults (R² 0, 5% two-sided, 80%).

    Returns
    -------
    dict
        Sections ``trial``, ``estimands``, ``outcomes``, ``model``,
        ``standard_errors``, ``randomisation_inference``, ``multiplicity``,
        ``missing_data``, ``subgroups``, ``power`` and ``design_hash``.  No
        time or place: the same design and inputs give the same plan, byte for
        byte, so its :func:`sap_hash` can be registered and checked.
    """
    # the inputs given are checked here, not left to a "not computed" note in the plan
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(
            f"The sample size 'n' for the MDES must be a positive whole number of individuals. "
            f"Got {n!r} instead."
        )
    if icc is not None and not 0 <= icc < 1:
        raise ValueError(
            f"The 'icc' for the MDES must be at least 0 and below 1. Got {icc!r} instead."
        )
    se_type, clustered_by = _se_type(design)
    draws = design.analysis.ri_draws
    # imputation=None: the plan states the rule that will choose the imputation model, as
    # the trial's size and strata are not known before the data are
    methods = methods_section(design, se_type, draws, clustered_by, imputation=None).to_json_dict()
    estimands = [
        {
            "name": "ITT",
            "label": "Intention to treat",
            "text": "The effect of being assigned to each active arm against "
            f"'{design.control_arm}', every randomised participant analysed in the arm allocated.",
        }
    ]
    if _declares_uptake(design):
        estimands.append(
            {
                "name": "CACE",
                "label": "Complier average causal effect",
                "text": methods["cace"]
                + (
                    " Estimated when uptake in the active arm is partial (above 0% and below 95%)."
                    if len(design.arm_names) <= 2
                    else " Estimated for each active arm whose uptake is partial (above 0% and "
                    "below 95%)."
                ),
            }
        )
    strata = list(design.strata)
    return {
        "sap_version": SAP_VERSION,
        "design_hash": design.design_hash,
        "trial": {
            "id": design.id,
            "title": design.title,
            "question": design.question.strip(),
            "unit": design.unit,
            "cluster_by": design.cluster_by,
            "strata": strata,
            "arms": [
                {
                    "name": a.name,
                    "label": a.label or a.name,
                    "allocation": f"{a.n_units} units"
                    if a.n_units is not None
                    else ("the rest" if design.fixed_counts else f"ratio {a.ratio}"),
                    "control": a.control,
                }
                for a in design.arms
            ],
            "randomisation": design.randomisation.method,
            "seed": design.randomisation.seed,
        },
        "estimands": estimands,
        "outcomes": _outcome_rows(design),
        "model": {
            "formula": _formula(design),
            "baseline": "the same outcome at baseline, where it was measured",
            "strata_fixed_effects": strata,
            "covariates": list(design.analysis.covariates),
            "text": methods["itt"],
            "binary_outcomes": methods["binary_outcomes"],
        },
        "standard_errors": {
            "se_type": se_type,
            "clustered_by": clustered_by,
            "cluster_se_by": design.analysis.cluster_se_by,
            "text": methods["standard_errors"],
        },
        "randomisation_inference": {
            "draws": draws,
            "method": design.randomisation.method,
            "text": methods["randomisation_inference"],
        },
        "multiplicity": {
            "primary": "Holm across the active arms"
            if design.analysis.adjust_across_arms == "holm"
            else "unadjusted",
            "secondary": "Holm",
            "family": [o.name for o in design.outcomes if not o.primary],
            "text": methods["multiplicity"],
        },
        "missing_data": {
            "primary": "complete cases with baseline adjustment",
            "sensitivity": ["inverse-probability weighting", "multiple imputation"],
            "imputations": design.analysis.mi_imputations,
            "text": methods["missing_data"].replace(
                "m = 20", f"m = {design.analysis.mi_imputations}"
            ),
        },
        "subgroups": {
            "by": [s.name for s in subgroup_specs(design.analysis.subgroups)],
            "text": (
                "Treatment-by-subgroup interactions on the primary outcome; "
                + methods["exploratory"]
            )
            if design.analysis.subgroups
            else "None declared.",
        },
        "power": _power(design, n=n, icc=icc, r2=r2, alpha=alpha, power=power),
    }


def _when(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.strftime("%d %b %Y")
    if isinstance(value, str) and value:
        return dt.datetime.fromisoformat(value).strftime("%d %b %Y")
    return "an unknown date"


def sap_adherence(
    registration: Mapping | None,
    *,
    design: TrialDesign,
    amendments: Sequence[Mapping] = (),
    ri_draws: int | None = None,
    data_source: str = "store",
    earlier_registrations: int = 0,
    exploratory_label: str | None = None,
    exploratory_changes: Mapping[str, Mapping] | None = None,
) -> dict:
    """Whether the analysis followed the registered plan, with every deviation.

    Parameters
    ----------
    registration : mapping or None
        The latest registration (as the audit log holds it): ``registered_at``
        (ISO time, UTC), ``sap_hash``, ``design_hash``, ``section_hashes``,
        ``late``, ``reason``.  None when no plan was registered.
    design : TrialDesign
        The design the analysis ran under.
    amendments : sequence of mappings
        The trial's amendments: ``at`` (datetime or ISO), ``reason``,
        ``changes`` (lines); those after registration are deviations.
    ri_draws : int, optional
        The draws asked for on the command line (``--ri-draws``), if any.
    data_source : str
        ``"store"``, or the name of a dataset file analysed instead.
    earlier_registrations : int
        Registrations before the latest one (a late one replacing them is a deviation).
    exploratory_label, exploratory_changes
        An exploratory reanalysis (``trialflow analyse --label``) and what it
        changes, ``{option: {"prespecified": .., "exploratory": ..}}``: a deviation.

    Returns
    -------
    dict
        results.json's ``sap``: ``registered``, ``registered_at``, ``hash``,
        ``late``, ``late_reason``, ``followed``, ``deviations`` (sentences).
    """
    if registration is None:
        return {
            "registered": False,
            "registered_at": None,
            "hash": None,
            "late": False,
            "late_reason": None,
            "followed": False,
            "deviations": ["No statistical analysis plan was registered for this trial."],
        }
    deviations: list[str] = []
    registered_at = registration["registered_at"]
    if registration.get("late") and earlier_registrations:
        deviations.append(
            f"The plan registered on {_when(registered_at)} was registered after outcome data "
            f"were stored and replaces {earlier_registrations} earlier registration(s)."
        )
    current = section_hashes(build_sap(design))
    registered = registration.get("section_hashes") or {}
    for name, title in ANALYSIS_SECTIONS.items():
        if name in registered and registered[name] != current[name]:
            deviations.append(f"The plan's {title} section is not the one registered.")
    amended = False
    cutoff = dt.datetime.fromisoformat(registered_at).replace(tzinfo=None)
    for amendment in sorted(amendments, key=lambda a: str(a["at"])):
        at = amendment["at"]
        at = at if isinstance(at, dt.datetime) else dt.datetime.fromisoformat(str(at))
        if at.replace(tzinfo=None) <= cutoff:
            continue
        amended = True
        changes = "; ".join(str(c).strip() for c in amendment.get("changes") or []) or "no field"
        deviations.append(
            f"Design amended on {_when(at)} after the plan was registered "
            f"(reason: {amendment.get('reason')}): {changes}."
        )
    # an amendment explains a new design hash; a new hash with none is a deviation of its own
    if registration.get("design_hash") != design.design_hash and not amended:
        deviations.append(
            f"The analysis ran under design {design.design_hash[:12]}, not design "
            f"{str(registration.get('design_hash'))[:12]} the plan was registered under."
        )
    planned = design.analysis.ri_draws
    if ri_draws is not None and ri_draws != planned:
        deviations.append(
            f"Randomisation inference used {ri_draws} draws (--ri-draws), not the {planned} the "
            "plan pre-specified."
        )
    if exploratory_label is not None:
        changed = "; ".join(
            f"{option} {change.get('exploratory')!r} instead of {change.get('prespecified')!r}"
            for option, change in (exploratory_changes or {}).items()
        )
        deviations.append(
            f"An exploratory analysis ('{exploratory_label}'), not the pre-specified one"
            + (f": {changed}." if changed else ".")
        )
    if data_source != "store":
        deviations.append(
            f"An alternative analysis: the dataset file '{data_source}' was analysed instead of "
            "the trial's own store."
        )
    return {
        "registered": True,
        "registered_at": registered_at,
        "hash": registration.get("sap_hash"),
        "late": bool(registration.get("late")),
        "late_reason": registration.get("reason"),
        "followed": not deviations,
        "deviations": deviations,
    }
