"""How a value looks in a report: numbers, money, p-values, effects and the names of things.

One module for every report trialflow writes (trial reports, the portfolio,
charts, dashboards, letters, markdown summaries), in the manner of
linearmodels' ``shared/io.py``: a number is formatted here once, and the
tests format fixture values with these functions and look for the result.
Pure: values in, strings out.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping

from analysis.costs import EEF_COST_BANDS

__all__ = [
    "EEF_BANDS",
    "MINUS",
    "P_THRESHOLDS",
    "cluster_noun",
    "flagged_label",
    "format_ci",
    "format_count",
    "format_effect",
    "format_mean",
    "format_money",
    "format_number",
    "format_p",
    "format_p_is",
    "format_percent",
    "humanise",
    "instrument_name",
    "is_proportion",
    "outcome_noun",
    "outcome_units",
    "placeholder_scoring_note",
    "reporting_scale",
]


#: The typographic minus sign: a hyphen is easy to miss in a printed CI.
MINUS = "\u2212"


#: Instruments whose plain-language name and scale are fixed (label text is free).
_INSTRUMENT_NOUNS = {
    "swemwbs": ("wellbeing", "SWEMWBS"),
    "wemwbs": ("wellbeing", "WEMWBS"),
    "ghq12": ("psychological distress", "GHQ-12"),
    "wrqol": ("quality of working life", "WRQoL"),
    "turnover": ("staff turnover", None),
    "absence": ("sickness absence", None),
}
_INSTRUMENT_SCALES = {
    "swemwbs": ("SWEMWBS", 7, 35),
    "wemwbs": ("WEMWBS", 14, 70),
    "ghq12": ("GHQ-12", 0, 36),
    "wrqol": ("WRQoL", 23, 115),
}


# --------------------------------------------------------------------------- numbers


def format_number(value: float | None, decimals: int = 2, *, signed: bool = False) -> str:
    """A number with a fixed number of decimals, a true minus sign, and "+" if ``signed``.

    ``None`` (a value that could not be computed) is shown as an em dash.
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "\u2014"
    text = f"{abs(value):,.{decimals}f}"
    if float(text.replace(",", "")) == 0:
        return text
    if value < 0:
        return MINUS + text
    return "+" + text if signed else text


def format_count(value: int | None) -> str:
    """A count with thousands separators (1,315)."""
    return "\u2014" if value is None else f"{int(value):,}"


def format_percent(value: float | None, decimals: int = 0) -> str:
    """A value already in percent (20.5 -> "20.5%" or "20%")."""
    if value is None:
        return "\u2014"
    if 0 < abs(value) < 0.5 * 10**-decimals:
        return f"<{10**-decimals:g}%"
    return f"{format_number(value, decimals)}%"


def format_money(value: float | None, *, decimals: int | None = None) -> str:
    """Pounds with a true minus sign: the one way trialflow writes an amount of money.

    Parameters
    ----------
    value : float or None
        The amount in pounds; ``None`` (not computed) is shown as an em dash.
    decimals : int, optional
        Fixed decimals (2 for a table of costs in pence, 0 for a chart's
        whole-pound ticks).  By default pence below £1,000 (£3.10) and whole
        pounds from £1,000 (£1,598), as the reports print costs.

    Returns
    -------
    str
        ``"£3.10"``, ``"£1,598"``, ``"\u2212£13.50"`` (never ``"£-13.50"``).
    """
    if value is None:
        return "\u2014"
    if decimals is None:
        decimals = 0 if abs(value) >= 1000 else 2
    text = f"£{abs(value):,.{decimals}f}"
    return MINUS + text if value < 0 else text


#: The levels the reports' words compare p-values with ("below 0.05").
P_THRESHOLDS = (0.01, 0.05)


def format_p(value: float | None) -> str:
    """A p-value: three decimals, or "<0.001"; more where three would cross a threshold.

    A p of 0.0495 is below 0.05, but "0.050" reads as at it: near :data:`P_THRESHOLDS`
    the p gets a decimal more (three significant figures, "0.0495"), and more again until
    the printed figure is on the same side of each threshold as the p-value, so the
    figure never contradicts words that compare it with 0.05.
    """
    if value is None:
        return "\u2014"
    if value < 0.001:
        return "<0.001"
    decimals = 3
    text = f"{value:.3f}"
    while decimals < 8 and any((float(text) < t) != (value < t) for t in P_THRESHOLDS):
        decimals += 1
        text = f"{value:.{decimals}f}"
    return text


def format_p_is(value: float | None) -> str:
    """ "p = 0.013", or "p < 0.001" (never "p = <0.001")."""
    text = format_p(value)
    return f"p < {text[1:]}" if text.startswith("<") else f"p = {text}"


# --------------------------------------------------------------------------- effects


def is_proportion(outcome: Mapping) -> bool:
    """Binary outcomes and HR rates are proportions: effects are shown in percentage points."""
    if outcome.get("binary"):
        return True
    if outcome.get("source") != "hr":
        return False
    means = [a.get("mean") for a in outcome.get("arms", []) if a.get("mean") is not None]
    return bool(means) and all(0 <= m <= 1 for m in means)


def reporting_scale(outcome: Mapping) -> float:
    """100 for proportions (shown in percentage points), else 1."""
    return 100.0 if is_proportion(outcome) else 1.0


