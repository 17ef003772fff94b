"""CONSORT flow-diagram counts and their arithmetic (pure).

The boxes of a CONSORT 2010 flow diagram (and its cluster extension: clusters
first, then individuals) are read from the ``consort`` section of
results.json.  Boxes must add up:

- assessed = excluded before randomisation + randomised (when assessed is known);
- randomised = the sum over arms of allocated;
- per arm, allocated = received + not received (when both are known);
- per arm, allocated = lost to follow-up + excluded from analysis + analysed;
- the individuals analysed for the primary outcome are the primary ITT
  estimate's ``n_per_arm``.

:func:`consort_problems` lists every rule a results.json breaks, in words; the
report prints them above the diagram rather than drawing boxes that disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reports.disclosure import Relation
from reports.lookup import itt_estimate, primary_outcome

__all__ = [
    "ArmFlow",
    "ConsortFlow",
    "LevelFlow",
    "consort_counts",
    "consort_flow",
    "consort_problems",
    "consort_relations",
]


@dataclass(frozen=True)
class ArmFlow:
    """One arm's column of boxes at one level (clusters or individuals)."""

    arm: str
    label: str
    allocated: int
    received: int | None
    not_received: int | None
    lost: int
    excluded: int | None
    analysed: int

    @property
    def followed_up(self) -> int:
        """Allocated and not lost: those with an endline measurement."""
        return self.allocated - self.lost


@dataclass(frozen=True)
class LevelFlow:
    """The flow at one level: ``individuals`` or ``clusters``."""

    level: str
    assessed: int | None
    excluded: int | None
    arms: tuple[ArmFlow, ...]

    @property
    def randomised(self) -> int:
        return sum(arm.allocated for arm in self.arms)


@dataclass(frozen=True)
class ConsortFlow:
    """Every level of the diagram (clusters first in a cluster trial) and what fails to add up."""

    unit: str
    levels: tuple[LevelFlow, ...]
    problems: tuple[str, ...]

    def level(self, name: str) -> LevelFlow | None:
        return next((lvl for lvl in self.levels if lvl.level == name), None)


def _arm_labels(results: Mapping) -> dict[str, str]:
    return {
        a["name"]: a.get("label") or a["name"] for a in results.get("trial", {}).get("arms", [])
    }


def _arm_order(results: Mapping, boxes: Mapping) -> list[str]:
    """Arms in the design's order (control first as declared), then any others."""
    declared = [a["name"] for a in results.get("trial", {}).get("arms", [])]
    return [a for a in declared if a in boxes] + [a for a in boxes if a not in declared]


def _level(results: Mapping, name: str, boxes: Mapping, assessed, excluded) -> LevelFlow:
    labels = _arm_labels(results)
    arms = tuple(
        ArmFlow(
            arm=arm,
            label=labels.get(arm, arm),
            allocated=int(boxes[arm]["allocated"]),
            received=boxes[arm].get("received"),
            not_received=boxes[arm].get("not_received"),
            lost=int(boxes[arm]["lost"]),
            excluded=boxes[arm].get("excluded"),
            analysed=int(boxes[arm]["analysed"]),
        )
        for arm in _arm_order(results, boxes)
    )
    return LevelFlow(level=name, assessed=assessed, excluded=excluded, arms=arms)


def consort_flow(results: Mapping) -> ConsortFlow:
    """The diagram's boxes from a results.json document, with any arithmetic problems.

    Parameters
    ----------
    results : mapping
        A results.json document.

    Returns
    -------
    ConsortFlow
        ``levels`` holds ``clusters`` then ``individuals`` for a cluster
        trial, ``individuals`` alone otherwise.
    """
    consort = results.get("consort") or {}
    unit = results.get("trial", {}).get("unit", "individual")
    levels = []
    if consort.get("clusters"):
        levels.append(_level(results, "clusters", consort["clusters"], None, None))
    levels.append(
        _level(
            results,
            "individuals",
            consort.get("individuals") or {},
            consort.get("assessed"),
            consort.get("excluded"),
        )
    )
    return ConsortFlow(unit=unit, levels=tuple(levels), problems=tuple(consort_problems(results)))


