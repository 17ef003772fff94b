"""The statistical analysis plan as HTML, and the trial report's sentence on keeping to it (pure).

:func:`render_sap` turns :func:`analysis.sap.build_sap`'s plan into a
self-contained page (the trial report's stylesheet, every value escaped).
:func:`sap_view` turns results.json's ``sap`` field into what the trial report
prints: one sentence, and the deviations if any.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from reports.templating import environment

__all__ = ["render_sap", "sap_sentence", "sap_view"]


def _day(iso: str | None) -> str:
    if not iso:
        return "an unknown date"
    return dt.datetime.fromisoformat(iso).strftime("%-d %b %Y")


def _mdes_rows(power: Mapping) -> list[dict]:
    rows = []
    for calc in power.get("calculations") or []:
        rows.append(
            {
                "icc": "not used (individual randomisation)"
                if calc["icc"] is None
                else f"{calc['icc']:g}",
                "mdes": f"{calc['mdes']:.3f}",
                "df": "normal" if calc["df"] is None else f"{calc['df']:g}",
                "design_effect": f"{calc['design_effect']:.3f}",
            }
        )
    return rows


def render_sap(
    sap: Mapping,
    *,
    sap_hash: str,
    registered_at: str | None = None,
    late: bool = False,
    reason: str | None = None,
) -> str:
    """The plan as a self-contained HTML page.

    Parameters
    ----------
    sap : mapping
        :func:`analysis.sap.build_sap`'s plan.
    sap_hash : str
        Its :func:`analysis.sap.sap_hash`, printed so the page names what was registered.
    registered_at : str, optional
        ISO time of registration (UTC); None renders a draft.
    late, reason
        A late registration (after outcome data were stored) and why.

    Returns
    -------
    str
        HTML with inline CSS; no scripts and no external assets.
    """
    power = sap["power"]
    return (
        environment()
        .get_template("sap.html.j2")
        .render(
            title=f"Statistical analysis plan: {sap['trial']['title']}",
            sap=sap,
            sap_hash=sap_hash,
            registered_on=_day(registered_at) if registered_at else None,
            registered_at=registered_at,
            late=late,
            reason=reason,
            mdes_rows=_mdes_rows(power),
            suppressed=False,
            footnote="",
        )
    )


def sap_sentence(sap: Mapping | None) -> str:
    """The trial report's sentence on the plan (results.json's ``sap`` field)."""
    if not sap:
        return "These results do not say whether a statistical analysis plan was registered."
    if not sap.get("registered"):
        return "No statistical analysis plan was registered for this trial."
    on = _day(sap.get("registered_at"))
    short = str(sap.get("hash") or "")[:8]
    late = (
        f" It was registered late, after outcome data were stored (reason: {sap.get('late_reason')})."
        if sap.get("late")
        else ""
    )
    if sap.get("followed"):
        return (
            f"The analysis followed the registered plan: the statistical analysis plan "
            f"registered on {on} (hash {short}).{late}"
        )
    count = len(sap.get("deviations") or [])
    return (
        f"The analysis did not follow the registered plan exactly: the statistical analysis "
        f"plan registered on {on} (hash {short}) was departed from in {count} way"
        f"{'s' if count != 1 else ''}, listed below.{late}"
    )


def sap_view(results: Mapping) -> dict:
    """The trial report's plan section: ``sentence`` and ``deviations`` (empty when followed)."""
    sap = results.get("sap")
    deviations = list((sap or {}).get("deviations") or [])
    if sap and not sap.get("registered"):
        deviations = []  # the sentence already says there is no plan
    return {"sentence": sap_sentence(sap), "deviations": deviations}
