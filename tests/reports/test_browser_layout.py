"""Reports work on a phone, on a desktop and on paper, measured, not eyeballed (issue 19 §3).

The fixture reports are opened in headless Chromium at 390 px (a phone) and
1280 px (a laptop).  ``layout_probe.js``, injected into each copy, measures
the layout the browser computed: the rendered size of every chart text (its
computed font size times the scale of its SVG), the boxes of chart texts,
legends and data lines, and where each table ends; the test reads those
figures back from ``chromium --dump-dom``.  Chromium will not make a window
narrower than 500 px, so each report is measured inside an iframe of the
width under test, whose viewport is then exactly that wide.  Screenshots are
taken at both widths as well.

The PDF half lays the Schwartz Rounds report out with WeasyPrint (which writes
the PDFs) and measures its pages and its chart text in points.

Chromium is part of the project's set-up (``make chromium``, a dependency of
``make test``): without it this test fails, it does not skip.
"""

from __future__ import annotations

import concurrent.futures
import copy
import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from reports.render import render_trial

PROBE = (Path(__file__).resolve().parent / "layout_probe.js").read_text(encoding="utf-8")
# the cluster trial (CONSORT levels, cost sites, three cost-effectiveness pairs), the
# portfolio, a letters variant whose uptake line once ran through the legend, and the uptake
# dashboard (every chart kind and both table kinds), the goal-setting trial for its means by
# wave, and the three-arm demo design (a forest plot with each arm's row, a baseline table with a
# column per arm and a standardised difference per active arm)
PAGES = (
    "schwartz_rounds",
    "portfolio",
    "early_uptake",
    "dashboard",
    "goal_setting",
    "goal_setting_nudges",
)
SCREENSHOTS = ("schwartz_rounds", "portfolio")
WIDTHS = (390, 1280)
#: Chart text on a phone must be at least this size (CSS px); in a PDF at least 8 pt.
MIN_PHONE_PX = 11
MIN_PDF_PT = 8
FRAME = """<!DOCTYPE html><html><head><meta charset="utf-8">
<style>html, body {{ margin: 0; }} iframe {{ border: 0; display: block; }}</style></head><body>
<iframe src="{src}" style="width: {width}px; height: {height}px" scrolling="no"></iframe>
<pre id="layout-probe"></pre>
<script>
window.addEventListener("message", (e) => {{
  document.getElementById("layout-probe").textContent = e.data;
}});
</script></body></html>"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(
        "Chromium is not installed, and the layout test needs a real browser. "
        "Run `make chromium` (it installs Debian's 'chromium' package)."
    )


def _run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [
        binary,
        "--headless=new",
        "--no-sandbox",  # root in CI and containers
        "--disable-gpu",
        "--no-first-run",
        "--force-device-scale-factor=1",
        f"--user-data-dir={profile}",  # one profile per run: runs in parallel do not share one
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} exited {done.returncode}: {done.stderr[-800:]}")
    return done


def _measure(binary: str, folder: Path, name: str, html_text: str, width: int) -> dict:
    """The probe's figures for one report at one width, and its screenshot when asked for."""
    probed = folder / f"{name}.probe.html"
    if not probed.exists():
        probed.write_text(html_text.replace("</body>", f"<script>{PROBE}</script></body>"))
    frame = folder / f"{name}-{width}.frame.html"
    # tall enough that the report never scrolls inside the frame (a scrollbar would take width)
    frame.write_text(FRAME.format(src=probed.name, width=width, height=40000))
    done = _run_chromium(
        binary,
        folder / f"profile-{name}-{width}",
        f"--window-size={max(width, 500) + 20},1000",
        "--virtual-time-budget=10000",
        "--dump-dom",
        frame.as_uri(),
    )
    found = re.search(r'<pre id="layout-probe">(.*?)</pre>', done.stdout, re.S)
    assert found and found.group(1), f"the probe wrote nothing for {name} at {width} px"
    figures = json.loads(html.unescape(found.group(1)))
    if name in SCREENSHOTS:
        plain = folder / f"{name}.html"
        plain.write_text(html_text)
        height = min(figures["pageHeight"], 16000)
        shot = folder / f"{name}-{width}.shot.html"
        shot.write_text(FRAME.format(src=plain.name, width=width, height=height))
        png = folder / f"{name}-{width}.png"
        _run_chromium(
            binary,
            folder / f"profile-{name}-{width}-shot",
            f"--window-size={width},{height}",
            "--hide-scrollbars",
            f"--screenshot={png}",
            shot.as_uri(),
        )
        figures["screenshot"] = str(png)
    return figures


