"""The trial design: declared once in YAML, validated, frozen and hashed.

A :class:`TrialDesign` is the single declaration every stage reads: who is
randomised and how, which interventions are delivered, which outcomes are
measured and how they are analysed and costed.  Its content hash is stored
with every allocation and every result so that a report can prove which
design produced it.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from trial_designs.se_types import SE_TYPES
from trial_designs.uptake_rules import DELIVERY_FIELDS, check_uptake_definition

__all__ = [
    "ALGORITHM_VERSION",
    "DATASET_FIELDS",
    "MAX_BOOTSTRAP_REPLICATES",
    "MAX_IMPUTATIONS",
    "MAX_RI_DRAWS",
    "MAX_SIMULATIONS",
    "MINIMISATION_FIELDS",
    "ROSTER_FIELDS",
    "Arm",
    "DesignError",
    "TrialDesign",
    "design_json_schema",
    "load_design",
]

#: Version of the allocation algorithms.  Stored with every allocation; a
#: change to any allocation function that alters results must bump it.
ALGORITHM_VERSION = "trialflow-randomise/2"

#: Canonical roster fields a design may map to the columns of a roster file.
ROSTER_FIELDS = ("id", "organisation", "building", "team", "role", "start_date", "consent")

#: Fields of an analysis dataset that ``analysis.columns`` may map to a column of a
#: ``--data`` file (besides ``<outcome>_<timepoint>`` columns and declared covariates).
#: ``uptake`` is read as the 0/1 uptake indicator (``took_up`` in results), ``dose`` as the
#: dose received.
DATASET_FIELDS = ("id", "arm", "stratum", "cluster", "uptake", "dose")

#: Upper bounds on the work a design or command line can ask for: beyond these a run
#: takes hours and gains nothing (the Monte Carlo SE of a p-value at 100,000 draws is
#: under 0.0016), and ``ri_draws: 1000000000000`` ran until it was killed.
MAX_RI_DRAWS = 100_000
MAX_SIMULATIONS = 100_000
MAX_BOOTSTRAP_REPLICATES = 100_000
MAX_IMPUTATIONS = 1_000

#: A strata or cluster column: a canonical roster field, or any other roster column by name.
ColumnName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)]
Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]


class DesignError(ValueError):
    """A design file that cannot be used, with a message naming file, field, rule and value.

    :meth:`from_validation` is the one place where pydantic's errors become
    these messages: ``"coffee.yaml: outcomes[1] (feeling_valued): 'primay' is
    not a field; did you mean 'primary'?"``.
    """

    @classmethod
    def from_validation(cls, exc: ValidationError, data: Any, source: str) -> DesignError:  # noqa: ANN401
        """One line per problem, naming the item, the field, the rule and the value.

        Parameters
        ----------
        exc : ValidationError
            From ``TrialDesign.model_validate(data)``.
        data : Any
            The mapping that was validated (to name list items by their ``name``).
        source : str
            The file name that starts each line.
        """
        errors = exc.errors()
        # a list whose item failed also reports "too short": the item's error says it all
        failed_items = {tuple(e["loc"][:-2]) for e in errors if len(e["loc"]) >= 2}
        errors = [
            e for e in errors if not (e["type"] == "too_short" and tuple(e["loc"]) in failed_items)
        ]
        lines = [f"{source}: {_error_line(err, data)}" for err in errors]
        return cls("\n".join(dict.fromkeys(lines)))


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Fields added after designs were first hashed: left at their default they are
    #: not part of the canonical JSON, so an old design keeps its hash.
    _added_fields: ClassVar[frozenset[str]] = frozenset()


class Arm(_Frozen):
    """One arm of the trial: an integer allocation ratio, or an exact number of units."""

    _added_fields: ClassVar[frozenset[str]] = frozenset({"n_units"})

    name: Identifier
    ratio: int = Field(default=1, description="Integer allocation ratio; must be positive.")
    n_units: int | None = Field(
        default=None,
        ge=1,
        description="Exactly this many units (clusters in a cluster trial, else participants) "
        "get this arm, for any seed: 'exactly 6 of 13 buildings' is "
        "[{name: control, control: true}, {name: coffee, n_units: 6}]. One arm may leave it "
        "out and takes the rest. Instead of 'ratio'; not with strata or blocked randomisation.",
    )
    control: bool = Field(default=False, description="Exactly one arm is the comparator.")
    label: str | None = None

    @field_validator("ratio")
    @classmethod
    def _positive_ratio(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be a positive integer. Got {value} instead")
        return value

    @model_validator(mode="after")
    def _ratio_or_count(self) -> Arm:
        if self.n_units is not None and "ratio" in self.model_fields_set:
            raise ValueError(
                f"arm '{self.name}' declares either 'ratio' or 'n_units', not both. "
                f"Got ratio {self.ratio} and n_units {self.n_units} instead"
            )
        return self


class Constraint(_Frozen):
    """Covariate-constrained cluster randomisation settings."""

    covariates: tuple[str, ...] = Field(
        description="Cluster-level covariates to balance, e.g. size (number of staff)."
    )
    keep_fraction: float = Field(
        default=0.1, gt=0, le=1, description="Best-balanced fraction of candidates kept."
    )
    max_candidates: int = Field(
        default=20000,
        ge=10,
        description="Enumerate every allocation when there are at most this many; else sample this many.",
    )


#: Roster fields a minimisation factor may name: the ones the store keeps for every
#: participant, so a late entrant's allocation can re-count everyone before them.
MINIMISATION_FIELDS = ("organisation", "building", "team", "role")


class Minimisation(_Frozen):
    """Pocock-Simon minimisation settings (``method: minimisation``); see trial_designs.minimise."""

    factors: tuple[ColumnName, ...] = Field(
        min_length=1,
        description="Roster fields to balance over, each marginally: "
        f"{', '.join(MINIMISATION_FIELDS)}. Every stratum must be one of them.",
    )
    weights: dict[str, float] = Field(
        default_factory=dict,
        description="Factor -> weight in the total imbalance (default 1 each).",
    )
    p: float = Field(
        default=0.8,
        le=1,
        description="Probability of the arm that minimises the imbalance (the rest is shared "
        "equally by the other arms); at least 1/(number of arms). 1 is deterministic.",
    )
    imbalance: Literal["range", "variance"] = Field(
        default="range",
        description="How the spread of one factor level's counts over the arms is measured.",
    )

    @field_validator("weights")
    @classmethod
    def _positive_weights(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {k: w for k, w in value.items() if not w > 0}
        if bad:
            raise ValueError(f"must be positive numbers. Got {bad} instead")
        return value

    @model_validator(mode="after")
    def _weights_name_factors(self) -> Minimisation:
        unknown = sorted(set(self.weights) - set(self.factors))
        if unknown:
            raise ValueError(
                f"'weights' names {unknown}, which are not factors. Choose from "
                f"{list(self.factors)}. Got {unknown} instead"
            )
        unusable = [f for f in self.factors if f not in MINIMISATION_FIELDS]
        if unusable:
            raise ValueError(
                f"'factors' must be roster fields the store keeps for every participant: "
                f"{', '.join(MINIMISATION_FIELDS)}. Got {unusable} instead"
            )
        if len(set(self.factors)) != len(self.factors):
            raise ValueError(f"'factors' must be unique. Got {list(self.factors)} instead")
        return self


class Randomisation(_Frozen):
    """How units are allocated."""

    _added_fields: ClassVar[frozenset[str]] = frozenset({"minimisation"})

    method: Literal["complete", "blocked", "cluster", "constrained_cluster", "minimisation"]
    seed: int = Field(ge=0, lt=2**63)
    block_sizes: tuple[int, ...] = Field(
        default=(),
        description="Block sizes for permuted blocks, and for the late-entrant sequence; each a multiple of the ratio sum.",
    )
    constraint: Constraint | None = None
    minimisation: Minimisation | None = Field(
        default=None,
        description="Pocock-Simon minimisation (method 'minimisation', individual trials, equal "
        "ratios): factors, weights, p, imbalance.",
    )


class RosterSpec(_Frozen):
    """Where a roster's columns are, by canonical field name."""

    columns: dict[str, str] = Field(
        default_factory=lambda: {f: f for f in ROSTER_FIELDS},
        description="Canonical field (id, organisation, building, team, role, start_date, consent) -> column in the file.",
    )
    pii_columns: dict[str, str] = Field(
        default_factory=dict,
        description="first_name / surname / address -> column; stored apart from analysis tables.",
    )
    covariates: tuple[str, ...] = Field(
        default=(), description="Extra roster columns kept with each participant (e.g. fte)."
    )

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(ROSTER_FIELDS))
        if unknown:
            raise ValueError(
                f"names unknown roster fields {unknown}; choose from {list(ROSTER_FIELDS)}"
            )
        if "id" not in value:
            raise ValueError("must map the 'id' field")
        # two fields read from one column: e.g. 'organisation: team' would stratify by team
        seen: dict[str, str] = {}
        for name, column in value.items():
            if column in seen:
                raise ValueError(
                    f"maps two roster fields to the same column: '{seen[column]}' and "
                    f"'{name}' both read column '{column}'. Each field needs its own column. "
                    f"Got {seen[column]}: {column}, {name}: {column} instead"
                )
            seen[column] = name
        return value


