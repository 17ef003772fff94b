"""Letters of appreciation: who gets one, what it says, and the letters as HTML (pure).

One letter per participant in the letter arm: their first name, two lines of
specific feedback from their team manager, and the signature of a senior
figure of their organisation (the feedback sheet's ``signatory`` /
``signatory_title``, else the design's ``interventions[].options.signatories``).
:func:`letter_contents` decides which letters can be written and why the
others cannot; :func:`render_letters_html` lays letters out for print;
:func:`letters_markdown` is the summary the letters stage publishes.

No letter goes out with an empty sentence: a participant whose feedback,
first name, address or signatory is missing is reported and gets no letter.
Only the intervention's arm is ever written to: a control-arm participant
never gets a letter, even if the sheet names them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import pandas as pd

from intake.ids import id_key
from reports.templating import environment
from trial_designs.design import TrialDesign

__all__ = [
    "LETTER_PROBLEM_COLUMNS",
    "letter_contents",
    "letters_markdown",
    "render_letters_html",
]

LETTER_PROBLEM_COLUMNS = ["participant_id", "organisation", "team", "rule", "message"]

_LETTER_COLUMNS = [
    "participant_id",
    "first_name",
    "surname",
    "address_lines",
    "organisation",
    "team",
    "feedback_1",
    "feedback_2",
    "signatory_name",
    "signatory_title",
]


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return None
    text = str(value).strip()
    return text or None


def _signatory(
    organisation: str | None, row: dict, signatories: dict
) -> tuple[str | None, str | None]:
    name, title = _text(row.get("signatory")), _text(row.get("signatory_title"))
    if name:
        return name, title
    declared = signatories.get(organisation) if organisation else None
    if isinstance(declared, dict):
        return _text(declared.get("name")), _text(declared.get("title"))
    return _text(declared), None


def letter_contents(
    recipients: pd.DataFrame,
    feedback: pd.DataFrame,
    *,
    letter_arm: str,
    signatories: dict,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Which letters can be written, and why the others cannot (pure).

    Parameters
    ----------
    recipients : DataFrame
        Every participant: ``participant_id``, ``arm``, ``organisation``,
        ``team``, ``first_name``, ``surname``, ``address``, and optionally
        ``withdrawn`` (True for a participant withdrawn from further contact).
    feedback : DataFrame
        The feedback sheet: ``participant_id``, ``feedback_1``, ``feedback_2``
        and optionally ``signatory`` and ``signatory_title``, blank cells missing.
    letter_arm : str
        The arm that receives letters; nobody else ever gets one.
    signatories : dict
        Organisation -> ``{name, title}`` (or a name), used where the sheet
        gives no signatory.

    Returns
    -------
    letters : DataFrame
        One row per letter, in participant order: :data:`_LETTER_COLUMNS`.
    problems : DataFrame
        One row per participant without a letter, or per sheet row that was
        not used: :data:`LETTER_PROBLEM_COLUMNS`.  Rules: ``missing_feedback``,
        ``missing_first_name``, ``missing_address``, ``missing_signatory``,
        ``duplicate_feedback``, ``not_in_letter_arm``, ``unknown_participant``,
        ``withdrawn`` (the person stays in the trial but gets no more letters).
    """
    people = recipients.assign(participant_id=recipients["participant_id"].astype("str"))
    sheet = feedback.assign(participant_id=feedback["participant_id"].astype("str"))
    problems: list[dict] = []
    arm_of = dict(zip(people["participant_id"], people["arm"], strict=True))
    near_ids = {id_key(p) for p in arm_of}
    for row in sheet.to_dict("records"):
        pid = row["participant_id"]
        if pid not in arm_of:
            near = id_key(pid) in near_ids
            problems.append(
                {"participant_id": pid, "rule": "unknown_participant", "message": (
                    "No participant has exactly this id (one differs only by spaces, letter case "
                    "or accents: ids must be written exactly as in the roster); this feedback row "
                    "was not used." if near else
                    "Not a participant of this trial; this feedback row was not used.")}
            )  # fmt: skip
        elif arm_of[pid] != letter_arm:
            problems.append(
                {"participant_id": pid, "rule": "not_in_letter_arm", "message": f"Allocated to '{arm_of[pid]}', not '{letter_arm}': no letter is written."}
            )  # fmt: skip
    duplicated = sheet[sheet["participant_id"].duplicated(keep=False)]["participant_id"].unique()
    by_id = sheet.drop_duplicates("participant_id", keep=False).set_index("participant_id")
    letters = []
    for person in (
        people[people["arm"] == letter_arm].sort_values("participant_id").to_dict("records")
    ):
        pid = person["participant_id"]
        if person.get("withdrawn") is True:
            problems.append(
                {"participant_id": pid, "rule": "withdrawn", "message": "Withdrawn from the trial: no more letters go to them."}
            )  # fmt: skip
            continue
        reasons = []
        if pid in duplicated:
            reasons.append(("duplicate_feedback", "The feedback sheet has more than one row for this person; keep one."))  # fmt: skip
        row = by_id.loc[pid].to_dict() if pid in by_id.index else {}
        lines = [_text(row.get("feedback_1")), _text(row.get("feedback_2"))]
        if pid not in duplicated and not row:
            reasons.append(("missing_feedback", "Not on the feedback sheet: ask their team manager for two specific lines."))  # fmt: skip
        elif pid not in duplicated and not all(lines):
            which = " and ".join(f"feedback_{i + 1}" for i, line in enumerate(lines) if not line)
            reasons.append(("missing_feedback", f"No {which} from the team manager: ask them for two specific lines."))  # fmt: skip
        first_name = _text(person.get("first_name"))
        if not first_name:
            reasons.append(("missing_first_name", "No first name in the roster."))
        address = _text(person.get("address"))
        if not address:
            reasons.append(("missing_address", "No home address in the roster."))
        name, title = _signatory(_text(person.get("organisation")), row, signatories)
        if not name:
            reasons.append(("missing_signatory", f"No signatory for '{person.get('organisation')}': add one to the sheet or the design."))  # fmt: skip
        if reasons:
            problems += [{"participant_id": pid, "rule": r, "message": m} for r, m in reasons]
            continue
        letters.append(
            {
                "participant_id": pid,
                "first_name": first_name,
                "surname": _text(person.get("surname")) or "",
                "address_lines": [part.strip() for part in address.split(",") if part.strip()],
                "organisation": _text(person.get("organisation")) or "",
                "team": _text(person.get("team")) or "",
                "feedback_1": lines[0],
                "feedback_2": lines[1],
                "signatory_name": name,
                "signatory_title": title or "",
            }
        )
    where = people.set_index("participant_id")[["organisation", "team"]]
    found = pd.DataFrame(problems, columns=["participant_id", "rule", "message"])
    found = found.join(where, on="participant_id")
    return (
        pd.DataFrame(letters, columns=_LETTER_COLUMNS),
        found[LETTER_PROBLEM_COLUMNS].reset_index(drop=True),
    )


