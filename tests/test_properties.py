"""Property-based tests (issue 8): invariants of any run over random valid scenarios.

Each example draws a few parameter overrides inside their PARAMETER_SPECS ranges, a horizon, an
optional Diamond authority flag, an optional district without pre-K, one starting-capacity
assignment of the enumeration, and a seed; it then simulates once and checks one invariant.
"""

from __future__ import annotations

import math
from collections import defaultdict
from functools import lru_cache

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments.scenario import apply_overrides, default_scenario
from sim import coding
from sim.parameters import PARAMETER_SPECS
from sim.results import OUTCOME_NAMES
from sim.run import simulate
from sim.vocab import Alignment, Capacity, Consistency, Continuity, Element, Substantiveness

N_ELEMENTS = len(Element)
PROPS = settings(max_examples=25, deadline=None, derandomize=True)


@lru_cache(maxsize=1)
def _base():
    return default_scenario()


@lru_cache(maxsize=1)
def _n_assignments() -> int:
    return len(_base().conditions())


def _param_value(name: str):
    spec = PARAMETER_SPECS[name]
    return st.floats(min_value=spec.low, max_value=spec.high, allow_nan=False, allow_infinity=False)


@st.composite
def scenarios(draw):
    """(conditions, parameters, seed, name of the district drawn without pre-K or None)."""
    names = draw(st.lists(st.sampled_from(sorted(PARAMETER_SPECS)), min_size=0, max_size=5, unique=True))
    overrides: dict[str, object] = {f"parameters.{n}": draw(_param_value(n)) for n in names}
    overrides["horizon_months"] = draw(st.integers(min_value=12, max_value=72))
    diamond_authority = draw(st.sampled_from([None, True, False]))
    if diamond_authority is not None:
        overrides["districts.Diamond.lead.positional_authority"] = diamond_authority
    no_prek = draw(st.sampled_from([None, "Avalon", "Birchwood", "Cedarville"]))
    if no_prek is not None:
        overrides[f"districts.{no_prek}.has_prek"] = False
        overrides[f"districts.{no_prek}.teachers.prek"] = 0
    scenario = apply_overrides(_base(), overrides)
    conds = scenario.conditions()
    assert len(conds) == _n_assignments()
    conditions = conds[draw(st.integers(min_value=0, max_value=len(conds) - 1))]
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    return conditions, scenario.parameters_(), seed, no_prek


def _run(case):
    conditions, params, seed, _ = case
    return simulate(conditions, params, seed)


def _by_element(records):
    out = defaultdict(list)
    for r in records:
        out[(r.district, r.element)].append(r)
    return out


# --- every district-element is coded exactly once on each dimension -----------------------------
@PROPS
@given(scenarios())
def test_every_district_element_coded_once_per_dimension(case):
    r = _run(case)
    D = len(r.districts)
    for arr, enum in (
        (r.substantiveness, Substantiveness),
        (r.consistency, Consistency),
        (r.alignment, Alignment),
        (r.continuity, Continuity),
        (r.continuity_end, Continuity),
    ):
        assert arr.shape == (D, N_ELEMENTS)
        assert set(np.unique(arr).tolist()) <= {int(m) for m in enum}
    # District tables: each district's row counts its six elements once.
    assert (r.table2().sum(axis=1) == N_ELEMENTS).all()
    assert (r.consistency_table().sum(axis=1) == N_ELEMENTS).all()
    # Capacity tables: each row counts the elements that started at that capacity, once.
    per_capacity = np.bincount(r.capacity0.ravel().astype(np.int64), minlength=len(Capacity))
    for t in (r.table3(), r.table4(), r.table5(), r.table5_end()):
        assert t.sum() == D * N_ELEMENTS
        assert (t.sum(axis=1) == per_capacity).all()
    # The "no change" code agrees on all four dimensions and with the change log.
    changes = _by_element(r.changes)
    links = defaultdict(list)
    for l in r.link_log:
        links[(l.district, l.a)].append(l)
        links[(l.district, l.b)].append(l)
    for d, name in enumerate(r.districts):
        for e in Element:
            ch = changes[(name, e)]
            assert r.n_changes[d, e] == len(ch)
            codes = coding.code_tally(
                coding.tally(ch, links[(name, e)], element=e, prek_at_end=bool(r.has_prek_end[d]))
            )
            assert int(r.substantiveness[d, e]) == codes["substantiveness"], (name, e)
            assert int(r.consistency[d, e]) == codes["consistency"], (name, e)
            assert int(r.alignment[d, e]) == codes["alignment"], (name, e)
            assert int(r.continuity[d, e]) == codes["continuity"], (name, e)
            assert int(r.continuity_end[d, e]) == codes["continuity_end"], (name, e)


