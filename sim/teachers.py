"""The pre-K-3 teachers of every district, as cohorts of exchangeable teachers.

Teachers move traditional -> Counting Collections -> the high-leverage practices, one level at a
time (lines 396-460). A teacher's monthly chance of moving depends only on her *group*: district,
pre-K or not (TK and K-3 teachers are reached by the same things) and whether she sits on the
improvement team. Within a group teachers
are exchangeable, so the number at each level is a sufficient statistic: each month the number who
move is binomial. That is the same process as drawing a Bernoulli for every teacher, at the cost
of one draw per group and level (issue 14's speed target with ~600 teachers in the case and
thousands in rollouts). ``Teacher`` agents (sim/agents.py) are views of these counts.

Random numbers: each district draws its teachers' moves from its own generator (exact binomial
draws, ``binomial``; groups with no chance of moving draw nothing), so what-ifs about one
district leave the others' teachers' random numbers untouched.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import numpy as np

from .conditions import DistrictConditions
from .vocab import GradeBand, Practice

N_BANDS = len(GradeBand)
N_GROUPS = 4  # group index = 2 * is_prek + on_team
_PREK = int(GradeBand.PREK)


def binomial(rng: random.Random, n: int, p: float) -> int:
    """An exact Binomial(n, p) draw. For small n*p, by inverting the distribution function with one
    uniform (the usual case here: a few teachers move each month); otherwise Python's own
    ``random.Random.binomialvariate``."""
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    if n * p > 10.0 or p > 0.5:
        return rng.binomialvariate(n, p)
    q = 1.0 - p
    pmf = math.exp(n * math.log1p(-p))
    cdf = pmf
    u = rng.random()
    k = 0
    ratio = p / q
    while u > cdf and k < n:
        k += 1
        pmf *= (n - k + 1) / k * ratio
        cdf += pmf
    return k


def team_seats(dc: DistrictConditions) -> tuple[int, ...]:
    """Team teachers per band: seats spread over the bands in proportion to their size (largest
    remainder; assumed: teams included pre-K to 3 teachers, strategy 2, lines 289-292)."""
    n, k = dc.n_teachers, dc.team_teachers
    if n == 0 or k == 0:
        return (0,) * N_BANDS
    quotas = [k * t / n for t in dc.teachers]
    seats = [int(q) for q in quotas]
    for b in sorted(range(N_BANDS), key=lambda b: (quotas[b] - seats[b], dc.teachers[b]), reverse=True)[: k - sum(seats)]:
        seats[b] += 1
    return tuple(seats)


class TeacherCohorts:
    """Counts of teachers at each practice level, by district and group."""

    def __init__(self, districts: Sequence[DistrictConditions], streams: Sequence[random.Random]):
        self.n_districts = D = len(districts)
        self.streams = list(streams)
        # counts[d][g] = [traditional, counting collections, HLPPs]
        self.counts: list[list[list[int]]] = []
        self.team_by_band: list[tuple[int, ...]] = []
        for dc in districts:
            seats = team_seats(dc)
            self.team_by_band.append(seats)
            prek, rest = dc.teachers[_PREK], sum(dc.teachers) - dc.teachers[_PREK]
            team_prek, team_rest = seats[_PREK], sum(seats) - seats[_PREK]
            # groups: TK-3 off the team, TK-3 on it, pre-K off the team, pre-K on it
            rows = [[rest - team_rest, 0, 0], [team_rest, 0, 0], [prek - team_prek, 0, 0], [team_prek, 0, 0]]
            self.counts.append(rows)
        # Running totals (all teachers, team teachers) per district, kept up to date by every move.
        self.totals = [[sum(r[i] for r in rows) for i in range(3)] for rows in self.counts]
        self.team_totals = [[sum(r[i] for r in rows[1::2]) for i in range(3)] for rows in self.counts]
        self.history: list[list[tuple[int, int, int]]] = []  # counts at the end of each month

    # --- reading -------------------------------------------------------------------------------
    def level_counts(self, d: int, team_only: bool = False) -> tuple[int, int, int]:
        t = self.team_totals[d] if team_only else self.totals[d]
        return t[0], t[1], t[2]

    def share_practising(self, d: int, team_only: bool = False) -> tuple[float, float]:
        """(share at Counting Collections or beyond, share at the HLPPs) of the district's
        (or its team's) active teachers."""
        t, c, h = self.level_counts(d, team_only)
        n = t + c + h
        return ((c + h) / n, h / n) if n else (0.0, 0.0)

    def prek_on_team(self, d: int) -> int:
        return sum(self.counts[d][3])

    def n_active(self, d: int) -> int:
        return sum(sum(r) for r in self.counts[d])

    # --- moving ---------------------------------------------------------------------------------
    def step(self, d: int, p_move: Sequence[float], principles: float) -> None:
        """One month for district ``d``: ``p_move[g]`` is the probability that a teacher of group
        ``g`` moves one level up; the second move (to the HLPPs) has ``principles`` times that
        probability (0 when the principles are neither taught nor carried by the district). Moves of
        the month are drawn from the counts at its start."""
        rng = self.streams[d]
        rows = self.counts[d]
        tot, team = self.totals[d], self.team_totals[d]
        for g in range(N_GROUPS):
            pg = p_move[g]
            if pg <= 0.0:
                continue
            r = rows[g]
            up1 = binomial(rng, r[0], pg) if r[0] else 0
            up2 = binomial(rng, r[1], pg * principles) if (principles > 0.0 and r[1]) else 0
            if up1 or up2:
                r[0] -= up1
                r[1] += up1 - up2
                r[2] += up2
                tot[0] -= up1
                tot[1] += up1 - up2
                tot[2] += up2
                if g & 1:
                    team[0] -= up1
                    team[1] += up1 - up2
                    team[2] += up2

    def remove_prek(self, d: int) -> int:
        """Pre-K teachers leave district ``d`` (pre-K eliminated). Returns how many."""
        gone = 0
        for team in (0, 1):
            r = self.counts[d][2 + team]
            gone += sum(r)
            for i in range(3):
                self.totals[d][i] -= r[i]
                if team:
                    self.team_totals[d][i] -= r[i]
            r[:] = [0, 0, 0]
        return gone

    def record_month(self) -> None:
        self.history.append([(t[0], t[1], t[2]) for t in self.totals])

    def series(self) -> np.ndarray:
        """(months, D, 3) share of each district's active teachers at each level, every month."""
        if not self.history:
            return np.zeros((0, self.n_districts, len(Practice)))
        c = np.array(self.history, dtype=float)
        return c / np.maximum(c.sum(axis=2, keepdims=True), 1.0)

    def group_practices(self, d: int) -> list[tuple[int, int, int, int]]:
        """(is_prek, on_team, practice, count) rows of district ``d``: for materialising agents."""
        out = []
        for g, r in enumerate(self.counts[d]):
            for level in range(3):
                if r[level]:
                    out.append((g // 2, g % 2, level, r[level]))
        return out