class Intervention(_Frozen):
    """An intervention and the vocabulary of its delivery events."""

    name: Identifier
    arm: Identifier = Field(description="The arm that receives it.")
    description: str = ""
    unit: Literal["participant", "cluster"] = "participant"
    event_types: tuple[Identifier, ...] = Field(min_length=1)
    uptake: dict[str, Any] = Field(
        default_factory=dict,
        description="How uptake is defined from events: offered, started, completed, dose.",
    )
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Delivery-log field (unit_id, event_type, occurred_at, quantity, hours, "
        "attendees, module, round_id, facilitator) -> column in the export file.",
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Intervention-specific settings, e.g. for letters 'signatories': "
        "organisation -> {name, title} of the senior figure who signs.",
    )

    @model_validator(mode="after")
    def _delivery_vocabulary(self) -> Intervention:
        unknown = sorted(set(self.columns) - set(DELIVERY_FIELDS))
        if unknown:
            raise ValueError(
                f"'columns' names unknown delivery field(s) {unknown}. Choose from: "
                f"{', '.join(DELIVERY_FIELDS)}. Got {unknown} instead"
            )
        if self.uptake:
            try:
                check_uptake_definition(self.uptake, self.event_types)
            except ValueError as exc:
                raise ValueError(f"'uptake' is not valid: {str(exc).rstrip('.')}") from None
        return self


