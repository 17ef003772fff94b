"""Report fixtures: the hand-made results.json files, rendered once per session, and a page reader."""

from __future__ import annotations

import copy
import functools
import json
import re
from pathlib import Path

import pytest
import tinyhtml5

from reports.render import render_portfolio, render_trial

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DEMO_TRIALS = ("letters", "goal_setting", "coffee", "schwartz_rounds")
EDGE_CASES = ("letters_null", "schwartz_rounds_harm", "letters_arm_lost")


def _load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.results.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def _cache() -> dict[str, dict]:
    return {name: _load(name) for name in DEMO_TRIALS + EDGE_CASES}


@pytest.fixture
def results(_cache) -> callable:
    """A fresh (deep-copied, so tests may change it) results.json document by fixture name."""
    return lambda name: copy.deepcopy(_cache[name])


@pytest.fixture(scope="session")
def rendered(_cache) -> dict[str, str]:
    """Every fixture rendered once, plus the portfolio of the four demo trials."""
    pages = {name: render_trial(doc) for name, doc in _cache.items()}
    pages["portfolio"] = render_portfolio([_cache[n] for n in DEMO_TRIALS])
    return pages


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
