"""The teacher population: lazily worked-out moves equal a month-by-month walk, and the process has
the distribution of monthly Bernoulli moves."""

from __future__ import annotations

import numpy as np

from conftest import district
from sim.teachers import _NEVER, TeacherPopulation


def brute_force(pop: TeacherPopulation, lam1: np.ndarray, lam2: np.ndarray):
    """Walk every teacher month by month with her own thresholds."""
    n = len(pop)
    m1 = np.full(n, _NEVER)
    m2 = np.full(n, _NEVER)
    for i in range(n):
        g = pop.group[i]
        c1 = c2 = base = 0.0
        for m in range(lam1.shape[0]):
            c1 += lam1[m, g]
            c2 += lam2[m, g]
            if m1[i] < m and m2[i] == _NEVER and c2 - base >= pop.thresholds[1, i]:
                m2[i] = m
            if m1[i] == _NEVER and c1 >= pop.thresholds[0, i]:
                m1[i] = m
                base = c2
    return m1, m2


def test_lazy_moves_equal_the_monthly_walk():
    rng = np.random.default_rng(4)
    districts = [district("A", teachers=(5, 3, 20), team=4), district("B", teachers=(2, 1, 9), team=3)]
    H = 30
    pop = TeacherPopulation(districts, H, np.random.default_rng(9))
    lam1 = rng.exponential(0.08, size=(H, pop.n_groups)) * (rng.random((H, pop.n_groups)) < 0.7)
    lam2 = rng.exponential(0.05, size=(H, pop.n_groups)) * (rng.random((H, pop.n_groups)) < 0.7)
    for m in range(H):
        pop.step(m, lam1[m], lam2[m])
        if m in (3, 4, 11, 20):  # queries part-way resolve part of the history
            pop.practices()
    m1, m2 = pop._move_months()
    b1, b2 = brute_force(pop, lam1, lam2)
    assert np.array_equal(m1, b1) and np.array_equal(m2, b2)
    assert (m1 < _NEVER).any() and (m2 < _NEVER).any()
    assert (m2[m2 < _NEVER] > m1[m2 < _NEVER]).all()  # one level per month at most


def test_moves_follow_monthly_bernoulli_probabilities():
    # Constant p per month: P(reached level 1 by the end of month t) = 1 - (1 - p)^(t + 1).
    p, H = 0.1, 12
    pop = TeacherPopulation([district("A", teachers=(0, 0, 4000), team=0)], H, np.random.default_rng(1))
    lam = np.full(pop.n_groups, -np.log1p(-p))
    for m in range(H):
        pop.step(m, lam, np.zeros(pop.n_groups))
    prac = pop.practices()
    expected = 1 - (1 - p) ** H
    se = np.sqrt(expected * (1 - expected) / 4000)
    assert abs((prac >= 1).mean() - expected) < 4 * se  # stated tolerance: 4 standard errors
    assert (prac == 2).sum() == 0  # no second-move hazard given


def test_teachers_who_left_keep_their_practice():
    H = 10
    pop = TeacherPopulation([district("A", teachers=(50, 0, 50), team=0)], H, np.random.default_rng(2))
    lam = np.full(pop.n_groups, 0.3)
    for m in range(5):
        pop.step(m, lam, lam)
    before = pop.practices().copy()
    gone = pop.remove_prek(0, 5)
    for m in range(5, H):
        pop.step(m, lam, lam)
    after = pop.practices()
    assert np.array_equal(after[gone], before[gone])
    assert pop.district_counts().sum() == 50  # only the K-3 teachers remain active


def test_certain_uptake_runs_and_moves_every_team_teacher():
    # Uptake probability 1 with no turbulence: the hazard must stay finite (found by the Morris
    # screening, where it crashed the run).
    import warnings

    from conftest import conditions
    from sim import Parameters, simulate

    cond = conditions(district(teachers=(10, 5, 40), team=8), turbulence_by_year=(0.0,), turbulence_after=0.0)
    params = Parameters(teacher_uptake_team=1.0, teacher_uptake_district=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        r = simulate(cond, params, seed=1)
    assert np.isfinite(r.practice_series).all()
    assert r.practice_series[-1, 0, 0] < 1.0  # teachers did move