class SourceSpec(_Frozen):
    """Where an outcome source's fields are in its files.

    ``survey``: participant_id, collected_on and every item column the
    outcomes need (``swemwbs_1``.., ``wrqol_1``.., ``ons4_anxious``, a single
    item under the outcome's name).  ``hr``: one extract with a
    ``record_type`` per row (``staff`` rows: fte, effective_from,
    leaving_date; ``absence`` rows: start_date, end_date).  A field left out
    is read from the column of the same name.  Options are listed in
    :data:`intake.outcomes.SOURCE_OPTIONS`.
    """

    columns: dict[str, str] = Field(
        default_factory=dict, description="Canonical field -> column in the file."
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="survey: wrqol_scoring (path of the licensed scoring file). hr: day_basis "
        "(working|calendar), holidays (dates), record_types ({staff: .., absence: ..} as written "
        "in the file).",
    )


class Outcome(_Frozen):
    """A declared outcome and how it is measured.

    Checked when the design loads: the instrument is known, HR instruments
    (absence, turnover) come from source ``hr`` and the others from
    ``survey``, the score is one the instrument has, a single item declares
    a whole-number range, and ``higher_is_better`` agrees with the score's
    published direction (GHQ-12, ONS4 anxious, absence and turnover are
    lower-is-better).
    """

    name: Identifier
    instrument: str = Field(
        description="swemwbs, wrqol, ons4, ghq12, a packaged scale file (cbi_work, gse), "
        "single_item, absence, turnover"
    )
    primary: bool = False
    source: Literal["survey", "hr"] = "survey"
    score: str | None = Field(
        default=None,
        description="Which score is analysed: swemwbs raw|metric (default metric); wrqol total "
        "(default) or a subscale; ghq12 total; ons4 life_satisfaction|worthwhile|happy|anxious "
        "(required); absence absence_rate (default)|days_lost_per_fte|days_lost|spells.",
    )
    min_value: float | None = Field(default=None, description="Single items: lowest answer.")
    max_value: float | None = Field(default=None, description="Single items: highest answer.")
    higher_is_better: bool = True
    label: str | None = None

    @model_validator(mode="after")
    def _measurable(self) -> Outcome:
        # the instruments' own rule book: built-in specs and the packaged scale files
        from trial_designs.scale_files import declared_instrument, known_instruments

        hr_scores = {
            "absence": ("absence_rate", "days_lost_per_fte", "days_lost", "spells"),
            "turnover": ("turnover",),
        }
        known = [*known_instruments(), "single_item", *hr_scores]
        if self.instrument not in known:
            raise ValueError(
                f"'instrument' must be one of: {', '.join(known)}. Got '{self.instrument}' instead"
            )
        wanted_source = "hr" if self.instrument in hr_scores else "survey"
        if self.source != wanted_source:
            raise ValueError(
                f"instrument '{self.instrument}' is measured from source '{wanted_source}'. "
                f"Got source '{self.source}' instead"
            )
        if self.instrument == "single_item":
            bounds = (self.min_value, self.max_value)
            if any(b is None or b != int(b) for b in bounds) or not bounds[0] < bounds[1]:
                raise ValueError(
                    "a single item needs whole-number 'min_value' below 'max_value'. "
                    f"Got {self.min_value!r} to {self.max_value!r} instead"
                )
            return self
        default = None
        if self.instrument in hr_scores:
            scores, lower_is_better = hr_scores[self.instrument], hr_scores[self.instrument]
        else:
            spec = declared_instrument(self.instrument)
            scores, lower_is_better = spec.scores, spec.lower_is_better_scores
            default = spec.scale.headline_score if spec.scale is not None else None
            if not spec.higher_is_better:
                lower_is_better = scores
        if self.score is None and self.instrument == "ons4":
            raise ValueError(
                f"instrument 'ons4' reports each item separately; name one as 'score': "
                f"{', '.join(scores)}. Got no score instead"
            )
        if self.score is not None and self.score not in scores:
            raise ValueError(
                f"'score' of instrument '{self.instrument}' must be one of: {', '.join(scores)}. "
                f"Got '{self.score}' instead"
            )
        score = self.score or default or scores[-1 if self.instrument == "swemwbs" else 0]
        if self.higher_is_better == (score in lower_is_better):
            direction = "lower" if score in lower_is_better else "higher"
            raise ValueError(
                f"'{self.instrument}' score '{score}' is {direction}-is-better: set "
                f"'higher_is_better: {str(direction == 'higher').lower()}'. "
                f"Got {str(self.higher_is_better).lower()} instead"
            )
        return self


