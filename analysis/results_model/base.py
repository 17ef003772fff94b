"""The base of every results.json model, its number types and the one serialiser.

Every section of results.json is a :class:`ResultsModel`: a frozen pydantic model
that forbids unknown keys unless it says otherwise.  Fields a writer did not set
are left out of the file (``exclude_unset``), so an optional field is either
absent or holds a value, exactly as the hand-built dicts did.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from common.numbers import json_value

__all__ = [
    "Count",
    "Number",
    "OptionalCount",
    "OptionalNumber",
    "ResultsModel",
    "dump_results",
    "field",
    "json_safe",
    "optional",
    "optional_list",
]

#: A JSON number.  Python ints stay ints and floats stay floats (``int | float``), so a
#: count written as ``3`` is not re-written as ``3.0``; the schema says ``number``.
Number = Annotated[int | float, WithJsonSchema({"type": "number"})]
#: A number, or null when it could not be computed (never NaN or infinity in the file).
OptionalNumber = Annotated[int | float | None, WithJsonSchema({"type": ["number", "null"]})]
#: A count of people, clusters, rows or events: an integer, at least 0.
Count = Annotated[int, Field(ge=0)]
#: A count, or null when it does not apply.
OptionalCount = Annotated[int | None, Field(ge=0)]


def field(description: str, **kwargs: Any) -> Any:  # noqa: ANN401 - a pydantic FieldInfo
    """A required field with its description: what the number is, its unit and what null means."""
    return Field(description=" ".join(description.split()), **kwargs)


def optional(description: str, *, default: Any = None, **kwargs: Any) -> Any:  # noqa: ANN401
    """A field a writer may leave out: absent from the file unless set (it may be set to null)."""
    return Field(default=default, description=" ".join(description.split()), **kwargs)


def optional_list(description: str) -> Any:  # noqa: ANN401 - a pydantic FieldInfo
    """A list a writer may leave out (absent from the file unless set)."""
    return Field(default_factory=list, description=" ".join(description.split()))


class ResultsModel(BaseModel):
    """A section (or row) of results.json: frozen, no unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def to_json_dict(self) -> dict:
        """The section as results.json holds it: only the fields set, JSON-safe numbers."""
        return json_safe(self.model_dump(mode="python", exclude_unset=True, by_alias=True))


def json_safe(value: object) -> object:
    """Python scalars all the way down; a number that is not finite becomes None."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.bool_):  # json_value would read numpy's bool as the number 1.0
        return bool(value)
    return json_value(value)


def _rounded(value: object) -> object:
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def dump_results(results: ResultsModel | Mapping) -> str:
    """Canonical JSON: sorted keys, 2-space indent, floats to 12 significant digits.

    The one serialiser of results.json.  Rounding to 12 digits keeps the file
    byte-identical across machines whose BLAS differs in the last bits, and is far
    below any reported precision.  ``json.dumps`` (not pydantic's JSON writer, whose
    float text differs) writes the model's Python dump.
    """
    document = results.to_json_dict() if isinstance(results, ResultsModel) else json_safe(results)
    return json.dumps(_rounded(document), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
