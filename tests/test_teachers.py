"""Teachers as cohorts of exchangeable teachers: binomial moves, monotone practice, team seats."""

from __future__ import annotations

import random

import numpy as np
import pytest

from conftest import district
from sim.teachers import TeacherCohorts, team_seats


def cohorts(*dcs, seed=0):
    return TeacherCohorts(dcs, [random.Random(seed + i) for i in range(len(dcs))])


def test_team_seats_follow_the_bands_and_sum_to_the_team():
    dc = district(teachers=(20, 10, 90), team=6)
    seats = team_seats(dc)
    assert sum(seats) == 6 and seats[2] >= seats[0] >= seats[1]
    pop = cohorts(dc)
    assert pop.level_counts(0) == (120, 0, 0) and pop.level_counts(0, team_only=True) == (6, 0, 0)
    assert pop.prek_on_team(0) == seats[0]


def test_moves_are_binomial_with_the_group_probability():
    # 400 months x 120 teachers starting traditional: the first month's moves are Binomial(n, p).
    dc = district(teachers=(0, 0, 100), team=20, has_prek=False)
    p = 0.1
    firsts = []
    for s in range(400):
        pop = cohorts(dc, seed=s)
        pop.step(0, (p, p, 0.0, 0.0), principles=0.0)
        firsts.append(pop.level_counts(0)[1])
    mean, var = np.mean(firsts), np.var(firsts)
    assert abs(mean - 100 * p) < 4 * np.sqrt(100 * p * (1 - p) / 400)
    assert 0.7 * 100 * p * (1 - p) < var < 1.3 * 100 * p * (1 - p)


def test_practice_never_falls_back_and_totals_stay_consistent():
    dc = district(teachers=(15, 5, 60), team=6)
    pop = cohorts(dc, seed=3)
    last = pop.level_counts(0)
    for m in range(36):
        pop.step(0, (0.05, 0.2, 0.02, 0.2), principles=0.5 if m >= 12 else 0.0)
        pop.record_month()
        now = pop.level_counts(0)
        assert sum(now) == 80
        assert now[1] + now[2] >= last[1] + last[2] and now[2] >= last[2]  # monotone
        assert sum(sum(r[i] for r in pop.counts[0]) for i in range(3)) == 80
        assert pop.level_counts(0, team_only=True) == tuple(sum(r[i] for r in pop.counts[0][1::2]) for i in range(3))
        last = now
    assert last[2] > 0  # the HLPPs reached once taught
    series = pop.series()
    assert series.shape == (36, 1, 3) and np.allclose(series.sum(axis=2), 1.0)


def test_no_hlpps_before_they_are_taught():
    pop = cohorts(district(), seed=1)
    for _ in range(24):
        pop.step(0, (0.5, 0.9, 0.5, 0.9), principles=0.0)
    assert pop.level_counts(0)[2] == 0 and pop.level_counts(0)[1] > 0


def test_prek_teachers_leave():
    dc = district(teachers=(20, 10, 90), team=6)
    pop = cohorts(dc)
    gone = pop.remove_prek(0)
    assert gone == 20 and pop.prek_on_team(0) == 0 and sum(pop.level_counts(0)) == 100


@pytest.mark.parametrize("n, p", [(5, 0.1), (40, 0.04), (200, 0.02), (300, 0.3), (12, 0.9)])
def test_binomial_draws_have_the_binomial_distribution(n, p):
    from math import comb

    from sim.teachers import binomial

    rng = random.Random(11)
    draws = np.array([binomial(rng, n, p) for _ in range(20_000)])
    assert abs(draws.mean() - n * p) < 4 * np.sqrt(n * p * (1 - p) / 20_000)
    # chi-square on the bins with expected count >= 20
    ks = [k for k in range(n + 1) if 20_000 * comb(n, k) * p**k * (1 - p) ** (n - k) >= 20]
    observed = np.array([(draws == k).sum() for k in ks])
    expected = np.array([20_000 * comb(n, k) * p**k * (1 - p) ** (n - k) for k in ks])
    chi2 = ((observed - expected) ** 2 / expected).sum()
    assert chi2 < len(ks) + 5 * np.sqrt(2 * len(ks))  # ~5 standard deviations of a chi-square
    assert binomial(rng, 0, 0.5) == 0 and binomial(rng, 7, 0.0) == 0 and binomial(rng, 7, 1.0) == 7
