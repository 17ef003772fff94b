"""The trial design: declared once in YAML, validated, frozen and hashed.

A :class:`TrialDesign` is the single declaration every stage reads: who is
randomised and how, which interventions are delivered, which outcomes are
measured and how they are analysed and costed.  Its content hash is stored
with every allocation and every result so that a report can prove which
design produced it.  Its sections are in :mod:`trial_designs.sections`; the
messages of :class:`DesignError` (which :func:`load_design` raises) are made
in :mod:`trial_designs.design_errors`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from trial_designs.cost_model import cost_model_from_mapping
from trial_designs.cycles import Cycle, check_cycles
from trial_designs.design_errors import DesignError, cut, did_you_mean, shown, yaml_problem
from trial_designs.se_types import SE_TYPES
from trial_designs.sections import (
    DATASET_FIELDS,
    ROSTER_FIELDS,
    Analysis,
    Arm,
    ColumnName,
    DesignSection,
    FollowUp,
    Identifier,
    Intervention,
    Outcome,
    Randomisation,
    RosterSpec,
    SourceSpec,
)
from trial_designs.subgroups import check_subgroups, subgroup_specs
from trial_designs.value_of_information import ValueOfInformation

__all__ = [
    "ALGORITHM_VERSION",
    "DesignError",
    "TrialDesign",
    "design_json_schema",
    "load_design",
]

#: Version of the allocation algorithms.  Stored with every allocation; a
#: change to any allocation function that alters results must bump it.
ALGORITHM_VERSION = "trialflow-randomise/2"


class TrialDesign(DesignSection):
    """A randomised trial, declared once.

    Loaded from YAML by :func:`load_design`; immutable; :attr:`design_hash` is
    the SHA-256 of its canonical JSON form.
    """

    id: Identifier
    title: str
    question: str
    unit: Literal["individual", "cluster"]
    cluster_by: ColumnName | None = Field(
        default=None,
        description="The unit of randomisation in a cluster trial: a roster field "
        "(organisation, building, team, role) or any other roster column by name (e.g. village).",
    )
    strata: tuple[ColumnName, ...] = Field(
        default=(),
        description="Roster fields or columns to randomise within (e.g. organisation, district).",
    )
    clusters: tuple[str, ...] = Field(
        default=(),
        description="The clusters recruited (cluster trials). A roster naming any other is refused; "
        "`trialflow enrol` admits new ones.",
    )
    arms: tuple[Arm, ...] = Field(min_length=2)
    randomisation: Randomisation
    roster: RosterSpec = Field(default_factory=RosterSpec)
    interventions: tuple[Intervention, ...] = ()
    outcomes: tuple[Outcome, ...] = ()
    survey: SourceSpec = Field(default_factory=SourceSpec)
    hr: SourceSpec = Field(default_factory=SourceSpec)
    analysis: Analysis = Field(default_factory=Analysis)
    costs: dict[str, Any] = Field(
        default_factory=dict,
        description="The cost model: unit costs with currency year and source; see analysis.costs.",
    )
    follow_up: FollowUp
    value_of_information: ValueOfInformation | None = Field(
        default=None,
        description="Optional: willingness-to-pay thresholds, the population in scope and the "
        "years the decision holds, for the EVPI of the primary outcome's cost-effectiveness. "
        "Needs 'costs'.",
    )

    cycles: tuple[Cycle, ...] = Field(
        default=(),
        description="Optional learning cycles, the first included: each randomises a new "
        "cohort (people not yet randomised) under this design, with its own dates "
        "(`trialflow randomise TRIAL --cycle 2`). The first cycle's dates are follow_up's.",
    )

    #: Added after designs were first hashed: absent, it leaves the hash as it was.
    _added_fields: ClassVar[frozenset[str]] = frozenset({"value_of_information", "cycles"})

    @model_validator(mode="after")
    def _consistent(self) -> TrialDesign:
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise ValueError(f"arms must have unique names. Got {names} instead")
        controls = [a.name for a in self.arms if a.control]
        if len(controls) != 1:
            raise ValueError(f"exactly one arm must be the control. Got {controls} instead")
        if self.unit == "cluster" and self.cluster_by is None:
            raise ValueError("a cluster trial must name 'cluster_by'. Got None instead")
        if self.unit == "individual" and self.randomisation.method in (
            "cluster",
            "constrained_cluster",
        ):
            raise ValueError(
                f"method '{self.randomisation.method}' needs unit 'cluster'. Got 'individual' instead"
            )
        if self.unit == "cluster" and self.randomisation.method not in (
            "cluster",
            "constrained_cluster",
        ):
            raise ValueError(
                f"a cluster trial needs method 'cluster' or 'constrained_cluster'. Got '{self.randomisation.method}' instead"
            )
        if self.unit == "individual" and self.cluster_by is not None:
            raise ValueError(
                "'cluster_by' names the unit of randomisation of a cluster trial; an individual "
                "trial clusters standard errors with 'analysis.cluster_se_by'. "
                f"Got cluster_by '{self.cluster_by}' instead"
            )
        if self.cluster_by is not None and self.cluster_by in self.strata:
            raise ValueError(
                f"strata must be coarser than clusters; '{self.cluster_by}' is both. Got strata {list(self.strata)} instead"
            )
        total = sum(a.ratio for a in self.arms)
        for size in self.randomisation.block_sizes:
            if size % total:
                raise ValueError(
                    f"every block size must be a multiple of the ratio sum {total}. Got {size} instead"
                )
        if self.randomisation.method == "blocked" and not self.randomisation.block_sizes:
            raise ValueError("method 'blocked' needs 'block_sizes'. Got none instead")
        if (
            self.randomisation.method == "constrained_cluster"
            and self.randomisation.constraint is None
        ):
            raise ValueError("method 'constrained_cluster' needs a 'constraint'. Got None instead")
        self._minimisation_is_possible()
        active = [a.name for a in self.arms if not a.control]
        if self.analysis.adjust_across_arms == "holm" and len(active) < 2:
            # refused, not ignored: Holm over one p-value is that p-value, and a plan that
            # declares an adjustment which never happens would tell its readers otherwise
            raise ValueError(
                "'analysis.adjust_across_arms' is 'holm', but the design has one active arm "
                f"('{active[0] if active else ''}'), so there is nothing to adjust across arms. "
                "Remove it (or set it to 'none'), or add another active arm. "
                f"Got adjust_across_arms 'holm' with arms {names} instead"
            )
        for intervention in self.interventions:
            if intervention.arm not in names:
                raise ValueError(
                    f"intervention '{intervention.name}' names an unknown arm. Choose one of {names}. Got '{intervention.arm}' instead"
                )
        if self.costs:
            try:
                cost_model_from_mapping(self.costs)
            except ValueError as exc:
                raise ValueError(f"'costs' is not valid: {str(exc).rstrip('.')}") from None
            self._costs_follow_events()
        if self.value_of_information is not None and not self.costs:
            raise ValueError(
                "'value_of_information' prices the cost-effectiveness bootstrap, so the design "
                "must declare 'costs'. Got no costs instead"
            )
        self._counts_are_possible()
        check_cycles(self.cycles, self.follow_up, unit=self.unit)
        self._dataset_columns_are_known()
        self._subgroups_are_known()
        primaries = [o.name for o in self.outcomes if o.primary]
        if self.outcomes and len(primaries) != 1:
            raise ValueError(f"exactly one outcome must be primary. Got {primaries} instead")
        for needed in (*self.strata, *([self.cluster_by] if self.cluster_by else [])):
            # a canonical field must be mapped; any other name is a roster column read as is
            if needed in ROSTER_FIELDS and needed not in self.roster.columns:
                raise ValueError(
                    f"'{needed}' is used for strata or clusters but the roster does not map it. Got columns {sorted(self.roster.columns)} instead"
                )
        return self

    def _minimisation_is_possible(self) -> None:
        """Minimisation: individual units, equal ratios, strata among its factors, p >= 1/k."""
        settings, method = self.randomisation.minimisation, self.randomisation.method
        if method != "minimisation":
            if settings is not None:
                raise ValueError(
                    "'randomisation.minimisation' is read only with method 'minimisation'. "
                    f"Remove it or set the method. Got method '{method}' instead"
                )
            return
        if settings is None:
            raise ValueError(
                "method 'minimisation' needs a 'randomisation.minimisation' block naming its "
                "'factors' (e.g. {factors: [organisation, role]}). Got None instead"
            )
        declared = [a.n_units if a.n_units is not None else a.ratio for a in self.arms]
        if self.fixed_counts or len(set(declared)) != 1:
            # the weighted Pocock-Simon rule for unequal ratios does not keep the declared
            # ratio unconditionally (Kuznetsova & Tymofyeyev 2012); refuse rather than drift
            word = "n_units" if self.fixed_counts else "ratio"
            raise ValueError(
                "method 'minimisation' supports equal allocation only: every arm's 'ratio' "
                f"must be the same and 'n_units' is not allowed. Got {word} {declared} instead"
            )
        missing = [s for s in self.strata if s not in settings.factors]
        if missing:
            raise ValueError(
                f"every stratum must be a minimisation factor, or it would not be balanced: add "
                f"{missing} to 'randomisation.minimisation.factors'. Got factors "
                f"{list(settings.factors)} instead"
            )
        unmapped = [f for f in settings.factors if f not in self.roster.columns]
        if unmapped:
            raise ValueError(
                f"minimisation factor(s) {unmapped} are not mapped in 'roster.columns'. Got "
                f"columns {sorted(self.roster.columns)} instead"
            )
        if settings.p < 1 / len(self.arms):
            raise ValueError(
                f"'randomisation.minimisation.p' must be at least 1/{len(self.arms)} (the "
                f"minimising arm at least as likely as any other). Got {settings.p} instead"
            )

    def _costs_follow_events(self) -> None:
        """Every cost item is driven by an event type some intervention logs.

        A copied design that kept another trial's items costs nothing, silently.
        """
        logged = sorted({e for i in self.interventions for e in i.event_types})
        for position, item in enumerate(self.costs.get("items") or ()):
            event = item.get("event_type") if isinstance(item, dict) else None
            if event is None or event in logged:
                continue
            name = item.get("name", f"#{position}")
            raise ValueError(
                f"costs.items[{position}] ({name}): 'event_type' '{event}' is not an event type of "
                f"the interventions, so no delivery would ever be costed by it. Choose one of: "
                f"{', '.join(logged) or '(no intervention declares event types)'}. "
                f"Got '{event}' instead"
            )

    def _counts_are_possible(self) -> None:
        """Exact counts fit the units, and no arm can be left without a cluster."""
        counted = [a for a in self.arms if a.n_units is not None]
        if counted:
            rest = [a.name for a in self.arms if a.n_units is None]
            if len(rest) > 1:
                raise ValueError(
                    "with 'n_units', at most one arm may leave it out (that arm takes the rest). "
                    f"Got arms {rest} without it instead"
                )
            if self.strata:
                raise ValueError(
                    "'n_units' fixes how many units each arm gets over the whole trial, so it "
                    "cannot be combined with strata (declare counts as a ratio instead). "
                    f"Got strata {list(self.strata)} instead"
                )
            if self.randomisation.method == "blocked":
                raise ValueError(
                    "'n_units' fixes the arm counts, so it needs method 'complete', 'cluster' or "
                    "'constrained_cluster', not permuted blocks. Got method 'blocked' instead"
                )
        if self.unit != "cluster" or not self.clusters:
            return
        n = len(self.clusters)
        if n < 2:
            raise ValueError(
                "a cluster trial needs at least 2 clusters, one per arm at the least. "
                f"Got {n} ({', '.join(self.clusters)}) instead"
            )
        if len(set(self.clusters)) != n:
            twice = sorted({c for c in self.clusters if self.clusters.count(c) > 1})
            raise ValueError(f"'clusters' must be unique. Got {twice} more than once instead")
        try:
            ratios = self.allocation_ratios(n)
        except ValueError as exc:
            raise ValueError(str(exc).rstrip(".")) from None
        total = sum(ratios)
        for arm, ratio in zip(self.arms, ratios, strict=True):
            # strata only add floors together, so the whole trial's floor is the bound
            if n * ratio // total < 1:
                declared = (
                    f"n_units {[a.n_units for a in self.arms]}"
                    if counted
                    else f"ratio {':'.join(str(a.ratio) for a in self.arms)}"
                )
                raise ValueError(
                    f"arm '{arm.name}' would get no clusters in some allocations: every arm needs "
                    f"at least one. Add clusters or change the allocation. Got {n} clusters at "
                    f"{declared} instead"
                )

    def _subgroups_are_known(self) -> None:
        """A subgroup the dataset cannot hold was skipped by the analysis without a word."""
        known = [
            *ROSTER_FIELDS,
            "stratum",
            "cluster",
            *self.strata,
            *([self.cluster_by] if self.cluster_by else []),
            *self.roster.covariates,
            *self.analysis.covariates,
            *self.analysis.columns,
        ]
        waves = [w.name for w in self.follow_up.waves]
        check_subgroups(
            self.analysis.subgroups,
            known=known,
            baselines=[
                *(f"{o.name}_baseline" for o in self.outcomes if o.source == "survey"),
                *self.roster.covariates,
                *self.analysis.covariates,
            ],
            later=[f"{o.name}_{t}" for o in self.outcomes for t in ("endline", *waves)],
        )

    def _dataset_columns_are_known(self) -> None:
        """``analysis.columns`` names fields an analysis reads, so a typo is not ignored."""
        outcome_columns = {f"{o.name}_{t}" for o in self.outcomes for t in ("baseline", "endline")}
        valid = [
            *DATASET_FIELDS,
            *self.analysis.covariates,
            *(s.column for s in subgroup_specs(self.analysis.subgroups)),
            *([self.analysis.cluster_se_by] if self.analysis.cluster_se_by else []),
        ]
        for key in self.analysis.columns:
            waves = any(key.startswith(f"{o.name}_") for o in self.outcomes)
            if key in valid or key in outcome_columns or waves:
                continue
            hint = did_you_mean(key, [*valid, *sorted(outcome_columns)], prefix="; did you mean")
            primary = self.primary_outcome
            example = primary.name if primary else "swemwbs"
            if key in ("took_up", "participant_id"):
                hint = f"; did you mean '{'uptake' if key == 'took_up' else 'id'}'?"
            raise ValueError(
                f"analysis.columns: '{key}' is not a dataset field{hint or '.'} Choose one of: "
                f"{', '.join(DATASET_FIELDS)}, a declared covariate or subgroup, or an outcome "
                f"column <outcome>_<timepoint> (e.g. {example}_endline). "
                f"Got '{key}' instead"
            )

    @model_validator(mode="after")
    def _clustered_standard_errors(self) -> TrialDesign:
        se_type, by = self.analysis.se_type, self.analysis.cluster_se_by
        clustered = [t for t, (_, needs_clusters) in SE_TYPES.items() if needs_clusters]
        robust = [t for t in SE_TYPES if t not in clustered]
        if self.unit == "cluster":
            if by is not None:
                raise ValueError(
                    "'analysis.cluster_se_by' is for individually randomised trials: a cluster "
                    f"trial's standard errors are already clustered by its unit of randomisation "
                    f"('{self.cluster_by}'). Remove it. Got cluster_se_by '{by}' instead"
                )
            if se_type in robust:
                raise ValueError(
                    f"analysis: a cluster trial needs a cluster-robust 'se_type', as its units "
                    f"of randomisation are clusters ('{self.cluster_by}'). Choose one of: "
                    f"{', '.join(clustered)} (CR2 if left out). Got '{se_type}' instead"
                )
            return self
        if se_type in clustered and by is None:
            raise ValueError(
                f"'analysis.se_type' '{se_type}' is cluster-robust, but participants are "
                "randomised individually and no grouping is named to cluster by. Add "
                "'analysis.cluster_se_by: <column>' (e.g. team) to cluster standard errors by "
                f"it, or choose one of: {', '.join(robust)}. Got se_type '{se_type}' and "
                "cluster_se_by None instead"
            )
        if by is not None and se_type in robust:
            raise ValueError(
                f"'analysis.cluster_se_by' '{by}' clusters the standard errors, so "
                f"'analysis.se_type' must be cluster-robust: one of {', '.join(clustered)} "
                f"(CR2 if left out). Got se_type '{se_type}' instead"
            )
        return self

    # -- derived, read-only views ------------------------------------------------
    @property
    def arm_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.arms)

    @property
    def control_arm(self) -> str:
        return next(a.name for a in self.arms if a.control)

    @property
    def ratios(self) -> tuple[int, ...]:
        return tuple(a.ratio for a in self.arms)

    @property
    def probabilities(self) -> tuple[float, ...]:
        total = sum(self.ratios)
        return tuple(r / total for r in self.ratios)

    @property
    def fixed_counts(self) -> bool:
        """True when arms declare exact numbers of units (``n_units``) instead of ratios."""
        return any(a.n_units is not None for a in self.arms)

    def allocation_ratios(self, n_units: int) -> tuple[int, ...]:
        """The integer ratios that allocate ``n_units`` units.

        The declared ratios; or, with ``n_units`` on the arms, the counts
        themselves (the arm without one takes the rest), which sum to
        ``n_units``, so the randomisers' floor/ceil counts of ``n·r_j/Σr`` are
        exactly the declared counts for every seed.

        Raises
        ------
        ValueError
            If the declared counts do not fit ``n_units`` units.
        """
        if not self.fixed_counts:
            return self.ratios
        word = "clusters" if self.unit == "cluster" else "participants"
        declared = sum(a.n_units for a in self.arms if a.n_units is not None)
        counts = tuple(
            a.n_units if a.n_units is not None else n_units - declared for a in self.arms
        )
        if all(a.n_units is not None for a in self.arms) and declared != n_units:
            raise ValueError(
                f"The arms' n_units {[a.n_units for a in self.arms]} must add up to the {n_units} "
                f"{word} randomised. Got {declared} instead."
            )
        empty = [a.name for a, c in zip(self.arms, counts, strict=True) if c < 1]
        if empty:
            raise ValueError(
                f"arm '{empty[0]}' would get no {word}: the other arms' n_units take "
                f"{declared} of the {n_units}. Got n_units {[a.n_units for a in self.arms]} instead."
            )
        return counts

    def probabilities_for(self, n_units: int) -> tuple[float, ...]:
        """Each arm's probability when ``n_units`` units are randomised."""
        ratios = self.allocation_ratios(n_units)
        return tuple(r / sum(ratios) for r in ratios)

    @property
    def roster_columns(self) -> dict[str, str]:
        """Roster field -> column in the roster file, with strata and cluster columns.

        Strata and the cluster may name any roster column (``village``); one that
        is not a canonical field is read from the column of that name.
        """
        columns = dict(self.roster.columns)
        for name in (*self.strata, *([self.cluster_by] if self.cluster_by else [])):
            columns.setdefault(name, name)
        return columns

    @property
    def primary_outcome(self) -> Outcome | None:
        return next((o for o in self.outcomes if o.primary), None)

    def canonical_json(self) -> str:
        """Canonical JSON: sorted keys, no whitespace; the input to the hash.

        A field added after designs were first hashed (``_added_fields``) is
        left out while it holds its default, so a design that does not use it
        keeps the hash its allocations and results were stored with.
        """
        return json.dumps(
            _without_unused_additions(self, self.model_dump(mode="json")),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=True,
        )

    @property
    def design_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()