def format_effect(value: float | None, outcome: Mapping, *, signed: bool = True) -> str:
    """An effect in the outcome's reporting units: 2 decimals, or percentage points (1 decimal)."""
    if value is None:
        return "\u2014"
    if is_proportion(outcome):
        return format_number(100 * value, 1, signed=signed) + " pp"
    return format_number(value, 2, signed=signed)


def format_ci(low: float | None, high: float | None, outcome: Mapping) -> str:
    """A 95% CI in the outcome's reporting units: "0.09 to 0.75", "−2.1 to 5.3 pp"."""
    if low is None or high is None:
        return "\u2014"
    if is_proportion(outcome):
        return f"{format_number(100 * low, 1)} to {format_number(100 * high, 1)} pp"
    return f"{format_number(low, 2)} to {format_number(high, 2)}"


def format_mean(value: float | None, outcome: Mapping) -> str:
    """An arm mean: a percentage for proportions, 2 decimals otherwise."""
    if value is None:
        return "\u2014"
    if is_proportion(outcome):
        return format_percent(100 * value, 1)
    return format_number(value, 2)


# --------------------------------------------------------------------------- names


#: Words a field name spells in lower case that a reader knows by another form.
_WORD_FORMS = {
    **{key: name for key, (_, name) in _INSTRUMENT_NOUNS.items() if name},
    "hr": "HR",
    "id": "ID",
}


def humanise(key: str) -> str:
    """A field name as a label: ``"years_in_post"`` -> ``"Years in post"``.

    Instruments and acronyms keep their own form: ``"swemwbs_baseline"`` ->
    ``"SWEMWBS baseline"``, ``"ghq12_baseline"`` -> ``"GHQ-12 baseline"``.
    Text that is already a label (it has a capital or a space) is left as it is.
    """
    if not re.fullmatch(r"[a-z0-9_]+", key):
        text = key.replace("_", " ")
        return text[:1].upper() + text[1:]
    words = [_WORD_FORMS.get(word, word) for word in key.split("_") if word]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def outcome_noun(outcome: Mapping, *, with_instrument: bool = True) -> str:
    """What the outcome measures, in words that fit mid-sentence ("wellbeing (SWEMWBS)").

    ``with_instrument=False`` drops the instrument's name, for sentences whose
    units name it already ("points on the 7-35 SWEMWBS scale").
    """
    instrument = str(outcome.get("instrument", "")).lower()
    if instrument in _INSTRUMENT_NOUNS:
        noun, name = _INSTRUMENT_NOUNS[instrument]
        return f"{noun} ({name})" if name and with_instrument else noun
    label = re.sub(r"\s*\([^)]*\)\s*$", "", str(outcome.get("label") or outcome.get("name")))
    if len(label) > 1 and label[1].islower():
        label = label[0].lower() + label[1:]
    return label.strip()


def outcome_units(outcome: Mapping) -> str:
    """The units an effect on ``outcome`` is stated in: "points on the 7\u201335 SWEMWBS scale"."""
    if is_proportion(outcome):
        return "percentage points"
    instrument = str(outcome.get("instrument", "")).lower()
    if instrument in _INSTRUMENT_SCALES:
        name, low, high = _INSTRUMENT_SCALES[instrument]
        return f"points on the {low}\u2013{high} {name} scale"
    low, high = outcome.get("scale_min"), outcome.get("scale_max")
    if low is not None and high is not None:
        return f"points on a {low:g}\u2013{high:g} scale"
    return "points"


def instrument_name(outcome: Mapping) -> str | None:
    """The fixed short name of the outcome's instrument ("SWEMWBS", "GHQ-12"), or None."""
    return _INSTRUMENT_NOUNS.get(str(outcome.get("instrument", "")).lower(), (None, None))[1]


def placeholder_scoring_note(outcome: Mapping) -> str | None:
    """The flag shown beside a score computed with a placeholder scoring map (WRQoL), or None."""
    if not outcome.get("scoring_placeholder"):
        return None
    name = instrument_name(outcome)
    return (
        f"scored with the placeholder {name or 'scoring'} item map, not the licensed one, so "
        "the total is right only if its reversed items are"
    )


def flagged_label(outcome: Mapping, text: str) -> str:
    """``text`` (an outcome's label) with the placeholder-scoring flag when the outcome has one."""
    note = placeholder_scoring_note(outcome)
    return f"{text} [{note}]" if note else text


def cluster_noun(results: Mapping, count: int | None = None) -> str:
    """The plural (or singular, for a count of 1) name of the trial's clusters: "buildings"."""
    name = str(results.get("trial", {}).get("cluster_by") or "cluster").replace("_", " ")
    if count == 1:
        return name
    if name.endswith("s"):
        return name
    if name.endswith("y") and name[-2:-1] not in tuple("aeiou"):
        return name[:-1] + "ies"  # local authority -> local authorities
    return name + "s"


# --------------------------------------------------------------------------- EEF cost bands


def _band_range(lower: float | None, upper: float) -> str:
    whole = functools.partial(format_money, decimals=0)
    if lower is None:
        return f"under {whole(upper)}"
    if math.isinf(upper):
        return f"over {whole(lower)}"
    return f"{whole(lower)} to {whole(upper)}"


#: EEF cost bands as the reports print them, from analysis.costs' one table of bounds:
#: (band, range per participant per year), e.g. ("low", "£80 to £200").
EEF_BANDS: tuple[tuple[str, str], ...] = tuple(
    (band, _band_range(EEF_COST_BANDS[i - 1][1] if i else None, upper))
    for i, (band, upper, _) in enumerate(EEF_COST_BANDS)
)
