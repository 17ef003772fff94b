"""Exploratory reanalysis: another model than the pre-specified one, labelled as such (pure).

``trialflow analyse TRIAL --covariates a,b --se-type HC3 --label NAME`` runs
:func:`analysis.results.analyse_trial` on a copy of the design whose analysis
options are replaced (:func:`exploratory_design`), then
:func:`mark_exploratory` stamps the results: ``analysis_status:
exploratory``, the label, what differs from the design, and a methods text
that no longer says the analysis was declared before it was run.  The flow
writes it under ``exploratory/<label>/``, never over the pre-specified
results.json.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from analysis.estimators import SE_TYPES
from analysis.sections.subgroups import refuse_unsplittable_subgroup
from trial_designs.design import TrialDesign
from trial_designs.subgroups import subgroup_specs

__all__ = [
    "LABEL_RULE",
    "check_label",
    "added_subgroups",
    "exploratory_changes",
    "exploratory_design",
    "mark_exploratory",
    "parse_covariates",
    "parse_subgroups",
]

#: A label names a folder and appears in reports: a lower-case letter, then lower-case
#: letters, digits, underscores or hyphens, at most 64 characters.
LABEL_RULE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


def check_label(label: object) -> str:
    """``label`` if it is a safe exploratory-analysis label, else raise ``ValueError``."""
    if not isinstance(label, str) or not LABEL_RULE.match(label):
        raise ValueError(
            f"The exploratory label {str(label)!r} is not valid: a label is a lower-case letter "
            "followed by lower-case letters, digits, underscores or hyphens (at most 64 "
            f"characters), e.g. 'hc3_team'. Got {str(label)!r} instead."
        )
    return label


def parse_covariates(text: str) -> tuple[str, ...]:
    """``"a, b"`` to ``("a", "b")``; ``""`` to no covariates (the baseline is always adjusted for).

    Raises
    ------
    ValueError
        For a name given twice.
    """
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(
            f"'--covariates' names each column once. Got {', '.join(repeated)} more than once "
            f"in {text!r} instead."
        )
    return names


def parse_subgroups(text: str) -> tuple[str, ...]:
    """``"team, building"`` to ``("team", "building")``: columns analysed as exploratory subgroups.

    Raises
    ------
    ValueError
        For no name at all, or a name given twice.
    """
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise ValueError(
            "'--subgroups' names at least one column of the analysis dataset to analyse as an "
            f"exploratory subgroup (e.g. 'team'). Got {text!r} instead."
        )
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(
            f"'--subgroups' names each column once. Got {', '.join(repeated)} more than once "
            f"in {text!r} instead."
        )
    return names


def added_subgroups(changes: Mapping[str, Mapping] | None) -> tuple[str, ...]:
    """The subgroups an exploratory analysis adds to the declared ones (none without changes)."""
    change = (changes or {}).get("subgroups")
    if not change:
        return ()
    declared = set(change["prespecified"])
    return tuple(n for n in change["exploratory"] if n not in declared)


def exploratory_changes(
    design: TrialDesign,
    *,
    covariates: Sequence[str] | None = None,
    se_type: str | None = None,
    subgroups: Sequence[str] | None = None,
) -> dict[str, dict[str, object]]:
    """What the exploratory options change: {option: {"prespecified": ..., "exploratory": ...}}.

    ``subgroups`` are analysed besides the declared ones (which stay pre-declared and
    Holm-adjusted among themselves): the change records the declared list and the
    declared list plus these.

    Raises
    ------
    ValueError
        For an unknown ``se_type`` (listing the valid ones), a subgroup the design
        already declares, or when nothing is changed.
    """
    changes: dict[str, dict[str, object]] = {}
    declared = [s.name for s in subgroup_specs(design.analysis.subgroups)]
    for name in subgroups or ():
        if name in declared:
            raise ValueError(
                f"The subgroup '{name}' is declared in the design, so it is analysed as "
                "pre-specified in every run; name only subgroups the design does not declare "
                f"with '--subgroups'. Got '{name}' instead."
            )
        # refused here too, before any data is read or anything is written
        refuse_unsplittable_subgroup(name, design)
    if covariates is not None and tuple(covariates) != tuple(design.analysis.covariates):
        changes["covariates"] = {
            "prespecified": list(design.analysis.covariates),
            "exploratory": list(covariates),
        }
    if se_type is not None:
        if se_type not in SE_TYPES:
            raise ValueError(
                f"The 'se_type' '{se_type}' is not known. Choose one of: "
                f"{', '.join(SE_TYPES)}. Got '{se_type}' instead."
            )
        clustered = design.unit == "cluster" or design.analysis.cluster_se_by
        declared = design.analysis.se_type or ("CR2" if clustered else "HC2")
        if se_type != declared:
            changes["se_type"] = {"prespecified": declared, "exploratory": se_type}
    if subgroups:
        changes["subgroups"] = {"prespecified": declared, "exploratory": [*declared, *subgroups]}
    if not changes:
        raise ValueError(
            "An exploratory analysis must differ from the pre-specified one: the "
            "'--covariates' and '--se-type' given are the design's own. Got "
            f"covariates {list(design.analysis.covariates)} and se_type "
            f"{design.analysis.se_type or 'the default'} instead."
        )
    return changes


def exploratory_design(design: TrialDesign, changes: Mapping[str, Mapping]) -> TrialDesign:
    """A copy of ``design`` with the analysis options of :func:`exploratory_changes`."""
    # added subgroups are not declared: the analysis is told them apart (added_subgroups)
    update = {
        name: change["exploratory"] for name, change in changes.items() if name != "subgroups"
    }
    if "covariates" in update:
        update["covariates"] = tuple(update["covariates"])
    return design.model_copy(update={"analysis": design.analysis.model_copy(update=update)})


def _describe(changes: Mapping[str, Mapping]) -> list[str]:
    def shown(value: object) -> str:
        if isinstance(value, list):
            return ", ".join(value) if value else "none"
        return str(value)

    names = {"covariates": "Covariates (besides the baseline)", "se_type": "Standard errors"}
    return [
        f"Exploratory subgroups: {shown(list(added_subgroups(changes)))}, besides the "
        f"pre-declared {shown(v['prespecified'])}; they are not Holm-adjusted."
        if k == "subgroups"
        else f"{names[k]}: {shown(v['exploratory'])} instead of the pre-specified "
        f"{shown(v['prespecified'])}."
        for k, v in changes.items()
    ]


def mark_exploratory(
    results: Mapping, design: TrialDesign, *, label: str, changes: Mapping[str, Mapping]
) -> dict:
    """``results`` stamped as exploratory: status, label, the differences and honest methods.

    Parameters
    ----------
    results : mapping
        What :func:`analysis.results.analyse_trial` returned for
        :func:`exploratory_design`'s design.
    design : TrialDesign
        The trial's own (pre-specified) design: its hash goes in the results,
        since the copy's would name a design that was never declared.
    label : str
    changes : mapping
        From :func:`exploratory_changes`.

    Returns
    -------
    dict
        A new results document (the input is not changed).
    """
    out = dict(results)
    out["analysis_status"] = "exploratory"
    differences = _describe(changes)
    out["exploratory"] = {
        "label": check_label(label),
        "differences": differences,
        "changes": {k: dict(v) for k, v in changes.items()},
    }
    out["trial"] = {**results["trial"], "design_hash": design.design_hash}
    methods = dict(results.get("methods") or {})
    methods["prespecified"] = (
        f"Exploratory analysis '{label}', run after the data were seen; it is NOT the "
        "pre-specified analysis. It differs from the design (design hash below) as follows: "
        + " ".join(differences)
        + (
            " Outcomes and everything else are as the design declares. The "
            if "subgroups" in changes
            else " Outcomes, subgroups and everything else are as the design declares. The "
        )
        + "pre-specified results are in the trial's own results.json."
    )
    out["methods"] = methods
    out["outcomes"] = [{**o, "prespecified": False} for o in results.get("outcomes", [])]
    return out
