"""The design's optional ``value_of_information`` section: the inputs of the EVPI (issue 15.6).

A commissioner deciding whether to fund an intervention or test it further names what a
unit of the primary outcome is worth to them, how many staff the decision covers and for
how long, and what the further study would cost; the analysis prices the
cost-effectiveness bootstrap with them (:mod:`analysis.value_of_information`).
"""

from __future__ import annotations

import math

from pydantic import Field, field_validator

from trial_designs.sections import DesignSection

__all__ = ["ValueOfInformation"]


class ValueOfInformation(DesignSection):
    """What the commissioner's decision is worth getting right: the EVPI's inputs.

    The expected value of perfect information (analysis.value_of_information) is computed
    from the cost-effectiveness bootstrap of the primary outcome, at each threshold, per
    person and for the population the decision affects.
    """

    wtp: tuple[float, ...] = Field(
        min_length=1,
        description="Willingness-to-pay thresholds: what the commissioner would pay, in the "
        "costs' currency, per participant for one unit of the primary outcome's effect gained "
        "(a scale point; a percentage point of a proportion such as turnover avoided).",
    )
    population: int = Field(
        ge=1, description="Staff in scope of the decision each year (e.g. the authority's staff)."
    )
    years: int = Field(ge=1, le=100, description="Years the decision holds.")
    discount_rate: float = Field(
        default=0.035,
        ge=0,
        lt=1,
        description="Annual rate each year's population is discounted at, the first year "
        "included (from the end of each year, as in Briggs, Claxton & Sculpher; default 0.035, "
        "the Green Book's).",
    )
    research_cost: float | None = Field(
        default=None,
        ge=0,
        description="The cost of the further study being considered, in the costs' currency: "
        "more research is not worth its cost when the population EVPI is below it.",
    )

    @field_validator("wtp")
    @classmethod
    def _thresholds(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        for threshold in value:
            if not math.isfinite(threshold) or threshold < 0:
                raise ValueError(
                    f"every threshold must be a finite amount of at least 0. Got {threshold} instead"
                )
        if len(set(value)) != len(value):
            raise ValueError(f"thresholds must differ. Got {list(value)} instead")
        return value

    @field_validator("research_cost")
    @classmethod
    def _finite_cost(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError(f"must be a finite amount. Got {value} instead")
        return value