def render_letters_html(letters: Sequence[Mapping], design: TrialDesign, day: dt.date) -> str:
    """Letters as one HTML document for print, each letter a section with its ``anchor`` as id.

    Parameters
    ----------
    letters : sequence of mapping
        Rows of :func:`letter_contents`' letters, each with an ``anchor``: the
        id the batch PDF is cut into letters by (unique per exact participant id).
    design : TrialDesign
        The trial's design.
    day : date
        The date printed on the letters.

    Returns
    -------
    str
        HTML with inline CSS.
    """
    return (
        environment()
        .get_template("letter.html.j2")
        .render(letters=list(letters), date=f"{day.day} {day:%B %Y}", trial=design)
    )


def letters_markdown(title: str, written: Mapping, problems: pd.DataFrame) -> str:
    """The letters stage's summary: how many letters, where to find them, who got none and why.

    Rows of ``not_produced.csv`` are named by their line, never by staff id:
    the summary is published as a Prefect artifact, no place for ids.

    Parameters
    ----------
    title : str
        The trial's title.
    written : mapping
        ``letters`` (count), ``manifest``, ``batch`` (None without letters)
        and ``not_produced`` (paths).
    problems : DataFrame
        :func:`letter_contents`' problems.

    Returns
    -------
    str
        Markdown.
    """
    lines = [
        f"**{written['letters']} letter(s) produced** for {title}.",
        "",
        f"Print manifest: `{written['manifest']}`",
    ]
    if written["batch"]:
        lines.append(f"Print-ready batch: `{written['batch']}`")
    if len(problems):
        lines += [
            "",
            f"**{problems['participant_id'].nunique()} participant(s) without a letter** "
            f"(details in `{written['not_produced']}`):",
            "",
            # rows of not_produced.csv, not staff ids: Prefect artifacts are no place for ids
            "| row in not_produced.csv | rule |",
            "|---|---|",
            *[f"| {k + 2} | {r.rule} |" for k, r in enumerate(problems.itertuples())],
        ]
    return "\n".join(lines)
