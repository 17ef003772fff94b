"""Letter production: the mail-merge of personalised letters of appreciation.

One letter per participant in the letter arm: their first name, two lines of
specific feedback from their team manager (from a coordinator's CSV with
columns ``participant_id``, ``feedback_1``, ``feedback_2``), and the
signature of a senior figure of their organisation (a ``signatory`` /
``signatory_title`` column in the CSV, else the design's
``interventions[].options.signatories``).  Each letter is written as HTML and
PDF under ``.trialflow/out/<trial>/letters/``, with a print-ready batch PDF,
a print manifest and a list of letters that could not be produced.

Who gets a letter and what it says (no letter with an empty sentence, never
one outside the letter arm) is decided by :func:`reports.letters.letter_contents`,
and the HTML laid out by :func:`reports.letters.render_letters_html`; this
flow reads the sheet and the roster, writes the files, and logs every letter
produced as a ``letter_rendered`` delivery event.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.audit import file_sha256, record_audit_event
from flows.deliveries import insert_events
from flows.integrity import require_current_design
from flows.safe_io import atomic_path, participant_slug, write_csv, write_text
from flows.sources import SourceError, read_table
from flows.status import STAGE_HOOKS
from flows.store import Store
from flows.tasks import IO_RETRIES, load_design_task, output_dir
from intake.deliveries import event_rows, intervention_of
from intake.ids import exact_ids
from reports.letters import letter_contents, letters_markdown, render_letters_html
from trial_designs.design import TrialDesign
from trial_designs.uptake_rules import DELIVERY_FIELDS, REQUIRED_DELIVERY_FIELDS

__all__ = ["FEEDBACK_COLUMNS", "letters_flow", "read_feedback"]

#: Columns the coordinator's feedback CSV must have (signatory and signatory_title are optional).
FEEDBACK_COLUMNS = ("participant_id", "feedback_1", "feedback_2")


def read_feedback(path: str | Path) -> pd.DataFrame:
    """The coordinator's feedback sheet, blank cells as missing.

    Raises
    ------
    SourceError
        Naming the file and the missing columns.
    """
    path = Path(path)
    frame = read_table(path)
    missing = [c for c in FEEDBACK_COLUMNS if c not in frame]
    if missing:
        raise SourceError(
            f"File {path.name}: column(s) {missing} are missing; a feedback sheet has "
            f"{', '.join(FEEDBACK_COLUMNS)} (and optionally signatory, signatory_title). "
            f"Got columns {[c for c in frame.columns if c != 'source_row']} instead."
        )
    for column in frame.columns.drop(["source_row", "participant_id"]):
        text = frame[column].astype("str").str.strip()
        frame[column] = text.where(frame[column].notna() & (text != ""), None)
    # ids exactly as written: trimming 'P10 ' to 'P10' once sent one person's feedback to another
    frame["participant_id"] = exact_ids(frame["participant_id"])
    return frame


def _anchor(participant_id: str) -> str:
    # one anchor per exact id: the batch is cut into letters by these
    return "letter-" + participant_slug(participant_id)


def _letter_bounds(records: list[dict], pages: list) -> list[int]:
    """First page of each letter in the batch, then the page count; refused unless increasing."""
    starts: dict[str, int] = {}
    for i, page in enumerate(pages):
        for anchor in page.anchors:
            starts.setdefault(anchor, i)
    bounds = [starts[_anchor(r["participant_id"])] for r in records] + [len(pages)]
    if any(later <= earlier for earlier, later in zip(bounds, bounds[1:], strict=False)):
        # a letter sharing another's anchor would be cut from that person's pages
        raise RuntimeError(
            "The letter batch could not be split into one page range per letter: letter "
            f"start pages {bounds[:-1]} are not increasing. No letter was written."
        )
    return bounds


def _letters_html(letters: list[dict], design: TrialDesign, day: dt.date) -> str:
    anchored = [{**letter, "anchor": _anchor(letter["participant_id"])} for letter in letters]
    return render_letters_html(anchored, design, day)


# -- tasks ------------------------------------------------------------------------------
@task(name="read feedback sheet", cache_policy=NO_CACHE, **IO_RETRIES)
def read_feedback_task(path: str) -> pd.DataFrame:
    return read_feedback(path)


@task(name="load letter recipients", cache_policy=NO_CACHE, **IO_RETRIES)
def load_recipients(design: TrialDesign) -> pd.DataFrame:
    store = Store()
    arms = store.participant_arms(design.id)
    if arms.empty:
        raise LookupError(
            f"Trial '{design.id}' has not been randomised yet; letters go to its letter arm. "
            "Run `trialflow randomise` first."
        )
    pii = store.pii(design.id)
    columns = ["participant_id", "arm", "unit_id", "organisation", "team"]
    recipients = arms[columns]
    if len(pii):
        recipients = recipients.merge(pii, on="participant_id", how="left")
    for field in ("first_name", "surname", "address"):
        if field not in recipients:
            recipients[field] = None
    withdrawn = set(store.withdrawals(design.id)["participant_id"])
    return recipients.assign(withdrawn=recipients["participant_id"].isin(withdrawn))


@task(name="prepare letters", cache_policy=NO_CACHE)
def prepare_letters(
    design: TrialDesign, recipients: pd.DataFrame, feedback: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    intervention = intervention_of(design)
    return letter_contents(
        recipients,
        feedback,
        letter_arm=intervention.arm,
        signatories=dict(intervention.options.get("signatories") or {}),
    )


@task(name="render letters", cache_policy=NO_CACHE, **IO_RETRIES)
def render_letters(
    design: TrialDesign, letters: pd.DataFrame, problems: pd.DataFrame, day: dt.date
) -> dict:
    """HTML and PDF per letter, a batch PDF, the manifest and the list of letters not produced.

    The batch is laid out once by weasyprint and each letter's pages are
    written from it, so a letter's PDF is exactly its pages in the batch.
    """
    import weasyprint  # late: pango and cairo load only when letters are made

    from flows.pdf import prepare_weasyprint

    prepare_weasyprint()  # same PDFs, ~3x faster, without a warning per font per letter

    from flows.progress import progress_callback

    folder = output_dir(design.id, "letters")
    records = letters.to_dict("records")
    stems = [participant_slug(r["participant_id"]) for r in records]
    if len(set(stems)) != len(stems):  # 48 bits of SHA-256 apart: never in practice, still checked
        raise RuntimeError(
            f"Two of the {len(stems)} letters would share a file name. No letter was written."
        )
    for stale in [*folder.glob("*.html"), *folder.glob("*.pdf")]:
        stale.unlink()  # a letter from an earlier run must not outlive missing feedback
    manifest = []
    if records:
        # laying out the batch is one step, then each letter written is one
        on_progress = progress_callback(f"letters for {design.id}")
        on_progress(0, len(records) + 1)
        document = weasyprint.HTML(string=_letters_html(records, design, day)).render()
        on_progress(1, len(records) + 1)
        bounds = _letter_bounds(records, document.pages)
        for k, (letter, stem) in enumerate(zip(records, stems, strict=True)):
            html_path, pdf_path = folder / f"{stem}.html", folder / f"{stem}.pdf"
            write_text(html_path, _letters_html([letter], design, day))
            pages = document.pages[bounds[k] : bounds[k + 1]]
            with atomic_path(pdf_path) as temporary:
                document.copy(pages).write_pdf(temporary)
            manifest.append(
                {
                    "sequence": k + 1,
                    "participant_id": letter["participant_id"],
                    "name": f"{letter['first_name']} {letter['surname']}".strip(),
                    "address": ", ".join(letter["address_lines"]),
                    "organisation": letter["organisation"],
                    "team": letter["team"],
                    "signatory": letter["signatory_name"],
                    "pages": len(pages),
                    "batch_pages": f"{bounds[k] + 1}-{bounds[k + 1]}",
                    "html": html_path.name,
                    "pdf": pdf_path.name,
                }
            )
            on_progress(k + 2, len(records) + 1)
        with atomic_path(folder / "all_letters.pdf") as temporary:
            document.write_pdf(temporary)
    manifest_path = folder / "manifest.csv"
    write_csv(pd.DataFrame(
        manifest,
        columns=["sequence", "participant_id", "name", "address", "organisation", "team", "signatory", "pages", "batch_pages", "html", "pdf"],
    ), manifest_path)  # fmt: skip
    not_produced = folder / "not_produced.csv"
    write_csv(problems, not_produced)
    return {
        "folder": str(folder),
        "manifest": str(manifest_path),
        "not_produced": str(not_produced),
        "batch": str(folder / "all_letters.pdf") if records else None,
        "letters": len(records),
    }


@task(name="log letter_rendered", cache_policy=NO_CACHE, **IO_RETRIES)
def log_rendered(
    design: TrialDesign, letters: pd.DataFrame, recipients: pd.DataFrame, day: dt.date
) -> int:
    """One ``letter_rendered`` event per letter; the same letters on the same day are logged once."""
    if letters.empty:
        return 0
    frame = pd.DataFrame(
        {
            "source_row": range(2, len(letters) + 2),  # the letter's line in manifest.csv
            "unit_id": letters["participant_id"].to_numpy(),
            "event_type": "letter_rendered",
            "occurred_at": day.isoformat(),
            # a letter has no quantity, hours, module, Round or facilitator
            **{f: None for f in DELIVERY_FIELDS if f not in REQUIRED_DELIVERY_FIELDS},
        }
    )
    rows = event_rows(
        frame, design, intervention_of(design), recipients, file_name="letters/manifest.csv"
    )
    store = Store()
    with store.transaction(lock_trial=design.id) as conn:
        return insert_events(store, conn, rows)


@task(name="publish letters", cache_policy=NO_CACHE, **IO_RETRIES)
def publish_letters(design: TrialDesign, written: dict, problems: pd.DataFrame) -> None:
    create_markdown_artifact(
        key=f"{design.id.replace('_', '-')}-letters",
        markdown=letters_markdown(design.title, written, problems),
    )


@flow(name="letters", log_prints=True, **STAGE_HOOKS)
def letters_flow(design: str, feedback: str, rendered_on: str | None = None) -> dict:
    """Render a letter per letter-arm participant with complete feedback; report the rest."""
    logger = get_run_logger()
    trial = load_design_task(design)
    require_current_design(trial, stage="render letters")
    intervention = intervention_of(trial)
    if "letter_rendered" not in intervention.event_types:
        raise ValueError(
            f"The design '{trial.id}' has no 'letter_rendered' event in its vocabulary, so it does "
            f"not produce letters. Got event types {list(intervention.event_types)} instead."
        )
    day = dt.date.fromisoformat(rendered_on) if rendered_on else dt.date.today()
    sheet = read_feedback_task(feedback)
    recipients = load_recipients(trial)
    letters, problems = prepare_letters(trial, recipients, sheet)
    written = render_letters(trial, letters, problems, day)
    logged = log_rendered(trial, letters, recipients, day)
    publish_letters(trial, written, problems)
    for k, problem in enumerate(problems.itertuples()):
        # the row of not_produced.csv, not the staff id: ids stay out of Prefect's logs
        logger.warning("No letter for row %d of not_produced.csv: %s", k + 2, problem.rule)
    record_audit_event(
        None,
        trial.id,
        "letters-rendered",
        {
            "letters": written["letters"],
            "not_produced": int(problems["participant_id"].nunique()) if len(problems) else 0,
            "feedback_file": Path(feedback).name,
            "feedback_sha256": file_sha256(feedback),
            "rendered_on": day.isoformat(),
        },
        file_hash=file_sha256(written["manifest"]),
        design_hash=trial.design_hash,
        once=True,
    )
    logger.info(
        "%d letters written to %s; %d new letter_rendered events.",
        written["letters"],
        written["folder"],
        logged,
    )
    return {
        **written,
        "events_logged": logged,
        "problems": problems[["participant_id", "rule", "message"]].to_dict("records"),
    }
