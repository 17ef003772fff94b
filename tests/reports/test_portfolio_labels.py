"""Portfolio chart: labels of trials at nearly the same cost go on opposite sides of their points."""

from __future__ import annotations

from reports.charts import _labels_below


def test_close_costs_split_their_labels_and_distant_ones_do_not():
    # the demo's letters (£9.30) and goal-setting (£9.89) overlapped when both sat above
    rows = [{"cost": 9.30}, {"cost": 9.89}, {"cost": 24.55}, {"cost": 117.54}]
    assert _labels_below(rows) == {0}
    assert _labels_below([{"cost": 10.0}, {"cost": 100.0}]) == set()
    # a run of three close trials alternates from the dearest down
    assert _labels_below([{"cost": 9.3}, {"cost": 9.5}, {"cost": 9.7}]) == {1}
