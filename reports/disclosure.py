"""Statistical disclosure control for commissioner reports (pure).

Commissioner reports never show a count of fewer than 5 people, and never a
count from which one could be worked out by subtraction.  A report declares
every count it shows (and the counts it implies but does not show, such as
"allocated minus offered"), and the arithmetic that ties them together as
:class:`Relation` s: ``whole = sum(parts)``.  :func:`suppress_counts` then

1. suppresses every shown count from 1 to ``threshold - 1`` (primary
   suppression);
2. works out, relation by relation, everything a reader could recover by
   subtraction from what is still shown, and, while that recovers a small
   count, suppresses one more shown count in the relation that gave it away
   (complementary suppression: the smallest, so as little as possible is lost);
3. shows again any complementary cell that, once the others are hidden,
   protects nothing.

This is the ONS practice for tables of counts: primary suppression of small
cells, and secondary suppression only where a small count could be derived by
differencing.  What is suppressed is a *count*: a mean of a measure over the
people counted is shown whenever they are at least ``threshold``
(:meth:`Suppression.mean_shown`), even if their count had to be hidden to
protect another (an outcome's mean over 194 staff stays when its n is hidden
because 196 allocated minus 194 would say 2 had no HR record).  A mean over
fewer than ``threshold`` people is hidden with its count.  A percentage of a
shown total is a count in disguise and follows its count.

Zero is shown: "nobody" does not single anyone out, and a CONSORT box of 0
analysed is information a reader needs.  Counts of clusters (buildings,
local authorities) are not counts of people and are not passed in.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from reports.format import format_count

__all__ = [
    "DISCLOSURE_FOOTNOTE",
    "SUPPRESSED_MARK",
    "THRESHOLD",
    "Relation",
    "Suppression",
    "coarsen_cumulative",
    "suppress_counts",
    "table_relations",
]

#: The smallest count of people a commissioner report may show.
THRESHOLD = 5
#: What a suppressed cell shows (the ONS convention for "confidential").
SUPPRESSED_MARK = "[c]"
DISCLOSURE_FOOTNOTE = (
    f"{SUPPRESSED_MARK} Not shown: a count of fewer than {THRESHOLD} people, or a count "
    "from which such a number could be worked out by subtraction. Percentages based on "
    f"them are hidden too, and means of fewer than {THRESHOLD} people."
)


@dataclass(frozen=True)
class Relation:
    """``whole = sum(parts)``: arithmetic a reader can use to recover a hidden count."""

    whole: Hashable
    parts: tuple[Hashable, ...]

    def cells(self) -> tuple[Hashable, ...]:
        return (self.whole, *self.parts)


@dataclass(frozen=True)
class Suppression:
    """The outcome of :func:`suppress_counts`: which shown counts must be hidden, and why."""

    values: Mapping[Hashable, int | None]
    primary: frozenset
    complementary: frozenset
    hidden: frozenset
    threshold: int = THRESHOLD

    @property
    def suppressed(self) -> frozenset:
        """Every shown count that must not be shown (primary and complementary)."""
        return self.primary | self.complementary

    @property
    def any(self) -> bool:
        """True when the report needs the disclosure footnote."""
        return bool(self.suppressed)

    def is_shown(self, key: Hashable) -> bool:
        """May this count (and anything computed from it, such as a percentage) be shown?"""
        return (
            key in self.values
            and key not in self.suppressed
            and key not in self.hidden
            and self.values[key] is not None
        )

    def mean_shown(self, key: Hashable) -> bool:
        """May a mean of a measure over the people this count counts be shown?

        Yes when they are at least ``threshold``: a mean does not give their
        number away, so a count hidden only to protect another (complementary
        suppression) does not hide its mean.  No for a count that is small
        itself, or unknown.
        """
        value = self.values.get(key)
        return value is not None and value >= self.threshold and key not in self.hidden

    def value(self, key: Hashable) -> int | None:
        """The count if it may be shown, else ``None``."""
        return self.values[key] if self.is_shown(key) else None

    def display(self, key: Hashable) -> str:
        """The count as the report prints it: "1,315", or "[c]" when suppressed."""
        if key in self.suppressed:
            return SUPPRESSED_MARK
        return format_count(self.values.get(key))


def table_relations(
    rows: Sequence[Hashable],
    columns: Sequence[Hashable],
    *,
    cell: callable,
    row_total: callable | None = None,
    column_total: callable | None = None,
) -> list[Relation]:
    """The relations of a two-way table whose margins are known (shown, or implied elsewhere).

    ``cell(r, c)`` gives a cell's key; ``row_total(r)`` and ``column_total(c)``
    give the keys of the margins, when there are any.
    """
    relations = []
    if row_total is not None:
        relations += [Relation(row_total(r), tuple(cell(r, c) for c in columns)) for r in rows]
    if column_total is not None:
        relations += [Relation(column_total(c), tuple(cell(r, c) for r in rows)) for c in columns]
    return relations


def _sensitive(value: int | None, threshold: int) -> bool:
    return value is not None and 0 < value < threshold


def _usable(values: Mapping[Hashable, int | None], relations: Sequence[Relation]) -> list:
    # an absent count makes a sum unusable to the reader too
    return [r for r in relations if all(values.get(c) is not None for c in r.cells())]


def _determined(
    values: Mapping[Hashable, int | None],
    unknown: set,
    relations: Sequence[Relation],
    *,
    of: Hashable | None = None,
) -> set:
    """The unknown counts that the shown counts and the sums pin down exactly.

    Each usable relation is a linear equation in the unknown cells (the
    shown cells move to the right-hand side).  An unknown :math:`x_j` is
    determined exactly when every vector in the null space of the
    coefficient matrix has a zero in place :math:`j`; combinations of
    several sums (a row total with a column total) are caught as well as
    single subtractions.  With ``of``, only the counts no sum separates from
    ``of`` are looked at (what :func:`_complement` asks, many times over).
    """
    usable = _usable(values, relations)
    determined: set = set()
    for cells, equations in _components(usable, unknown):
        if of is None or of in cells:
            determined |= _determined_in(cells, equations)
    return determined


def _components(usable: Sequence[Relation], unknown: set) -> list[tuple[list, list[Relation]]]:
    """The unknown cells split into groups no sum links, each with the sums on its cells.

    The equations of different groups share no unknown, so the null space is
    each group's apart: one small SVD a group instead of one of the whole
    report (a multi-arm report's several hundred counts took minutes).
    """
    parent: dict = {}

    def root(cell: Hashable) -> Hashable:
        while parent[cell] != cell:
            parent[cell] = parent[parent[cell]]
            cell = parent[cell]
        return cell

    for relation in usable:
        linked = [c for c in relation.cells() if c in unknown]
        for cell in linked:
            parent.setdefault(cell, cell)
        for cell in linked[1:]:
            parent[root(cell)] = root(linked[0])
    groups: dict = {}
    for cell in parent:  # first-seen order, as the whole report's matrix had its columns
        groups.setdefault(root(cell), ([], []))[0].append(cell)
    for relation in usable:
        linked = [c for c in relation.cells() if c in unknown]
        if linked:
            groups[root(linked[0])][1].append(relation)
    return list(groups.values())


def _determined_in(cells: list, equations: Sequence[Relation]) -> set:
    """The cells of one group that its equations pin down (the null space is 0 in their place)."""
    index = {c: i for i, c in enumerate(cells)}
    rows = []
    for relation in equations:
        row = np.zeros(len(cells))
        for cell, sign in ((relation.whole, 1.0), *((p, -1.0) for p in relation.parts)):
            if cell in index:
                row[index[cell]] += sign
        if row.any():
            rows.append(row)
    if not rows:
        return set()
    if len(cells) == 1:  # one unknown in a sum with the others shown: subtraction gives it
        return set(cells)
    matrix = np.array(rows)
    _, singular, vt = np.linalg.svd(matrix)
    rank = int((singular > 1e-9 * max(matrix.shape) * singular.max()).sum())
    null = vt[rank:]
    return {c for c, i in index.items() if not null.size or np.all(np.abs(null[:, i]) < 1e-9)}


def _complement(
    leak: Hashable,
    relations: Sequence[Relation],
    values: Mapping[Hashable, int | None],
    unknown: set,
) -> Hashable:
    """The shown count to suppress so that ``leak`` can no longer be worked out.

    Candidates are the shown counts in the sums connected to ``leak`` through
    unknown counts.  Parts come before wholes (a margin is worth more to the
    reader) and small before large; the first candidate whose suppression
    leaves ``leak`` undetermined wins.  When none does alone, the best-ranked
    one is taken and the caller's loop goes round again.
    """
    usable = _usable(values, relations)
    shown = {k for k, v in values.items() if k not in unknown and v is not None}
    candidates: dict[Hashable, tuple] = {}
    frontier, seen = [leak], set()
    while frontier:
        key = frontier.pop(0)
        if key in seen:
            continue
        seen.add(key)
        for relation in usable:
            if key not in relation.cells():
                continue
            for cell in relation.cells():
                if cell in shown and cell not in candidates:
                    candidates[cell] = (cell == relation.whole, values[cell], len(candidates))
                elif cell in unknown and cell not in seen:
                    frontier.append(cell)
    ranked = sorted(candidates, key=candidates.get)
    if not ranked:  # pragma: no cover - a determined count always rests on shown counts
        raise AssertionError(f"No shown count gives away {leak!r}.")
    for cell in ranked:
        if leak not in _determined(values, unknown | {cell}, relations, of=leak):
            return cell
    return ranked[0]


def suppress_counts(
    counts: Mapping[Hashable, int | None],
    relations: Sequence[Relation] = (),
    *,
    hidden: Collection[Hashable] = (),
    threshold: int = THRESHOLD,
) -> Suppression:
    """Primary and complementary suppression of counts of people.

    Parameters
    ----------
    counts : mapping
        Every count the report shows or implies, by a key of the caller's
        choosing; ``None`` for a count that does not exist.
    relations : sequence of Relation
        ``whole = sum(parts)`` for every sum a reader could use, including
        equalities across tables (``Relation(a, (b,))``).
    hidden : collection
        Keys of counts the report implies but never prints (differences such
        as "offered but not started").  They are protected like shown counts
        but are never "suppressed" themselves.
    threshold : int
        The smallest count that may be shown (5).

    Returns
    -------
    Suppression

    Notes
    -----
    The relations are linear equations :math:`A x_u = b` in the unknown
    cells :math:`x_u` (suppressed or implied), with the shown cells in
    :math:`b`.  A cell is disclosed when it is the same in every solution,
    that is when the null space of :math:`A` is zero in its place; this
    catches a single subtraction :math:`x_j = w - \\sum_{i \\neq j} x_i` and
    any combination of sums.  While a count in :math:`\\{1, \\dots, t-1\\}` is
    disclosed, one more shown cell is suppressed, so the loop ends.  Only
    exact disclosure is prevented; bounds (a suppressed cell lies between 1
    and its row total) are not.
    """
    if threshold < 1:
        raise ValueError(
            f"The disclosure 'threshold' must be at least 1. Got {threshold!r} instead."
        )
    unknown_keys = [k for r in relations for k in r.cells() if k not in counts]
    if unknown_keys:
        raise ValueError(
            f"A relation names a count that is not in 'counts': {unknown_keys[0]!r}. "
            f"Known counts: {', '.join(map(repr, list(counts)[:10]))}"
            + (" ..." if len(counts) > 10 else "")
        )
    # hundreds of small SVDs: BLAS threads only wait on each other, and on a busy machine
    # (the demo's trials side by side) they made one three-arm report take minutes
    with threadpool_limits(limits=1, user_api="blas"):
        return _suppress(dict(counts), frozenset(hidden), relations, threshold)


def _suppress(
    values: dict, hidden_set: frozenset, relations: Sequence[Relation], threshold: int
) -> Suppression:
    """:func:`suppress_counts` once its arguments are checked."""
    primary = {k for k, v in values.items() if k not in hidden_set and _sensitive(v, threshold)}
    complementary: set = set()
    while True:
        unknown = set(hidden_set) | primary | complementary
        determined = _determined(values, unknown, relations)
        leaks = [k for k in values if k in determined and _sensitive(values[k], threshold)]
        if not leaks:
            break
        complementary.add(_complement(leaks[0], relations, values, unknown))
    # the greedy loop can take a cell that, with the later ones, turned out not to be needed
    # (when no single cell closed a leak it took the best-ranked one and went round again):
    # show again every complementary cell whose hiding protects nothing, largest first, so
    # secondary suppression stays where differencing would recover a small count and only there
    for cell in sorted(complementary, key=lambda k: (-(values[k] or 0), repr(k))):
        unknown = set(hidden_set) | primary | (complementary - {cell})
        determined = _determined(values, unknown, relations)
        if not any(k in determined and _sensitive(values[k], threshold) for k in values):
            complementary.discard(cell)
    return Suppression(
        values=values,
        primary=frozenset(primary),
        complementary=frozenset(complementary),
        hidden=hidden_set,
        threshold=threshold,
    )


def coarsen_cumulative(values: Sequence[int], *, threshold: int = THRESHOLD) -> list[int]:
    """Indices of a cumulative series (started by week) that are safe to show.

    A point is kept only when it adds 0 or at least ``threshold`` people to
    the last kept point (starting from 0), so no week's small number of new
    starters can be recovered by subtraction.  The last point is the series
    total, which the report shows elsewhere, so it is always kept (earlier
    points are dropped until its own step is safe); when the total itself is
    small, nothing is shown.
    """
    if not values:
        return []
    total = values[-1]
    if _sensitive(total, threshold):
        return []
    kept: list[int] = []
    last = 0
    for index, value in enumerate(values[:-1]):
        step = value - last
        if step == 0 or step >= threshold:
            kept.append(index)
            last = value
    while kept and _sensitive(total - values[kept[-1]], threshold):
        kept.pop()
    return [*kept, len(values) - 1]