def _early_uptake(doc: dict) -> dict:
    """The letters trial, but every letter went out in week 1, and 3 control staff started.

    The uptake line then runs along the top of the chart from its first point
    (where a legend in the plot sat), and the control arm's started count is
    suppressed ("[c]" in the funnel).
    """
    uptake = doc["uptake"]
    assert any(row["arm"] == "letter" for row in uptake["over_time"])
    for row in uptake["over_time"]:
        if row["arm"] == "letter":
            row.update(started=189, started_pct=100 * 189 / 195)
    control = next(r for r in uptake["funnel"] if r["arm"] == "control")
    control.update(offered=3, offered_pct=100 * 3 / 196, started=3, started_pct=100 * 3 / 196)
    return doc


def _dashboard() -> str:
    """The letters trial's uptake dashboard: 40 staff, every letter sent in the first week,
    so the uptake line runs along the top of the chart (through a legend drawn inside it)."""
    import datetime as dt

    import pandas as pd

    from analysis.uptake import summarise_uptake
    from reports.uptake_dashboard import render_uptake_dashboard
    from trial_designs.design import load_design

    design = load_design(Path(__file__).resolve().parents[2] / "trial_designs" / "letters.yaml")
    ids = [f"P{i}" for i in range(40)]
    people = pd.DataFrame(
        {
            "participant_id": ids,
            "unit_id": ids,
            "arm": ["letter"] * 20 + ["control"] * 20,
            "organisation": ["Dudley", "Shropshire"] * 20,
            "team": [f"T{i % 4}" for i in range(40)],
        }
    )
    days = ["2019-04-01"] * 19 + ["2019-04-08", "2019-04-15", "2019-04-22", "2019-04-29"]
    events = pd.DataFrame(
        {
            "unit_id": ids[:19] + ids[19:20] * 4,
            "event_type": ["letter_sent"] * 23,
            "occurred_at": pd.to_datetime(days),
            "module": pd.array([None] * 23, dtype="Int64"),
            "round_id": [None] * 23,
            "contaminated": [False] * 23,
        }
    )
    summary = summarise_uptake(
        people,
        events,
        design.interventions[0].uptake,
        arm_order=list(design.arm_names),
        control_arm=design.control_arm,
    )
    return render_uptake_dashboard(design, summary, 23, updated=dt.datetime(2019, 5, 1, 9, 30))


@pytest.fixture(scope="module")
def measured(rendered, _cache, simulated_results, tmp_path_factory) -> dict[tuple[str, int], dict]:
    """Every page of PAGES at both widths, measured in Chromium (runs in parallel).

    The pages of the simulated trials, rendered once per session for every report test.
    """
    binary = _chromium()
    rendered = {
        **rendered,
        "early_uptake": render_trial(_early_uptake(copy.deepcopy(_cache["letters"]))),
        "dashboard": _dashboard(),
        "goal_setting_nudges": render_trial(simulated_results("goal_setting_nudges")),
    }
    folder = tmp_path_factory.mktemp("browser")
    jobs = [(name, width) for name in PAGES for width in WIDTHS]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futures = {
            job: pool.submit(_measure, binary, folder, job[0], rendered[job[0]], job[1])
            for job in jobs
        }
        return {job: future.result() for job, future in futures.items()}


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", PAGES)
def test_the_page_is_measured_at_the_width_under_test(measured, name, width):
    figures = measured[(name, width)]
    assert figures["viewport"] == width
    assert figures["charts"], f"{name} has charts to measure"


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", PAGES)
def test_chart_text_is_at_least_11_px(measured, name, width):
    for chart in measured[(name, width)]["charts"]:
        assert chart["minFontPx"] >= MIN_PHONE_PX, (chart["id"], chart["small"][:5])


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", PAGES)
def test_no_chart_text_legend_or_interval_runs_into_another(measured, name, width):
    for chart in measured[(name, width)]["charts"]:
        assert chart["marks"], f"{chart['id']}: the data marks were found"
        assert not chart["textOverlaps"], (chart["id"], chart["textOverlaps"])
        assert not chart["struck"], (chart["id"], "a data line crosses text", chart["struck"])
        assert not chart["legendHits"], (chart["id"], chart["legendHits"])
        assert not chart["seriesOverlaps"], (chart["id"], chart["seriesOverlaps"])


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", PAGES)
def test_tables_fit_the_screen_or_scroll_visibly_and_nothing_else_sticks_out(measured, name, width):
    figures = measured[(name, width)]
    assert figures["pageScrollWidth"] <= width, figures["overflowing"]
    assert not figures["overflowing"], figures["overflowing"]
    for table in figures["tables"]:
        assert table["ok"], table
        # the caption wraps to the screen: none of its words wait past the edge of a scrolling table
        assert not table["captionClipped"], table


