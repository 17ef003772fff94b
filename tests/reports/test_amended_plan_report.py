"""A plan changed after the outcomes were in is said in the headline, the appendix and results.json.

The hostile review's case: goal_setting_nudges' ``adjust_across_arms: holm`` amended to ``none``
after the outcomes were stored; the report's headline then claimed an effect on the unadjusted
p-value and its appendix still said everything was declared before the analysis.
"""

from __future__ import annotations

from analysis.results_model import ResultsDocument
from reports.headline import headline_sentences
from reports.render import render_trial

CHANGE = 'analysis.adjust_across_arms: "holm" -> "none"'


def _amendment(*, analysis: bool, after_outcomes: bool, reason: str = "test") -> dict:
    changes = [CHANGE] if analysis else ['title: "Old" -> "New"']
    return {
        "recorded_at": "2026-11-30T22:10:00",
        "who": "analyst",
        "reason": reason,
        "old_hash": "a" * 64,
        "new_hash": "b" * 64,
        "changes": changes,
        "analysis_changes": changes if analysis else [],
        "outcome_data_stored": after_outcomes,
    }


def _with(doc: dict, *amendments: dict) -> dict:
    doc["amendments"] = list(amendments)
    # the model takes the field (and describes it): results.json may carry it
    return ResultsDocument.model_validate(doc).to_json_dict()


def test_an_analysis_change_after_outcomes_opens_the_headline_and_the_appendix_lists_it(results):
    plain = headline_sentences(results("letters"))
    doc = _with(results("letters"), _amendment(analysis=True, after_outcomes=True, reason="why"))
    sentences = headline_sentences(doc)
    assert sentences[0].startswith(
        "The analysis plan was changed after outcome data were collected: "
    )
    assert CHANGE in sentences[0] and "why" in sentences[0]
    assert sentences[1:] == plain  # the rest of the headline is as before
    page = render_trial(doc)
    assert "Everything else above was declared" not in page
    assert 'data-field="amendments"' in page
    assert "after outcome data were stored" in page
    assert "adjust_across_arms" in page


def test_a_change_before_outcomes_is_listed_but_not_a_headline_caveat(results):
    plain = headline_sentences(results("letters"))
    doc = _with(results("letters"), _amendment(analysis=True, after_outcomes=False))
    assert headline_sentences(doc) == plain
    page = render_trial(doc)
    assert 'data-field="amendments"' in page
    assert "Everything else above was declared" not in page
    assert "before any outcome data were stored" in page


def test_a_wording_amendment_keeps_the_declaration_sentence(results):
    doc = _with(results("letters"), _amendment(analysis=False, after_outcomes=True))
    assert headline_sentences(doc) == headline_sentences(results("letters"))
    page = render_trial(doc)
    assert 'data-field="amendments"' in page
    assert "Everything else above was declared" in page


def test_no_amendments_no_list(rendered):
    assert 'data-field="amendments"' not in rendered["letters"]
