"""The model's mechanisms, tested statistically with fixed seeds and stated tolerances, and its
invariants and determinism."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import ShockSpec, competing_holder, conditions, district, lead
from sim import CoherenceModel, Parameters, simulate
from sim.conditions import LeaderSpec
from sim.vocab import Alignment, Capacity, Consistency, Continuity, Element, Substantiveness

SEEDS = range(300)


def runs(cond, params=None, seeds=SEEDS):
    return [simulate(cond, params, seed=s) for s in seeds]


def two_proportion_z(k1, n1, k2, n2) -> float:
    p = (k1 + k2) / (n1 + n2)
    se = np.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    return (k1 / n1 - k2 / n2) / se


def _paired_by_capacity(field, params=None, seeds=SEEDS):
    """``field(run)`` (six values, one per element) with each element established in one arm and
    missing in the other (common seeds): returns (established, missing), each runs x 6, element by
    element, so the provider's emphasis on and modelling of particular elements cancels out."""
    E, M = Capacity.ESTABLISHED, Capacity.DID_NOT_EXIST
    arms = [np.stack([field(r) for r in runs(conditions(district(capacity=caps)), params, seeds)])
            for caps in ((E,) * 3 + (M,) * 3, (M,) * 3 + (E,) * 3)]
    established = np.concatenate([arms[0][:, :3], arms[1][:, 3:]], axis=1)
    missing = np.concatenate([arms[1][:, :3], arms[0][:, 3:]], axis=1)
    return established, missing


def _transform_shares(params=None, seeds=SEEDS):
    """Transform share among changed elements, established vs missing at the start (paired)."""
    est, mis = _paired_by_capacity(lambda r: r.substantiveness[0], params, seeds)
    T = Substantiveness.TRANSFORM
    return int((est == T).sum()), int((est > 0).sum()), int((mis == T).sum()), int((mis > 0).sum())


def test_established_elements_transform_more_often_than_missing_ones():
    # Lines 1107-1121 (Table 3): 12 of 14 established transformed vs 1 of 3 created (a gap of 0.52).
    k1, n1, k2, n2 = _transform_shares()
    assert n1 > 400 and n2 > 200
    # Stated tolerance at the hand-set defaults: the transform share differs by > 0.3 and z > 5.
    assert k1 / n1 - k2 / n2 > 0.3
    assert two_proportion_z(k1, n1, k2, n2) > 5


def test_at_the_calibrated_point_capacity_sets_substantiveness_about_as_the_report_found():
    # The same comparison at the published calibrated defaults: the report's gap is 0.52
    # (12/14 vs 1/3); the calibration fits Table 3 only through the case's own capacities, so a
    # gap of at least 0.3 here is a check of the mechanism, not a restatement of the fit.
    from experiments.evidence import calibrated_parameters

    params = calibrated_parameters()
    if params is None:
        pytest.fail("experiments/evidence/data/calibrated.toml does not fit the model's parameters: recalibrate")
    k1, n1, k2, n2 = _transform_shares(params, range(200))
    assert k1 / n1 - k2 / n2 > 0.3, (k1 / n1, k2 / n2)
    assert two_proportion_z(k1, n1, k2, n2) > 5


def test_missing_elements_change_less_often():
    # Each element is compared with itself (common seeds): established in one arm, missing in the
    # other, so what differs is the capacity, not which elements the provider emphasises or models.
    established, missing = _paired_by_capacity(lambda r: r.n_changes[0] > 0, seeds=range(200))
    # Stated tolerance: at least 0.1 more of the elements change when they run something to work
    # with, and the paired difference is > 5 standard errors (1,200 element-runs per arm).
    diff = established.astype(float) - missing
    assert diff.mean() > 0.1
    assert diff.mean() / (diff.std(ddof=1) / np.sqrt(diff.size)) > 5


