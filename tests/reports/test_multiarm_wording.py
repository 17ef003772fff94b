"""The three-arm report's words claim no more than the evidence and name each intervention."""

from __future__ import annotations

import copy
import html as html_lib
import re

import pytest

from reports.format import P_THRESHOLDS, format_money, format_p, format_p_is
from reports.render import render_portfolio, render_trial
from reports.value_of_information import research_line

NAME = "goal_setting_nudges"


@pytest.fixture(scope="module")
def three_arms(simulated_results) -> dict:
    return simulated_results(NAME)


def _caption(html: str) -> str:
    return re.search(r'<caption id="outcomes-cap">(.*?)</caption>', html).group(1)


def test_the_outcomes_caption_speaks_of_each_intervention_against_control(three_arms, rendered):
    assert _caption(render_trial(three_arms)) == (
        "Effect of being offered each intervention, against usual practice (ITT) on every "
        "outcome, primary first"
    )
    # two arms: as before
    assert _caption(rendered["letters"]) == (
        "Effect of being offered the intervention (ITT) on every outcome, primary first"
    )


def test_captions_over_scrolling_tables_are_held_to_the_screen(rendered):
    # measured in tests/reports/test_browser_layout.py; here: the rule is in the page, for
    # screens only (a PDF's tables do not scroll)
    assert re.search(
        r"@media screen \{ \.table-wrap > table > caption \{ max-width: min\(calc\(100vw - 2rem\)",
        rendered["letters"],
    )


@pytest.mark.parametrize(
    ("p", "text"),
    [
        (0.0495, "0.0495"),  # "0.050" would read as at 0.05, and it is below
        (0.04999, "0.04999"),
        (0.0099, "0.0099"),
        (0.05, "0.050"),
        (0.0504, "0.050"),
        (0.047, "0.047"),
        (0.2256, "0.226"),
        (0.0009, "<0.001"),
    ],
)
def test_a_printed_p_is_on_the_same_side_of_each_threshold_as_the_p(p, text):
    assert format_p(p) == text
    for threshold in P_THRESHOLDS:
        assert (float(text.lstrip("<")) < threshold) == (p < threshold)


def _ri_sentences(html: str) -> list[str]:
    return [
        " ".join(s.split())
        for s in re.findall(r"<li>([^<]*Randomisation inference \([^<]*)</li>", html)
    ]


def test_the_ri_check_compares_unadjusted_ps_and_gives_the_holm_p(three_arms):
    document = copy.deepcopy(three_arms)
    primary = next(o for o in document["outcomes"] if o["primary"])
    itts = {e["arm"]: e for e in primary["estimates"] if e["estimand"] == "ITT"}
    itts["course_reminders"]["ri_p_value"] = 0.0495  # the demo's: printed "0.050" before
    sentences = _ri_sentences(render_trial(document))
    assert len(sentences) == 2
    for sentence, arm in zip(sentences, ("course", "course_reminders"), strict=True):
        estimate = itts[arm]
        assert f"(model {format_p_is(estimate['p_value'])}, " in sentence
        assert f"randomisation {format_p_is(estimate['ri_p_value'])})" in sentence
        side = "below" if estimate["p_value_holm"] < 0.05 else "at or above"
        assert sentence.endswith(
            f"; Holm&#39;s adjustment across the arms gives the model "
            f"{format_p_is(estimate['p_value_holm'])}, {side} 0.05."
        )
    reminders = sentences[1]
    assert "both unadjusted p-values are below 0.05" in reminders
    assert "randomisation p = 0.0495)" in reminders


def test_a_two_arm_ri_check_reads_as_before(rendered, results):
    (sentence,) = _ri_sentences(rendered["letters"])
    itt = next(o for o in results("letters")["outcomes"] if o["primary"])["estimates"][0]
    assert "unadjusted" not in sentence and "Holm" not in sentence
    assert sentence.startswith("Randomisation inference (")
    assert sentence.endswith(
        f"(model {format_p_is(itt['p_value'])}, randomisation {format_p_is(itt['ri_p_value'])})."
    )


def _text(html: str) -> str:
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_the_portfolio_counts_trials_and_says_what_a_row_and_clear_are(
    three_arms, simulated_results, rendered
):
    page = _text(render_portfolio([three_arms]))
    assert "Portfolio report · 1 randomised trial " in page
    assert (
        "Each row is a trial, or an arm of a multi-arm trial against its control, cheapest first"
        in page
    )
    # the reminders arm's CI excludes zero but its Holm p does not pass 0.05: the definition
    # says "clear" needs both, so "none showed a clear improvement" agrees with it
    primary = next(o for o in three_arms["outcomes"] if o["primary"])
    reminders = next(
        e for e in primary["estimates"] if e["estimand"] == "ITT" and e["arm"] == "course_reminders"
    )
    assert reminders["ci_low"] > 0 and reminders["p_value_holm"] >= 0.05
    assert (
        '"Clear" means the 95% confidence interval excludes zero and, for a trial that compares '
        "several arms with control and declares Holm's adjustment across them, the primary "
        "outcome's Holm-adjusted p-value is below 0.05."
    ) in page
    assert "None of these trials showed a clear improvement" in page
    two = _text(render_portfolio([simulated_results("letters"), three_arms]))
    assert "Portfolio report · 2 randomised trials " in two
    # the seed trials' portfolio: as before
    seed = _text(rendered["portfolio"])
    assert "Portfolio report · 4 randomised trials " in seed
    assert "Each row is a trial, cheapest first" in seed
    assert '"Clear" means the 95% confidence interval excludes zero. "No clear effect"' in seed


def test_the_research_line_says_where_research_is_not_worth_its_cost(three_arms):
    three_arms = copy.deepcopy(three_arms)  # changed below
    voi = three_arms["costs"]["value_of_information"]
    rows = voi["by_threshold"]
    short = [r for r in rows if not r["research_may_be_worthwhile"]]
    assert short and len(short) < len(rows)  # the demo's: worth it only at the top threshold
    line = research_line(three_arms)
    assert line.startswith("May be worth up to ")
    wtps = " and ".join(f"£{r['wtp']:,.0f}" for r in short)
    assert line.endswith(
        f" At {wtps} the EVPI is at most "
        f"{format_money(max(r['evpi_population'] for r in short))}, less than that cost, so "
        "there further research is not worth its cost."
    )
    # worth it at every threshold: nothing added
    for r in rows:
        r["research_may_be_worthwhile"] = True
    assert research_line(three_arms).endswith("this says only that it may be worth doing.")