class Analysis(_Frozen):
    """Pre-specified analysis options."""

    _added_fields: ClassVar[frozenset[str]] = frozenset({"cluster_se_by"})

    covariates: tuple[str, ...] = Field(
        default=(),
        description="Analysis-dataset columns adjusted for besides the baseline; a text column "
        "(e.g. team) enters as fixed effects, one dummy per level after the first in sorted order.",
    )
    se_type: str | None = Field(
        default=None,
        description="Default HC2 (individual), or CR2 in cluster trials and with cluster_se_by.",
    )
    cluster_se_by: str | None = Field(
        default=None,
        min_length=1,
        description="Individually randomised trials only: a column of the analysis dataset "
        "(a roster field such as team or building, a roster covariate, or a column of a --data "
        "file) to cluster standard errors by when people randomised one by one share a team or "
        "village. SEs are then CR2 (Bell-McCaffrey, Satterthwaite df), as estimatr's "
        "lm_robust(clusters = team, se_type = 'CR2'); randomisation inference still re-draws "
        "the individual allocation.",
    )
    ri_draws: int = Field(
        default=2000,
        ge=0,
        description=f"Randomisation-inference draws; 0 for none, at most {MAX_RI_DRAWS}.",
    )
    subgroups: tuple[str, ...] = ()
    mi_imputations: int = Field(
        default=20, ge=2, description=f"Multiple imputations, at most {MAX_IMPUTATIONS}."
    )
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="For foreign datasets (--data): dataset field -> column in the file. Fields: "
        "id, arm, stratum, cluster, uptake (the 0/1 uptake indicator behind the CACE and the "
        "CONSORT 'received' box), dose, a declared covariate, or an outcome column "
        "<outcome>_<timepoint> (e.g. swemwbs_endline).",
    )

    @field_validator("se_type")
    @classmethod
    def _known_se_type(cls, value: str | None) -> str | None:
        if value is not None and value not in SE_TYPES:
            raise ValueError(
                f"'{value}' is not known. Choose one of: {', '.join(SE_TYPES)}. "
                f"Got '{value}' instead"
            )
        return value

    @field_validator("ri_draws")
    @classmethod
    def _bounded_draws(cls, value: int) -> int:
        if value > MAX_RI_DRAWS:
            raise ValueError(
                f"must be at most {MAX_RI_DRAWS} (the randomisation p-value's Monte Carlo SE is "
                f"under 0.0016 there, and each draw refits every outcome). Got {value} instead"
            )
        return value

    @field_validator("mi_imputations")
    @classmethod
    def _bounded_imputations(cls, value: int) -> int:
        if value > MAX_IMPUTATIONS:
            raise ValueError(f"must be at most {MAX_IMPUTATIONS}. Got {value} instead")
        return value