def test_authority_with_buy_in_yields_more_consistent_change():
    # Lines 1262-1278: an on-board lead with authority vs a lead without it beside a competing
    # authority holder (Diamond).
    steered = conditions(district())
    crossed = conditions(
        district(leaders=(lead(authority=False, early_childhood=True), competing_holder()))
    )
    a = np.array([r.overall_outcomes()["share_consistent"] for r in runs(steered, seeds=range(200))])
    b = np.array([r.overall_outcomes()["share_consistent"] for r in runs(crossed, seeds=range(200))])
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    # Stated tolerance: the mean share of consistent elements is higher by > 0.3.
    assert a.mean() - b.mean() > 0.3
    # The crossed district produces somewhat- and not-consistent elements (600 element-runs: over
    # 0.03 and 0.02 of them); the steered one none.
    cons_a = np.stack([r.consistency for r in runs(steered, seeds=range(100))])
    cons_b = np.stack([r.consistency for r in runs(crossed, seeds=range(100))])
    assert (cons_b == Consistency.NOT_CONSISTENT).mean() > 0.03
    assert (cons_b == Consistency.SOMEWHAT).mean() > 0.02
    assert not np.isin(cons_a, (Consistency.NOT_CONSISTENT, Consistency.SOMEWHAT)).any()


def test_no_prek_no_continuity():
    res = runs(conditions(district(has_prek=False)), seeds=range(100))
    for r in res:
        assert not (r.continuity == Continuity.CONTINUITY).any()
        assert not (r.continuity_end == Continuity.CONTINUITY).any()
    # ...while the same district with pre-K does build continuity.
    with_prek = runs(conditions(district()), seeds=range(50))
    assert np.mean([(r.continuity == Continuity.CONTINUITY).sum() for r in with_prek]) > 2


def test_prek_eliminated_loses_continuity_at_the_end_only():
    cond = conditions(district(shocks=(ShockSpec("prek_eliminated", 24),)))
    res = runs(cond, seeds=range(100))
    during = sum(int((r.continuity == Continuity.CONTINUITY).sum()) for r in res)
    end = sum(int((r.continuity_end == Continuity.CONTINUITY).sum()) for r in res)
    assert during > 100 and end == 0
    assert all(not r.has_prek_end[0] for r in res)
    # After the elimination a change can still bring in the youngest band (now TK; Table 5 counts
    # all of Diamond's changes as fostering continuity), but continuity at the end is gone.
    assert any(c.prek_included for r in res for c in r.changes if c.month >= 24)


def test_small_district_decides_faster():
    # Lines 1292-1300: a one-school district changes without bureaucracy.
    small = conditions(district(schools=1, school_leaders=16))
    large = conditions(district(schools=20, school_leaders=16))
    lag_small = [c.month - c.decided_month for r in runs(small, seeds=range(100)) for c in r.changes]
    lag_large = [c.month - c.decided_month for r in runs(large, seeds=range(100)) for c in r.changes]
    assert np.mean(lag_small) == 0
    assert np.mean(lag_large) > 1.5


def test_few_school_leaders_rarely_build_school_leader_learning():
    # Lines 1281-1292: two school leaders need no formal learning system.
    caps = list((Capacity.ESTABLISHED,) * 6)
    caps[Element.SCHOOL_LEADER_LEARNING] = Capacity.DID_NOT_EXIST
    few = runs(conditions(district(capacity=caps, school_leaders=2, schools=1)), seeds=range(200))
    many = runs(conditions(district(capacity=caps, school_leaders=30, schools=1)), seeds=range(200))
    sll = Element.SCHOOL_LEADER_LEARNING
    assert np.mean([r.n_changes[0, sll] > 0 for r in many]) - np.mean([r.n_changes[0, sll] > 0 for r in few]) > 0.1


def test_prior_experience_goes_beyond_the_signature_practice():
    # Lines 1212-1232.
    exp = runs(conditions(district(prior_experience=True)), seeds=range(150))
    new = runs(conditions(district(prior_experience=False)), seeds=range(150))
    a = np.nanmean([r.overall_outcomes()["share_beyond_signature_practice"] for r in exp])
    b = np.nanmean([r.overall_outcomes()["share_beyond_signature_practice"] for r in new])
    assert a - b > 0.2


def test_links_only_join_changed_elements_and_are_symmetric():
    for r in runs(conditions(district(), district("E", leaders=(lead(authority=False), competing_holder()))), seeds=range(60)):
        changed = r.n_changes > 0
        for d in range(len(r.districts)):
            L = r.links[d]
            assert (L == L.T).all() and not L.diagonal().any()
            a, b = np.nonzero(L)
            assert changed[d, a].all() and changed[d, b].all()
        for rec in r.link_log:
            d = r.districts.index(rec.district)
            firsts = (r.first_month[d, rec.a], r.first_month[d, rec.b])
            assert max(firsts) <= rec.month  # a link never precedes both changes


