"""Every starting-capacity assignment of the 24 district-elements consistent with the report.

The report codes each element's capacity at the start of the initiative (did not exist / emergent
or incoherent / established and functional, lines 1099-1106) but prints it only in aggregate:
Table 3's rows (7 / 3 / 14, lines 1167-1191). This module enumerates every assignment of a
capacity to each district-element such that

* Table 3 holds: there EXISTS a substantiveness assignment of the 24 cells that matches Table 2 per
  district (lines 837-847), the unchanged elements (lines 25-31, 768-773) and the coded
  substantiveness facts of ``observed.toml`` (Cedarville's assessment is the add-on, lines
  780-789), and whose capacity x substantiveness counts equal Table 3;
* Table 4 holds: there EXISTS an alignment assignment of the changed cells that respects the coded
  alignment facts of ``observed.toml`` (Birchwood's framework made no new link, lines 895-899;
  school leader learning aligned in Avalon, Cedarville, Diamond, line 897; ...) and whose
  capacity x alignment counts equal Table 4 (lines 1147-1165);
* Table 5's no-change column holds (every change fostered continuity, lines 1237-1262, so it
  constrains nothing else);
* every text statement about one element's starting state holds (:data:`CONSTRAINTS`, each with
  its lines and an ``inferred`` flag).

Table 3's no-change column (4, 0, 0) alone forces the four unchanged cells (Avalon oversight,
Birchwood school leader learning, Birchwood oversight, Diamond framework) to "did not exist".

Measured (each enumeration well under 1 s):

=====================  =========================  ===================================
constraints            primary Table 4            ``table4_reading="table4_text"``
=====================  =========================  ===================================
with inferred          225 assignments            0 assignments
without inferred       15,060 assignments         5,970 assignments
=====================  =========================  ===================================

Cells certain in every assignment -- with the inferred constraints, 6 of 24: the four unchanged
cells (did not exist), Cedarville's assessment (emergent) and Birchwood's framework (did not
exist). Without them, 5 of 24: Birchwood's framework becomes uncertain (did not exist or
established; never emergent, since it is coded not aligned and Table 4's emergent row has no
non-aligned change). The other 18 cells stay uncertain either way: e.g. with the inferred
constraints each of Avalon's and Cedarville's five transformed elements is emergent in 8% and
established in 92% of assignments, and Diamond's oversight is did not exist / emergent /
established in 67% / 7% / 27%.

Why Birchwood's framework is certain with the inferred constraints: Table 4 has two changes
without new alignment, one in an element that did not exist and one in an established element.
Birchwood's framework is one of them (lines 895-899). The other is a changed cell whose alignment
the text does not state: Avalon's framework, pedagogy or teacher learning, or Diamond's pedagogy
or teacher learning (Cedarville's assessment is also unstated but emergent, and every emergent
change is aligned). The constraints say all of those existed at the start, so the other one is
the established cell and Birchwood's framework is the one that did not exist.

The same argument rules out the sentence reading of Table 4 (``table4_text``: only 1 of the 3
changed elements that did not exist made a new link, line 1194): it needs a second non-aligned
change in an element that did not exist, and with the inferred constraints no candidate cell can
be one. So under those constraints the printed table (2 of 3), not the sentence, is consistent.

Diamond's five changed elements take 6 different capacity multisets across the 225 assignments
(11 across the 15,060), which is why ``observed.toml`` records the end-of-run continuity reading
per district rather than as Table 5 rows.

Statements deliberately not used as constraints: Diamond "created a system to monitor and oversee
student usage of the new fluency curriculum" (lines 852-853) -- a new routine need not mean that no
oversight existed; Avalon's framework being content-neutral yet "established" (lines 1104-1106 say
some such elements were coded established, not which); Cedarville's difficulty aligning its
assessment system (lines 780-784), which Table 4 overrides (every emergent change is aligned).

Line numbers refer to ``003_5ef94897120ea9a2.txt``.
"""

from __future__ import annotations

import functools
import itertools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from .facts import LineRange
from .observed import load_observed
from sim.vocab import (
    CASE_DISTRICTS,
    ELEMENTS,
    Alignment,
    Capacity,
    Element,
    Substantiveness,
)

