"""The pre-specified primary model as a formula, for the export's data dictionary and scripts (pure).

:func:`primary_model` reads the design and the analysis dataset and says
which model :func:`analysis.results.analyse_trial` fits for the primary
outcome: the response, the arm term (control as reference), the baseline,
declared covariates (text ones as ``factor()``), stratum fixed effects, the
standard-error type and what they cluster on, and whether a CACE is fitted
(uptake instrumented by assignment).  The same rules as ``analyse_trial``
decide each part, so the formula the evaluator reads is the model whose
numbers are in results.json; ``tests/flows/test_export.py`` holds the two
together by running the generated R script.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from trial_designs.design import TrialDesign
from trial_designs.se_types import SE_TYPES

__all__ = ["PrimaryModel", "primary_model", "model_markdown"]

#: How each standard-error type is described to an evaluator, and estimatr's name for it.
SE_DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "HC0": ("HC0 (White's robust)", "HC0"),
    "HC1": ("HC1 (Stata's 'robust')", "HC1"),
    "HC2": ("HC2 (heteroscedasticity-robust, estimatr's default)", "HC2"),
    "HC3": ("HC3 (heteroscedasticity-robust)", "HC3"),
    "CR0": ("CR0 (cluster-robust, no small-sample correction)", "CR0"),
    "CR1": ("CR1 (Stata's cluster-robust)", "stata"),
    "CR2": ("CR2 (Bell-McCaffrey, Satterthwaite df)", "CR2"),
}


@dataclass(frozen=True)
class PrimaryModel:
    """The pre-specified model of the primary outcome.

    Attributes
    ----------
    outcome, label : str
        The primary outcome's name and label.
    response : str
        The endline column (the model's left-hand side).
    baseline : str or None
        The same outcome at baseline, when the dataset has any.
    covariates : tuple of str
        Declared numeric covariates.
    factors : tuple of str
        Declared text covariates: fixed effects, first sorted level the reference.
    stratum : str or None
        ``"stratum"`` when the trial is stratified and the data hold more than one stratum.
    cluster : str or None
        The column standard errors cluster on (``cluster`` in cluster trials, else
        the design's ``analysis.cluster_se_by``).
    clustered_by : str or None
        What that column is (the design's ``cluster_by`` or ``cluster_se_by``).
    se_type : str
        A key of :data:`trial_designs.se_types.SE_TYPES`.
    arms : tuple of str
        The arms, control first (the reference level of ``arm``).
    cace : bool
        Whether a complier average causal effect is fitted: one active arm
        and partial uptake (``took_up``), as in ``analyse_trial``.
    """

    outcome: str
    label: str
    response: str
    baseline: str | None
    covariates: tuple[str, ...]
    factors: tuple[str, ...]
    stratum: str | None
    cluster: str | None
    clustered_by: str | None
    se_type: str
    arms: tuple[str, ...]
    cace: bool

    @property
    def control(self) -> str:
        """The reference arm."""
        return self.arms[0]

    @property
    def adjustment_terms(self) -> list[str]:
        """Right-hand-side terms after the arm, in R's notation."""
        terms = [t for t in [self.baseline, *self.covariates] if t]
        terms += [f"factor({f})" for f in self.factors]
        if self.stratum:
            terms.append(f"factor({self.stratum})")
        return terms

    @property
    def formula(self) -> str:
        """The ITT model, e.g. ``swemwbs_endline ~ arm + swemwbs_baseline + factor(stratum)``."""
        return f"{self.response} ~ " + " + ".join(["arm", *self.adjustment_terms])

    @property
    def iv_formula(self) -> str | None:
        """The CACE model in estimatr's ``iv_robust`` notation, or None without a CACE."""
        if not self.cace:
            return None
        adjust = "".join(f" + {t}" for t in self.adjustment_terms)
        return f"{self.response} ~ took_up{adjust} | arm{adjust}"

    @property
    def standard_errors(self) -> str:
        """The SE rule in words, e.g. ``CR2 (Bell-McCaffrey, Satterthwaite df) clustered by building``."""
        text = SE_DESCRIPTIONS[self.se_type][0]
        if self.cluster:
            text += f" clustered by {self.clustered_by} (column '{self.cluster}')"
        return text

    @property
    def estimatr_se_type(self) -> str:
        """estimatr's ``se_type`` for :attr:`se_type` (CR1 is estimatr's ``"stata"``)."""
        return SE_DESCRIPTIONS[self.se_type][1]


def primary_model(data: pd.DataFrame, design: TrialDesign) -> PrimaryModel:
    """The model ``analyse_trial`` fits for the design's primary outcome on ``data``.

    Parameters
    ----------
    data : DataFrame
        The analysis dataset (:func:`analysis.dataset.analysis_dataset`).
    design : TrialDesign

    Returns
    -------
    PrimaryModel

    Raises
    ------
    ValueError
        If the design declares no primary outcome.
    """
    primary = next((o for o in design.outcomes if o.primary), None)
    if primary is None:
        raise ValueError(
            f"The design '{design.id}' declares no primary outcome, so there is no primary model."
        )
    data = data[data["arm"].isin(design.arm_names)]
    baseline = f"{primary.name}_baseline"
    has_baseline = baseline in data and data[baseline].notna().sum() > 0
    numeric, factors = [], []
    for name in design.analysis.covariates:
        values = data[name] if name in data else pd.Series(dtype=float)
        is_number = pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)
        (numeric if is_number else factors).append(name)
    cluster = "cluster" if design.unit == "cluster" else design.analysis.cluster_se_by
    clustered_by = design.cluster_by if design.unit == "cluster" else design.analysis.cluster_se_by
    se_type = design.analysis.se_type or ("CR2" if cluster else "HC2")
    if se_type not in SE_TYPES:
        raise ValueError(
            f"The 'se_type' '{se_type}' is not known. Choose one of: {', '.join(SE_TYPES)}. "
            f"Got '{se_type}' instead."
        )
    if design.cycles and "cycle" in data and data["cycle"].nunique() > 1:
        # analyse_trial pools learning cycles with cycle fixed effects (after the declared
        # covariates): without them the scripts would not reproduce results.json
        factors.append("cycle")
    active = [a for a in design.arm_names if a != design.control_arm]
    return PrimaryModel(
        outcome=primary.name,
        label=primary.label or primary.name,
        response=f"{primary.name}_endline",
        baseline=baseline if has_baseline else None,
        covariates=tuple(numeric),
        factors=tuple(factors),
        stratum="stratum" if design.strata and data["stratum"].nunique() > 1 else None,
        cluster=cluster,
        clustered_by=clustered_by,
        se_type=se_type,
        arms=(design.control_arm, *active),
        cace=_has_cace(data, design.control_arm, active),
    )


def _has_cace(data: pd.DataFrame, control: str, active: list[str]) -> bool:
    """The rule of ``analysis.sections.outcomes.cace_estimates`` (uptake partial and above
    control's), for a two-arm design only: with several active arms results.json has one
    pairwise CACE per arm, which the exported scripts' single formula does not write."""
    if "took_up" not in data or len(active) != 1:
        return False
    treated = data["arm"] == active[0]
    rate = data.loc[treated, "took_up"].mean()
    return bool(0 < rate < 0.95 and data.loc[~treated, "took_up"].mean() < rate)


def model_markdown(model: PrimaryModel) -> str:
    """A data-dictionary section stating the pre-specified model, its SEs and the scripts."""
    lines = [
        "## Pre-specified primary analysis",
        "",
        f"Primary outcome: {model.label} (`{model.response}`), complete cases.",
        "",
        f"- ITT (OLS): `{model.formula}`",
        f"  with `arm` a factor whose reference level is `{model.control}`.",
    ]
    if model.iv_formula:
        lines.append(f"- CACE (2SLS, assignment instruments uptake): `{model.iv_formula}`")
    lines += [
        f"- Standard errors: {model.standard_errors}.",
        "",
        "`primary_analysis.R` fits these with estimatr (`lm_robust`, `iv_robust`, "
        f'`se_type = "{model.estimatr_se_type}"`) and reproduces results.json\'s estimates, '
        "standard errors, df, confidence intervals and p-values; `primary_analysis.do` fits "
        "them in Stata (see its header for how its standard errors differ). Randomisation "
        "inference, effect sizes and the missing-data sensitivity analyses are in results.json only.",
        "",
    ]
    return "\n".join(lines)
