"""Read results.json documents into the shapes the reports use (pure: dicts in, dicts out).

:func:`normalise_results` accepts both the shapes the schema documents and
those the analysis modules' ``to_dict()`` produce for the costs, balance and
attrition sections, and gives the report one shape to read.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping

from reports.format import humanise

__all__ = ["normalise_results"]


def _amount(value: object) -> float | None:
    """A number, or the undiscounted figure / estimate of a {undiscounted, discounted} dict."""
    if isinstance(value, Mapping):
        for key in ("undiscounted", "estimate", "value"):
            if key in value:
                return value[key]
        return None
    return value


_COST_ALIASES = {
    "per_randomised": "randomised",
    "per_taker": "took_up",
    "per_completer": "completed",
}
_COST_COUNTS = {
    "n_randomised_intervention",
    "n_took_up",
    "n_completed",
    "n_rounds",
    "attendances",
    "delivery_years",
    "per_participant_per_year",
    "currency_years",
    "eef_band",
    "total",
    "setup",
    "running",
}


def _normalise_costs(costs: Mapping) -> dict:
    """The costs section in the schema's flat shape, also from analysis.costs' nested to_dict()."""
    out = dict(costs)
    per = dict(out.get("per_participant") or {})
    flat: dict = {}
    for key, value in per.items():
        name = _COST_ALIASES.get(key, key)
        if key in ("total", "setup", "running"):
            continue  # whole-trial totals, not per person
        if isinstance(value, Mapping):
            flat[name] = value.get("undiscounted")
            flat[f"{name}_discounted"] = value.get("discounted")
        elif key in _COST_COUNTS and key not in ("per_round", "per_attendee_per_round"):
            if key == "eef_band" and not out.get("eef_band"):
                out["eef_band"] = value
            continue
        else:
            flat[name] = value
    out["per_participant"] = flat
    totals = dict(out.get("totals") or {})
    for key, value in list(totals.items()):
        if isinstance(value, Mapping) and key.startswith("by_"):
            for level, figure in value.items():
                if level in ("setup", "running", "direct", "staff_time"):
                    totals.setdefault(level, _amount(figure))
            del totals[key]
        elif isinstance(value, Mapping):
            totals[key] = _amount(value)
            if key == "total" and value.get("discounted") is not None:
                totals.setdefault("total_discounted", value["discounted"])
        elif not isinstance(value, (int, float)) and value is not None:
            del totals[key]
    out["totals"] = totals
    rows = []
    for row in out.get("cost_effectiveness") or []:
        row = dict(row)
        effect = row.get("incremental_effect")
        if isinstance(effect, Mapping):
            row["effect_ci_low"], row["effect_ci_high"] = (
                effect.get("ci_low"),
                effect.get("ci_high"),
            )
        row["incremental_cost"] = _amount(row.get("incremental_cost"))
        row["incremental_effect"] = _amount(effect)
        icer = row.get("icer")
        if isinstance(icer, Mapping):
            finite = [icer.get("ci_low"), icer.get("ci_high")]
            bounded = icer.get("ci_defined", True) and all(
                v is not None and math.isfinite(v) for v in finite
            )
            row["icer_ci_low"], row["icer_ci_high"] = finite if bounded else (None, None)
            row["icer"] = icer.get("estimate")
        row.setdefault("effect_label", row.get("effect_unit") or row.get("outcome_label"))
        row.setdefault("outcome", row.get("outcome_label"))
        rows.append(row)
    out["cost_effectiveness"] = rows
    return out


def _normalise_balance(balance: Mapping, control: str) -> dict:
    """The baseline table one row per characteristic (and level), arms side by side.

    analysis.balance gives it long: one row per covariate (``"la=Dudley"`` for a
    level) and arm, with ``n`` observed, ``mean`` (a proportion for binary rows),
    ``sd``, ``percent`` and ``smd`` (None on control rows).
    """
    table = list(balance.get("table") or [])
    if not table or "covariate" not in table[0] or "arm" not in table[0]:
        return dict(balance)
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
            }
        )
    return {**balance, "table": rows}


def _normalise_attrition(attrition: Mapping) -> dict:
    """Attrition rows with the names the report uses (analysis.missing says randomised/responded)."""
    rows = []
    for row in attrition.get("by_arm") or []:
        row = dict(row)
        row.setdefault("allocated", row.get("randomised"))
        row.setdefault("followed_up", row.get("responded"))
        row.setdefault("lost_pct", row.get("percent_lost"))
        rows.append(row)
    return {**attrition, "by_arm": rows}


def normalise_results(results: Mapping) -> dict:
    """A results.json document with its optional sections in the shapes the schema documents.

    The schema leaves the rows of ``costs``, ``balance`` and ``attrition``
    open; this accepts both the documented shapes and those the analysis
    modules' ``to_dict()`` produce, so the report reads either.  Pure: the
    input is not changed.
    """
    doc = copy.deepcopy(dict(results))
    if doc.get("costs"):
        doc["costs"] = _normalise_costs(doc["costs"])
    if doc.get("balance"):
        control = doc.get("trial", {}).get("control_arm", "")
        doc["balance"] = _normalise_balance(doc["balance"], control)
    if doc.get("attrition"):
        doc["attrition"] = _normalise_attrition(doc["attrition"])
    return doc
