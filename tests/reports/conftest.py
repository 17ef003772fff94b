"""Report fixtures: results.json of simulated trials, rendered once per session, and a page reader."""

from __future__ import annotations

import copy
import functools
import re

import pytest
import tinyhtml5

from reports.render import render_portfolio, render_trial
from tests.simulated_results import DEMO_TRIALS, EDGE_CASES


def _pages(documents: dict[str, dict]) -> dict[str, str]:
    pages = {name: render_trial(doc) for name, doc in documents.items()}
    pages["portfolio"] = render_portfolio([documents[n] for n in DEMO_TRIALS])
    return pages


@pytest.fixture(scope="session")
def _cache(simulated_results) -> dict[str, dict]:
    """Every scenario's document: the analysis of a simulated trial (tests/simulated_results.py)."""
    return {name: simulated_results(name) for name in DEMO_TRIALS + EDGE_CASES}


@pytest.fixture
def results(_cache) -> callable:
    """A fresh (deep-copied, so tests may change it) results.json document by scenario name."""
    return lambda name: copy.deepcopy(_cache[name])


@pytest.fixture(scope="session")
def rendered(_cache) -> dict[str, str]:
    """Every scenario rendered once, plus the portfolio of the four demo trials."""
    return _pages(_cache)


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