__all__ = [
    "CONSTRAINTS",
    "Constraint",
    "capacity_cell_summary",
    "consistent_capacity_assignments",
]

AVALON, BIRCHWOOD, CEDARVILLE, DIAMOND = CASE_DISTRICTS

#: A cell: (district, element).
Cell = tuple[str, Element]
#: One assignment in canonical form: per district (CASE_DISTRICTS order) the capacities of the six
#: elements (ELEMENTS order).
_Raw = tuple[tuple[Capacity, ...], ...]
#: Per capacity (in Capacity order): unchanged cells, changed cells coded not aligned, changed
#: cells coded aligned, changed cells whose alignment is not stated -- flattened.
_Signature = tuple[int, ...]
_SIG_WIDTH = 4


@dataclass(frozen=True)
class Constraint:
    """A statement of the report about one district-element.

    Exactly one of ``capacities`` (the starting capacities the statement allows),
    ``substantiveness`` or ``alignment`` (the coded change) is set.
    """

    description: str
    lines: tuple[LineRange, ...]
    inferred: bool
    district: str
    element: Element
    capacities: frozenset[Capacity] | None = None
    substantiveness: Substantiveness | None = None
    alignment: Alignment | None = None

    def __post_init__(self) -> None:
        if self.district not in CASE_DISTRICTS:
            raise ValueError(f"district: {self.district!r} is not one of: {', '.join(CASE_DISTRICTS)}")
        set_fields = [f for f in (self.capacities, self.substantiveness, self.alignment) if f is not None]
        if len(set_fields) != 1:
            raise ValueError(f"{self.district}/{self.element.key}: set exactly one of capacities, substantiveness, alignment")
        if self.capacities is not None and not self.capacities:
            raise ValueError(f"{self.district}/{self.element.key}: capacities must not be empty")


_EXISTED = frozenset({Capacity.EMERGENT, Capacity.ESTABLISHED})


def _capacity(
    district: str,
    element: Element,
    allowed: Iterable[Capacity],
    lines: Sequence[LineRange],
    inferred: bool,
    description: str,
) -> Constraint:
    return Constraint(description, tuple(lines), inferred, district, element, capacities=frozenset(allowed))


