"""The null model the pattern-by-pattern evidence is judged against (issue 14).

A null run keeps what a model run of the four-district case is given -- the starting-capacity
assignment of its replicate and the case's conditions (Diamond still loses pre-K in year 3) -- and
draws every district-element's codes independently from the report's *pooled* proportions, with no
mechanism at all:

* changed with probability 20/24 (Table 2's total, lines 804-811);
* given a change: transform 14/20 (else add-on, Table 2); consistent 16/20, somewhat 2/20, not
  consistent 2/20 (the primary reading of the consistency table, observed.toml); a new alignment
  link 18/20 (Table 4); continuity when made 20/20 (Table 5); continuity at the end only where pre-K
  still exists;
* the high-leverage practices in a changed element with probability 6/20: the element-level depth
  facts of observed.toml (Avalon 4 elements, Cedarville 2; Birchwood and Diamond none beyond one);
* the month of the first change uniform over the three school years (the report gives no pooled
  timing).

The null knows every marginal frequency the report gives (it is fitted to the pooled tables) but
nothing of which district, which capacity or which year; a model that explains something must beat
it on the patterns that depend on those. Its summaries have the shapes of
``calibration.distance.run_summaries``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from experiments.evidence import ObservedTargets, load_observed
from sim.vocab import Consistency, Practice, Substantiveness

__all__ = ["NullProportions", "case_null_summaries", "null_proportions", "null_summaries"]


@dataclass(frozen=True)
class NullProportions:
    """The pooled proportions a null run draws from (each a probability)."""

    changed: float
    transform: float  # given changed
    consistency: tuple[float, float, float]  # consistent, somewhat, not consistent; given changed
    aligned: float  # given changed
    continuity: float  # given changed
    principles: float  # given changed

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def null_proportions(observed: ObservedTargets | None = None) -> NullProportions:
    """The report's pooled proportions (module docstring), computed from observed.toml."""
    obs = observed or load_observed()
    t = obs.tables
    t2 = _totals(t["table2"])
    n = sum(t2.values())
    changed = n - t2["no_change"]
    cons = _totals(t["consistency"])
    t4 = _totals(t["table4"])
    t5 = _totals(t["table5"])
    depth = sum(1 for f in obs.facts_of("depth") if f["element"] is not None and f["value"] == Practice.HLPP)
    return NullProportions(
        changed=changed / n,
        transform=t2["transform"] / changed,
        consistency=(cons["consistent"] / changed, cons["somewhat"] / changed, cons["not_consistent"] / changed),
        aligned=t4["aligned"] / changed,
        continuity=t5["continuity"] / changed,
        principles=depth / changed,
    )


def _totals(rows: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for row in rows.values():
        for k, v in row.items():
            out[k] = out.get(k, 0) + int(v)
    return out


def null_summaries(capacity0: np.ndarray, has_prek_end: np.ndarray, rng: np.random.Generator,
                   p: NullProportions | None = None) -> dict[str, np.ndarray]:
    """One null run's summaries (``run_summaries`` shapes) for the given starting capacities
    (4 x 6) and end-of-run pre-K (4,)."""
    p = p or null_proportions()
    D, E = capacity0.shape
    u = rng.random((6, D, E))
    changed = u[0] < p.changed
    transform = changed & (u[1] < p.transform)
    c1, c2, _ = p.consistency
    cons = np.where(u[2] < c1, int(Consistency.CONSISTENT), np.where(u[2] < c1 + c2, int(Consistency.SOMEWHAT),
                                                                     int(Consistency.NOT_CONSISTENT)))
    cons = np.where(changed, cons, int(Consistency.NO_CHANGE))
    aligned = changed & (u[3] < p.aligned)
    continuity = changed & (u[4] < p.continuity)
    principles = changed & (u[5] < p.principles)
    first_month = np.where(changed, rng.integers(0, 36, size=(D, E)), -1)
    subst = np.where(transform, int(Substantiveness.TRANSFORM), np.where(changed, int(Substantiveness.ADD_ON), 0))
    align = np.where(aligned, 2, np.where(changed, 1, 0))
    cont = np.where(continuity, 2, np.where(changed, 1, 0))
    cont_end = np.where(continuity & has_prek_end[:, None], 2, np.where(changed, 1, 0))
    k = 3

    def rowcount(codes, levels):
        return np.stack([np.bincount(codes[d], minlength=levels) for d in range(D)])

    def crosscount(codes, levels):
        return np.stack([np.bincount(codes[capacity0 == c], minlength=levels) for c in range(3)])

    return {
        "table2": rowcount(subst, k),
        "table3": crosscount(subst, k),
        "table4": crosscount(align, k),
        "table5": crosscount(cont, k),
        "consistency": rowcount(cons, len(Consistency)),
        "continuity_by_district": rowcount(cont_end, k),
        "principles": principles.sum(axis=1),
        "first_month": first_month.astype(np.int16),
        "has_prek_end": has_prek_end.astype(bool),
    }


def case_null_summaries(n: int, seed: int, p: NullProportions | None = None) -> list[dict[str, np.ndarray]]:
    """``n`` null runs of the case: run ``j`` uses the capacity assignment of replicate ``j`` of the
    case (``order[j % K]``, the same as the model's predictive runs) and its own random numbers."""
    from experiments.execution.runner import assignment_order

    from .simulator import case_conditions_cached

    conds = case_conditions_cached()
    order = assignment_order(seed, len(conds))
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2**31 - 15,)))
    out = []
    for j in range(n):
        c = conds[int(order[j % len(conds)])]
        cap = np.array([[int(x) for x in d.capacity] for d in c.districts], dtype=np.int8)
        prek_end = np.array([d.has_prek and not any(s.kind == "prek_eliminated" and s.month < c.horizon_months
                                                     for s in d.shocks) for d in c.districts])
        out.append(null_summaries(cap, prek_end, rng, p))
    return out

