"""Subgroups a design declares: a dataset column as it is, or one derived from a baseline column.

``analysis.subgroups`` lists them.  A plain name (``role``, ``organisation``) is a
column of the analysis dataset whose levels are the subgroups.  A mapping derives
a subgroup from a baseline measure::

    subgroups:
      - role
      - {name: wellbeing_tertile, from: swemwbs_baseline, tertiles: true}

The tertiles' cut points come from the pooled baseline distribution (both arms
together).  That is allowed because the baseline was measured before
randomisation: the arm cannot have changed it, so the levels do not depend on
the allocation.  A subgroup derived from a follow-up measure would, and is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from trial_designs.design_errors import did_you_mean

__all__ = [
    "PER_PERSON_COLUMNS",
    "POST_RANDOMISATION_FIELDS",
    "DerivedSubgroup",
    "Subgroup",
    "SubgroupDeclaration",
    "check_subgroups",
    "not_a_subgroup",
    "subgroup_specs",
]

#: Columns with a value of their own for each person (an id, a start date): every level
#: of such a "subgroup" is one person, so there is nothing to compare within it.
PER_PERSON_COLUMNS = ("id", "participant_id", "start_date")
#: Dataset fields recorded after randomisation (what people took up), which the arm can move.
POST_RANDOMISATION_FIELDS = ("uptake", "took_up", "dose")
#: What the refusal asks for instead.
_INSTEAD = "Name a column fixed before randomisation that groups people (a role, a team, a stratum)"


class DerivedSubgroup(BaseModel):
    """A subgroup derived from a baseline column: its tertiles in the pooled baseline."""

    # trial_designs.sections.DesignSection's settings: sections imports this module for
    # Analysis.subgroups, so this module cannot import sections back
    # validate_by_name: a design dumped by field name ('source', as the hash and the stored
    # design are) must load again; a YAML file says 'from'
    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True)
    _added_fields: ClassVar[frozenset[str]] = frozenset()

    name: str = Field(
        pattern=r"^[a-z][a-z0-9_]*$",
        max_length=64,
        description="The subgroup's name in results and reports (lower case, digits, _).",
    )
    source: str = Field(
        alias="from",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        max_length=64,
        description="The pre-randomisation column it is derived from: an outcome's baseline "
        "(<outcome>_baseline, e.g. swemwbs_baseline) or a declared numeric covariate.",
    )
    tertiles: bool = Field(
        description="true: three levels cut at the 1/3 and 2/3 quantiles of the column over "
        "everyone in the dataset with a value, every arm pooled (allowed because the column is "
        "pre-randomisation)."
    )

    @field_validator("tertiles")
    @classmethod
    def _a_rule(cls, value: bool) -> bool:  # noqa: FBT001 - pydantic's validator signature
        if not value:
            raise ValueError(
                "a derived subgroup says how it is derived: 'tertiles: true' (the only rule so "
                "far). To use a column's own levels, name the column itself (subgroups: "
                "[role]). Got tertiles: false instead"
            )
        return value


#: One entry of ``analysis.subgroups``: a column name, or a mapping deriving one.  The
#: discriminator reads the YAML's shape, so a mistake in a mapping is reported against the
#: mapping alone, not also as "not a valid string".
SubgroupDeclaration = Annotated[
    Annotated[
        Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)],
        Tag("column"),
    ]
    | Annotated[DerivedSubgroup, Tag("derived")],
    Discriminator(lambda value: "column" if isinstance(value, str) else "derived"),
]


@dataclass(frozen=True)
class Subgroup:
    """One declared subgroup, normalised: its name, the column it reads, and how."""

    name: str
    column: str
    tertiles: bool = False


def subgroup_specs(declared: tuple[str | DerivedSubgroup, ...]) -> tuple[Subgroup, ...]:
    """``analysis.subgroups`` as :class:`Subgroup` records, in the declared order."""
    return tuple(
        Subgroup(name=s, column=s)
        if isinstance(s, str)
        else Subgroup(name=s.name, column=s.source, tertiles=s.tertiles)
        for s in declared
    )


def not_a_subgroup(name: str, *, later: Sequence[str]) -> str | None:
    """Why the column ``name`` cannot define subgroups, or None when it can.

    ``later`` lists the outcome columns measured after randomisation
    (``<outcome>_<timepoint>`` other than baseline).  Refused: a column with one
    level per person, the randomised arm (and its indicators), and anything
    measured after randomisation, which the arm itself could change: an
    interaction conditioned on it is not a subgroup effect.
    """
    if name in PER_PERSON_COLUMNS:
        return (
            f"'{name}' has one level per person, so each subgroup would hold one person "
            "and nothing could be compared within it"
        )
    if name == "arm" or name.startswith("arm["):
        return (
            f"'{name}' is the randomised arm, so each of its levels holds one arm only "
            "and there is no treatment effect within it"
        )
    if name in later or name in POST_RANDOMISATION_FIELDS:
        return (
            f"'{name}' is measured after randomisation, so the arm could change which "
            "subgroup a person falls in"
        )
    return None


def check_subgroups(
    declared: tuple[str | DerivedSubgroup, ...],
    *,
    known: list[str],
    baselines: list[str],
    later: list[str],
) -> None:
    """Refuse a subgroup the analysis dataset cannot hold, by name, rule and value.

    Parameters
    ----------
    declared : tuple
        ``analysis.subgroups``.
    known : list of str
        Columns a plain subgroup may name (roster fields, strata, covariates, ...).
    baselines : list of str
        Pre-randomisation columns tertiles may be cut on: survey outcomes' baselines and
        declared covariates.
    later : list of str
        Outcome columns measured after randomisation (endline, waves): refused as a
        source, since the arm could move people between tertiles.

    Raises
    ------
    ValueError
        For a name declared twice, an unknown column (with a did-you-mean), a column
        that cannot define subgroups (:func:`not_a_subgroup`), a derived
        subgroup named like a dataset column, or one derived from a later or unknown column.
    """
    specs = subgroup_specs(declared)
    names = [s.name for s in specs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(
            f"analysis.subgroups names each subgroup once. Got '{twice[0]}' "
            f"{names.count(twice[0])} times instead"
        )
    for spec in specs:
        if spec.tertiles:
            _derived_from_baseline(spec, known, baselines, later)
            continue
        why = not_a_subgroup(spec.name, later=later)
        if why:
            raise ValueError(f"analysis.subgroups: {why}. {_INSTEAD}. Got '{spec.name}' instead")
        if spec.name in known:
            continue
        hint = did_you_mean(spec.name, known, prefix="; did you mean")
        raise ValueError(
            f"analysis.subgroups: '{spec.name}' is not a column of the analysis dataset"
            f"{hint or '.'} Choose one of: {', '.join(dict.fromkeys(known))}. "
            f"Got '{spec.name}' instead"
        )


def _derived_from_baseline(
    spec: Subgroup, known: list[str], baselines: list[str], later: list[str]
) -> None:
    """Tertiles are cut on a pre-randomisation column, under a name of their own."""
    if spec.name in known:
        raise ValueError(
            f"analysis.subgroups: the derived subgroup '{spec.name}' has the name of a "
            "dataset column, so the two could not be told apart. Name it differently "
            f"(e.g. {spec.column}_tertile). Got name '{spec.name}' instead"
        )
    if spec.column in baselines:
        return
    if spec.column in later:
        raise ValueError(
            f"analysis.subgroups: '{spec.name}' is derived from '{spec.column}', measured "
            "after randomisation, so the arm could change which tertile a person falls "
            f"in. Derive it from a baseline column: {', '.join(baselines)}. "
            f"Got from '{spec.column}' instead"
        )
    hint = did_you_mean(spec.column, baselines, prefix="; did you mean")
    raise ValueError(
        f"analysis.subgroups: '{spec.name}' is derived from '{spec.column}', which is not "
        f"a baseline column of the analysis dataset{hint or '.'} Choose one of: "
        f"{', '.join(baselines)}. Got from '{spec.column}' instead"
    )
