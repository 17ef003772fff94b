"""flows.results_file: the one place that knows where results.json lives, and checks it both ways."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from analysis.results_model import dump_results
from flows.results_file import (
    exploratory_folder,
    read_results_file,
    results_path,
    write_results_file,
)


@pytest.fixture
def letters(simulated_results) -> dict:
    """The analysis of the simulated letters trial, as results.json holds it."""
    return simulated_results("letters")


def test_results_live_under_the_trialflow_home():
    path = results_path("letters")
    assert (
        path == Path(os.environ["TRIALFLOW_HOME"]) / "out" / "letters" / "analysis" / "results.json"
    )


def test_a_document_is_written_in_the_one_canonical_form_and_read_back(tmp_path, letters):
    document = letters
    path = write_results_file(document, tmp_path / "analysis")
    assert path.read_text(encoding="utf-8") == dump_results(document)
    assert read_results_file(path) == json.loads(dump_results(document))


def test_a_wrong_document_is_refused_before_anything_is_written(tmp_path, letters):
    document = letters
    document["outcomes"][0]["estimates"][0]["se_type"] = "HC9"
    with pytest.raises(ValueError, match=r"at outcomes/0/estimates/0/se_type: Input should be"):
        write_results_file(document, tmp_path / "analysis")
    assert not (tmp_path / "analysis").exists()


def test_a_file_with_an_unknown_field_is_refused_naming_the_file_and_the_field(tmp_path, letters):
    document = letters
    document["trial"]["randomization"] = {}  # American spelling: not a field of results.json
    path = tmp_path / "results.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ValueError, match=rf"'{path}' .* at trial/randomization: Extra inputs"):
        read_results_file(path)


def test_an_exploratory_label_cannot_climb_out_of_the_folder(tmp_path):
    with pytest.raises(ValueError, match="label"):
        exploratory_folder(tmp_path, "../../etc")
