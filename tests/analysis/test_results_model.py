"""The results model: the one shape of results.json, its generated schema and its serialiser."""

from __future__ import annotations

import json
import math

import jsonschema
import pytest
from pydantic import ValidationError

from analysis.results_model import SCHEMA_PATH, Estimate, ResultsDocument, dump_results
from analysis.results_model.schema import described_nodes, results_schema, schema_text


def _estimate(**changes: object) -> dict:
    fields = {
        "estimand": "ITT",
        "arm": "letter",
        "estimate": 0.5,
        "std_error": 0.2,
        "df": 380.0,
        "ci_low": 0.1,
        "ci_high": 0.9,
        "p_value": 0.01,
        "se_type": "HC2",
        "n": 384,
        "n_per_arm": {"control": 190, "letter": 194},
        "n_clusters": None,
    }
    return {**fields, **changes}


def test_the_committed_schema_is_the_one_generated_from_the_models():
    # regenerate with: python -m analysis.results_model > analysis/results.schema.json
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text()


def test_every_typed_node_of_the_schema_has_a_description():
    nodes = list(described_nodes(results_schema()))
    undescribed = [path for path, described in nodes if not described]
    print(f"{len(nodes) - len(undescribed)} of {len(nodes)} schema nodes described")
    assert len(nodes) > 300  # every section is typed, not left as a bare object
    assert undescribed == []


def test_the_generated_schema_is_a_valid_draft_2020_12_schema():
    schema = results_schema()
    jsonschema.validators.Draft202012Validator.check_schema(schema)
    assert schema["$defs"]["Estimate"]["additionalProperties"] is False


def test_fields_left_unset_stay_out_of_the_file_and_nan_is_written_as_null():
    estimate = Estimate(**_estimate(hedges_g=math.nan))
    written = json.loads(dump_results(estimate))
    assert written["hedges_g"] is None  # JSON has no NaN
    assert "ri_p_value" not in written and "first_stage_f" not in written
    assert written["n"] == 384 and isinstance(written["n"], int)


def test_an_integer_stays_an_integer_and_a_float_a_float():
    # results.json must not change bytes: 3 is not rewritten 3.0, nor 2.0 as 2
    written = dump_results(Estimate(**_estimate(estimate=3, ci_low=2.0)))
    assert '"estimate": 3,' in written and '"ci_low": 2.0,' in written


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"se_type": "HC9"}, "se_type"),
        ({"p_value": 1.5}, "p_value"),
        ({"estimand": "ATE"}, "estimand"),
        ({"std_errror": 0.2}, "std_errror"),  # a misspelt field is refused, not kept
        ({"n": -1}, "n"),
    ],
)
def test_a_wrong_estimate_is_refused_naming_the_field(changes, where):
    with pytest.raises(ValidationError, match=where):
        Estimate(**_estimate(**changes))


def test_a_document_missing_a_section_is_refused():
    with pytest.raises(ValidationError, match="trial"):
        ResultsDocument.model_validate({"schema_version": "1.0.0"})