def test_the_portfolio_table_stacks_on_a_phone_so_cost_and_band_stay_in_view(measured):
    (portfolio,) = [t for t in measured[("portfolio", 390)]["tables"] if t["id"] == "portfolio"]
    assert portfolio["fits"] and not portfolio["cellsOutOfView"], portfolio
    (wide,) = [t for t in measured[("portfolio", 1280)]["tables"] if t["id"] == "portfolio"]
    assert wide["fits"]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", SCREENSHOTS)
def test_screenshots_are_taken_at_both_widths(measured, name, width):
    with Image.open(measured[(name, width)]["screenshot"]) as shot:
        assert shot.width == width
        assert shot.height == min(measured[(name, width)]["pageHeight"], 16000)
        darkest, lightest = shot.convert("L").getextrema()
        assert darkest < 60 < lightest, "the page was drawn (dark text on white)"


# ----------------------------------------------------------------------------------- PDF


@pytest.fixture(scope="module")
def pdf_layout(rendered):
    """The Schwartz Rounds report laid out by WeasyPrint, as it is for its PDF."""
    import weasyprint

    from flows.pdf import prepare_weasyprint

    prepare_weasyprint()
    return weasyprint.HTML(string=rendered["schwartz_rounds"]).render()


def _walk(box):
    yield box
    for child in getattr(box, "children", None) or []:
        yield from _walk(child)


def test_no_pdf_page_but_the_last_is_half_empty(pdf_layout):
    from weasyprint.formatting_structure import boxes

    fills = []
    for page in pdf_layout.pages:
        page_box = page._page_box
        content = [c for c in page_box.children if not isinstance(c, boxes.MarginBox)]
        bottoms = [
            b.position_y + b.margin_height()
            for root in content
            for b in _walk(root)
            if isinstance(b, boxes.TextBox | boxes.ReplacedBox)
        ]
        top = page_box.content_box_y()
        fills.append(round((max(bottoms) - top) / page_box.height, 2) if bottoms else 0.0)
    assert len(fills) > 5, "the whole report was laid out"
    assert min(fills[:-1]) >= 0.5, f"page fill (share of the page's height used): {fills}"


def test_pdf_chart_text_is_at_least_8_pt(rendered, pdf_layout):
    # every chart text's size in its SVG's units, from the markup
    units = [
        float(size)
        for svg in re.findall(r'<svg role="img".*?</svg>', rendered["schwartz_rounds"], re.S)
        for size in re.findall(r"font-size: ([\d.]+)px", svg)
    ]
    assert units
    scales = []
    for page in pdf_layout.pages:
        for box in _walk(page._page_box):
            image = getattr(box, "replacement", None)
            if type(image).__name__ != "SVGImage":
                continue
            view_box = image._svg.tree.get("viewBox").split()
            # CSS px -> pt (x 0.75), per SVG unit
            scales.append(box.width * 0.75 / float(view_box[2]))
    assert len(scales) >= 5, "the report's charts were laid out"
    smallest = min(units) * min(scales)
    assert smallest >= MIN_PDF_PT, f"the smallest chart text prints at {smallest:.1f} pt"
