"""The costs stage: the ledger and cost-effectiveness from results.json, for finance and commissioners.

The costs themselves are computed with the analysis (results.json's ``costs``
section, :mod:`analysis.sections.costs`), so the report and this stage show the
same numbers.  This stage writes them where people look for them: the ledger
and the one-way sensitivity as CSV in ``.trialflow/out/<trial>/costs/``, and
a markdown artifact with the cost per participant and each ICER (worded by
:mod:`reports.costs_markdown`).
"""

from __future__ import annotations

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.integrity import require_current_design
from flows.results_file import read_results_file, results_path
from flows.safe_io import write_csv
from flows.status import STAGE_HOOKS
from flows.tasks import IO_RETRIES, load_design_task, output_dir
from reports.costs_markdown import cost_summary, costs_markdown
from reports.format import format_money

__all__ = ["costs_flow"]


def _retry_unless_missing(task, task_run, state) -> bool:  # noqa: ANN001 - Prefect's hook signature
    """A missing results.json stays missing: say so at once instead of retrying."""
    try:
        state.result()
    except (FileNotFoundError, ValueError):
        return False
    except Exception:  # noqa: BLE001 - a file being written may be readable a moment later
        return True
    return False


@task(
    name="read costs",
    cache_policy=NO_CACHE,
    **{**IO_RETRIES, "retry_condition_fn": _retry_unless_missing},
)
def read_costs(trial_id: str) -> dict | None:
    path = results_path(trial_id)
    if not path.exists():
        raise FileNotFoundError(f"No results at {path}: run the analyse stage first.")
    return read_results_file(path).get("costs")


@task(name="write cost tables", cache_policy=NO_CACHE, **IO_RETRIES)
def write_cost_tables(trial_id: str, costs: dict) -> dict[str, str]:
    folder = output_dir(trial_id, "costs")
    written = {}
    for name in ("ledger", "sensitivity"):
        path = folder / f"{name}.csv"
        write_csv(pd.DataFrame(costs.get(name) or []), path)
        written[name] = str(path)
    return written


@flow(name="costs", log_prints=True, **STAGE_HOOKS)
def costs_flow(design: str) -> dict:
    """Write the cost ledger and sensitivity tables and publish the cost summary."""
    logger = get_run_logger()
    trial = load_design_task(design)
    require_current_design(trial, stage="write costs")
    costs = read_costs(trial.id)
    if not costs:
        logger.info("%s: no costs in results.json (no cost model or no deliveries).", trial.id)
        return {"trial": trial.id, "files": {}, "summary": None}
    files = write_cost_tables(trial.id, costs)
    markdown = costs_markdown(trial.title, costs)
    create_markdown_artifact(
        key=f"{trial.id.replace('_', '-')}-costs",
        markdown=markdown,
        description=f"Costs of {trial.title}",
    )
    summary = cost_summary(costs, labels={a.name: a.label or a.name for a in trial.arms})
    # with several active arms each has its cost: name every one, not the first alone
    arms = summary.get("by_arm") or [{"label": None, **summary}]
    logger.info(
        "%s: %s",
        trial.id,
        "; ".join(
            (f"{arm['label']}: " if arm["label"] else "")
            + f"{format_money(arm['per_participant_randomised'], decimals=2)} per participant "
            f"randomised ({arm['eef_band']} band)"
            for arm in arms
        ),
    )
    return {"trial": trial.id, "files": files, "summary": summary}
