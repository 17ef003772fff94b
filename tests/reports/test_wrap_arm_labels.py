"""A chart label with an outcome's and an arm's bracketed names is never cut mid-word."""

from __future__ import annotations

import pytest

from reports.charts.style import LONGEST, wrap


@pytest.mark.parametrize(
    "label",
    [
        "Primary: Wellbeing (SWEMWBS metric score) (Course offered by email)",
        "Time pressure (0-10) (Course plus manager reminders)",
    ],
)
def test_two_bracketed_names_wrap_at_spaces_between_them(label):
    lines = wrap(label).split("\n")
    assert " ".join(lines) == label  # only spaces became line breaks: no word was cut
    assert all(len(line) <= LONGEST for line in lines)
    assert lines[-1].startswith("(")  # the arm's name whole on its own line


def test_a_flag_that_fits_stays_beside_what_it_flags():
    assert wrap("Work-related quality of life (WRQoL total) [placeholder scoring]").endswith(
        "\n(WRQoL total) [placeholder scoring]"
    )