class FollowUp(_Frozen):
    """Key dates of the trial."""

    recruitment_start: dt.date
    randomisation: dt.date
    baseline: dt.date
    endline: dt.date
    window_start: dt.date
    window_end: dt.date
    waves: tuple[dt.date, ...] = ()

    @model_validator(mode="after")
    def _ordered(self) -> FollowUp:
        if self.window_end <= self.window_start:
            raise ValueError(
                f"window_end must be after window_start. Got {self.window_start} to {self.window_end} instead"
            )
        # outcomes measured before allocation cannot show its effect
        for name, day in (("randomisation", self.randomisation), ("baseline", self.baseline)):
            if self.endline <= day:
                raise ValueError(
                    f"endline must be after {name} ({day}). Got endline {self.endline} and "
                    f"{name} {day} instead"
                )
        return self


class TrialDesign(_Frozen):
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
        for intervention in self.interventions:
            if intervention.arm not in names:
                raise ValueError(
                    f"intervention '{intervention.name}' names an unknown arm. Choose one of {names}. Got '{intervention.arm}' instead"
                )
        if self.costs:
            from trial_designs.cost_model import cost_model_from_mapping  # the cost model's own checks

            try:
                cost_model_from_mapping(self.costs)
            except ValueError as exc:
                raise ValueError(f"'costs' is not valid: {str(exc).rstrip('.')}") from None
            self._costs_follow_events()
        self._counts_are_possible()
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
        for name in self.analysis.subgroups:
            if name in known:
                continue
            hint = _did_you_mean(name, known, prefix="; did you mean")
            raise ValueError(
                f"analysis.subgroups: '{name}' is not a column of the analysis dataset"
                f"{hint or '.'} Choose one of: {', '.join(dict.fromkeys(known))}. "
                f"Got '{name}' instead"
            )

    def _dataset_columns_are_known(self) -> None:
        """``analysis.columns`` names fields an analysis reads, so a typo is not ignored."""
        outcome_columns = {f"{o.name}_{t}" for o in self.outcomes for t in ("baseline", "endline")}
        valid = [
            *DATASET_FIELDS,
            *self.analysis.covariates,
            *self.analysis.subgroups,
            *([self.analysis.cluster_se_by] if self.analysis.cluster_se_by else []),
        ]
        for key in self.analysis.columns:
            waves = any(key.startswith(f"{o.name}_") for o in self.outcomes)
            if key in valid or key in outcome_columns or waves:
                continue
            hint = _did_you_mean(key, [*valid, *sorted(outcome_columns)], prefix="; did you mean")
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


# ---------------------------------------------------------------------------
# Error messages: pydantic's errors as "<item>: '<field>' <rule>. Got <value> instead."
# ---------------------------------------------------------------------------
_PATTERN_RULES = {
    r"^[a-z][a-z0-9_]*$": "must be lower-case letters, digits and underscores, starting with a letter",
    r"^[A-Za-z_][A-Za-z0-9_]*$": "must be a column name of letters, digits and underscores, "
    "not starting with a digit",
}


def _did_you_mean(value: str, choices, *, prefix: str) -> str:  # noqa: ANN001
    """``"; did you mean 'primary'?"`` for the closest choice, or ``""``."""
    match = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"{prefix} '{match[0]}'?" if match else ""


def _inner_model(annotation: Any) -> type[BaseModel] | None:  # noqa: ANN401
    """The model class inside an annotation such as ``tuple[Arm, ...]`` or ``Constraint | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that a location's fields belong to (None inside a free mapping)."""
    model: type[BaseModel] | None = TrialDesign
    for key in loc:
        if isinstance(key, int) or model is None:
            continue
        field = model.model_fields.get(key)
        model = _inner_model(field.annotation) if field is not None else None
    return model


