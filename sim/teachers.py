"""The pre-K-3 teachers of every district, held as arrays.

Each teacher moves traditional -> Counting Collections -> HLPPs (lines 396-460), one level at a
time, with a monthly probability that depends only on her group: district, pre-K or not, and
whether she sits on the improvement team. The model records, per group and month, the probability
of each move; a teacher's path follows from her own fixed random thresholds:

    she reaches Counting Collections in the first month m with  L1_g(m) >= E1_i,
    and the HLPPs in the first later month m' with  L2_g(m') - L2_g(m) >= E2_i,

where ``L_g`` is the group's cumulative hazard ``sum(-log(1 - p_g))`` and ``E1_i, E2_i`` are
independent Exp(1) draws made once per teacher. This is exactly the monthly Bernoulli process
(each month she moves with probability ``p_g``) with every random number drawn up front. A month
only records the groups' hazards; the teachers' moves are worked out lazily, in one vectorised
pass over all months since the last query (when a district's HLPP share is needed, or at the end),
so the cost does not grow with the number of teachers times months (issue 2's speed target with
hundreds of teachers per district).
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

    def __init__(
        self,
        districts: Sequence[DistrictConditions],
        horizon: int,
        rng: np.random.Generator | Sequence[np.random.Generator],
    ):
        """``rng``: one generator, or one per district (each district's thresholds then come from its
        own stream, so changing one district leaves the others' teachers untouched)."""
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
        if isinstance(rng, np.random.Generator):
            self.thresholds = rng.standard_exponential((2, len(self.band)))
        else:
            if len(rng) != D:
                raise ValueError(f"rng: needs one generator per district ({D}), got {len(rng)}")
            self.thresholds = np.concatenate(
                [r.standard_exponential((2, dc.n_teachers)) for r, dc in zip(rng, districts)], axis=1
            )
        # Cumulative hazards per group: row m + 1 is the value at the end of month m (row 0: start).
        self.cum1 = np.zeros((horizon + 1, self.n_groups))
        self.cum2 = np.zeros((horizon + 1, self.n_groups))
        # Month of each teacher's first and second move (_NEVER: not yet), worked out lazily.
        self.m1 = np.full(len(self.band), _NEVER, dtype=np.int64)
        self.m2 = np.full(len(self.band), _NEVER, dtype=np.int64)
        self.months_done = 0  # months whose hazards are recorded
        self._resolved = 0  # months whose moves are worked out into m1, m2

    def __len__(self) -> int:
        return len(self.band)

    def step(self, month: int, lam1: np.ndarray, lam2: np.ndarray) -> None:
        """Record month ``month``'s hazards ``-log(1 - p)`` of each move, per group."""
        self.cum1[month + 1] = self.cum1[month] + lam1
        self.cum2[month + 1] = self.cum2[month] + lam2
        self.months_done = month + 1

    def _resolve(self) -> None:
        """Work out the moves of the months recorded since the last call (vectorised over teachers
        and months: one pass however many months it covers)."""
        a, b = self._resolved, self.months_done
        if a >= b:
            return
        n, G = b - a, self.n_groups
        g = self.group
        offsets = np.arange(G) * (max(self.cum1[b].max(), self.cum2[b].max()) + 1.0)
        gn = g * n
        # First moves: the first month m in [a, b) with cum1[m + 1] >= E1.
        todo = self.m1 == _NEVER
        if todo.any():
            flat = (self.cum1[a + 1 : b + 1] + offsets).T.ravel()  # group-major, n months each
            pos = np.searchsorted(flat, self.thresholds[0] + offsets[g]) - gn
            hit = todo & (pos < n)
            self.m1[hit] = a + pos[hit]
        # Second moves: the first month after the first move with cum2[m + 1] >= cum2[m1 + 1] + E2.
        # Months up to m1 never qualify (cum2 is non-decreasing), so searching [a, b) suffices.
        todo = (self.m2 == _NEVER) & (self.m1 < b)
        if todo.any():
            idx = np.flatnonzero(todo)
            gi = g[idx]
            target = self.cum2[self.m1[idx] + 1, gi] + self.thresholds[1, idx]
            flat = (self.cum2[a + 1 : b + 1] + offsets).T.ravel()
            pos = np.searchsorted(flat, target + offsets[gi]) - gi * n
            hit = pos < n
            self.m2[idx[hit]] = a + pos[hit]
        self._resolved = b

    def _move_months(self) -> tuple[np.ndarray, np.ndarray]:
        self._resolve()
        return self.m1, self.m2

    def practices(self, month: int | None = None) -> np.ndarray:
        """Every teacher's practice at the end of ``month`` (default: the last simulated month).
        Teachers who left keep the practice they had when they left."""
        if self.months_done == 0:
            return np.zeros(len(self.band), dtype=np.int8)
        m = self.months_done - 1 if month is None else month
        if m >= self.months_done:
            raise ValueError(f"month: {m} is not simulated yet (months done: {self.months_done})")
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
