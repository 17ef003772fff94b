"""With several active arms the cycles block says it compares only the first with control."""

from __future__ import annotations

import copy

from reports.trial_view.cycles import cycles_view
from tests.reports.test_cycles_view import RESULTS


def test_a_second_active_arm_is_named_as_not_compared_cycle_by_cycle():
    results = copy.deepcopy(RESULTS)
    results["trial"]["arms"].append({"name": "letter_call", "label": "Letter and a call"})
    sentence = cycles_view(results)["sentence"]
    assert sentence.endswith(
        " Only Letter of appreciation is compared with No letter cycle by cycle; Letter and a "
        "call is not, here: see the outcomes table for every arm, all cycles pooled."
    )
    assert "cycle by cycle" not in cycles_view(RESULTS)["sentence"]  # two arms: as before
