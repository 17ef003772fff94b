"""The JSON Schema of results.json, generated from the models.

``python -m analysis.results_model > analysis/results.schema.json`` writes it; ``tests/analysis/test_results_model.py`` holds the committed file to the
models and checks that every typed node has a description.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from analysis.results_model.document import ResultsDocument

__all__ = ["SCHEMA_ID", "SCHEMA_PATH", "described_nodes", "results_schema", "schema_text"]

#: The committed schema, beside the analysis that writes the files it describes.
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "results.schema.json"
SCHEMA_ID = "https://trialflow.invalid/schemas/results-1.json"


def _merge_nullable(node: dict) -> dict:
    """``anyOf: [{type: T, ...}, {type: null}]`` as ``type: [T, null]``: one node, one description.

    A union of bare types (``str | int | None``) becomes one ``type`` list the same way.
    """
    options = node.get("anyOf")
    if options and all(isinstance(o, dict) and set(o) == {"type"} for o in options):
        merged = {k: v for k, v in node.items() if k != "anyOf"}
        merged["type"] = [o["type"] for o in options]
        return merged
    if not options or len(options) != 2 or {"type": "null"} not in options:
        return node
    other = next(o for o in options if o != {"type": "null"})
    if "type" not in other or isinstance(other["type"], list) or "$ref" in other:
        return node
    merged = {k: v for k, v in node.items() if k != "anyOf"}
    merged.update({k: v for k, v in other.items() if k not in merged})
    merged["type"] = [other["type"], "null"]
    return merged


def _tidy(node: object, parent_description: str | None = None) -> object:
    """Merge nullable unions, drop pydantic's titles and defaults, describe the parts of a field.

    An array's items, a map's values and the null branch of a nullable section are
    parts of the field that holds them: they say so, pointing to its description.
    """
    if isinstance(node, list):
        return [_tidy(v, parent_description) for v in node]
    if not isinstance(node, dict):
        return node
    # pydantic's titles repeat the names, and its "default": null reads as "absent means
    # null", which it does not: each description says what an absent field means
    node = _merge_nullable({k: v for k, v in node.items() if k not in ("title", "default")})
    description = node.get("description", parent_description)
    out = {}
    for key, value in node.items():
        if key == "properties" or key == "$defs":
            out[key] = {name: _tidy(v) for name, v in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            part = "One element" if key == "items" else "The value for one key"
            child = _merge_nullable(dict(value))
            if "type" in child and "description" not in child and description:
                child["description"] = f"{part} of: {description}"
            out[key] = _tidy(child, description)
        elif key == "anyOf":
            branches = []
            for branch in value:
                branch = dict(branch)
                if branch.get("type") == "null" and "description" not in branch:
                    branch["description"] = "Null: as the description of this field says."
                branches.append(_tidy(branch, description))
            out[key] = branches
        else:
            out[key] = value
    return out


def results_schema() -> dict:
    """The JSON Schema (draft 2020-12) of results.json, from :class:`ResultsDocument`."""
    generated = ResultsDocument.model_json_schema(mode="validation")
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "trialflow results",
        **{k: v for k, v in generated.items() if k != "title"},
    }
    return _tidy(schema)


def schema_text() -> str:
    """The schema as committed: 2-space indent, keys in the models' order, final newline."""
    return json.dumps(results_schema(), indent=2, ensure_ascii=False) + "\n"


def described_nodes(schema: dict) -> Iterator[tuple[str, bool]]:
    """(path, has a description) for every node of ``schema`` that has a ``type``."""

    def walk(node: object, path: str) -> Iterator[tuple[str, bool]]:
        if isinstance(node, dict):
            if "type" in node and not isinstance(node.get("type"), dict):
                yield path, bool(node.get("description"))
            for key, value in node.items():
                if key in ("properties", "$defs") and isinstance(value, dict):
                    for name, child in value.items():
                        yield from walk(child, f"{path}/{key}/{name}")
                elif key in ("enum", "required", "default", "examples"):
                    continue
                else:
                    yield from walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for i, child in enumerate(node):
                yield from walk(child, f"{path}/{i}")

    yield from walk(schema, "#")