def consort_problems(results: Mapping) -> list[str]:
    """Every way the CONSORT counts fail to add up, in words; empty when they all do.

    Notes
    -----
    Checks, per level and arm :math:`a`:
    :math:`A_a = L_a + E_a + N_a` (allocated = lost + excluded from analysis
    + analysed; :math:`E_a = 0` when not recorded),
    :math:`A_a = R_a + \\bar R_a` when both are recorded, no negative box,
    then :math:`\\text{assessed} = \\text{excluded} + \\sum_a A_a` and, for
    individuals, :math:`N_a` equal to the primary ITT ``n_per_arm``.
    """
    consort = results.get("consort") or {}
    labels = _arm_labels(results)
    problems: list[str] = []
    for level in ("clusters", "individuals"):
        boxes = consort.get(level) or {}
        for arm, box in boxes.items():
            name = f"{labels.get(arm, arm)} ({level})"
            for field in ("allocated", "received", "not_received", "lost", "excluded", "analysed"):
                if box.get(field) is not None and box[field] < 0:
                    problems.append(f"{name}: '{field}' is negative ({box[field]}).")
            excluded = box.get("excluded") or 0
            if box["allocated"] != box["lost"] + excluded + box["analysed"]:
                problems.append(
                    f"{name}: allocated {box['allocated']} is not lost {box['lost']} + "
                    f"excluded from analysis {excluded} + analysed {box['analysed']} "
                    f"(= {box['lost'] + excluded + box['analysed']})."
                )
            received, not_received = box.get("received"), box.get("not_received")
            if (
                received is not None
                and not_received is not None
                and box["allocated"] != received + not_received
            ):
                problems.append(
                    f"{name}: allocated {box['allocated']} is not received {received} + "
                    f"not received {not_received} (= {received + not_received})."
                )
    individuals = consort.get("individuals") or {}
    randomised = sum(b["allocated"] for b in individuals.values())
    assessed, excluded = consort.get("assessed"), consort.get("excluded")
    if assessed is not None and assessed != (excluded or 0) + randomised:
        problems.append(
            f"Assessed {assessed} is not excluded {excluded or 0} + randomised {randomised} "
            f"(= {(excluded or 0) + randomised})."
        )
    primary = primary_outcome(results)
    for arm in individuals:
        estimate = next(
            (e for e in (primary or {}).get("estimates", []) if e.get("estimand") == "ITT"),
            None,
        )
        if estimate is None:
            break
        used = itt_estimate(primary, estimate["arm"])["n_per_arm"].get(arm)
        if used is not None and used != individuals[arm]["analysed"]:
            problems.append(
                f"{labels.get(arm, arm)}: the CONSORT box says {individuals[arm]['analysed']} "
                f"analysed but the primary analysis used {used}."
            )
    return problems


def consort_counts(flow: ConsortFlow) -> dict[tuple, int | None]:
    """The individual-level boxes as disclosure cells: counts of people, keyed ("consort", arm, box).

    Cluster boxes count buildings or organisations, not people, so they are
    not disclosure cells.  Followed up (allocated minus lost) is included
    because the attrition table prints it.
    """
    level = flow.level("individuals")
    counts: dict[tuple, int | None] = {
        ("consort", "assessed"): level.assessed,
        ("consort", "excluded"): level.excluded,
        ("consort", "randomised"): level.randomised,
    }
    for arm in level.arms:
        counts.update(
            {
                ("consort", arm.arm, "allocated"): arm.allocated,
                ("consort", arm.arm, "received"): arm.received,
                ("consort", arm.arm, "not_received"): arm.not_received,
                ("consort", arm.arm, "lost"): arm.lost,
                ("consort", arm.arm, "followed_up"): arm.followed_up,
                ("consort", arm.arm, "excluded"): arm.excluded,
                ("consort", arm.arm, "analysed"): arm.analysed,
            }
        )
    return counts


def consort_relations(flow: ConsortFlow) -> list[Relation]:
    """The sums that tie the individual-level boxes together (see the module notes)."""
    level = flow.level("individuals")
    relations = [
        Relation(
            ("consort", "randomised"), tuple(("consort", a.arm, "allocated") for a in level.arms)
        ),
        Relation(("consort", "assessed"), (("consort", "excluded"), ("consort", "randomised"))),
    ]
    for arm in level.arms:
        key = lambda box, arm=arm: ("consort", arm.arm, box)  # noqa: E731
        relations += [
            Relation(key("allocated"), (key("received"), key("not_received"))),
            Relation(key("allocated"), (key("lost"), key("followed_up"))),
        ]
        if arm.excluded is None:
            relations.append(Relation(key("followed_up"), (key("analysed"),)))
        else:
            relations.append(Relation(key("followed_up"), (key("excluded"), key("analysed"))))
    return relations
