"""An outcome source's options (intake.outcomes), checked by name."""

from __future__ import annotations

import pytest

from intake.outcomes import source_options
from tests.outcome_files import COFFEE


@pytest.mark.parametrize(
    ("source", "options", "message"),
    [
        ("hr", {"day_basis": "hours"}, r"'day_basis' of design 'coffee' is not known\. Choose one of: working, calendar\. Got 'hours' instead\."),
        ("hr", {"holidays": ["Christmas"]}, r"must be dates \(YYYY-MM-DD\)\. Got 'Christmas' instead\."),
        ("hr", {"record_types": {"staff": "S", "absence": "S"}}, r"must give two distinct codes"),
        ("survey", {"duplicates": "first"}, r"unknown option\(s\) \['duplicates'\]\. Choose from: wrqol_scoring\."),
    ],
)  # fmt: skip
def test_source_options_are_checked_by_name(source, options, message):
    spec = getattr(COFFEE, source).model_copy(update={"options": options})
    design = COFFEE.model_copy(update={source: spec})
    with pytest.raises(ValueError, match=message):
        source_options(design, source)
