"""Render results.json documents as self-contained HTML reports (pure: dicts in, HTML out).

:func:`render_trial` gives one trial's report for commissioners and
evaluators, in the order the issue sets out (headline, key numbers, CONSORT,
dates and baseline, uptake, outcomes, CACE, missing data, costs, methods).
:func:`render_portfolio` puts every trial side by side and answers "which of
these should we fund?" as far as the numbers allow.

The view models (:mod:`reports.trial_view`, :mod:`reports.portfolio`) decide
what is printed; this module only fills the templates.  Nothing here reads
the store or any file but the packaged templates.  The HTML has inline CSS
and SVG only: no scripts, fonts or images to fetch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reports.portfolio import portfolio_view
from reports.templating import environment
from reports.trial_view import trial_view

__all__ = ["render_portfolio", "render_trial"]


def render_trial(results: Mapping) -> str:
    """One trial's report as a self-contained HTML page.

    Parameters
    ----------
    results : mapping
        A results.json document (schema ``analysis/results.schema.json``).

    Returns
    -------
    str
        HTML with inline CSS and SVG; no scripts and no external assets.
    """
    return environment().get_template("trial.html.j2").render(**trial_view(results))


def render_portfolio(results: Sequence[Mapping]) -> str:
    """Every trial side by side: shared outcome, cost, cost-effectiveness, uptake, evidence.

    Parameters
    ----------
    results : sequence of mapping
        results.json documents, one per trial, in the order to show them.

    Returns
    -------
    str
        A self-contained HTML page.
    """
    return environment().get_template("portfolio.html.j2").render(**portfolio_view(results))