# --- nothing is changed before it exists ---------------------------------------------------------
@PROPS
@given(scenarios())
def test_missing_elements_are_created_by_their_first_change(case):
    r = _run(case)
    changes = _by_element(r.changes)
    for d, name in enumerate(r.districts):
        for e in Element:
            ch = changes[(name, e)]
            months = [c.month for c in ch]
            assert months == sorted(months), (name, e, months)  # the log is in time order
            assert all(0 <= m < r.horizon_months for m in months), (name, e, months)
            if ch:
                assert r.first_month[d, e] == ch[0].month
            else:
                assert r.first_month[d, e] == -1
            n_created = sum(c.created for c in ch)
            if r.capacity0[d, e] == Capacity.DID_NOT_EXIST:
                if ch:
                    assert ch[0].created, (name, e, ch[0])
                    assert n_created == 1, (name, e, n_created)
                else:
                    assert r.capacity_end[d, e] == Capacity.DID_NOT_EXIST
            else:
                assert n_created == 0, (name, e)
            assert (r.capacity_end[d, e] == Capacity.DID_NOT_EXIST) == (
                r.capacity0[d, e] == Capacity.DID_NOT_EXIST and not ch
            )


# --- links only join changed elements ------------------------------------------------------------
@PROPS
@given(scenarios())
def test_links_only_join_changed_elements(case):
    r = _run(case)
    first = defaultdict(lambda: math.inf)
    for c in r.changes:
        first[(c.district, c.element)] = min(first[(c.district, c.element)], c.month)
    seen = set()
    for l in r.link_log:
        assert l.a != l.b, l
        assert first[(l.district, l.a)] <= l.month, l
        assert first[(l.district, l.b)] <= l.month, l
        key = (l.district, frozenset((l.a, l.b)))
        assert key not in seen, f"link logged twice: {l}"
        seen.add(key)
    # The link matrix is the link log.
    D = len(r.districts)
    logged = np.zeros((D, N_ELEMENTS, N_ELEMENTS), dtype=bool)
    index = {n: i for i, n in enumerate(r.districts)}
    for l in r.link_log:
        logged[index[l.district], l.a, l.b] = logged[index[l.district], l.b, l.a] = True
    assert (r.links == logged).all()
    unchanged = r.n_changes == 0
    assert not (r.links.any(axis=2) & unchanged).any()


# --- a district without pre-K never gains continuity ---------------------------------------------
@PROPS
@given(scenarios())
def test_no_prek_no_continuity(case):
    r = _run(case)
    no_prek = case[3]
    if no_prek is not None:
        d = r.districts.index(no_prek)
        assert not r.has_prek_end[d]
        assert not (r.continuity[d] == Continuity.CONTINUITY).any()
        assert not any(c.prek_included for c in r.changes if c.district == no_prek)
    # Pre-K eliminated during the run (Diamond's shock): no element of a district without pre-K at
    # the end fosters continuity at the end (changes after it may still bring in the youngest band).
    for d in np.flatnonzero(~r.has_prek_end):
        assert not (r.continuity_end[d] == Continuity.CONTINUITY).any()


# --- outcome shares are shares -------------------------------------------------------------------
@PROPS
@given(scenarios())
def test_outcome_shares_in_unit_interval_or_nan_when_undefined(case):
    r = _run(case)
    per = r.outcomes()
    overall = r.overall_outcomes()
    assert set(per) == set(OUTCOME_NAMES) == set(overall)
    nch = per["elements_changed"]
    assert ((nch >= 0) & (nch <= N_ELEMENTS)).all()
    assert overall["elements_changed"] == nch.sum()
    for name in OUTCOME_NAMES:
        if name == "elements_changed":
            continue
        v = per[name]
        undefined = nch == 0
        assert np.isnan(v[undefined]).all(), name
        assert not np.isnan(v[~undefined]).any(), name
        if name == "mean_month_of_change":
            assert ((v[~undefined] >= 0) & (v[~undefined] < r.horizon_months)).all(), name
        else:
            assert ((v[~undefined] >= 0) & (v[~undefined] <= 1)).all(), name
        o = overall[name]
        if overall["elements_changed"] == 0:
            assert math.isnan(o), name
        elif name == "mean_month_of_change":
            assert 0 <= o < r.horizon_months, name
        else:
            assert 0 <= o <= 1, name
            # The pooled share is the change-weighted mean of the district shares.
            assert math.isclose(o, float(np.nansum(v * nch) / nch.sum()), abs_tol=1e-12), name


# --- the same seed gives the same run ------------------------------------------------------------
@PROPS
@given(scenarios())
def test_same_seed_same_run(case):
    a, b = _run(case), _run(case)
    assert a.changes == b.changes
    assert a.link_log == b.link_log
    assert a.events == b.events
    for f in ("capacity_end", "substantiveness", "consistency", "alignment", "continuity",
              "continuity_end", "first_month", "links", "practice_series"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f
