"""Parser for the committed R output (tests/reference/output/estimatr_reference.csv)."""

from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent


def load_reference() -> pd.DataFrame:
    """One row per (model, term); numbers as floats (R wrote them with 17 significant digits)."""
    frame = pd.read_csv(HERE / "output" / "estimatr_reference.csv", dtype=str)
    for column in ["estimate", "std_error", "df", "ci_low", "ci_high", "p_value"]:
        frame[column] = frame[column].str.strip().astype(float)
    return frame


def load_data(name: str) -> pd.DataFrame:
    return pd.read_csv(HERE / "data" / f"{name}.csv")
