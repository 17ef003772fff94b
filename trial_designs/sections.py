"""The sections of a trial design: arms, randomisation, roster, interventions, outcomes,
analysis and dates, each a frozen pydantic model checked on its own.

:class:`trial_designs.design.TrialDesign` puts them together and checks what
spans sections (an intervention's arm exists, strata are mapped, ...).  The
vocabularies the sections check against live beside them in ``trial_designs``:
delivery fields and uptake rules (:mod:`trial_designs.uptake_rules`), SE types
(:mod:`trial_designs.se_types`) and the instruments
(:mod:`trial_designs.scale_files`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from trial_designs.scale_files import declared_instrument, known_instruments
from trial_designs.se_types import SE_TYPES
from trial_designs.subgroups import SubgroupDeclaration
from trial_designs.uptake_rules import DELIVERY_FIELDS, check_uptake_definition

__all__ = [
    "DATASET_FIELDS",
    "MAX_BOOTSTRAP_REPLICATES",
    "MAX_IMPUTATIONS",
    "MAX_RI_DRAWS",
    "MAX_SIMULATIONS",
    "MINIMISATION_FIELDS",
    "FIXED_TIMEPOINTS",
    "ROSTER_FIELDS",
    "Analysis",
    "Arm",
    "ColumnName",
    "DesignSection",
    "Constraint",
    "FollowUp",
    "Identifier",
    "Intervention",
    "Minimisation",
    "Outcome",
    "Randomisation",
    "RosterSpec",
    "SourceSpec",
    "Wave",
]

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


class DesignSection(BaseModel):
    """A frozen part of a design; unknown keys are refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Fields added after designs were first hashed: left at their default they are
    #: not part of the canonical JSON, so an old design keeps its hash.
    _added_fields: ClassVar[frozenset[str]] = frozenset()


class Arm(DesignSection):
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


class Constraint(DesignSection):
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


class Minimisation(DesignSection):
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


class Randomisation(DesignSection):
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


class RosterSpec(DesignSection):
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


class Intervention(DesignSection):
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


class SourceSpec(DesignSection):
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


class Outcome(DesignSection):
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


class Analysis(DesignSection):
    """Pre-specified analysis options."""

    _added_fields: ClassVar[frozenset[str]] = frozenset({"cluster_se_by", "adjust_across_arms"})

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
    subgroups: tuple[SubgroupDeclaration, ...] = Field(
        default=(),
        description="Pre-declared subgroups of the primary outcome, each with an arm x subgroup "
        "interaction test (Holm across them): a dataset column (role, organisation) or one "
        "derived from a baseline column ({name: wellbeing_tertile, from: swemwbs_baseline, "
        "tertiles: true}). Any other subgroup analysis is exploratory.",
    )
    mi_imputations: int = Field(
        default=20, ge=2, description=f"Multiple imputations, at most {MAX_IMPUTATIONS}."
    )
    adjust_across_arms: Literal["holm", "none"] = Field(
        default="none",
        description="Designs with two or more active arms: 'holm' Holm-adjusts the primary "
        "outcome's ITT p-values across the active arms (each against control; p_value_holm in "
        "results.json); 'none' (the default) leaves them unadjusted. A design with one active "
        "arm has nothing to adjust across, and is refused with 'holm'.",
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


#: The timepoints every design has; follow-up waves are named besides these.
FIXED_TIMEPOINTS = ("baseline", "endline")


class Wave(DesignSection):
    """A follow-up survey wave between baseline and endline: its timepoint name and date."""

    name: Identifier = Field(
        description="The timepoint's name: survey files are ingested with --timepoint <name> "
        "and its dataset columns are <outcome>_<name> (e.g. midpoint)."
    )
    date: dt.date = Field(description="When the wave's survey opens.")


class FollowUp(DesignSection):
    """Key dates of the trial."""

    #: Added after designs were first hashed: at its default (endline) it leaves the hash.
    _added_fields: ClassVar[frozenset[str]] = frozenset({"primary_timepoint"})

    recruitment_start: dt.date
    randomisation: dt.date
    baseline: dt.date
    endline: dt.date
    window_start: dt.date
    window_end: dt.date
    waves: tuple[Wave, ...] = Field(
        default=(),
        description="Follow-up survey waves between randomisation and endline, each named "
        "({name: midpoint, date: 2019-11-01}); every survey outcome is analysed at each.",
    )
    primary_timepoint: Identifier = Field(
        default="endline",
        description="The pre-declared timepoint of the headline estimate: endline or a wave's "
        "name.",
    )

    @property
    def timepoints(self) -> tuple[str, ...]:
        """Every declared survey timepoint in time order: baseline, the waves, endline."""
        waves = sorted(self.waves, key=lambda w: w.date)
        return ("baseline", *(w.name for w in waves), "endline")

    @field_validator("waves", mode="before")
    @classmethod
    def _named(cls, value: Any) -> Any:  # noqa: ANN401 - the YAML as read
        # a bare date gives no timepoint name to ingest or analyse the wave under
        for item in value if isinstance(value, list | tuple) else ():
            if isinstance(item, dt.date | str):
                raise ValueError(
                    "each wave needs a name and a date ({name: midpoint, date: 2019-11-01}): "
                    f"the name is the --timepoint its survey is ingested as. Got {item} instead"
                )
        return value

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
        self._waves_fit()
        return self

    def _waves_fit(self) -> None:
        """Each wave has its own name, falls after randomisation and before endline."""
        names = [w.name for w in self.waves]
        for name in names:
            if name in FIXED_TIMEPOINTS or names.count(name) > 1:
                raise ValueError(
                    "each wave's name must differ from baseline, endline and the other waves' "
                    f"(it names the wave's dataset columns). Got {names} instead"
                )
        for wave in self.waves:
            if not self.randomisation < wave.date < self.endline:
                raise ValueError(
                    f"wave '{wave.name}' must fall after randomisation ({self.randomisation}) and "
                    f"before endline ({self.endline}). Got {wave.date} instead"
                )
        if self.primary_timepoint not in ("endline", *names):
            raise ValueError(
                "primary_timepoint must be endline or a declared wave. Choose one of: "
                f"{', '.join(['endline', *names])}. Got '{self.primary_timepoint}' instead"
            )