#: Text statements about one element's starting state (lines 1099-1106 define the levels).
_CAPACITY_CONSTRAINTS: tuple[Constraint, ...] = (
    # --- stated in the text ----------------------------------------------------------------
    _capacity(DIAMOND, Element.FRAMEWORK, {Capacity.DID_NOT_EXIST}, [(771, 773)], False,
              "Diamond 'did not have a mathematics vision at the start of the initiative'."),
    _capacity(BIRCHWOOD, Element.SCHOOL_LEADER_LEARNING, {Capacity.DID_NOT_EXIST}, [(1287, 1291)], False,
              "Birchwood did not need, and did not create, a school leader learning system (two leaders)."),
    _capacity(AVALON, Element.FRAMEWORK, _EXISTED, [(795, 797), (923, 925)], False,
              "Avalon started with an instructional framework that was 'fairly general and content neutral'."),
    _capacity(CEDARVILLE, Element.FRAMEWORK, _EXISTED, [(572, 574), (783, 784), (1221, 1222)], False,
              "Cedarville 'had a pre-existing mathematics framework that was consistent with the approach'."),
    _capacity(CEDARVILLE, Element.ASSESSMENT, {Capacity.EMERGENT}, [(780, 789), (1101, 1103)], False,
              "Cedarville's 'already existing' assessment system had 'a lot of separate assessments that did not "
              "necessarily cohere', which they considered problematic: incoherent by the definition of lines 1101-1103."),
    _capacity(AVALON, Element.TEACHER_LEARNING, _EXISTED, [(932, 934)], False,
              "Avalon's primary district math coach coached K-5 teachers before the role was extended to pre-K and TK."),
    _capacity(CEDARVILLE, Element.OVERSIGHT, _EXISTED, [(825, 827), (899, 901)], False,
              "Cedarville 'shifted their instructional oversight system'; its instructional rounds existed and were "
              "then 'consistently focused ... on mathematics'."),
    # --- inferred ------------------------------------------------------------------------------
    _capacity(AVALON, Element.SCHOOL_LEADER_LEARNING, _EXISTED, [(29, 30), (1044, 1046)], True,
              "Three districts 'redesigned their school leader learning system' in year 3: the three that changed it "
              "(Avalon, Cedarville, Diamond); a redesigned system existed."),
    _capacity(CEDARVILLE, Element.SCHOOL_LEADER_LEARNING, _EXISTED, [(29, 30), (1044, 1046)], True,
              "Three districts 'redesigned their school leader learning system' in year 3 (see Avalon)."),
    _capacity(DIAMOND, Element.SCHOOL_LEADER_LEARNING, _EXISTED, [(29, 30), (1044, 1046)], True,
              "Three districts 'redesigned their school leader learning system' in year 3 (see Avalon)."),
    _capacity(AVALON, Element.ASSESSMENT, _EXISTED, [(929, 931)], True,
              "Avalon 'made significant changes to their assessment system': a system to change existed."),
    _capacity(AVALON, Element.PEDAGOGY, _EXISTED, [(499, 503), (1217, 1220)], True,
              "Avalon's instructional goals already included problem solving and Counting Collections when it joined; "
              "it had provided PD on like approaches."),
    _capacity(CEDARVILLE, Element.PEDAGOGY, _EXISTED, [(572, 574), (636, 640)], True,
              "Cedarville joined hoping to strengthen connections between its assessment system, 'math curriculum' and "
              "PL opportunities; it replaced the curriculum in year 2."),
    _capacity(CEDARVILLE, Element.TEACHER_LEARNING, _EXISTED, [(572, 574), (1217, 1221)], True,
              "Cedarville had 'professional learning opportunities' when it joined and had provided PD on like "
              "approaches in the past."),
    _capacity(DIAMOND, Element.PEDAGOGY, _EXISTED, [(833, 835)], True,
              "Diamond implemented a 'new supplemental curriculum': a core curriculum existed."),
    _capacity(DIAMOND, Element.TEACHER_LEARNING, _EXISTED, [(944, 946)], True,
              "Diamond 'included pre-K teachers in their teacher learning opportunities for the first time': "
              "TK-12 teacher learning existed."),
    _capacity(DIAMOND, Element.ASSESSMENT, _EXISTED, [(857, 865)], True,
              "Diamond used its existing 'district bench mark assessment', correlated to the CAASPP."),
    _capacity(BIRCHWOOD, Element.PEDAGOGY, _EXISTED, [(1053, 1061)], True,
              "Birchwood's teachers compared 'their core curriculum' with the standards: a core curriculum existed."),
)


def _fact_constraints() -> tuple[Constraint, ...]:
    """The coded substantiveness and alignment facts of ``observed.toml``, as constraints."""
    out: list[Constraint] = []
    for fact in load_observed().facts:
        if fact["value"] is None or fact["kind"] not in ("substantiveness", "alignment"):
            continue
        kwargs = {fact["kind"]: fact["value"]}
        out.append(Constraint(fact["statement"], fact["lines"], fact["inferred"], fact["district"],
                              fact["element"], **kwargs))
    return tuple(out)


#: Every constraint used by the enumeration: the starting-state statements above, then the coded
#: substantiveness and alignment facts read from ``observed.toml``.
CONSTRAINTS: tuple[Constraint, ...] = _CAPACITY_CONSTRAINTS + _fact_constraints()


# --------------------------------------------------------------------------------------------
# Enumeration
# --------------------------------------------------------------------------------------------


def consistent_capacity_assignments(
    *, include_inferred: bool = True, table4_reading: str | None = None
) -> tuple[dict[str, dict[str, str]], ...]:
    """All capacity assignments consistent with Tables 2-5 and :data:`CONSTRAINTS`.

    Args:
        include_inferred: also apply the constraints marked ``inferred``. Without them the result
            is a superset.
        table4_reading: name of an alternative in ``observed.toml`` whose Table 4 rows replace the
            primary ones (``"table4_text"``); None for the printed table.

    Returns:
        Assignments ``{district: {element key: capacity key}}`` in a deterministic order (sorted
        by the capacities of the cells in district, then element, order). The enumeration is
        cached; each call returns fresh dicts.
    """
    raw = _enumerate(include_inferred, table4_reading)
    element_keys = Element.keys()
    capacity_key = {c: c.key for c in Capacity}
    return tuple(
        {
            d: {e: capacity_key[c] for e, c in zip(element_keys, row, strict=True)}
            for d, row in zip(CASE_DISTRICTS, a, strict=True)
        }
        for a in raw
    )


