"""The enumerated starting-capacity assignments reproduce Tables 2-4 and the text's constraints.

The Table 2/3 and Table 4 checks here are small brute forces written independently of the
enumerator's grouping code: they only use the observed tables, the vocabulary and the facts.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import Counter
from collections.abc import Mapping

import pytest

from experiments.evidence import capacities as ca
from experiments.evidence.capacities import (
    CONSTRAINTS,
    capacity_cell_summary,
    consistent_capacity_assignments,
)
from experiments.evidence import load_observed
from sim.vocab import CASE_DISTRICTS, ELEMENTS, Alignment, Capacity, Element, Substantiveness

AVALON, BIRCHWOOD, CEDARVILLE, DIAMOND = CASE_DISTRICTS
DNE, EMERGENT, ESTABLISHED = (c.key for c in Capacity)
FIXED_CELLS = {
    (AVALON, Element.OVERSIGHT.key): DNE,
    (BIRCHWOOD, Element.SCHOOL_LEADER_LEARNING.key): DNE,
    (BIRCHWOOD, Element.OVERSIGHT.key): DNE,
    (DIAMOND, Element.FRAMEWORK.key): DNE,
}
Assignment = Mapping[str, Mapping[str, str]]


@pytest.fixture(scope="module")
def assignments() -> tuple[dict[str, dict[str, str]], ...]:
    return consistent_capacity_assignments()


@pytest.fixture(scope="module")
def assignments_without_inferred() -> tuple[dict[str, dict[str, str]], ...]:
    return consistent_capacity_assignments(include_inferred=False)


def _frozen(a: Assignment) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(a[d][e.key] for e in ELEMENTS) for d in CASE_DISTRICTS)


def _subsample(items: tuple, k: int = 400) -> tuple:
    step = max(1, len(items) // k)
    return items[::step]


# --- independent brute-force checks --------------------------------------------------------


def _substantiveness_options() -> dict[str, list[dict[str, str]]]:
    """Per district, every substantiveness coding of its six elements that matches Table 2, the
    changed elements and the coded substantiveness facts."""
    observed = load_observed()
    coded = {(f["district"], f["element"].key): f["value"].key
             for f in observed.facts_of("substantiveness") if f["value"] is not None}
    keys = Substantiveness.keys()
    options: dict[str, list[dict[str, str]]] = {}
    for d in CASE_DISTRICTS:
        changed = {e.key for e in observed.changed_elements[d]}
        found = []
        for combo in itertools.product(keys, repeat=len(ELEMENTS)):
            coding = dict(zip((e.key for e in ELEMENTS), combo))
            if any((coding[e] == Substantiveness.NO_CHANGE.key) == (e in changed) for e in coding):
                continue
            if any(coding[e] != v for (dd, e), v in coded.items() if dd == d):
                continue
            if Counter(coding.values()) != Counter({k: v for k, v in observed.tables["table2"][d].items() if v}):
                continue
            found.append(coding)
        options[d] = found
    return options


def _has_table3_completion(a: Assignment, options: dict[str, list[dict[str, str]]]) -> bool:
    table3 = load_observed().tables["table3"]
    want = Counter({(c, s): n for c, row in table3.items() for s, n in row.items() if n})
    for codings in itertools.product(*(options[d] for d in CASE_DISTRICTS)):
        got = Counter((a[d][e], codings[i][e]) for i, d in enumerate(CASE_DISTRICTS) for e in a[d])
        if got == want:
            return True
    return False


def _has_table4_completion(a: Assignment, *, include_inferred: bool) -> bool:
    observed = load_observed()
    table4 = observed.tables["table4"]
    coded = {(f["district"], f["element"].key): f["value"].key
             for f in observed.facts_of("alignment")
             if f["value"] is not None and (include_inferred or not f["inferred"])}
    changed = [(d, e.key) for d in CASE_DISTRICTS for e in observed.changed_elements[d]]
    free = [cell for cell in changed if cell not in coded]
    want = Counter({(c, s): n for c, row in table4.items() for s, n in row.items() if n})
    unchanged = Counter((a[d][e.key], Alignment.NO_CHANGE.key)
                        for d in CASE_DISTRICTS for e in ELEMENTS if e not in observed.changed_elements[d])
    fixed = unchanged + Counter((a[d][e], v) for (d, e), v in coded.items())
    for combo in itertools.product((Alignment.NOT_ALIGNED.key, Alignment.ALIGNED.key), repeat=len(free)):
        got = fixed + Counter((a[d][e], v) for (d, e), v in zip(free, combo))
        if got == want:
            return True
    return False


# --- tests ---------------------------------------------------------------------------------


def test_non_empty_and_counts_as_documented(assignments, assignments_without_inferred) -> None:
    # The module docstring reports these numbers as measured; keep them honest.
    assert len(assignments) == 225
    assert len(assignments_without_inferred) == 15060
    assert "225" in (ca.__doc__ or "") and "15,060" in (ca.__doc__ or "")


def test_every_assignment_reproduces_table3_row_totals_and_fixed_cells(assignments, assignments_without_inferred) -> None:
    n = load_observed().capacity_n
    for a in (*assignments, *assignments_without_inferred):
        assert set(a) == set(CASE_DISTRICTS)
        assert Counter(c for d in a for c in a[d].values()) == Counter(n)
        for (d, e), cap in FIXED_CELLS.items():
            assert a[d][e] == cap, (d, e)


def test_every_assignment_has_a_substantiveness_completion(assignments, assignments_without_inferred) -> None:
    options = _substantiveness_options()
    assert [len(options[d]) for d in CASE_DISTRICTS] == [1, 4, 1, 10]
    for a in (*assignments, *_subsample(assignments_without_inferred)):
        assert _has_table3_completion(a, options), a


def test_every_assignment_has_an_alignment_completion(assignments, assignments_without_inferred) -> None:
    for a in assignments:
        assert _has_table4_completion(a, include_inferred=True), a
    for a in _subsample(assignments_without_inferred):
        assert _has_table4_completion(a, include_inferred=False), a


def test_the_brute_force_rejects_a_wrong_assignment(assignments) -> None:
    """The checks above can fail: swapping a fixed cell with an emergent one breaks Table 3, and
    making Birchwood's (non-aligned) framework emergent breaks Table 4."""
    bad = {d: dict(row) for d, row in assignments[0].items()}
    bad[AVALON][Element.OVERSIGHT.key], bad[CEDARVILLE][Element.ASSESSMENT.key] = EMERGENT, DNE
    assert not _has_table3_completion(bad, _substantiveness_options())
    bad = {d: dict(row) for d, row in assignments[0].items()}
    emergent_cell = next((d, e) for d in CASE_DISTRICTS for e, c in bad[d].items()
                         if c == EMERGENT and (d, e) != (CEDARVILLE, Element.ASSESSMENT.key))
    bad[BIRCHWOOD][Element.FRAMEWORK.key], bad[emergent_cell[0]][emergent_cell[1]] = EMERGENT, DNE
    assert not _has_table4_completion(bad, include_inferred=False)


