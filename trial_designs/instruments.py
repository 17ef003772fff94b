"""The wellbeing instruments, declared once: what each one is (a vocabulary, no scoring).

Each instrument is declared once in :data:`INSTRUMENTS` as a frozen
:class:`InstrumentSpec`: its items (column suffixes), item range, score range,
direction and missing-item rule.  Single-item measures are declared per trial
and built with :func:`single_item_spec`; a declared scale file's spec with
:func:`scale_instrument_spec`.  A design checks its outcomes against these when
it loads, the simulators draw answers in their ranges, and
:mod:`analysis.instruments` scores them; so they live here, below analysis.

The WRQoL item-to-subscale map and its reverse-scored items are licensed, so
they live in a scoring file (``analysis/scoring/wrqol.yaml``), read by
:func:`trial_designs.scale_files.read_wrqol_scoring`, checked by
:func:`validate_wrqol_scoring` and passed to
:func:`analysis.instruments.score_instrument` as a mapping.

Missing-item rules (:data:`MISSING_RULES`):

- SWEMWBS, ``complete_items_only``: the developers publish no prorating rule,
  so a row with any item missing has no score.
- WRQoL, ``prorate_if_at_most_one_missing_per_scale``: the total (23 items)
  and each subscale of three or more items is prorated when at most one of its
  own items is missing; a two-item subscale is never prorated (one answer is
  not a scale).  The row's rule column describes the total.
- GHQ-12, ``prorate_if_at_most_one_missing``: sum x 12/11 with one item
  missing; two or more missing gives no score.
- ONS4 and single items, ``each_item_its_own_score``: the item is the score;
  the rule column counts the row's unanswered items.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trial_designs.scale_spec import ScaleSpec

__all__ = [
    "INSTRUMENTS",
    "MISSING_RULES",
    "SWEMWBS_METRIC",
    "WRQOL_SUBSCALES",
    "InstrumentSpec",
    "instrument_spec",
    "item_column",
    "scale_instrument_spec",
    "single_item_spec",
    "validate_wrqol_scoring",
]

#: SWEMWBS raw score 7..35 -> metric score (the official Rasch conversion table).
SWEMWBS_METRIC = (
    7.00, 9.51, 11.25, 12.40, 13.33, 14.08, 14.75, 15.32, 15.84, 16.36, 16.88, 17.43, 17.98,
    18.59, 19.25, 19.98, 20.73, 21.54, 22.35, 23.21, 24.11, 25.03, 26.02, 27.03, 28.13, 29.31,
    30.70, 32.55, 35.00,
)  # fmt: skip

#: The six WRQoL subscales, in the order they are reported.
WRQOL_SUBSCALES = ("GWB", "HWI", "JCS", "CAW", "WCS", "SAW")

#: Missing-item rules by name: the most items a score may lack, and what that means.
MISSING_RULES: dict[str, tuple[int, str]] = {
    "complete_items_only": (0, "Every item must be answered; otherwise the score is missing."),
    "prorate_if_at_most_one_missing": (
        1,
        "With one item missing the sum is prorated (sum x n_items / n_answered); "
        "with two or more the score is missing.",
    ),
    "prorate_if_at_most_one_missing_per_scale": (
        1,
        "The total and each subscale of three or more items are prorated when at most one of "
        "their own items is missing (sum x n_items / n_answered); a two-item subscale is never "
        "prorated. The row's rule describes the total.",
    ),
    "each_item_its_own_score": (
        0,
        "Each item is its own score; an unanswered item is a missing score.",
    ),
}


@dataclass(frozen=True)
class InstrumentSpec:
    """What an instrument is: for scoring, range checks and the data dictionary.

    Attributes
    ----------
    name : str
        Key in :data:`INSTRUMENTS` and default column prefix.
    label : str
        Human-readable name.
    item_suffixes : tuple of str
        Item column suffixes: the column of item ``s`` is ``<prefix>_<s>``
        (or ``<prefix>`` alone when ``s`` is empty, as for a single item).
    item_min, item_max : int
        Valid item values are the whole numbers in this range.
    score_min, score_max : float
        Range of the headline score (SWEMWBS metric, WRQoL total, GHQ-12
        total, each ONS4 item, the single item).
    higher_is_better : bool
        Direction of the headline score.
    missing_rule_name : str
        Key in :data:`MISSING_RULES`.
    missing_rule : str
        The rule in words, for the data dictionary.
    scores : tuple of str
        Suffixes of the score columns :func:`analysis.instruments.score_instrument` returns
        (besides ``<prefix>_rule``).
    lower_is_better_scores : tuple of str
        Score suffixes whose direction is the reverse of ``higher_is_better``
        (ONS4 ``anxious``).
    scale : ScaleSpec, optional
        The declared scale file this spec was built from
        (:func:`scale_instrument_spec`); :func:`analysis.instruments.score_instrument`
        scores it with :func:`analysis.scales.score_scale`.
    """

    name: str
    label: str
    item_suffixes: tuple[str, ...]
    item_min: int
    item_max: int
    score_min: float
    score_max: float
    higher_is_better: bool
    missing_rule_name: str
    missing_rule: str
    scores: tuple[str, ...]
    lower_is_better_scores: tuple[str, ...] = ()
    scale: Any = field(default=None, compare=False, repr=False)

    @property
    def items(self) -> tuple[str, ...]:
        """Item columns under the default prefix (the instrument's name)."""
        return self.item_columns()

    def item_columns(self, prefix: str | None = None) -> tuple[str, ...]:
        """Item columns under ``prefix`` (default: the instrument's name)."""
        return tuple(item_column(prefix or self.name, s) for s in self.item_suffixes)

    def score_columns(self, prefix: str | None = None) -> tuple[str, ...]:
        """Score columns :func:`analysis.instruments.score_instrument` returns under ``prefix``, rule column last."""
        base = prefix or self.name
        return (*(item_column(base, s) for s in self.scores), f"{base}_rule")

    def score_higher_is_better(self, score: str) -> bool:
        """Direction of one score, by suffix (ONS4 ``anxious`` is lower-is-better)."""
        if score not in self.scores:
            raise ValueError(
                f"The score '{score}' is not a score of {self.name}. "
                f"Choose one of: {', '.join(self.scores)}. Got '{score}' instead."
            )
        return self.higher_is_better != (score in self.lower_is_better_scores)

    @property
    def max_missing(self) -> int:
        """Most items a score may lack under the instrument's missing-item rule."""
        if self.scale is not None:
            return self.scale.max_missing
        return MISSING_RULES[self.missing_rule_name][0]

    def to_dict(self) -> dict:
        """JSON-safe description for the data dictionary."""
        return {
            "name": self.name,
            "label": self.label,
            "items": list(self.items),
            "item_range": [int(self.item_min), int(self.item_max)],
            "score_range": [float(self.score_min), float(self.score_max)],
            "higher_is_better": bool(self.higher_is_better),
            "lower_is_better_scores": list(self.lower_is_better_scores),
            "scores": list(self.scores),
            "missing_rule_name": self.missing_rule_name,
            "missing_rule": self.missing_rule,
        }


def item_column(prefix: str, suffix: str) -> str:
    """The column of item or score ``suffix`` under ``prefix`` (``prefix`` alone when empty)."""
    return f"{prefix}_{suffix}" if suffix else prefix


_ONS4_ITEMS = ("life_satisfaction", "worthwhile", "happy", "anxious")

INSTRUMENTS: dict[str, InstrumentSpec] = {
    "swemwbs": InstrumentSpec(
        name="swemwbs",
        label="Short Warwick-Edinburgh Mental Wellbeing Scale",
        item_suffixes=tuple(str(i) for i in range(1, 8)),
        item_min=1,
        item_max=5,
        score_min=7.0,
        score_max=35.0,
        higher_is_better=True,
        missing_rule_name="complete_items_only",
        missing_rule=(
            "All 7 items must be answered: the developers publish no prorating rule, so a "
            "missing item gives a missing score. The raw sum (7-35) is converted to the "
            "metric score with the official Rasch table."
        ),
        scores=("raw", "metric"),
    ),
    "wrqol": InstrumentSpec(
        name="wrqol",
        label="Work-Related Quality of Life scale",
        item_suffixes=tuple(str(i) for i in range(1, 24)),
        item_min=1,
        item_max=5,
        score_min=23.0,
        score_max=115.0,
        higher_is_better=True,
        missing_rule_name="prorate_if_at_most_one_missing_per_scale",
        missing_rule=(
            "Declared rule: the total (23 items) and each subscale of three or more items are "
            "prorated when at most one of their own items is missing; two-item subscales are "
            "never prorated. Reverse-scored items are scored 6 - response (scoring file)."
        ),
        scores=("total", *WRQOL_SUBSCALES),
    ),
    "ons4": InstrumentSpec(
        name="ons4",
        label="ONS personal wellbeing (ONS4)",
        item_suffixes=_ONS4_ITEMS,
        item_min=0,
        item_max=10,
        score_min=0.0,
        score_max=10.0,
        higher_is_better=True,
        missing_rule_name="each_item_its_own_score",
        missing_rule=(
            "Each item (0-10) is its own score and is reported separately; an unanswered item "
            "is a missing score. Anxious: lower is better."
        ),
        scores=_ONS4_ITEMS,
        lower_is_better_scores=("anxious",),
    ),
    "ghq12": InstrumentSpec(
        name="ghq12",
        label="General Health Questionnaire (GHQ-12), Likert scoring",
        item_suffixes=tuple(str(i) for i in range(1, 13)),
        item_min=0,
        item_max=3,
        score_min=0.0,
        score_max=36.0,
        higher_is_better=False,
        missing_rule_name="prorate_if_at_most_one_missing",
        missing_rule=(
            "Declared rule: Likert 0-3 per item, total 0-36 (higher is worse); with one item "
            "missing the total is prorated (sum x 12/11); with two or more it is missing."
        ),
        scores=("total",),
    ),
}


def instrument_spec(name: str) -> InstrumentSpec:
    """The frozen spec of a named instrument.

    Raises
    ------
    ValueError
        If ``name`` is not in :data:`INSTRUMENTS`; the message lists the choices.
    """
    try:
        return INSTRUMENTS[name]
    except KeyError:
        raise ValueError(
            f"The instrument '{name}' is not known. Choose one of: {', '.join(INSTRUMENTS)}. "
            f"Got '{name}' instead."
        ) from None


def single_item_spec(
    name: str,
    *,
    item_min: int,
    item_max: int,
    higher_is_better: bool = True,
    label: str | None = None,
) -> InstrumentSpec:
    """Spec of a single-item measure declared by a trial (e.g. feeling_valued, 0-10).

    The item is the column ``name`` and is scored as given.

    Raises
    ------
    ValueError
        If the range is not two whole numbers with ``item_min < item_max``.
    """
    if int(item_min) != item_min or int(item_max) != item_max or not item_min < item_max:
        raise ValueError(
            f"The range of single item '{name}' must be two whole numbers, min below max. "
            f"Got {item_min!r}-{item_max!r} instead."
        )
    return InstrumentSpec(
        name=name,
        label=label or name,
        item_suffixes=("",),
        item_min=int(item_min),
        item_max=int(item_max),
        score_min=float(item_min),
        score_max=float(item_max),
        higher_is_better=higher_is_better,
        missing_rule_name="each_item_its_own_score",
        missing_rule="Single item, scored as given; missing if unanswered.",
        scores=("",),
    )


def scale_instrument_spec(scale: ScaleSpec) -> InstrumentSpec:
    """The instrument spec of a declared scale (range check, survey fields, dictionary).

    The spec keeps the scale, so :func:`analysis.instruments.score_instrument` scores it with
    :func:`analysis.scales.score_scale`.
    """
    low, high = scale.score_range()
    least = scale.scoring.min_answered or len(scale.items)
    return InstrumentSpec(
        name=scale.name,
        label=scale.label,
        item_suffixes=scale.item_ids,
        item_min=scale.response["min"],
        item_max=scale.response["max"],
        score_min=low,
        score_max=high,
        higher_is_better=scale.higher_is_better,
        missing_rule_name=f"{scale.scoring.method}_at_least_{least}_of_{len(scale.items)}",
        missing_rule=scale.describe_missing_rule(),
        scores=scale.scores,
        lower_is_better_scores=scale.lower_is_better_scores,
        scale=scale,
    )


# ---------------------------------------------------------------- WRQoL scoring file


def validate_wrqol_scoring(mapping: Mapping, *, source: str = "mapping") -> dict:
    """Check a WRQoL scoring mapping and return it normalised.

    Rules: the six subscales GWB, HWI, JCS, CAW, WCS, SAW are declared; every
    item 1..23 appears in exactly one subscale; reverse-scored items are
    items 1..23, each listed once.

    Returns
    -------
    dict
        ``{"subscales": {name: tuple of item numbers}, "reverse": tuple}``
        plus any other keys of the mapping, unchanged.

    Raises
    ------
    ValueError
        Naming the source, the rule broken and the value found.
    """
    where = f"WRQoL scoring ({source})"
    n_items = len(INSTRUMENTS["wrqol"].item_suffixes)
    if (
        not isinstance(mapping, Mapping)
        or not isinstance(mapping.get("subscales"), Mapping)
        or not isinstance(mapping.get("reverse"), list | tuple)
    ):
        keys = sorted(mapping) if isinstance(mapping, Mapping) else type(mapping).__name__
        raise ValueError(
            f"{where}: needs a 'subscales' mapping and a 'reverse' list. Got {keys} instead."
        )
    subscales = mapping["subscales"]
    if set(subscales) != set(WRQOL_SUBSCALES):
        raise ValueError(
            f"{where}: the subscales must be {', '.join(WRQOL_SUBSCALES)}. "
            f"Got {', '.join(map(str, subscales))} instead."
        )
    placed: dict[int, str] = {}
    for subscale in WRQOL_SUBSCALES:
        for item in subscales[subscale] or ():
            if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= n_items:
                raise ValueError(
                    f"{where}: subscale '{subscale}' lists {item!r}, which is not an item "
                    f"number 1..{n_items}."
                )
            if item in placed:
                raise ValueError(
                    f"{where}: item {item} is in subscales '{placed[item]}' and '{subscale}'. "
                    f"Each item 1..{n_items} must be in exactly one subscale."
                )
            placed[item] = subscale
    unplaced = sorted(set(range(1, n_items + 1)) - set(placed))
    if unplaced:
        raise ValueError(
            f"{where}: items {unplaced} are in no subscale. "
            f"Each item 1..{n_items} must be in exactly one subscale."
        )
    reverse = list(mapping["reverse"])
    strays = [r for r in reverse if r not in placed or isinstance(r, bool)]
    if strays:
        raise ValueError(
            f"{where}: reverse-scored items must be item numbers 1..{n_items}. Got {strays} instead."
        )
    if len(set(reverse)) != len(reverse):
        repeated = sorted({r for r in reverse if reverse.count(r) > 1})
        raise ValueError(f"{where}: reverse-scored items {repeated} are listed more than once.")
    return {
        **mapping,
        "subscales": {s: tuple(subscales[s]) for s in WRQOL_SUBSCALES},
        "reverse": tuple(sorted(reverse)),
    }
