"""Reading scale files: the one place a declared scale's YAML is read.

The scale model (:mod:`trial_designs.scale_spec`) and its scoring
(:mod:`analysis.scales`) are pure; this module reads the files, as
:func:`trial_designs.design.load_design` reads designs, so analysis does no
file I/O.
The packaged scales live in ``analysis/scoring/*.yaml`` (package data):
SWEMWBS, WRQoL (a placeholder map), ONS4 and GHQ-12 re-expressed as files,
and the free instruments added as files only: the Copenhagen Burnout
Inventory's work-related scale (``cbi_work``) and the General Self-Efficacy
scale (``gse``).

A design names a packaged scale as an outcome's ``instrument``.  The survey
ingest scores every instrument from its file (:func:`survey_instrument`):
SWEMWBS, GHQ-12 and ONS4 from theirs, which score exactly as the built-in
scorers of :mod:`analysis.instruments` (tests/analysis/test_scales.py), CBI
and GSE from theirs only; WRQoL with the map in the file the design names.
A licensee drops the official WRQoL map in without code: a copy of
``wrqol.yaml`` with the map and ``placeholder: false``, named by the design's
``survey.options.wrqol_scoring`` (see the header of ``wrqol.yaml``).
"""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path

import yaml

from trial_designs.instruments import (
    INSTRUMENTS,
    InstrumentSpec,
    scale_instrument_spec,
    validate_wrqol_scoring,
)
from trial_designs.scale_spec import ScaleFileError, ScaleSpec, parse_scale

__all__ = [
    "SCALES_DIR",
    "WRQOL_SCORING",
    "declared_instrument",
    "known_instruments",
    "load_scale_file",
    "read_wrqol_scoring",
    "survey_instrument",
    "packaged_scales",
]

#: Where the packaged scale files are (package data of ``analysis``).
SCALES_DIR = Path(__file__).resolve().parents[1] / "analysis" / "scoring"

#: The packaged WRQoL scoring file (a placeholder map: see its header).
WRQOL_SCORING = SCALES_DIR / "wrqol.yaml"


def load_scale_file(path: str | Path) -> ScaleSpec:
    """Read and check one scale file.

    Raises
    ------
    ScaleFileError
        If the file is missing, is not YAML, or breaks a rule; the message
        names the file and the field (:func:`trial_designs.scale_spec.parse_scale`).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScaleFileError(f"Scale file {path} does not exist.") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScaleFileError(f"{path.name}: is not valid YAML: {exc}") from None
    spec = parse_scale(data, source=path.name)
    if spec.name != path.stem and path.parent.resolve() == SCALES_DIR:
        raise ScaleFileError(
            f"{path.name}: a packaged scale file is named after its scale. "
            f"Got name '{spec.name}' instead."
        )
    return spec


def read_wrqol_scoring(path: str | Path = WRQOL_SCORING) -> dict:
    """Read a WRQoL scoring file: its map, as :func:`trial_designs.instruments.validate_wrqol_scoring`
    checks it (``subscales``, ``reverse``, ``placeholder`` and any other keys).

    The file may be the full scale file (as the packaged ``wrqol.yaml``) or the
    map alone; a licensee's copy with the official map and ``placeholder:
    false`` is named by the design's ``survey.options.wrqol_scoring``.
    """
    path = Path(path)
    return validate_wrqol_scoring(yaml.safe_load(path.read_text()), source=path.name)


@cache
def packaged_scales() -> dict[str, ScaleSpec]:
    """Every packaged scale, by name (read once per process)."""
    return {p.stem: load_scale_file(p) for p in sorted(SCALES_DIR.glob("*.yaml"))}


def known_instruments() -> list[str]:
    """Names a survey outcome may give as ``instrument`` (single items aside)."""
    return [*INSTRUMENTS, *(n for n in packaged_scales() if n not in INSTRUMENTS)]


def declared_instrument(name: str) -> InstrumentSpec:
    """The spec of a named instrument: a built-in one, else a packaged scale file's.

    Raises
    ------
    ValueError
        If no instrument or packaged scale has that name; the message lists them.
    """
    if name in INSTRUMENTS:
        return INSTRUMENTS[name]
    scales = packaged_scales()
    if name in scales:
        return scale_instrument_spec(scales[name])
    raise ValueError(
        f"The instrument '{name}' is not known. Choose one of: "
        f"{', '.join(known_instruments())}. Got '{name}' instead."
    )


def survey_instrument(name: str) -> InstrumentSpec:
    """The spec the survey ingest scores ``name`` with: from its scale file where it has one.

    SWEMWBS, GHQ-12 and ONS4 keep their built-in description (labels, rule
    names: the data dictionary reads as before) but are scored from their
    packaged files, which score exactly as the built-in scorers.  WRQoL keeps
    the built-in scorer with the map the design names (its licensee's file).
    """
    spec = declared_instrument(name)
    if spec.scale is None and name != "wrqol" and name in packaged_scales():
        spec = dataclasses.replace(spec, scale=packaged_scales()[name])
    return spec
