"""Scales declared in data: the scale-file model (a vocabulary, checked, no scoring).

A scale file (YAML, e.g. ``analysis/scoring/cbi_work.yaml``) declares what an
instrument is: its items, the response range, the recoding of responses to
item values (CBI: 1-5 -> 0/25/50/75/100), reverse-scored items, subscales,
the scoring method and the fewest items that must be answered, and an
optional conversion table from the raw total to a metric (SWEMWBS's Rasch
table).  :func:`parse_scale` checks such a mapping into a frozen
:class:`ScaleSpec`; :func:`analysis.scales.score_scale` scores responses with
it.  Neither reads files: the loader (:mod:`trial_designs.scale_files`) reads
the YAML and passes the mapping here, so a bad file is refused with its name
and field.  The model lives here, below analysis, because a design checks its
outcomes' instruments against it when it loads.

Scoring methods (:data:`SCORING_METHODS`), where ``a`` items of ``n`` are answered:

- ``sum``: the sum of the item values; every item must be answered;
- ``prorated_sum``: ``sum x n / a`` when ``a >= min_answered``, else missing;
- ``mean``: the mean of the answered items when ``a >= min_answered``;
- ``each_item``: every item is its own score (ONS4); nothing is combined.

A subscale is scored by the same method over its own items.  Unless it
declares its own ``min_answered``, it may lack as many items as the whole
scale may, but a subscale of two or more items is never scored from a single
answer (one answer is not a scale).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

__all__ = [
    "SCORING_METHODS",
    "Conversion",
    "Item",
    "ScaleFileError",
    "ScaleSpec",
    "Scoring",
    "Subscale",
    "parse_scale",
]

#: Scoring methods by name, with what they do (for messages and the data dictionary).
SCORING_METHODS: dict[str, str] = {
    "sum": "the sum of the item values; every item must be answered",
    "prorated_sum": "the sum of the answered items x items / answered, when at least "
    "min_answered items are answered",
    "mean": "the mean of the answered items, when at least min_answered items are answered",
    "each_item": "each item is its own score",
}

_Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_]*$", max_length=64)]
_Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
# subscale names become column suffixes: WRQoL's are upper case (wrqol_GWB)
_SubscaleName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=64)]


class ScaleFileError(ValueError):
    """A scale file or mapping that breaks a rule; the message names the file and field."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _as_id(value: Any) -> Any:
    # YAML reads item 8 as the int 8; ids are column suffixes, so compare them as text
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class Item(_Frozen):
    """One item: its id (the column suffix), its wording and whether it is reverse-scored."""

    id: _Id
    label: str | None = None
    reverse: StrictBool = False

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        return _as_id(value)


class Subscale(_Frozen):
    """Items of a subscale and, optionally, the fewest that must be answered."""

    items: tuple[_Id, ...] = Field(min_length=1)
    min_answered: StrictInt | None = Field(default=None, ge=1)

    @field_validator("items", mode="before")
    @classmethod
    def _ids_text(cls, value: Any) -> Any:
        return [_as_id(v) for v in value] if isinstance(value, list | tuple) else value


class Scoring(_Frozen):
    """How items combine into the scale's score."""

    method: str
    min_answered: StrictInt | None = Field(default=None, ge=1)
    score: _Name = "total"

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        if value not in SCORING_METHODS:
            raise ValueError(
                f"'method' must be one of: {', '.join(SCORING_METHODS)}. Got {value!r} instead"
            )
        return value


class Conversion(_Frozen):
    """A table from every possible raw total (a whole number) to a converted score."""

    score: _Name
    table: dict[StrictInt, float]


