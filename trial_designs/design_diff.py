"""What changed between two versions of a design, and whether the change may be amended.

Pure functions over the designs' canonical JSON documents (``TrialDesign.
canonical_json()`` parsed): no I/O.  The store keeps the document of every
hash a trial ran under, so a refused run can say exactly which fields moved.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ALLOCATION_FIELDS",
    "AMENDABLE_WITHIN_ALLOCATION_FIELDS",
    "ROSTER_COLUMN_REASON",
    "Change",
    "allocation_changes",
    "analysis_plan_changes",
    "allocation_fields",
    "design_diff",
    "format_changes",
]


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


#: Marks a field present on one side only.
ABSENT = _Absent()

#: Fields that determine the allocation sequence, so that changing them after
#: randomisation would change (or contradict) allocations already made.  An
#: amendment touching any of them is refused; the value says why.
ALLOCATION_FIELDS: dict[str, str] = {
    "id": "it names the trial whose allocations are stored",
    "unit": "it says what was randomised (individuals or clusters)",
    "cluster_by": "it says which roster column forms the randomised clusters",
    "clusters": "the recruited clusters are the units that were randomised",
    "strata": "each stratum has its own allocation sequence",
    "arms": "arm names, their order, ratios and the control arm define the sequence's codes",
    "randomisation": "method, seed, block sizes and constraint generate the sequence",
}

#: Within :data:`ALLOCATION_FIELDS`, wording that does not touch any allocation.
AMENDABLE_WITHIN_ALLOCATION_FIELDS = ("label",)

# Dates that may change only while both the old and the new date are still ahead.
_DATE_FIELDS = ("follow_up", "waves")


@dataclass(frozen=True)
class Change:
    """One field that differs: its dotted path and the old and new values."""

    path: str
    old: Any
    new: Any

    def line(self) -> str:
        """``randomisation.seed: 20240101 -> 777``."""
        return f"{self.path}: {_show(self.old)} -> {_show(self.new)}"


def _show(value: Any) -> str:  # noqa: ANN401
    if value is ABSENT:
        return "(absent)"
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _named(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(i, dict) and "name" in i for i in items)


def _walk(old: Any, new: Any, path: str, out: list[Change]) -> None:  # noqa: ANN401
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            _walk(old.get(key, ABSENT), new.get(key, ABSENT), sub, out)
        return
    if isinstance(old, list) and isinstance(new, list) and _named(old) and _named(new):
        old_names = [i["name"] for i in old]
        new_names = [i["name"] for i in new]
        if old_names != new_names:
            out.append(Change(f"{path} (names in order)", old_names, new_names))
        by_old = {i["name"]: i for i in old}
        by_new = {i["name"]: i for i in new}
        for name in dict.fromkeys([*old_names, *new_names]):
            _walk(by_old.get(name, ABSENT), by_new.get(name, ABSENT), f"{path}[{name}]", out)
        return
    if old != new:
        out.append(Change(path or "(top level)", old, new))


def design_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """The fields that differ between two design documents, in a stable order.

    Parameters
    ----------
    old, new : Mapping
        Design documents as ``json.loads(design.canonical_json())`` gives them.

    Returns
    -------
    list of Change
        One per differing leaf.  Mappings are walked key by key (``a.b.c``);
        lists of named items (arms, outcomes, interventions) are matched by
        name (``arms[letter].ratio``), with a change of their names or order
        reported on the list itself; other lists are compared whole.
    """
    out: list[Change] = []
    _walk(dict(old), dict(new), "", out)
    return out


def analysis_plan_changes(changes: list[Change]) -> list[Change]:
    """The changes that alter the pre-declared analysis plan.

    Those are: any field under ``analysis`` (covariates, standard errors,
    randomisation-inference draws, subgroups, adjustment across arms, ...),
    which outcome is primary (an outcome's ``primary`` flag, or an outcome
    added or removed as primary), and ``follow_up.primary_timepoint`` (when the
    primary outcome is measured).  Wording, dates and other sections are not
    analysis choices.
    """

    def _is_primary(value: Any) -> bool:  # noqa: ANN401 - a JSON value
        return isinstance(value, dict) and bool(value.get("primary"))

    out = []
    for change in changes:
        path = change.path
        if (
            _root(path) == "analysis"
            or path == "follow_up.primary_timepoint"
            or (path.startswith("outcomes[") and path.endswith("].primary"))
            or (
                path.startswith("outcomes[")
                and path.endswith("]")
                and (_is_primary(change.old) or _is_primary(change.new))
            )
        ):
            out.append(change)
    return out


def _root(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0].split(" ", 1)[0]


def _is_date(value: Any) -> bool:  # noqa: ANN401
    if not isinstance(value, str):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _dates(value: Any) -> list[dt.date]:  # noqa: ANN401
    if _is_date(value):
        return [dt.date.fromisoformat(value)]
    if isinstance(value, Mapping):  # a follow-up wave: {name, date}
        return _dates(value.get("date"))
    if isinstance(value, list):
        return [d for v in value for d in _dates(v)]
    return []


#: Why a ``roster.columns`` entry behind the allocation is fixed (see :func:`allocation_fields`).
ROSTER_COLUMN_REASON = (
    "it says which roster column holds the {role} '{field}': another column would put "
    "people in other {what} than the ones they were allocated in"
)


def allocation_fields(document: Mapping[str, Any] | None) -> dict[str, str]:
    """The roster fields whose column mapping the allocation depends on, with their role.

    ``id`` (who is who), each stratum, ``cluster_by`` and the minimisation
    factors: remapping any of them to another roster column (``roster.columns``)
    re-sorts people into strata or clusters after they were allocated.
    """
    if not document:
        return {}
    roles: dict[str, str] = {"id": "participant id"}
    for name in document.get("strata") or []:
        roles.setdefault(str(name), "stratum")
    if document.get("cluster_by"):
        roles.setdefault(str(document["cluster_by"]), "cluster")
    randomisation = document.get("randomisation") or {}
    minimisation = randomisation.get("minimisation") if isinstance(randomisation, dict) else None
    if isinstance(minimisation, dict):
        for name in minimisation.get("factors") or []:
            roles.setdefault(str(name), "minimisation factor")
    return roles


_WHAT = {
    "participant id": "records",
    "stratum": "strata",
    "cluster": "clusters",
    "minimisation factor": "groups",
}


def allocation_changes(
    changes: list[Change],
    *,
    today: dt.date,
    old: Mapping[str, Any] | None = None,
    new: Mapping[str, Any] | None = None,
) -> list[tuple[Change, str]]:
    """The changes an amendment may not make, each with the reason.

    Parameters
    ----------
    changes : list of Change
        From :func:`design_diff`.
    today : datetime.date
        Dates on or before it have passed (an argument, so the rule is testable).
    old, new : Mapping, optional
        The two design documents.  Given, a change to the ``roster.columns``
        entry behind ``id``, a stratum, ``cluster_by`` or a minimisation factor
        (of either version) is refused too: the same name on another column
        sorts people differently.

    Returns
    -------
    list of (Change, str)
        A change to a field in :data:`ALLOCATION_FIELDS` (other than its
        wording, :data:`AMENDABLE_WITHIN_ALLOCATION_FIELDS`), and a change to a
        follow-up or wave date where the old or the new date is not in the
        future.
    """
    refused = []
    behind = {**allocation_fields(new), **allocation_fields(old)}
    for change in changes:
        root = _root(change.path)
        if change.path.startswith("roster.columns"):
            # a change of the whole mapping (absent on one side) or of one entry
            names = (
                [change.path.split(".", 2)[2]] if change.path.count(".") >= 2 else sorted(behind)
            )
            hit = [n for n in names if n in behind]
            if hit:
                field = hit[0]
                role = behind[field]
                refused.append(
                    (
                        change,
                        ROSTER_COLUMN_REASON.format(role=role, field=field, what=_WHAT[role]),
                    )
                )
                continue
        leaf = change.path.rsplit(".", 1)[-1]
        if root in ALLOCATION_FIELDS:
            if leaf in AMENDABLE_WITHIN_ALLOCATION_FIELDS and "." in change.path:
                continue
            if not (root == "arms" and leaf == "waves"):
                refused.append(
                    (change, f"'{root}' is fixed once randomised: {ALLOCATION_FIELDS[root]}")
                )
                continue
        if root in _DATE_FIELDS or leaf in _DATE_FIELDS:
            passed = [d for d in (*_dates(change.old), *_dates(change.new)) if d <= today]
            old_dates, new_dates = set(_dates(change.old)), set(_dates(change.new))
            moved = [d for d in passed if (d in old_dates) != (d in new_dates)]
            if moved:
                refused.append(
                    (
                        change,
                        f"a date on or before today ({today.isoformat()}) cannot be moved: "
                        f"{', '.join(sorted(d.isoformat() for d in moved))}",
                    )
                )
    return refused


def format_changes(changes: list[Change], *, limit: int = 20) -> str:
    """One indented line per change, at most ``limit`` of them, then how many more."""
    lines = [f"  {c.line()}" for c in changes[:limit]]
    if len(changes) > limit:
        lines.append(f"  ... and {len(changes) - limit} more")
    return "\n".join(lines)
