"""Every template renders hostile strings as text: no script, image or event handler gets through."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import tinyhtml5

from analysis.uptake import summarise_uptake
from flows.outcomes import _Stored, write_validation_report
from flows.store import IngestSummary
from reports.letters import render_letters_html
from reports.render import render_portfolio, render_trial
from reports.templating import html_environment
from reports.uptake_dashboard import render_uptake_dashboard
from trial_designs.design import load_design

DESIGNS = Path(__file__).resolve().parents[2] / "trial_designs"
TEMPLATE_DIRS = [Path(__file__).resolve().parents[2] / "reports" / "templates"]
#: One value holding each attack: a script, an image with a handler, an attribute break-out
#: and a template expression (which must print as written, not as 49).
HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(1)>\"onmouseover=alert(1) '{{7*7}}"


def _hostile(tag: str) -> str:
    return f"{tag}{HOSTILE}"


def _assert_inert(html: str, *, shown: int = 1) -> None:
    """No script or img element and no on* attribute; the hostile text is there, escaped."""
    root = tinyhtml5.parse(html)
    for element in root.iter():
        tag = str(element.tag).rsplit("}", 1)[-1].lower()
        assert tag not in ("script", "img"), f"a <{tag}> element got through"
        handlers = [name for name in element.attrib if str(name).lower().startswith("on")]
        assert handlers == [], f"event handler attribute(s) {handlers} got through"
    # (a quote in text is harmless; in an attribute it would show up above as an on* attribute)
    for raw in ("<script>alert(1)</script>", "<img src=x onerror"):
        assert raw not in html
    # the values were rendered (escaped), not dropped: this test could not pass by omission
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= shown
    assert "{{7*7}}" in html


def test_the_one_environment_escapes_every_template_name(tmp_path):
    (tmp_path / "cell.html.j2").write_text("<td>{{ value }}</td>")
    (tmp_path / "cell.j2").write_text("<td>{{ value }}</td>")
    (tmp_path / "cell.txt").write_text("<td>{{ value }}</td>")
    env = html_environment(tmp_path)
    for name in ("cell.html.j2", "cell.j2", "cell.txt"):
        assert env.get_template(name).render(value="<b>") == "<td>&lt;b&gt;</td>"
    with pytest.raises(TypeError, match="html_environment fixes 'autoescape'"):
        html_environment(tmp_path, autoescape=False)


def test_every_environment_comes_from_the_one_factory_and_no_template_unescapes():
    root = Path(__file__).resolve().parents[2]
    builders = []
    for package in ("flows", "reports", "analysis", "trial_designs"):
        for path in sorted((root / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            if path.name != "templating.py" and re.search(r"Environment\(|select_autoescape", text):
                builders.append(str(path.relative_to(root)))
    assert builders == [], "build jinja environments with reports.templating.html_environment"
    # charts are Markup where they are made; a template never switches escaping off
    unescaping = [
        f"{path.name}: {line.strip()}"
        for folder in TEMPLATE_DIRS
        for path in sorted(folder.glob("*.j2"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if re.search(r"\|\s*safe\b|autoescape\s+false", line)
    ]
    assert unescaping == []


def test_a_letter_escapes_every_field():
    design = load_design(DESIGNS / "letters.yaml")
    letter = {
        "participant_id": _hostile("id"),
        "anchor": "letter-x",
        "first_name": _hostile("first"),
        "surname": _hostile("surname"),
        "address_lines": [_hostile("line1"), _hostile("line2")],
        "organisation": _hostile("org"),
        "team": _hostile("team"),
        "feedback_1": _hostile("fb1"),
        "feedback_2": _hostile("fb2"),
        "signatory_name": _hostile("sig"),
        "signatory_title": _hostile("title"),
    }
    _assert_inert(render_letters_html([letter], design, dt.date(2019, 4, 5)), shown=9)


def test_the_outcome_validation_report_escapes_data_cells_and_names(tmp_path):
    design = load_design(DESIGNS / "letters.yaml")
    design = design.model_copy(update={"title": _hostile("title")})
    path = tmp_path / "survey<img src=x onerror=alert(1)>.csv"
    summary = IngestSummary(
        file_name=path.name,
        file_hash="ab" * 32,
        archived_path=str(tmp_path / "archive.csv"),
        rows_read=2,
        rows_stored=1,
        rows_quarantined=1,
        already_ingested=False,
    )
    problems = pd.DataFrame(
        {
            "source_row": [2, 3],
            "column": [_hostile("column"), "q_valued"],
            "rule": [_hostile("rule"), "between"],
            "value": [_hostile("value"), "=cmd|' /C calc'!A0"],
            "message": [_hostile("message"), "0 to 10"],
        }
    )
    report, listing = write_validation_report.fn(
        design, str(path), "survey", "endline", _Stored(summary, problems, already=0)
    )
    _assert_inert(report.read_text(encoding="utf-8"), shown=4)
    # the CSV beside it runs no formula either
    cells = pd.read_csv(listing, dtype=str)
    assert cells["value"].tolist()[1] == "'=cmd|' /C calc'!A0"


def test_the_uptake_dashboard_escapes_labels_teams_and_organisations():
    design = load_design(DESIGNS / "letters.yaml")
    arms = [a.model_copy(update={"label": _hostile(a.name)}) for a in design.arms]
    intervention = design.interventions[0].model_copy(
        update={"description": _hostile("description")}
    )
    design = design.model_copy(
        update={"title": _hostile("title"), "arms": tuple(arms), "interventions": (intervention,)}
    )
    ids = [_hostile(f"P{i}") for i in range(6)]
    people = pd.DataFrame(
        {
            "participant_id": ids,
            "unit_id": ids,
            "arm": ["letter"] * 3 + ["control"] * 3,
            "organisation": [_hostile("orgA"), _hostile("orgB")] * 3,
            "team": [_hostile(f"team{i % 2}") for i in range(6)],
        }
    )
    events = pd.DataFrame(
        {
            "unit_id": [ids[0], ids[1], ids[4]],
            "event_type": ["letter_sent"] * 3,
            "occurred_at": pd.to_datetime(["2019-04-08", "2019-04-15", "2019-04-15"]),
            "module": pd.array([None] * 3, dtype="Int64"),
            "round_id": [None] * 3,
            "contaminated": [False, False, True],
        }
    )
    summary = summarise_uptake(
        people,
        events,
        design.interventions[0].uptake,
        arm_order=list(design.arm_names),
        control_arm=design.control_arm,
    )
    html = render_uptake_dashboard(design, summary, len(events), updated=dt.datetime(2019, 5, 1))
    _assert_inert(html, shown=5)


#: results.json keys whose values are free text (titles, labels, cost items, subgroup levels,
#: method descriptions): each is replaced by a hostile string.
FREE_TEXT = {
    *("title", "label", "question", "description", "effect_label", "item", "level", "detail"),
    *("prespecified", "exploratory", "missing_data", "multiplicity", "itt", "cace"),
    *("standard_errors", "effect_sizes", "randomisation_inference", "binary_outcomes"),
}


def _hostile_results(doc: dict) -> dict:
    """``doc`` (a simulated trial's results.json) with every title, label, question and arm name
    made hostile."""
    # arm names are ids used as keys and values throughout: rename them everywhere at once
    text = json.dumps(doc)
    for k, arm in enumerate(a["name"] for a in doc["trial"]["arms"]):
        text = text.replace(json.dumps(arm), json.dumps(_hostile(f"arm{k}")))
    doc = json.loads(text)

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in FREE_TEXT and isinstance(value, str):
                    node[key] = _hostile(key)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(doc)
    return doc


@pytest.mark.parametrize("name", ["letters", "coffee", "goal_setting", "schwartz_rounds"])
def test_trial_reports_escape_titles_labels_and_arm_names(name, simulated_results):
    _assert_inert(render_trial(_hostile_results(simulated_results(name))), shown=8)


def test_the_portfolio_escapes_every_trial_title_and_label(simulated_results):
    documents = [_hostile_results(simulated_results(n)) for n in ("letters", "coffee")]
    _assert_inert(render_portfolio(documents), shown=2)
