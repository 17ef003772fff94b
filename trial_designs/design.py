"""The trial design: declared once in YAML, validated, frozen and hashed.

A :class:`TrialDesign` is the single declaration every stage reads: who is
randomised and how, which interventions are delivered, which outcomes are
measured and how they are analysed and costed.  Its content hash is stored
with every allocation and every result so that a report can prove which
design produced it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

__all__ = [
    "ALGORITHM_VERSION",
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

Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]


class DesignError(ValueError):
    """A design file that cannot be used, with a message naming file, field, rule and value."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Arm(_Frozen):
    """One arm of the trial and its integer allocation ratio."""

    name: Identifier
    ratio: int = Field(default=1, description="Integer allocation ratio; must be positive.")
    control: bool = Field(default=False, description="Exactly one arm is the comparator.")
    label: str | None = None

    @field_validator("ratio")
    @classmethod
    def _positive_ratio(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be a positive integer. Got {value} instead")
        return value


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


class Randomisation(_Frozen):
    """How units are allocated."""

    method: Literal["complete", "blocked", "cluster", "constrained_cluster"]
    seed: int = Field(ge=0, lt=2**63)
    block_sizes: tuple[int, ...] = Field(
        default=(),
        description="Block sizes for permuted blocks, and for the late-entrant sequence; each a multiple of the ratio sum.",
    )
    constraint: Constraint | None = None


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
        from analysis.uptake import DELIVERY_FIELDS, check_uptake_definition  # one rule book

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
                raise ValueError(f"has an invalid 'uptake': {str(exc).rstrip('.')}") from None
        return self


class SourceSpec(_Frozen):
    """Where an outcome source's fields are in its files.

    ``survey``: participant_id, collected_on and every item column the
    outcomes need (``swemwbs_1``.., ``wrqol_1``.., ``ons4_anxious``, a single
    item under the outcome's name).  ``hr``: one extract with a
    ``record_type`` per row (``staff`` rows: fte, effective_from,
    leaving_date; ``absence`` rows: start_date, end_date).  A field left out
    is read from the column of the same name.  Options are listed in
    :data:`flows.outcomes.SOURCE_OPTIONS`.
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
        description="swemwbs, wrqol, ons4, ghq12, single_item, absence, turnover"
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
        from analysis.instruments import INSTRUMENTS  # the instruments' own rule book

        hr_scores = {
            "absence": ("absence_rate", "days_lost_per_fte", "days_lost", "spells"),
            "turnover": ("turnover",),
        }
        known = [*INSTRUMENTS, "single_item", *hr_scores]
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
        if self.instrument in hr_scores:
            scores, lower_is_better = hr_scores[self.instrument], hr_scores[self.instrument]
        else:
            spec = INSTRUMENTS[self.instrument]
            scores, lower_is_better = spec.scores, spec.lower_is_better_scores
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
        score = self.score or scores[-1 if self.instrument == "swemwbs" else 0]
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

    covariates: tuple[str, ...] = ()
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
    ri_draws: int = Field(default=2000, ge=0)
    subgroups: tuple[str, ...] = ()
    mi_imputations: int = Field(default=20, ge=2)
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="For foreign datasets: id, arm, stratum, cluster, uptake -> column name.",
    )


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
    cluster_by: Literal["organisation", "building", "team"] | None = None
    strata: tuple[Literal["organisation", "building", "team", "role"], ...] = ()
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
        for intervention in self.interventions:
            if intervention.arm not in names:
                raise ValueError(
                    f"intervention '{intervention.name}' names an unknown arm. Choose one of {names}. Got '{intervention.arm}' instead"
                )
        if self.costs:
            from analysis.costs import cost_model_from_mapping  # the cost model's own checks

            try:
                cost_model_from_mapping(self.costs)
            except ValueError as exc:
                raise ValueError(f"has an invalid 'costs' block: {exc}") from None
        primaries = [o.name for o in self.outcomes if o.primary]
        if self.outcomes and len(primaries) != 1:
            raise ValueError(f"exactly one outcome must be primary. Got {primaries} instead")
        for needed in (*self.strata, *([self.cluster_by] if self.cluster_by else [])):
            if needed not in self.roster.columns:
                raise ValueError(
                    f"'{needed}' is used for strata or clusters but the roster does not map it. Got columns {sorted(self.roster.columns)} instead"
                )
        return self

    @model_validator(mode="after")
    def _clustered_standard_errors(self) -> TrialDesign:
        from analysis.estimators import SE_TYPES  # the estimators' own rule book

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
    def primary_outcome(self) -> Outcome | None:
        return next((o for o in self.outcomes if o.primary), None)

    def canonical_json(self) -> str:
        """Canonical JSON: sorted keys, no whitespace; the input to the hash."""
        return json.dumps(
            self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=True
        )

    @property
    def design_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()


def _describe(loc: tuple[Any, ...], data: Any) -> tuple[str, Any]:  # noqa: ANN401
    """Turn a pydantic location into a dotted field path, naming list items by their name."""
    parts: list[str] = []
    node = data
    for key in loc:
        if isinstance(key, int) and isinstance(node, list) and key < len(node):
            item = node[key]
            name = item.get("name") if isinstance(item, dict) else None
            parts.append(f"[{name}]" if name else f"[{key}]")
            node = item
        else:
            parts.append(f".{key}" if parts else str(key))
            node = node.get(key) if isinstance(node, dict) else None
    return "".join(parts) or "(top level)", node


def load_design(path: str | Path) -> TrialDesign:
    """Load and validate a design YAML file.

    Raises
    ------
    DesignError
        With one line per problem: ``"<file>: field 'arms[letter].ratio' must be a
        positive integer. Got 0 instead."``.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DesignError(f"Design file {path} does not exist.") from None
    except yaml.YAMLError as exc:
        raise DesignError(f"{path.name}: is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise DesignError(
            f"{path.name}: must hold a mapping of design fields. Got {data!r} instead."
        )
    try:
        return TrialDesign.model_validate(data)
    except ValidationError as exc:
        lines = []
        errors = exc.errors()
        # a list whose item failed also reports "too short": the item's error says it all
        failed_items = {tuple(e["loc"][:-2]) for e in errors if len(e["loc"]) >= 2}
        errors = [
            e for e in errors if not (e["type"] == "too_short" and tuple(e["loc"]) in failed_items)
        ]
        for err in errors:
            field, value = _describe(tuple(err["loc"]), data)
            value = err.get("input", value)
            message = err["msg"].removeprefix("Value error, ")
            if "Got" not in message:
                message = f"{message}. Got {value!r} instead"
            lines.append(f"{path.name}: field '{field}' {message}.")
        raise DesignError("\n".join(lines)) from None


def design_json_schema() -> dict[str, Any]:
    """The JSON Schema of a design file, for editor autocompletion."""
    schema = TrialDesign.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "trialflow trial design"
    return schema