def _without_unused_additions(model: BaseModel, dumped: dict) -> dict:
    """Drop added fields still at their default, recursively through nested models."""
    fields = type(model).model_fields
    for name in getattr(type(model), "_added_fields", frozenset()):
        if name in dumped and getattr(model, name) == fields[name].get_default(
            call_default_factory=True
        ):
            del dumped[name]
    for name in fields:
        value, sub = getattr(model, name), dumped.get(name)
        if isinstance(value, BaseModel) and isinstance(sub, dict):
            _without_unused_additions(value, sub)
        elif isinstance(value, tuple) and isinstance(sub, list):
            for item, item_dump in zip(value, sub, strict=True):
                if isinstance(item, BaseModel) and isinstance(item_dump, dict):
                    _without_unused_additions(item, item_dump)
    return dumped


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key written twice in one mapping.

    PyYAML keeps the last of two equal keys without a word, so a second ``seed:``
    further down silently replaced the first.
    """

    def construct_mapping(self, node, deep=False):  # noqa: ANN001, ANN201, FBT002 - PyYAML's API
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)  # merge keys ('<<') are not duplicates
            lines: dict[Any, int] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                try:
                    first = lines.get(key)
                except TypeError:  # an unhashable key: the base class reports it
                    continue
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"the key '{cut(str(key))}' is written twice in one mapping (first at "
                        f"line {first}); the second would silently replace the first. Keep one",
                        key_node.start_mark,
                    )
                lines[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def load_design(path: str | Path) -> TrialDesign:
    """Load and validate a design YAML file.

    Raises
    ------
    DesignError
        With one line per problem, naming the item, the field, the rule and the
        value: ``"letters.yaml: arms[1] (letter): 'ratio' must be a positive
        integer. Got 0 instead."``, ``"coffee.yaml: outcomes[1] (feeling_valued):
        'primay' is not a field; did you mean 'primary'?"``.
    """
    path = Path(path)
    # every message names the file and the rule on one line, and never echoes more than the
    # start of what the file holds: `trialflow sap /etc/passwd` printed the whole file
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506
    except FileNotFoundError:
        raise DesignError(f"Design file {path} does not exist.") from None
    except IsADirectoryError:
        raise DesignError(
            f"Design file {path} is a directory; give the design's YAML file inside it."
        ) from None
    except UnicodeDecodeError as exc:
        raise DesignError(
            f"{path.name}: is not a text file (byte {exc.start} is not UTF-8); a design is a "
            "YAML text file."
        ) from None
    except OSError as exc:
        raise DesignError(f"Design file {path} cannot be read: {exc.strerror}.") from None
    except yaml.YAMLError as exc:
        raise DesignError(f"{path.name}: is not valid YAML: {yaml_problem(exc)}.") from None
    if not isinstance(data, dict):
        raise DesignError(
            f"{path.name}: must hold a mapping of design fields (id: ..., arms: ...). "
            f"Got {shown(data)} instead."
        )
    try:
        return TrialDesign.model_validate(data)
    except ValidationError as exc:
        raise DesignError.from_validation(exc, data, path.name, model=TrialDesign) from None


def design_json_schema() -> dict[str, Any]:
    """The JSON Schema of a design file, for editor autocompletion."""
    schema = TrialDesign.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "trialflow trial design"
    return schema
