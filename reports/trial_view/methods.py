"""The trial report's methods appendix: the model, the analysis choices and the data's problems."""

from __future__ import annotations

from collections.abc import Mapping

from reports.disclosure import (
    Suppression,
)
from reports.format import (
    flagged_label,
    format_number,
    humanise,
)

__all__ = ["methods_view"]


_RULE_REASONS = {
    "date_in_window": "response dated outside the follow-up window",
    "duplicate_response": "a second response from the same person at the same time point",
    "known_participant": "participant ID not in the trial",
    "item_in_range": "an item score outside the instrument's range",
    "known_cluster": "cluster not in the trial",
    "valid_event_type": "event type not declared in the design",
}

_METHOD_KEYS = {
    "itt": "ITT (primary analysis)",
    "cace": "CACE",
    "icc": "ICC",
    "standard_errors": "Standard errors",
    "randomisation_inference": "Randomisation inference",
}


def methods_view(results: Mapping, sup: Suppression) -> dict:
    trial = results.get("trial", {})
    randomisation = trial.get("randomisation", {})
    design = [
        ("Design hash (SHA-256)", trial.get("design_hash")),
        (
            "Unit of randomisation",
            trial.get("unit", "").capitalize()
            + (f" ({trial['cluster_by']})" if trial.get("cluster_by") else ""),
        ),
        ("Randomisation method", randomisation.get("method")),
        ("Seed", str(randomisation.get("seed"))),
        ("Algorithm version", randomisation.get("algorithm_version")),
    ]
    if randomisation.get("block_sizes"):
        design.append(("Block sizes", ", ".join(str(b) for b in randomisation["block_sizes"])))
    if trial.get("strata"):
        design.append(("Strata", ", ".join(trial["strata"])))
    if trial.get("cluster_se_by"):
        # individually randomised, but people share a team: SEs are clustered by it
        design.append(("Standard errors clustered by", trial["cluster_se_by"]))
    if randomisation.get("balance_score") is not None:
        design.append(
            (
                "Balance score of the chosen allocation",
                format_number(randomisation["balance_score"], 3),
            )
        )
    design.append(
        (
            "Arms",
            "; ".join(
                f"{a.get('label') or a['name']} (ratio {a.get('ratio', 1)}{', control' if a['name'] == trial.get('control_arm') else ''})"
                for a in trial.get("arms", [])
            ),
        )
    )
    if trial.get("data_source"):
        design.append(("Data source", trial["data_source"]))
    design.append(("Results schema version", results.get("schema_version")))
    methods = results.get("methods") or {}
    se_types = sorted(
        {
            f"{e['estimand']}: {e['se_type']}"
            + (
                f", clustered by {e['se_clustered_by']} ({e['n_clusters']} clusters)"
                if e.get("se_clustered_by") and e.get("n_clusters")
                else ""
            )
            for o in results.get("outcomes", [])
            for e in o.get("estimates", [])
        }
    )
    outcomes = [
        {
            "label": flagged_label(o, o["label"]),
            "role": "Primary" if o.get("primary") else "Secondary",
            "status": "Pre-specified" if o.get("prespecified", True) else "Exploratory",
        }
        for o in results.get("outcomes", [])
    ]
    validation = results.get("data_validation") or {}
    rules = [
        {
            "rule": r.get("rule"),
            "kind": humanise(str(r.get("kind", ""))),
            "reason": r.get("reason")
            or _RULE_REASONS.get(r.get("rule"), humanise(str(r.get("rule")))),
            "rows": sup.display(("validation", i)),
        }
        for i, r in enumerate(validation.get("by_rule") or [])
    ]
    return {
        "design": design,
        "methods": [
            (_METHOD_KEYS.get(k, humanise(k)), v if isinstance(v, str) else str(v))
            for k, v in methods.items()
        ],
        "se_types": se_types,
        "outcomes": outcomes,
        "quarantined": sup.display(("validation", "total")),
        "rules": rules,
        "warnings": list(results.get("warnings") or []),
    }
