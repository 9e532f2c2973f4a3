"""The pre-K-3 teachers of every district, held as arrays.

Each teacher moves traditional -> Counting Collections -> HLPPs (lines 396-460), one level at a
time, with a monthly probability that depends only on her group: district, pre-K or not, and
whether she sits on the improvement team. The model records, per group and month, the probability
of each move; a teacher's path follows from her own fixed random thresholds:

    she reaches Counting Collections in the first month m with  L1_g(m) >= E1_i,
    and the HLPPs in the first later month m' with  L2_g(m') - L2_g(m) >= E2_i,

where ``L_g`` is the group's cumulative hazard ``sum(-log(1 - p_g))`` and ``E1_i, E2_i`` are
independent Exp(1) draws made once per teacher. This is exactly the monthly Bernoulli process
(each month she moves with probability ``p_g``) with every random number drawn up front, so a month
costs a handful of vectorised comparisons whatever the number of teachers (issue 2's speed target
with hundreds of teachers per district).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .conditions import DistrictConditions
from .vocab import GradeBand, Practice

GROUPS_PER_DISTRICT = 4  # (pre-K?, on team?): index 2 * is_prek + on_team
_NEVER = np.iinfo(np.int32).max


class TeacherPopulation:
    """Teachers of all districts: identity arrays, thresholds, and per-group cumulative hazards."""

    def __init__(self, districts: Sequence[DistrictConditions], horizon: int, rng: np.random.Generator):
        bands, dist, team = [], [], []
        for i, dc in enumerate(districts):
            n = dc.n_teachers
            t = np.zeros(n, dtype=bool)
            # Improvement teams include pre-K-3 teachers (strategy 2, lines 289-292); seats are
            # spread evenly across the bands (assumed).
            if dc.team_teachers:
                t[np.linspace(0, n - 1, dc.team_teachers).round().astype(int)] = True
            bands.append(np.repeat(np.arange(len(GradeBand)), dc.teachers))
            team.append(t)
            dist.append(np.full(n, i))
        self.n_districts = D = len(districts)
        self.horizon = horizon
        self.band = np.concatenate(bands).astype(np.int8)
        self.district = np.concatenate(dist).astype(np.int64)
        self.team = np.concatenate(team)
        self.active = np.ones(len(self.band), dtype=bool)
        self.left_month = np.full(len(self.band), _NEVER, dtype=np.int64)
        self.group = self.district * GROUPS_PER_DISTRICT + 2 * (self.band == GradeBand.PREK) + self.team
        self.n_groups = D * GROUPS_PER_DISTRICT
        self.thresholds = rng.standard_exponential((2, len(self.band)))
        # Cumulative hazards per group, at the end of the last simulated month.
        self.cum1 = np.zeros(self.n_groups)
        self.cum2 = np.zeros(self.n_groups)
        # Month of each teacher's first and second move (_NEVER: not yet), and the group's second
        # cumulative hazard when she made her first move.
        self.m1 = np.full(len(self.band), _NEVER, dtype=np.int64)
        self.m2 = np.full(len(self.band), _NEVER, dtype=np.int64)
        self._base2 = np.full(len(self.band), np.inf)
        self.months_done = 0

    def __len__(self) -> int:
        return len(self.band)

    def step(self, month: int, lam1: np.ndarray, lam2: np.ndarray) -> None:
        """Apply month ``month``'s hazards ``-log(1 - p)`` of each move, per group."""
        self.months_done = month + 1
        if not (lam1.any() or lam2.any()):
            return
        g = self.group
        self.cum1 += lam1
        self.cum2 += lam2
        # Second moves first: only teachers who reached Counting Collections in an earlier month.
        waiting = self.m2 == _NEVER
        second = waiting & (self.cum2[g] - self._base2 >= self.thresholds[1])
        self.m2[second] = month
        first = (self.m1 == _NEVER) & (self.cum1[g] >= self.thresholds[0])
        self.m1[first] = month
        self._base2[first] = self.cum2[g[first]]

    def _move_months(self) -> tuple[np.ndarray, np.ndarray]:
        return self.m1, self.m2

    def practices(self, month: int | None = None) -> np.ndarray:
        """Every teacher's practice at the end of ``month`` (default: the last simulated month).
        Teachers who left keep the practice they had when they left."""
        if self.months_done == 0:
            return np.zeros(len(self.band), dtype=np.int8)
        m = self.months_done - 1 if month is None else month
        m1, m2 = self._move_months()
        at = np.minimum(m, self.left_month)
        return ((m1 <= at).astype(np.int8) + (m2 <= at)).astype(np.int8)

    def practice_of(self, index: int) -> Practice:
        return Practice(int(self.practices()[index]))

    def district_counts(self, month: int | None = None) -> np.ndarray:
        """(D, 3) number of active teachers at each practice level."""
        p = self.practices(month)
        m = self.months_done - 1 if month is None else month
        active = self.left_month >= m
        idx = self.district * len(Practice) + p
        return np.bincount(idx[active], minlength=self.n_districts * len(Practice)).reshape(self.n_districts, len(Practice))

    def series(self) -> np.ndarray:
        """(months, D, 3) share of each district's active teachers at each level, every month."""
        n = self.months_done
        out = np.zeros((n, self.n_districts, len(Practice)))
        if n == 0:
            return out
        m1, m2 = self._move_months()
        months = np.arange(n)[:, None]
        level = (m1[None, :] <= months).astype(np.int64) + (m2[None, :] <= months)
        active = self.left_month[None, :] >= months
        idx = (months * self.n_districts + self.district[None, :]) * len(Practice) + level
        counts = np.bincount(idx[active], minlength=n * self.n_districts * len(Practice)).reshape(out.shape)
        return counts / np.maximum(counts.sum(axis=2, keepdims=True), 1)

    def remove_prek(self, d: int, month: int) -> np.ndarray:
        """Pre-K teachers of district ``d`` leave at the start of ``month``. Returns their indices."""
        idx = np.flatnonzero((self.district == d) & (self.band == GradeBand.PREK) & self.active)
        self.active[idx] = False
        self.left_month[idx] = month - 1  # their practice is frozen at the end of the previous month
        return idx