def capacity_cell_summary(assignments: Sequence[Mapping[str, Mapping[str, str]]]) -> pd.DataFrame:
    """Per district-element, the share of ``assignments`` giving it each capacity.

    Returns a frame indexed by (district, element key) with one column per capacity key (shares
    summing to 1) and ``certain``: the capacity key when one capacity has share 1, else missing
    (NaN; select the certain cells with ``frame["certain"].dropna()``).
    ``attrs["n_assignments"]`` holds the number of assignments.
    """
    if not assignments:
        raise ValueError("assignments: empty; shares are undefined")
    element_keys = Element.keys()
    counts: dict[tuple[str, str], Counter[str]] = {
        (d, e): Counter(a[d][e] for a in assignments) for d in CASE_DISTRICTS for e in element_keys
    }
    n = len(assignments)
    rows = []
    for (d, e), c in counts.items():
        shares = {cap: c[cap] / n for cap in Capacity.keys()}
        certain = next((cap for cap, s in shares.items() if s == 1.0), None)
        rows.append({"district": d, "element": e, **shares, "certain": certain})
    frame = pd.DataFrame(rows).set_index(["district", "element"])
    frame.attrs["n_assignments"] = n
    return frame


@functools.cache
def _enumerate(include_inferred: bool, table4_reading: str | None) -> tuple[_Raw, ...]:
    """The assignments in canonical form, sorted.

    Every table check decomposes into per-district counts, so each district's capacity tuples
    are grouped by (Table 3 count vector, alignment signature) and only the groups are combined;
    the Table 4 and Table 5 checks run once per combination of groups, not per assignment.
    """
    observed = load_observed()
    tables = observed.tables
    if table4_reading is not None:
        alternative = observed.alternatives.get(table4_reading)
        if alternative is None or "table4" not in alternative.tables:
            with_table4 = [n for n, alt in observed.alternatives.items() if "table4" in alt.tables]
            raise ValueError(f"table4_reading: {table4_reading!r} is not one of: {', '.join(with_table4)}")
        tables = observed.reading(table4_reading)
    active = [c for c in CONSTRAINTS if include_inferred or not c.inferred]
    allowed, known_sub, known_align = _cell_knowledge(active, observed.changed_elements)

    t3 = tables["table3"]
    target = tuple(t3[c.key][s.key] for c in Capacity for s in Substantiveness)
    # Per district: (count vector, alignment signature) -> capacity tuples reaching it.
    groups: list[dict[tuple[int, ...], list[tuple[_Signature, list[tuple[Capacity, ...]]]]]] = []
    for district in CASE_DISTRICTS:
        completions = _substantiveness_completions(district, tables["table2"][district], known_sub)
        by_key: dict[tuple[tuple[int, ...], _Signature], list[tuple[Capacity, ...]]] = {}
        for caps in itertools.product(*(sorted(allowed[(district, e)]) for e in ELEMENTS)):
            sig = _alignment_signature(district, caps, known_sub, known_align)
            for vector in {_count_vector(caps, subs) for subs in completions}:
                if all(v <= t for v, t in zip(vector, target, strict=True)):
                    by_key.setdefault((vector, sig), []).append(caps)
        by_vector: dict[tuple[int, ...], list[tuple[_Signature, list[tuple[Capacity, ...]]]]] = {}
        for (vector, sig), caps_list in by_key.items():
            by_vector.setdefault(vector, []).append((sig, caps_list))
        groups.append(by_vector)

    # Combine districts: count vectors must add up to Table 3, signatures must admit Table 4/5.
    t4, t5 = tables["table4"], tables["table5"]
    found: set[_Raw] = set()
    *heads, last = groups
    for vectors in itertools.product(*(list(g) for g in heads)):
        rest = tuple(t - sum(parts) for t, *parts in zip(target, *vectors, strict=True))
        if rest not in last:
            continue
        for picks in itertools.product(*(g[v] for g, v in zip(heads, vectors, strict=True)), last[rest]):
            sig = tuple(map(sum, zip(*(p[0] for p in picks), strict=True)))
            if _tables_4_5_possible(sig, t4, t5):
                found.update(itertools.product(*(p[1] for p in picks)))
    return tuple(sorted(found))


