"""Print the largest absolute and relative difference between trialflow and R, per model.

    .venv/bin/python tests/reference/max_difference.py            # every model
    .venv/bin/python tests/reference/max_difference.py teams      # models whose name starts so

Fits each model of ``output/`` as tests/analysis/estimators/test_fits.py does, and
for the ``teams`` models also runs the whole analysis (design with
``analysis.cluster_se_by: team`` -> ``--data`` file -> results.json) as
tests/analysis/test_cluster_se_by.py does.  The tests assert the bounds; this
prints the figures.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = ["estimate", "std_error", "df", "statistic", "p_value", "ci_low", "ci_high"]


def _module(path: Path, name: str):  # noqa: ANN202
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(prefix: str = "") -> None:
    estimators = _module(ROOT / "tests/analysis/estimators/test_fits.py", "h_test_estimators")
    worst_abs = worst_rel = 0.0
    for name, reference in sorted(estimators.REFERENCE.items()):
        if not name.startswith(prefix):
            continue
        ours = estimators._table(estimators._fit_like_r(name, reference.se_type))
        a = ours[COLUMNS].to_numpy(float)
        b = reference.coefficients.loc[ours.index, COLUMNS].to_numpy(float)
        gap = np.abs(a - b)
        rel = (gap / np.abs(b)).max()
        worst_abs, worst_rel = max(worst_abs, gap.max()), max(worst_rel, rel)
        print(f"{name:40s} max abs {gap.max():.2e}  max rel {rel:.2e}")
    print(f"estimators vs R ({prefix or 'all'}*): max abs {worst_abs:.2e}, max rel {worst_rel:.2e}")
    if not "teams".startswith(prefix) and not prefix.startswith("teams"):
        return
    pipeline = _module(ROOT / "tests/analysis/test_cluster_se_by.py", "h_test_cluster_se_by")
    with tempfile.TemporaryDirectory() as folder:
        results = pipeline._analyse(Path(folder), "team", ri_draws=200)
    itt, cace = results["outcomes"][0]["estimates"]
    fields = ["estimate", "std_error", "df", "ci_low", "ci_high", "p_value"]
    for estimate, model, term in ((itt, "teams_CR2", "treat"), (cace, "teams_iv_CR2", "took_up")):
        expected = pipeline._r(model, term)
        a = np.array([estimate[f] for f in fields])
        b = np.array([expected[f] for f in fields])
        gap = np.abs(a - b)
        print(
            f"results.json {estimate['estimand']} vs {model}: max abs {gap.max():.2e}, max rel "
            f"{(gap / np.abs(b)).max():.2e} ({estimate['se_type']} clustered by "
            f"{estimate['se_clustered_by']}, {estimate['n_clusters']} clusters, "
            f"estimate {estimate['estimate']:.6f}, SE {estimate['std_error']:.6f}, "
            f"df {estimate['df']:.4f})"
        )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main(*sys.argv[1:2])
