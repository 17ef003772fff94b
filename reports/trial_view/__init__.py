"""The trial report's view model: everything the template prints, formatted and disclosure-controlled.

:func:`trial_view` builds the context of ``reports/templates/trial.html.j2``
from one results.json document, one section per module: people
(:mod:`~reports.trial_view.participants`), effects
(:mod:`~reports.trial_view.effects`), costs (:mod:`~reports.trial_view.costs`)
and methods (:mod:`~reports.trial_view.methods`).  Every count of people passes
through :func:`reports.disclosure.suppress_counts`
(:func:`~reports.trial_view.counts.trial_suppression`) before it is printed.
Pure: a mapping in, a dict out.
"""

from __future__ import annotations

from collections.abc import Mapping

from reports.amendments import amendments_view
from reports.consort import consort_flow
from reports.disclosure import DISCLOSURE_FOOTNOTE, SUPPRESSED_MARK
from reports.headline import headline_sentences
from reports.sap import sap_view
from reports.trial_view.bounds import bounds_view
from reports.trial_view.costs import costs_view
from reports.trial_view.counts import trial_suppression
from reports.trial_view.cycles import cycles_view
from reports.trial_view.effects import cace_view, missing_view, outcomes_view
from reports.trial_view.methods import methods_view
from reports.trial_view.participants import (
    balance_view,
    consort_view,
    dates_view,
    key_numbers,
    uptake_view,
)
from reports.trial_view.waves import waves_view

__all__ = ["SECTIONS", "trial_view"]


#: The trial report's sections, in order: (id, heading).
SECTIONS = (
    ("headline", "Headline"),
    ("key-numbers", "Key numbers"),
    ("consort", "Participant flow (CONSORT)"),
    ("dates-baseline", "Dates and baseline"),
    ("uptake", "Delivery and uptake"),
    ("outcomes", "Outcomes"),
    ("cace", "Effect on those who took it up (CACE)"),
    ("missing-data", "Missing data"),
    ("costs", "Costs"),
    ("methods", "Methods appendix"),
)


def trial_view(results: Mapping) -> dict:
    """Everything the trial template prints, already formatted and disclosure-controlled.

    Parameters
    ----------
    results : mapping
        A results.json document.

    Returns
    -------
    dict
        The template context (see ``reports/templates/trial.html.j2``).
    """
    flow = consort_flow(results)
    sup = trial_suppression(results, flow)
    trial = results.get("trial", {})
    return {
        "title": trial.get("title", trial.get("id", "Trial")),
        "trial_id": trial.get("id"),
        "question": trial.get("question"),
        "design_hash": trial.get("design_hash", ""),
        "unit": trial.get("unit"),
        "sections": SECTIONS,
        "headline": list(headline_sentences(results)),
        "key": key_numbers(results, flow, sup),
        "consort": consort_view(results, flow, sup),
        "dates": dates_view(results),
        "balance": balance_view(results, sup),
        "uptake": uptake_view(results, sup),
        "outcomes": outcomes_view(results, sup),
        "waves": waves_view(results),
        "cycles": cycles_view(results),
        "cace": cace_view(results, sup),
        "missing": missing_view(results, flow, sup),
        "bounds": bounds_view(results),
        "costs": costs_view(results),
        "methods": methods_view(results, sup),
        "sap": sap_view(results),
        "amendments": amendments_view(results),
        # an exploratory reanalysis (analyse --label): banner, page margins and methods say so
        "exploratory": results.get("exploratory")
        if results.get("analysis_status") == "exploratory"
        else None,
        "suppressed": sup.any,
        "footnote": DISCLOSURE_FOOTNOTE,
        "mark": SUPPRESSED_MARK,
    }