def _item_path(loc: tuple[Any, ...], data: Any) -> str:  # noqa: ANN401
    """``outcomes[1] (feeling_valued)``: list items by position and name; '' at the top."""
    text = ""
    node = data
    for key in loc:
        if isinstance(key, int):
            item = node[key] if isinstance(node, list) and key < len(node) else None
            name = item.get("name") if isinstance(item, dict) else None
            text += f"[{key}]" + (f" ({name})" if name else "")
            node = item
        else:
            text += f".{key}" if text else str(key)
            node = node.get(key) if isinstance(node, dict) else None
    return text


#: How many characters of a rejected value an error message shows.
_SHOWN_CHARACTERS = 60


def _cut(text: str) -> str:
    """``text`` cut to ``_SHOWN_CHARACTERS`` with an ellipsis: never a whole file."""
    if len(text) <= _SHOWN_CHARACTERS:
        return text
    return text[: _SHOWN_CHARACTERS - 1] + "…"


def _shown(value: Any) -> str:  # noqa: ANN401 - any value a YAML file can hold
    """``repr(value)``, cut as :func:`_cut` does."""
    return _cut(repr(value))


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's error as one line: the problem and where, without its multi-line snippet."""
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if problem and mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    first = " ".join(str(exc).split())
    return first if len(first) <= 2 * _SHOWN_CHARACTERS else first[: 2 * _SHOWN_CHARACTERS] + "…"


def _error_line(err: Mapping[str, Any], data: Any) -> str:  # noqa: ANN401
    """One pydantic error as ``<item>: '<field>' <rule>. Got <value> instead.``"""
    loc = tuple(err["loc"])
    kind = err["type"]
    message = err["msg"].removeprefix("Value error, ").rstrip(".")
    value = err.get("input")
    parent, key = (loc[:-1], loc[-1]) if loc else ((), None)
    where = _item_path(parent, data)
    lead = f"{where}: " if where else ""
    if kind == "extra_forbidden":
        model = _model_at(parent)
        fields = list(model.model_fields) if model is not None else []
        hint = _did_you_mean(key, fields, prefix="; did you mean")
        # the key of a text file read as YAML can be a whole line of it: show only its start
        shown = _cut(str(key))
        if hint:
            return f"{lead}'{shown}' is not a field{hint}"
        return f"{lead}'{shown}' is not a field. Choose one of: {', '.join(fields)}."
    if kind == "missing":
        return f"{lead}the required field '{key}' is missing."
    if kind == "literal_error":
        expected = (err.get("ctx") or {}).get("expected", "")
        choices = [c.strip(" '") for c in expected.replace(" or ", ", ").split(",")]
        message = f"must be one of {expected}" + _did_you_mean(
            str(value), choices, prefix="; did you mean"
        )
    if kind == "string_pattern_mismatch":
        pattern = (err.get("ctx") or {}).get("pattern", "")
        message = _PATTERN_RULES.get(pattern, message)
    model = _model_at(parent)
    is_field = isinstance(key, str) and model is not None and key in model.model_fields
    if is_field:
        text = f"{lead}'{key}' {message}"
    else:  # a whole item or the design: its own validator's message names the fields
        where = _item_path(loc, data)
        text = f"{where}: {message}" if where else message
    if "Got" not in message and not isinstance(value, (dict, list)):
        text += f". Got {_shown(value)} instead"
    return text + "."


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
                        f"the key '{_cut(str(key))}' is written twice in one mapping (first at "
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
        raise DesignError(f"{path.name}: is not valid YAML: {_yaml_problem(exc)}.") from None
    if not isinstance(data, dict):
        raise DesignError(
            f"{path.name}: must hold a mapping of design fields (id: ..., arms: ...). "
            f"Got {_shown(data)} instead."
        )
    try:
        return TrialDesign.model_validate(data)
    except ValidationError as exc:
        raise DesignError.from_validation(exc, data, path.name) from None


def design_json_schema() -> dict[str, Any]:
    """The JSON Schema of a design file, for editor autocompletion."""
    schema = TrialDesign.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "trialflow trial design"
    return schema
