"""What the report observed, as data: Tables 2-5, the consistency of each district's changes, which elements
changed, element-level facts and Table 1, each with its source lines (the classes; :mod:`.observed` reads the file)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from enum import IntEnum
from typing import Any
from sim.vocab import (
    CASE_DISTRICTS,
    Alignment,
    Capacity,
    Consistency,
    Continuity,
    Element,
    Practice,
    Substantiveness,
)



#: A source line range ``(first, last)`` in ``003_5ef94897120ea9a2.txt``, both inclusive.
LineRange = tuple[int, int]


#: Table name -> its rows: districts for Table 2 and consistency, capacity keys for Tables 3-5.
_TABLE_ROWS: dict[str, tuple[str, ...]] = {
    "table2": CASE_DISTRICTS,
    "table3": Capacity.keys(),
    "table4": Capacity.keys(),
    "table5": Capacity.keys(),
    "consistency": CASE_DISTRICTS,
}


_CAPACITY_TABLES = ("table3", "table4", "table5")


_DISTRICT_TABLES = ("table2", "consistency")


#: Extra tables an alternative may carry (the per-district end-of-run continuity, since Table 5's
#: capacity rows of Diamond's elements are not determinable; see observed.toml).
_EXTRA_TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "continuity_by_district": (CASE_DISTRICTS, Continuity.keys()),
}


#: Fact kinds and the vocabulary their ``value`` is drawn from (None: the fact has no value).
_FACT_VALUES: dict[str, type[IntEnum] | None] = {
    "depth": Practice,
    "timing": None,
    "substantiveness": Substantiveness,
    "consistency": Consistency,
    "alignment": Alignment,
    "continuity": Continuity,
    "practice": None,
}


_DEMOGRAPHIC_FIELDS = (
    "students",
    "pct_latine",
    "pct_free_reduced_lunch",
    "pct_english_learners",
    "pct_iep",
    "pct_homeless",
)


_TOP_LEVEL = {"meta", "tables", "alternatives", "changed_elements", "demographics", "facts", "errata"}


@dataclass(frozen=True)
class Provenance:
    """Where an entry of the file comes from."""

    lines: tuple[LineRange, ...]
    inferred: bool
    note: str = ""


@dataclass(frozen=True)
class Alternative:
    """Another reading the report allows: partial tables replacing the primary rows they name.

    ``tables`` has the shape of :attr:`ObservedTargets.tables` restricted to the rows that differ
    (``{"table4": {"did_not_exist": {...}}}``), plus possibly ``continuity_by_district``
    (district -> no_change / no_continuity / continuity), which has no primary counterpart.
    """

    name: str
    tables: dict[str, dict[str, dict[str, int]]]
    lines: tuple[LineRange, ...]
    inferred: bool
    note: str


@dataclass(frozen=True)
class ObservedTargets:
    """The observed facts of the report (see the module docstring). Treat as read-only.

    Attributes:
        tables: primary readings, ``{"table2": {district: {no_change, add_on, transform}},
            "table3": {capacity: {no_change, add_on, transform}}, "table4": {capacity:
            {no_change, not_aligned, aligned}}, "table5": {capacity: {no_change, no_continuity,
            continuity}}, "consistency": {district: {no_change, consistent, somewhat,
            not_consistent}}}`` (ints; rows and columns in vocabulary order).
        alternatives: name -> :class:`Alternative`.
        facts: dicts with keys kind, district (str or None), element (:class:`Element` or None),
            value (a vocabulary member or None), year (int or None), statement, lines, inferred,
            note.
        changed_elements: district -> the elements that changed, in vocabulary order.
        demographics: district -> Table 1 fields (students, pct_*).
        capacity_n: capacity key -> number of district-elements at that level (Tables 3-5 'n=').
        provenance: ``"table2"`` ... ``"consistency"``, ``"consistency.<district>"``,
            ``"changed_elements"``, ``"demographics"`` -> :class:`Provenance`.
        errata: extraction errors of the text that change no count (lines, statement).
    """

    tables: dict[str, dict[str, dict[str, int]]]
    alternatives: dict[str, Alternative]
    facts: list[dict[str, Any]]
    changed_elements: dict[str, tuple[Element, ...]]
    demographics: dict[str, dict[str, int]]
    capacity_n: dict[str, int]
    provenance: dict[str, Provenance]
    errata: tuple[dict[str, Any], ...]

    def reading(self, *names: str) -> dict[str, dict[str, dict[str, int]]]:
        """The primary tables with the named alternatives overlaid, in order (a deep copy).

        Rows of an alternative replace the primary rows of the same key; tables without a primary
        counterpart (``continuity_by_district``) are added.
        """
        out = copy.deepcopy(self.tables)
        for name in names:
            if name not in self.alternatives:
                known = ", ".join(sorted(self.alternatives))
                raise ValueError(f"alternatives: {name!r} is not one of: {known}")
            for table, rows in self.alternatives[name].tables.items():
                out.setdefault(table, {}).update(copy.deepcopy(rows))
        return out

    def facts_of(
        self, kind: str, *, district: str | None = None, element: Element | None = None
    ) -> list[dict[str, Any]]:
        """The facts of one kind, optionally restricted to a district and/or an element."""
        if kind not in _FACT_VALUES:
            raise ValueError(f"kind: {kind!r} is not one of: {', '.join(_FACT_VALUES)}")
        return [
            f
            for f in self.facts
            if f["kind"] == kind
            and (district is None or f["district"] == district)
            and (element is None or f["element"] == element)
        ]