def test_every_assignment_satisfies_every_capacity_constraint(assignments, assignments_without_inferred) -> None:
    for inferred_too, found in ((True, assignments), (False, assignments_without_inferred)):
        for c in CONSTRAINTS:
            if c.capacities is None or (c.inferred and not inferred_too):
                continue
            allowed = {cap.key for cap in c.capacities}
            assert all(a[c.district][c.element.key] in allowed for a in found), c.description


def test_dropping_inferred_constraints_gives_a_superset(assignments, assignments_without_inferred) -> None:
    strict = {_frozen(a) for a in assignments}
    loose = {_frozen(a) for a in assignments_without_inferred}
    assert strict < loose


def test_cedarville_assessment_is_always_emergent(assignments, assignments_without_inferred) -> None:
    for a in (*assignments, *assignments_without_inferred):
        assert a[CEDARVILLE][Element.ASSESSMENT.key] == EMERGENT


def test_certain_cells(assignments, assignments_without_inferred) -> None:
    summary = capacity_cell_summary(assignments)
    assert summary.attrs["n_assignments"] == len(assignments)
    assert summary[list(Capacity.keys())].sum(axis=1).round(12).eq(1.0).all()
    certain = summary["certain"].dropna().to_dict()
    assert certain == {
        **FIXED_CELLS,
        (CEDARVILLE, Element.ASSESSMENT.key): EMERGENT,
        (BIRCHWOOD, Element.FRAMEWORK.key): DNE,
    }
    loose = capacity_cell_summary(assignments_without_inferred)["certain"].dropna().to_dict()
    assert loose == {**FIXED_CELLS, (CEDARVILLE, Element.ASSESSMENT.key): EMERGENT}
    assert capacity_cell_summary(assignments_without_inferred).loc[(BIRCHWOOD, Element.FRAMEWORK.key), EMERGENT] == 0


def test_table4_sentence_reading(assignments_without_inferred) -> None:
    assert consistent_capacity_assignments(table4_reading="table4_text") == ()
    loose = consistent_capacity_assignments(include_inferred=False, table4_reading="table4_text")
    assert len(loose) == 5970
    assert {_frozen(a) for a in loose} != {_frozen(a) for a in assignments_without_inferred}


def test_order_is_deterministic_and_results_are_fresh(assignments) -> None:
    again = consistent_capacity_assignments()
    assert again == assignments and again is not assignments
    order = [tuple(Capacity.from_key(c) for row in _frozen(a) for c in row) for a in assignments]
    assert order == sorted(order)


def test_diamond_changed_elements_have_no_single_capacity_multiset(assignments) -> None:
    """Why observed.toml records the end-of-run continuity reading per district."""
    changed = load_observed().changed_elements[DIAMOND]
    multisets = {tuple(sorted(a[DIAMOND][e.key] for e in changed)) for a in assignments}
    assert len(multisets) > 1


def test_enumeration_is_fast() -> None:
    ca._enumerate.cache_clear()
    load_observed()  # parsing the file is not part of the enumeration
    # The best of three cold runs (a loaded machine slows single runs by 2-3x; the enumeration takes
    # about 0.25 s with one core free).
    for include_inferred in (True, False):
        best = math.inf
        for _ in range(3):
            ca._enumerate.cache_clear()
            start = time.perf_counter()
            consistent_capacity_assignments(include_inferred=include_inferred)
            best = min(best, time.perf_counter() - start)
        assert best < 1.0


def test_empty_summary_is_rejected() -> None:
    with pytest.raises(ValueError, match="assignments"):
        capacity_cell_summary(())


def test_table4_reading_must_name_a_table4_alternative() -> None:
    with pytest.raises(ValueError, match="table4_reading"):
        consistent_capacity_assignments(table4_reading="end_of_run")