class ScaleSpec(_Frozen):
    """A scale as its file declares it (see the module docstring for the rules).

    Attributes
    ----------
    name : str
        Instrument name and default column prefix (``cbi_work`` -> ``cbi_work_1``..).
    label : str
        Human-readable name.
    citation : str
        The published source of the items and scoring.
    placeholder : bool
        True when the file is not the real scale (WRQoL's unlicensed map).
    items : tuple of Item
        In the file either a count ``n`` (ids 1..n), a list of ids or a list of
        ``{id, label, reverse}`` mappings.
    response : dict
        ``{min, max}``: answers are the whole numbers in this range.
    values : dict, optional
        Response -> item value (after reversal), covering every response.
    reverse : tuple of str
        Reverse-scored item ids (``min + max - response``), with any item marked
        ``reverse: true``.
    subscales : dict of Subscale
        Name -> items (a list, or ``{items, min_answered}``).
    scoring : Scoring
        ``{method, min_answered, score}``.
    conversion : Conversion, optional
        ``{score, table}``: raw total -> converted score; needs method ``sum``.
    higher_is_better : bool
        Direction of the scores.
    lower_is_better_scores : tuple of str
        Scores whose direction is the reverse (ONS4 ``anxious``).
    default_score : str, optional
        The score an outcome analyses when it names none (default: the
        conversion's score, else the scale score; ``each_item`` has none).
    missing_rule : str
        The missing-item rule in words, for the data dictionary.
    """

    name: _Name
    label: str
    citation: str = ""
    notes: str = ""
    placeholder: StrictBool = False
    items: tuple[Item, ...] = Field(min_length=1)
    response: dict[Literal["min", "max"], StrictInt]
    values: dict[StrictInt, float] | None = None
    reverse: tuple[_Id, ...] = ()
    subscales: dict[_SubscaleName, Subscale] = Field(default_factory=dict)
    scoring: Scoring
    conversion: Conversion | None = None
    higher_is_better: StrictBool = True
    lower_is_better_scores: tuple[str, ...] = ()
    default_score: str | None = None
    missing_rule: str = ""

    @field_validator("items", mode="before")
    @classmethod
    def _items_shorthand(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return [{"id": str(i)} for i in range(1, value + 1)]
        if isinstance(value, list):
            return [v if isinstance(v, Mapping) else {"id": v} for v in value]
        return value

    @field_validator("reverse", mode="before")
    @classmethod
    def _reverse_text(cls, value: Any) -> Any:
        return [_as_id(v) for v in value] if isinstance(value, list | tuple) else value

    @field_validator("subscales", mode="before")
    @classmethod
    def _subscale_shorthand(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: {"items": v} if isinstance(v, list) else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ScaleSpec:
        ids = [item.id for item in self.items]
        n = len(ids)
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"'items' lists the ids {repeated} more than once")
        if set(self.response) != {"min", "max"} or not self.response["min"] < self.response["max"]:
            raise ValueError(
                f"'response' needs whole-number 'min' below 'max'. Got {dict(self.response)} instead"
            )
        lo, hi = self.response["min"], self.response["max"]
        if self.values is not None and set(self.values) != set(range(lo, hi + 1)):
            raise ValueError(
                f"'values' must give a value for every response {lo}..{hi}. "
                f"Got responses {sorted(self.values)} instead"
            )
        strays = [r for r in self.reverse if r not in ids]
        if strays:
            raise ValueError(
                f"'reverse' must list item ids ({', '.join(ids)}). Got {strays} instead"
            )
        if len(set(self.reverse)) != len(self.reverse):
            twice = sorted({r for r in self.reverse if self.reverse.count(r) > 1})
            raise ValueError(f"'reverse' lists {twice} more than once")
        for name, sub in self.subscales.items():
            strays = [i for i in sub.items if i not in ids]
            if strays:
                raise ValueError(
                    f"subscale '{name}' must list item ids ({', '.join(ids)}). Got {strays} instead"
                )
            if len(set(sub.items)) != len(sub.items):
                raise ValueError(f"subscale '{name}' lists an item more than once")
            if sub.min_answered is not None and sub.min_answered > len(sub.items):
                raise ValueError(
                    f"subscale '{name}' has {len(sub.items)} items, so 'min_answered' must be at "
                    f"most {len(sub.items)}. Got {sub.min_answered} instead"
                )
        method, least = self.scoring.method, self.scoring.min_answered
        if least is not None and least > n:
            raise ValueError(
                f"'scoring.min_answered' must be at most the {n} items. Got {least} instead"
            )
        if method == "sum" and least not in (None, n):
            raise ValueError(
                f"method 'sum' needs every item answered; use 'prorated_sum' to allow missing "
                f"items. Got 'min_answered' {least} of {n} instead"
            )
        if method in ("prorated_sum", "mean") and least is None:
            raise ValueError(f"method '{method}' needs 'scoring.min_answered' (1..{n})")
        if method == "each_item" and (self.subscales or self.conversion is not None):
            raise ValueError("method 'each_item' scores items alone: no subscales or conversion")
        if self.conversion is not None:
            if method != "sum" or self.values is not None:
                raise ValueError(
                    "a 'conversion' table needs method 'sum' and no 'values', so that every raw "
                    f"total is a whole number. Got method '{method}' instead"
                )
            wanted = set(range(n * lo, n * hi + 1))
            if set(self.conversion.table) != wanted:
                lacking = sorted(wanted - set(self.conversion.table))
                extra = sorted(set(self.conversion.table) - wanted)
                raise ValueError(
                    f"'conversion.table' must convert every possible raw total {n * lo}..{n * hi}"
                    f" and nothing else. Missing {lacking}, extra {extra}"
                )
        scores = self.scores
        if len(set(scores)) != len(scores):
            raise ValueError(f"score names repeat: {list(scores)}")
        for score in (
            *self.lower_is_better_scores,
            *([self.default_score] * bool(self.default_score)),
        ):
            if score not in scores:
                raise ValueError(
                    f"score '{score}' is not a score of this scale. Choose one of: "
                    f"{', '.join(scores)}"
                )
        return self

    # ------------------------------------------------------------------ derived facts

    @property
    def item_ids(self) -> tuple[str, ...]:
        """Item ids (column suffixes), in order."""
        return tuple(item.id for item in self.items)

    @property
    def reversed_items(self) -> tuple[str, ...]:
        """Reverse-scored item ids: ``reverse`` and items marked ``reverse: true``."""
        return tuple(i.id for i in self.items if i.reverse or i.id in self.reverse)

    @property
    def scores(self) -> tuple[str, ...]:
        """Score suffixes :func:`analysis.scales.score_scale` returns, in order (rule column aside)."""
        if self.scoring.method == "each_item":
            return self.item_ids
        converted = (self.conversion.score,) if self.conversion else ()
        return (self.scoring.score, *converted, *self.subscales)

    @property
    def headline_score(self) -> str | None:
        """The score analysed when an outcome names none."""
        if self.default_score:
            return self.default_score
        if self.scoring.method == "each_item":
            return None
        return self.conversion.score if self.conversion else self.scoring.score

    @property
    def max_missing(self) -> int:
        """Most items the scale score may lack."""
        if self.scoring.method == "each_item":
            return 0
        return len(self.items) - (self.scoring.min_answered or len(self.items))

    def score_range(self) -> tuple[float, float]:
        """Range of the headline score (each item's range for ``each_item``)."""
        lo, hi = self.response["min"], self.response["max"]
        vlo, vhi = (
            (min(self.values.values()), max(self.values.values())) if self.values else (lo, hi)
        )
        if self.scoring.method in ("each_item", "mean"):
            return float(vlo), float(vhi)
        if self.conversion and self.headline_score == self.conversion.score:
            table = self.conversion.table.values()
            return float(min(table)), float(max(table))
        n = len(self.items)
        return float(n * vlo), float(n * vhi)

    def describe_missing_rule(self) -> str:
        """The missing-item rule in words: the file's own, or one built from the scoring."""
        if self.missing_rule:
            return self.missing_rule
        n, least = len(self.items), self.scoring.min_answered or len(self.items)
        return f"{self.scoring.method} ({SCORING_METHODS[self.scoring.method]}); {least} of {n}."


def _field_path(loc: tuple, data: Any) -> str:
    parts: list[str] = []
    node = data
    for i, key in enumerate(loc):
        if isinstance(key, int) and parts:
            parts[-1] += f"[{key}]"
            if loc[i - 1] == "items" and isinstance(node, list) and key < len(node):
                entry = node[key]
                item_id = entry.get("id") if isinstance(entry, Mapping) else entry
                parts[-1] += f" ({str(item_id)!r})"
        else:
            parts.append(str(key))
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            node = None
    return ".".join(parts)


_TYPE_RULES = {
    "bool_type": "must be true or false",
    "int_type": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "string_type": "must be text",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "tuple_type": "must be a list",
    "missing": "is required",
    "extra_forbidden": "is not a field",
    "string_pattern_mismatch": "must be a name of letters, digits and underscores",
    "too_short": "must not be empty",
    "greater_than_equal": "must be at least 1",
}


def _message(error: dict, data: Any, source: str) -> str:
    loc = tuple(error["loc"])
    kind = error["type"]
    got = f". Got {error['input']!r} instead" if kind not in ("missing", "extra_forbidden") else ""
    if kind == "value_error":
        rule = str(error["ctx"]["error"]) if "ctx" in error else error["msg"]
        where = _field_path(loc, data)
        return f"{source}: " + (f"{where}: " if where else "") + rule.rstrip(".") + "."
    rule = _TYPE_RULES.get(kind, error["msg"].lower())
    if "[key]" in loc:  # a bad key of a mapping (a subscale name, a response value)
        where = _field_path(loc[: loc.index("[key]") - 1], data)
        return f"{source}: {where}: the key {error['input']!r} {rule}."
    if loc and not isinstance(loc[-1], int):
        where = _field_path(loc[:-1], data)
        head = f"{source}: " + (f"{where}: " if where else "")
        return f"{head}{loc[-1]!r} {rule}{got}."
    return f"{source}: {_field_path(loc, data)} {rule}{got}."


def parse_scale(mapping: Any, *, source: str = "scale") -> ScaleSpec:
    """Check a scale mapping (a parsed scale file) and return its frozen spec.

    Parameters
    ----------
    mapping : Mapping
        The scale file's content.
    source : str
        What to call it in messages (the file name).

    Raises
    ------
    ScaleFileError
        One line per problem, naming the source, the field, the rule and the value:
        ``"cbi_work.yaml: items[3] ('4'): 'reverse' must be true or false. Got 'yes' instead."``
    """
    if not isinstance(mapping, Mapping):
        raise ScaleFileError(
            f"{source}: must hold a mapping of scale fields. Got {type(mapping).__name__} instead."
        )
    try:
        return ScaleSpec.model_validate(dict(mapping))
    except ValidationError as exc:
        lines = [_message(e, mapping, source) for e in exc.errors()]
        raise ScaleFileError("\n".join(dict.fromkeys(lines))) from None
