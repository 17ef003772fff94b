"""The baseline table as the trial report prints it: one row per characteristic, arms side by side.

results.json holds the analysis's long table (:class:`analysis.results_model.BalanceRow`:
one row per characteristic, or level of one, and arm).  The report's table and its
disclosure control read it pivoted; this is that view, not a change of shape: the
document itself is read as the results model defines it.
"""

from __future__ import annotations

from collections.abc import Mapping

from reports.format import humanise

__all__ = ["baseline_rows"]


def baseline_rows(balance: Mapping | None, control: str) -> list[dict]:
    """The balance section's table pivoted: one row per characteristic (and level), arms side by side.

    Parameters
    ----------
    balance : mapping or None
        results.json's ``balance`` section.
    control : str
        The control arm, whose rows carry no standardised difference.

    Returns
    -------
    list of dict
        ``variable``, ``label``, ``level`` (binary rows: the level, or "yes"), ``kind``
        (``continuous`` or ``categorical``), ``arms`` ({arm: {n, mean, sd}} or, for
        categorical rows, {arm: {n with the level, pct, n_observed}}), ``smd`` (the
        first active arm's against control) and ``smds`` ({active arm: its smd}).
    """
    table = list((balance or {}).get("table") or [])
    grouped: dict[str, list] = {}
    for row in table:
        grouped.setdefault(row["covariate"], []).append(row)
    rows = []
    for covariate, per_arm in grouped.items():
        binary = per_arm[0].get("kind") == "binary"
        variable, _, level = str(covariate).partition("=")
        arms = {}
        for row in per_arm:
            n = row.get("n")
            if binary:
                mean = row.get("mean")
                arms[row["arm"]] = {
                    "n": None if mean is None or n is None else round(mean * n),
                    "pct": row.get("percent"),
                    "n_observed": n,
                }
            else:
                arms[row["arm"]] = {"n": n, "mean": row.get("mean"), "sd": row.get("sd")}
        smd = next(
            (r.get("smd") for r in per_arm if r["arm"] != control and r.get("smd") is not None),
            None,
        )
        rows.append(
            {
                "variable": variable,
                "label": humanise(variable),
                "level": (level or "yes") if binary else None,
                "kind": "categorical" if binary else "continuous",
                "arms": arms,
                "smd": smd,
                "smds": {r["arm"]: r.get("smd") for r in per_arm if r["arm"] != control},
            }
        )
    return rows