def test_no_element_is_transformed_before_it_exists_and_creation_is_recorded():
    caps = (Capacity.DID_NOT_EXIST,) * 6
    for r in runs(conditions(district(capacity=caps)), seeds=range(100)):
        seen = set()
        for c in r.changes:
            assert c.created == (c.element not in seen)
            seen.add(c.element)


def test_same_seed_same_run_and_different_seeds_differ(case_definition):
    from experiments.case import case_conditions

    conds, _ = case_conditions(case_definition)
    a, b = simulate(conds[0], seed=7), simulate(conds[0], seed=7)
    for name, t in a.tables().items():
        assert (t == b.tables()[name]).all(), name
    assert a.changes == b.changes and a.link_log == b.link_log and a.events == b.events
    assert np.array_equal(a.practice_series, b.practice_series)
    others = [simulate(conds[0], seed=s).changes for s in range(8, 14)]
    assert any(o != a.changes for o in others)


def test_invariants_on_the_case(case_definition):
    from experiments.case import case_conditions

    conds, _ = case_conditions(case_definition)
    for i, s in enumerate(range(40)):
        r = simulate(conds[i % len(conds)], seed=s)
        t = r.tables()
        assert t["table2"].sum() == 24 and (t["table2"].sum(axis=1) == 6).all()
        for name in ("table3", "table4", "table5", "table5_end"):
            assert t[name].sum() == 24
            assert (t[name].sum(axis=1) == np.bincount(r.capacity0.ravel(), minlength=3)).all()
        assert t["consistency"].sum() == 24
        unchanged = r.n_changes == 0
        for codes in (r.substantiveness, r.consistency, r.alignment, r.continuity, r.continuity_end):
            assert ((codes == 0) == unchanged).all()  # every district-element coded exactly once
        out = r.overall_outcomes()
        for k, v in out.items():
            if k.startswith("share") and np.isfinite(v):
                assert 0.0 <= v <= 1.0
        shares = r.practice_series.sum(axis=2)
        assert np.allclose(shares[shares > 0], 1.0)


def test_teacher_agents_are_mesa_agents_viewing_the_cohorts(case_definition):
    from experiments.case import case_conditions
    from sim.agents import Teacher

    conds, _ = case_conditions(case_definition)
    model = CoherenceModel(conds[0], rng=3)
    teachers = model.teachers
    assert len(teachers) == sum(d.n_teachers for d in conds[0].districts)
    assert all(isinstance(t, Teacher) and int(t.practice) == 0 for t in teachers)  # everyone starts traditional
    n_before = len(teachers)
    model.run_for(30)
    later = model.teachers
    assert len(later) < n_before  # Diamond's pre-K teachers left in month 24
    assert len(model.agents_by_type[Teacher]) == len(later)  # the old views were removed
    practice = lambda ts, team: np.mean([int(t.practice) for t in ts if t.on_team == team])  # noqa: E731
    # Team members learn faster than the rest (lines 1297-1302).
    assert practice(later, True) > practice(later, False) > 0
    counts = model.teachers_pop.level_counts(0)
    assert sum(int(t.practice) == 1 for t in later if t.district.index == 0) == counts[1]


def test_a_good_mesa_citizen(case_definition):
    from mesa.batchrunner import batch_run

    from experiments.case import case_conditions
    from sim.model import HorizonReached

    cond = case_conditions(case_definition)[0][0]
    model = CoherenceModel(cond, rng=1, collect=True)
    while model.running:
        model.step()
    assert model.steps == cond.horizon_months
    with pytest.raises(HorizonReached, match="horizon_months"):
        model.step()
    frame = model.datacollector.get_model_vars_dataframe()
    assert len(frame) == cond.horizon_months + 1 and frame["elements_changed"].is_monotonic_increasing
    agents = model.datacollector.get_agenttype_vars_dataframe(type(model.district_list[0].lead))
    assert {"buy_in", "role"} <= set(agents.columns)
    rows = batch_run(CoherenceModel, parameters={"conditions": cond, "collect": True, "team_attention": [1, 3]},
                     max_steps=100, display_progress=False, rng=[1, 2])
    last = {(r["team_attention"], r["iteration"]): r["elements_changed"] for r in rows if r["Step"] == cond.horizon_months}
    assert len(last) == 4
    with pytest.raises(ValueError, match="team_attention"):
        CoherenceModel(cond, rng=1, team_attention=9)
    with pytest.raises(ValueError, match="unknown parameter"):
        CoherenceModel(cond, rng=1, nope=1)


