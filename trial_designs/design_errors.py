"""A design that cannot be used, said in one line per problem.

:class:`DesignError` is what :func:`trial_designs.design.load_design` raises;
this module turns pydantic's validation errors into its messages,
``"<file>: <item>: '<field>' <rule>. Got <value> instead."``, and never echoes
more than the start of what a file holds.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Mapping
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

__all__ = ["DesignError", "cut", "did_you_mean", "shown", "yaml_problem"]


class DesignError(ValueError):
    """A design file that cannot be used, with a message naming file, field, rule and value.

    :meth:`from_validation` is the one place where pydantic's errors become
    these messages: ``"coffee.yaml: outcomes[1] (feeling_valued): 'primay' is
    not a field; did you mean 'primary'?"``.
    """

    @classmethod
    def from_validation(
        cls,
        exc: ValidationError,
        data: Any,  # noqa: ANN401
        source: str,
        *,
        model: type[BaseModel],
    ) -> DesignError:
        """One line per problem, naming the item, the field, the rule and the value.

        Parameters
        ----------
        exc : ValidationError
            From ``TrialDesign.model_validate(data)``.
        data : Any
            The mapping that was validated (to name list items by their ``name``).
        source : str
            The file name that starts each line.
        model : type of BaseModel
            The model validated (``TrialDesign``), to tell its fields from free mappings.
        """
        errors = exc.errors()
        # a list whose item failed also reports "too short": the item's error says it all
        failed_items = {tuple(e["loc"][:-2]) for e in errors if len(e["loc"]) >= 2}
        errors = [
            e for e in errors if not (e["type"] == "too_short" and tuple(e["loc"]) in failed_items)
        ]
        lines = [f"{source}: {_error_line(err, data, model)}" for err in errors]
        return cls("\n".join(dict.fromkeys(lines)))


# ---------------------------------------------------------------------------
# Error messages: pydantic's errors as "<item>: '<field>' <rule>. Got <value> instead."
# ---------------------------------------------------------------------------
_PATTERN_RULES = {
    r"^[a-z][a-z0-9_]*$": "must be lower-case letters, digits and underscores, starting with a letter",
    r"^[A-Za-z_][A-Za-z0-9_]*$": "must be a column name of letters, digits and underscores, "
    "not starting with a digit",
}


def did_you_mean(value: str, choices, *, prefix: str) -> str:  # noqa: ANN001
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


def _model_at(loc: tuple[Any, ...], root: type[BaseModel]) -> type[BaseModel] | None:
    """The model class that a location's fields belong to (None inside a free mapping)."""
    model: type[BaseModel] | None = root
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


def cut(text: str) -> str:
    """``text`` cut to ``_SHOWN_CHARACTERS`` with an ellipsis: never a whole file."""
    if len(text) <= _SHOWN_CHARACTERS:
        return text
    return text[: _SHOWN_CHARACTERS - 1] + "…"


def shown(value: Any) -> str:  # noqa: ANN401 - any value a YAML file can hold
    """``repr(value)``, cut as :func:`cut` does."""
    return cut(repr(value))


def yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's error as one line: the problem and where, without its multi-line snippet."""
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if problem and mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    first = " ".join(str(exc).split())
    return first if len(first) <= 2 * _SHOWN_CHARACTERS else first[: 2 * _SHOWN_CHARACTERS] + "…"


def _error_line(err: Mapping[str, Any], data: Any, root: type[BaseModel]) -> str:  # noqa: ANN401
    """One pydantic error as ``<item>: '<field>' <rule>. Got <value> instead.``"""
    loc = tuple(err["loc"])
    kind = err["type"]
    message = err["msg"].removeprefix("Value error, ").rstrip(".")
    value = err.get("input")
    parent, key = (loc[:-1], loc[-1]) if loc else ((), None)
    where = _item_path(parent, data)
    lead = f"{where}: " if where else ""
    if kind == "extra_forbidden":
        model = _model_at(parent, root)
        fields = list(model.model_fields) if model is not None else []
        hint = did_you_mean(key, fields, prefix="; did you mean")
        # the key of a text file read as YAML can be a whole line of it: show only its start
        key_shown = cut(str(key))
        if hint:
            return f"{lead}'{key_shown}' is not a field{hint}"
        return f"{lead}'{key_shown}' is not a field. Choose one of: {', '.join(fields)}."
    if kind == "missing":
        return f"{lead}the required field '{key}' is missing."
    if kind == "literal_error":
        expected = (err.get("ctx") or {}).get("expected", "")
        choices = [c.strip(" '") for c in expected.replace(" or ", ", ").split(",")]
        message = f"must be one of {expected}" + did_you_mean(
            str(value), choices, prefix="; did you mean"
        )
    if kind == "string_pattern_mismatch":
        pattern = (err.get("ctx") or {}).get("pattern", "")
        message = _PATTERN_RULES.get(pattern, message)
    model = _model_at(parent, root)
    is_field = isinstance(key, str) and model is not None and key in model.model_fields
    if is_field:
        text = f"{lead}'{key}' {message}"
    else:  # a whole item or the design: its own validator's message names the fields
        where = _item_path(loc, data)
        text = f"{where}: {message}" if where else message
    if "Got" not in message and not isinstance(value, (dict, list)):
        text += f". Got {shown(value)} instead"
    return text + "."