def _alignment_signature(
    district: str,
    caps: Sequence[Capacity],
    known_sub: Mapping[Cell, Substantiveness],
    known_align: Mapping[Cell, Alignment],
) -> _Signature:
    sig = [0] * (_SIG_WIDTH * len(Capacity))
    for element, cap in zip(ELEMENTS, caps, strict=True):
        cell = (district, element)
        if known_sub.get(cell) == Substantiveness.NO_CHANGE:
            slot = 0
        elif cell in known_align:
            slot = 1 if known_align[cell] == Alignment.NOT_ALIGNED else 2
        else:
            slot = 3
        sig[_SIG_WIDTH * cap + slot] += 1
    return tuple(sig)


def _tables_4_5_possible(sig: _Signature, t4: Mapping[str, Mapping[str, int]], t5: Mapping[str, Mapping[str, int]]) -> bool:
    """Whether the changed cells' alignment can be completed to match Table 4 given the coded
    facts, and the unchanged cells match Tables 4 and 5's no-change column (no element-level
    continuity code is stated, and Table 5 has every change fostering continuity)."""
    for cap in Capacity:
        unchanged, not_aligned, aligned, free = sig[_SIG_WIDTH * cap : _SIG_WIDTH * (cap + 1)]
        row4 = t4[cap.key]
        if unchanged != row4[Alignment.NO_CHANGE.key] or unchanged != t5[cap.key]["no_change"]:
            return False
        missing_na = row4[Alignment.NOT_ALIGNED.key] - not_aligned
        missing_a = row4[Alignment.ALIGNED.key] - aligned
        if missing_na < 0 or missing_a < 0 or missing_na + missing_a != free:
            return False
    return True


def _cell_knowledge(
    active: Iterable[Constraint], changed: Mapping[str, tuple[Element, ...]]
) -> tuple[dict[Cell, frozenset[Capacity]], dict[Cell, Substantiveness], dict[Cell, Alignment]]:
    """Allowed capacities, known substantiveness and known alignment of every cell."""
    allowed: dict[Cell, frozenset[Capacity]] = {(d, e): frozenset(Capacity) for d in CASE_DISTRICTS for e in ELEMENTS}
    known_sub: dict[Cell, Substantiveness] = {
        (d, e): Substantiveness.NO_CHANGE for d in CASE_DISTRICTS for e in ELEMENTS if e not in changed[d]
    }
    known_align: dict[Cell, Alignment] = {cell: Alignment.NO_CHANGE for cell in known_sub}
    for c in active:
        cell = (c.district, c.element)
        if c.capacities is not None:
            allowed[cell] &= c.capacities
            if not allowed[cell]:
                raise ValueError(f"CONSTRAINTS: no capacity left for {c.district}/{c.element.key}")
        for value, known in ((c.substantiveness, known_sub), (c.alignment, known_align)):
            if value is None:
                continue
            if cell in known and known[cell] != value:
                raise ValueError(f"CONSTRAINTS: {c.district}/{c.element.key} coded both {known[cell].key} and {value.key}")
            known[cell] = value  # type: ignore[assignment]
    return allowed, known_sub, known_align


def _substantiveness_completions(
    district: str, row: Mapping[str, int], known_sub: Mapping[Cell, Substantiveness]
) -> list[tuple[Substantiveness, ...]]:
    """Every substantiveness tuple of a district's six elements matching its Table 2 row."""
    changes = (Substantiveness.ADD_ON, Substantiveness.TRANSFORM)
    choices = [
        (known_sub[(district, e)],) if (district, e) in known_sub else changes for e in ELEMENTS
    ]
    want = Counter({s: row[s.key] for s in Substantiveness})
    return [subs for subs in itertools.product(*choices) if Counter(subs) == want]


def _count_vector(caps: Sequence[Capacity], subs: Sequence[Substantiveness]) -> tuple[int, ...]:
    counts = Counter(zip(caps, subs, strict=True))
    return tuple(counts[(c, s)] for c in Capacity for s in Substantiveness)
