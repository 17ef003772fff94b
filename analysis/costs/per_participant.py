"""Cost per participant (randomised, took up, completed), per Round, and the EEF cost band."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from analysis.costs._checks import check_at_least, check_ledger
from analysis.costs.summaries import CostBreakdown, CostFigure, ledger_figure
from common.numbers import json_float
from common.validation import check_positive_finite, is_real_number

__all__ = ["EEF_COST_BANDS", "CostSummary", "cost_per_participant", "eef_cost_band"]

#: EEF cost rating per participant per year: (band, upper bound in GBP, bound inclusive).
EEF_COST_BANDS: tuple[tuple[str, float, bool], ...] = (
    ("very low", 80.0, False),
    ("low", 200.0, True),
    ("moderate", 720.0, True),
    ("high", 1200.0, True),
    ("very high", math.inf, True),
)


@dataclass(frozen=True)
class CostSummary:
    """Costs per participant (randomised, took up, completed) and per Round.

    Every figure is a :class:`CostBreakdown` (total, direct, staff time), each
    undiscounted beside discounted.  ``total``, ``setup`` and ``running`` are
    the whole cost of delivery; ``participants`` is the trial participants'
    share of it (the same unless sessions were open to others), which the
    per-participant figures divide.  ``per_round`` and
    ``per_attendee_per_round`` use the whole running cost (set-up such as
    training excluded, as in the CASCADE table), everyone's staff time
    included, and are None unless Rounds were counted.  Figures with a zero
    denominator are NaN (None in JSON).
    """

    total: CostBreakdown
    setup: CostBreakdown
    running: CostBreakdown
    participants: CostBreakdown
    per_randomised: CostBreakdown
    per_taker: CostBreakdown
    per_completer: CostBreakdown
    per_round: CostBreakdown | None
    per_attendee_per_round: CostBreakdown | None
    n_randomised_intervention: int
    n_took_up: int
    n_completed: int
    n_rounds: int | None
    attendances: float | None
    delivery_years: float
    per_participant_per_year: float
    eef_band: str
    currency_years: tuple[int, ...]

    def to_dict(self) -> dict:
        """JSON-safe dict of every figure and denominator."""
        optional = {
            "per_round": self.per_round,
            "per_attendee_per_round": self.per_attendee_per_round,
        }
        return {
            "total": self.total.to_dict(),
            "setup": self.setup.to_dict(),
            "running": self.running.to_dict(),
            "participants": self.participants.to_dict(),
            "per_randomised": self.per_randomised.to_dict(),
            "per_taker": self.per_taker.to_dict(),
            "per_completer": self.per_completer.to_dict(),
            **{k: None if v is None else v.to_dict() for k, v in optional.items()},
            "n_randomised_intervention": int(self.n_randomised_intervention),
            "n_took_up": int(self.n_took_up),
            "n_completed": int(self.n_completed),
            "n_rounds": None if self.n_rounds is None else int(self.n_rounds),
            "attendances": json_float(self.attendances),
            "delivery_years": float(self.delivery_years),
            "per_participant_per_year": json_float(self.per_participant_per_year),
            "eef_band": self.eef_band,
            "currency_years": [int(y) for y in self.currency_years],
        }


def _breakdown(ledger: pd.DataFrame) -> CostBreakdown:
    return CostBreakdown(
        total=ledger_figure(ledger),
        direct=ledger_figure(ledger[ledger["kind"] == "direct"]),
        staff_time=ledger_figure(ledger[ledger["kind"] == "staff_time"]),
    )


def _divide(breakdown: CostBreakdown, denominator: float) -> CostBreakdown:
    def per(figure: CostFigure) -> CostFigure:
        if denominator == 0:
            return CostFigure(math.nan, math.nan)
        return CostFigure(figure.undiscounted / denominator, figure.discounted / denominator)

    return CostBreakdown(per(breakdown.total), per(breakdown.direct), per(breakdown.staff_time))


def cost_per_participant(
    ledger: pd.DataFrame,
    *,
    n_randomised_intervention: int,
    n_took_up: int,
    n_completed: int,
    n_rounds: int | None = None,
    attendances: float | None = None,
    delivery_years: float = 1.0,
    participants_ledger: pd.DataFrame | None = None,
) -> CostSummary:
    """Cost per participant randomised, per taker and per completer; per Round.

    Parameters
    ----------
    ledger : DataFrame
        As :func:`build_ledger` returns, for the intervention arm.
    n_randomised_intervention : int
        Participants randomised to the intervention (at least 1).
    n_took_up, n_completed : int
        Of those, how many took it up and how many completed it
        (``n_completed <= n_took_up <= n_randomised_intervention``).
    n_rounds : int, optional
        Rounds (sessions) held, for Schwartz Rounds.
    attendances : float, optional
        Person-attendances over all those Rounds: ``n_rounds`` times the
        mean attendance per Round.  Needs ``n_rounds``.
    delivery_years : float
        Years the costs were spent over, for the EEF band per year.
    participants_ledger : DataFrame, optional
        The trial participants' share of ``ledger`` (:func:`build_ledger`
        with ``share_column`` from :func:`head_count_shares`), when sessions
        are open to people outside the trial.  The per-participant figures
        divide it; by default they divide ``ledger``.

    Returns
    -------
    CostSummary

    Notes
    -----
    With :math:`C` the participants' total cost (``participants_ledger``, or
    ``ledger``), the figures are :math:`C/n_r`, :math:`C/n_t` and
    :math:`C/n_c`.  A session open to others costs the participants only
    their share of its head count (staff time: only their own), so people
    outside the trial do not raise the cost per participant.  With :math:`C_{run}` the running cost
    (set-up excluded), :math:`R` Rounds and :math:`A` attendances, the cost
    per Round is :math:`C_{run}/R` and per attendee per Round
    :math:`C_{run}/A = (C_{run}/R) / (A/R)`: the cost of a Round divided by
    its mean attendance.

    The EEF band is that of :math:`C/(n_r Y)`, the undiscounted cost per
    participant randomised per year of delivery :math:`Y`: EEF's cost
    ratings compare the money a setting pays, not its present value.
    """
    check_ledger(ledger)
    check_at_least(n_randomised_intervention, "n_randomised_intervention", minimum=1)
    check_at_least(n_took_up, "n_took_up")
    check_at_least(n_completed, "n_completed")
    if not n_completed <= n_took_up <= n_randomised_intervention:
        raise ValueError(
            "The counts must satisfy n_completed <= n_took_up <= n_randomised_intervention. "
            f"Got {n_completed}, {n_took_up} and {n_randomised_intervention} instead."
        )
    if n_rounds is not None:
        check_at_least(n_rounds, "n_rounds")
    if attendances is not None:
        if n_rounds is None:
            raise ValueError(
                f"'attendances' needs 'n_rounds'. Got attendances {attendances!r} and no n_rounds."
            )
        check_at_least(attendances, "attendances", whole=False)
    check_positive_finite("delivery_years", delivery_years)
    total = _breakdown(ledger)
    running = _breakdown(ledger[ledger["category"] == "running"])
    if participants_ledger is None:
        participants = total
    else:
        check_ledger(participants_ledger)
        participants = _breakdown(participants_ledger)
    per_randomised = _divide(participants, n_randomised_intervention)
    per_year = per_randomised.total.undiscounted / delivery_years
    return CostSummary(
        total=total,
        setup=_breakdown(ledger[ledger["category"] == "setup"]),
        running=running,
        participants=participants,
        per_randomised=per_randomised,
        per_taker=_divide(participants, n_took_up),
        per_completer=_divide(participants, n_completed),
        per_round=None if n_rounds is None else _divide(running, n_rounds),
        per_attendee_per_round=None if attendances is None else _divide(running, attendances),
        n_randomised_intervention=int(n_randomised_intervention),
        n_took_up=int(n_took_up),
        n_completed=int(n_completed),
        n_rounds=None if n_rounds is None else int(n_rounds),
        attendances=None if attendances is None else float(attendances),
        delivery_years=float(delivery_years),
        per_participant_per_year=per_year,
        eef_band=eef_cost_band(per_year),
        currency_years=tuple(sorted({int(y) for y in ledger["currency_year"]}))
        if "currency_year" in ledger
        else (),
    )


def eef_cost_band(cost_per_participant_per_year: float) -> str:
    """The EEF cost rating of a cost per participant per year (GBP).

    Parameters
    ----------
    cost_per_participant_per_year : float
        At least 0.

    Returns
    -------
    str
        ``"very low"`` (under £80), ``"low"`` (£80 to £200), ``"moderate"``
        (up to £720), ``"high"`` (up to £1,200) or ``"very high"`` (over
        £1,200); see :data:`EEF_COST_BANDS`.
    """
    value = cost_per_participant_per_year
    if not is_real_number(value) or not math.isfinite(value) or value < 0:
        raise ValueError(
            f"The cost per participant per year must be a finite number at least 0. Got {value!r} instead."
        )
    for band, upper, inclusive in EEF_COST_BANDS:
        if value < upper or (inclusive and value == upper):
            return band
    raise AssertionError("unreachable: the last band is unbounded")