def test_parameters_change_outcomes_in_the_stated_direction(case_definition):
    from experiments.case import case_conditions

    conds, _ = case_conditions(case_definition)
    low = Parameters(uptake_rate=0.02)
    high = Parameters(uptake_rate=0.4)
    n_low = np.mean([simulate(conds[s % len(conds)], low, seed=s).overall_outcomes()["elements_changed"] for s in range(40)])
    n_high = np.mean([simulate(conds[s % len(conds)], high, seed=s).overall_outcomes()["elements_changed"] for s in range(40)])
    assert n_high > n_low + 4


def test_bad_parameters_name_the_field():
    with pytest.raises(ValueError, match="uptake_rate"):
        Parameters(uptake_rate=-1)
    with pytest.raises(ValueError, match="parameters.nope"):
        Parameters.from_mapping({"nope": 1})


def test_changing_one_district_leaves_the_others_untouched_unless_districts_meet(case_definition):
    # Common random numbers: each district draws from its own streams. Districts meet, though: at
    # convenings (peer learning) and through the provider, which adapts to what it sees in all of
    # them. With both channels closed a counterfactual for Diamond leaves the others' runs exactly
    # as they were; with them open the others may differ, and only through those channels.
    from dataclasses import replace

    from experiments.case import case_conditions

    cond = case_conditions(case_definition)[0][0]

    def diamond_with_authority(c):
        return replace(c, districts=tuple(
            replace(d, leaders=tuple(replace(l, positional_authority=True) if l.leads_initiative else l for l in d.leaders),
                    shocks=()) if d.name == "Diamond" else d for d in c.districts))

    closed = replace(cond, program=replace(cond.program, adaptive=False))
    params = Parameters(peer_learning=0.0)
    differs = 0
    for seed in range(25):
        rb, ra = simulate(closed, params, seed=seed), simulate(diamond_with_authority(closed), params, seed=seed)
        for name in ("Avalon", "Birchwood", "Cedarville"):
            assert [c for c in rb.changes if c.district == name] == [c for c in ra.changes if c.district == name]
            assert [l for l in rb.link_log if l.district == name] == [l for l in ra.link_log if l.district == name]
        d = rb.districts.index("Diamond")
        differs += rb.changes != ra.changes
    assert differs > 5  # ... while Diamond itself does change
    # Open channels: the others can differ (which of them, and how often, depends on the model's state).
    moved = 0
    for s in range(25):
        rb, ra = simulate(cond, seed=s), simulate(diamond_with_authority(cond), seed=s)
        moved += any([c for c in rb.changes if c.district == name] != [c for c in ra.changes if c.district == name]
                     for name in ("Avalon", "Birchwood", "Cedarville"))
    assert moved > 0


def test_a_disorganized_element_gets_an_add_on_only_after_a_failed_attempt_to_make_it_systemic(case_definition):
    """Lines 780-789 (Cedarville's assessment): a team that cannot make a disorganized element
    systemic first gets no traction; only a later design may add a piece beside the separate ones.
    The setback must happen in the runs (else this test would pass vacuously)."""
    from experiments.case import case_conditions

    conds, _ = case_conditions(case_definition)
    checked = 0
    for i in range(80):
        r = simulate(conds[i % len(conds)], seed=1000 + i)
        for d, name in enumerate(r.districts):
            for e in Element:
                if r.capacity0[d, int(e)] != int(Capacity.EMERGENT):
                    continue
                first = next((c for c in r.changes if c.district == name and c.element == e), None)
                if first is None or first.transform or first.source != "initiative":
                    continue
                label = e.label.lower()
                setbacks = [ev for ev in r.events if ev.district == name and ev.kind == "no_traction"
                            and f"make {label} systemic" in ev.detail and ev.month <= first.decided_month]
                assert setbacks, (name, e, first)
                checked += 1
    assert checked >= 20
