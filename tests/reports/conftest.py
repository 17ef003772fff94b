"""Report fixtures: results.json of simulated trials, rendered once per session, and a page reader."""

from __future__ import annotations

import copy
import functools
import json
import re
from pathlib import Path

import pytest
import tinyhtml5

from reports.render import render_portfolio, render_trial
from tests.simulated_results import DEMO_TRIALS, EDGE_CASES

FIXTURES = Path(__file__).resolve().parent / "fixtures"
#: Scenarios the analysis cannot produce, kept as files: when every endline response of an
#: arm is lost the analysis stops (arm[letter] collinear with the intercept) instead of
#: writing the warning this document carries, so no simulation gives it.
KEPT_FILES = ("letters_arm_lost",)


def _pages(documents: dict[str, dict]) -> dict[str, str]:
    pages = {name: render_trial(doc) for name, doc in documents.items()}
    pages["portfolio"] = render_portfolio([documents[n] for n in DEMO_TRIALS])
    return pages


@pytest.fixture(scope="session")
def _files() -> dict[str, dict]:
    return {
        name: json.loads((FIXTURES / f"{name}.results.json").read_text(encoding="utf-8"))
        for name in DEMO_TRIALS + EDGE_CASES
    }


@pytest.fixture(scope="session")
def _cache(simulated_results, _files) -> dict[str, dict]:
    """Every scenario's document: the analysis of a simulated trial, or a kept file."""
    return {
        name: _files[name] if name in KEPT_FILES else simulated_results(name)
        for name in DEMO_TRIALS + EDGE_CASES
    }


@pytest.fixture
def results(_cache) -> callable:
    """A fresh (deep-copied, so tests may change it) results.json document by scenario name."""
    return lambda name: copy.deepcopy(_cache[name])


@pytest.fixture(scope="session")
def rendered(_cache) -> dict[str, str]:
    """Every scenario rendered once, plus the portfolio of the four demo trials."""
    return _pages(_cache)


@pytest.fixture
def hand_made_results(_files) -> callable:
    """The hand-made files (fixtures/*.results.json), for the tests that still assert their
    numbers; each moves to :func:`results` once it asserts what the analysis gives instead."""
    return lambda name: copy.deepcopy(_files[name])


@pytest.fixture(scope="session")
def hand_made_rendered(_files) -> dict[str, str]:
    """The hand-made files rendered once (see :func:`hand_made_results`)."""
    return _pages(_files)


class Page:
    """A rendered report, parsed: find elements by attribute and read their text."""

    def __init__(self, html: str):
        self.html = html
        self.root = tinyhtml5.parse(html)

    def all(self, tag: str | None = None, **attrs: str) -> list:
        out = []
        for element in self.root.iter():
            if tag and self.tag(element) != tag:
                continue
            names = {k: k.replace("_", "-") for k in attrs}
            if all(
                (names[k] in element.attrib) if v is True else element.get(names[k]) == v
                for k, v in attrs.items()
            ):
                out.append(element)
        return out

    def one(self, tag: str | None = None, **attrs: str):
        found = self.all(tag, **attrs)
        assert len(found) == 1, f"expected one <{tag or '*'} {attrs}>, found {len(found)}"
        return found[0]

    @staticmethod
    def text(element) -> str:
        return re.sub(r"\s+", " ", "".join(element.itertext())).strip()

    @staticmethod
    def tag(element) -> str:
        """The element's name without its namespace (HTML or SVG)."""
        return str(element.tag).rsplit("}", 1)[-1]

    def visible_text(self) -> str:
        body = next(e for e in self.root.iter() if self.tag(e) == "body")
        return self.text(body)


@pytest.fixture(scope="session")
def page() -> callable:
    """Parse a rendered page (parsed once per distinct page; tests only read the tree)."""
    return functools.lru_cache(maxsize=32)(Page)
