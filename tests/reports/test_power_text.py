"""reports.power_text: the power command's table rows and sentence, from a calculation."""

from __future__ import annotations

from analysis.power import mdes, power_for_effect
from reports.power_text import percent, power_rows, power_sentence, power_title

SOURCE = {
    k: "option"
    for k in [
        "unit",
        "n",
        "n_clusters",
        "cluster_size",
        "icc",
        "allocation",
        "r2",
        "n_covariates",
        "alpha",
        "alternative",
        "power",
        "effect_size",
        "distribution",
    ]
}


def test_percent_keeps_four_significant_digits():
    assert percent(0.05) == "5%" and percent(2 / 3) == "66.67%"


def test_cluster_rows_show_clusters_and_end_with_the_mdes():
    result = mdes(n=377, n_clusters=13, icc=0.05, r2=0.5)
    rows = power_rows(result, SOURCE)
    quantities = [q for q, _, _ in rows]
    assert quantities[:5] == [
        "unit randomised",
        "n (individuals)",
        "clusters J",
        "cluster size m",
        "ICC",
    ]
    assert rows[-1] == ("MDES d", f"{result.effect_size:.3f}", "M × SE")
    assert ("df", "11", "J - 2 - q") in rows  # J - 2 - q = 13 - 2 - 0
    assert power_title(result, "coffee") == "MDES for coffee (cluster trial)"


def test_individual_power_rows_have_no_cluster_rows_and_end_with_the_power():
    result = power_for_effect(0.3, n=400, distribution="normal")
    rows = power_rows(result, SOURCE)
    assert not {"clusters J", "cluster size m", "ICC"} & {q for q, _, _ in rows}
    assert rows[-1] == ("power", f"{result.power:.1%}", "F(d / SE - critical)")
    assert ("df", "∞ (normal)", "normal approximation") in rows
    assert power_title(result, None) == "Power to detect d = 0.3 (individual trial)"


def test_sentences_say_the_design_and_an_unequal_allocation():
    cluster = mdes(n=377, n_clusters=13, icc=0.05, r2=0.5)
    assert power_sentence(cluster) == (
        "With 13 clusters of 29 staff, ICC 0.05 and R² 0.5, the smallest effect this trial can "
        f"detect with 80% power at 5% two-sided is d = {cluster.effect_size:.2f}."
    )
    individual = power_for_effect(0.25, n=300, allocation=2 / 3)
    assert power_sentence(individual) == (
        "With 300 staff and R² 0 (66.67% allocated to treatment), this trial has "
        f"{individual.power:.0%} power to detect d = 0.25 at 5% two-sided."
    )
