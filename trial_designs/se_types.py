"""The standard-error types a design may ask for (a vocabulary, no computation).

A design's ``analysis.se_type`` is checked against this table when the design
loads, and :mod:`analysis.estimators` computes each type.  The table lives
here, in the lower layer, so a design can be checked without importing the
estimators.
"""

from __future__ import annotations

__all__ = ["SE_TYPES"]

#: Standard-error types: what each one is, and whether it needs clusters.
SE_TYPES: dict[str, tuple[str, bool]] = {
    "HC0": ("White's heteroscedasticity-robust sandwich; df = N - K", False),
    "HC1": ("HC0 times N/(N-K) (Stata's 'robust'); df = N - K", False),
    "HC2": ("residuals scaled by 1/(1 - h_ii) (estimatr's default); df = N - K", False),
    "HC3": ("residuals scaled by 1/(1 - h_ii)^2; df = N - K", False),
    "CR0": ("cluster-robust sandwich without correction; df = G - 1", True),
    "CR1": ("CR0 times G/(G-1) (N-1)/(N-K) (Stata's, estimatr's 'stata'); df = G - 1", True),
    "CR2": ("Bell-McCaffrey bias-reduced; Satterthwaite df per coefficient", True),
}
