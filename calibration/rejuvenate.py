"""A resample-move step after ABC-SMC: equally weighted, diverse posterior particles.

Importance-sampling ABC-SMC (pyabc, calibration/fit.py) weights each accepted particle by prior /
proposal density. In the calibration's 15-18 dimensions those weights spread over orders of
magnitude whatever the proposal (a few per cent of the population carry the weight; the first
generation of the model-2 calibration had an effective sample size of 106 of 1,000 and it fell to
14-34 later), so the posterior rests on a few dozen particles. The standard remedy is a
*resample-move* step (Gilks & Berzuini 2001, JRSS B 63(1); as in the ABC-SMC sampler of Del Moral,
Doucet & Jasra 2012, Statistics and Computing 22(5)):

1. resample the final population by its weights (systematic resampling): N equally weighted
   particles, with duplicates;
2. move every particle by an ABC-MCMC kernel that leaves the ABC posterior at the final tolerance
   epsilon invariant (Marjoram et al. 2003, PNAS 100(26)): propose z' = z + L xi on the sampler's
   scale (z = Phi^-1 of the prior CDF, calibration/priors.py), L the Cholesky factor of
   (2.38^2 / d) times the population's weighted covariance (Roberts & Rosenthal 2001), simulate
   one run at z', and accept when its distance is at most epsilon and u < prior(z') / prior(z);
3. repeat the moves until each particle has moved at least once with probability 0.99 (Drovandi &
   Pettitt 2011, Biometrics 67(1): R = ceil(log 0.01 / log(1 - p)), p the acceptance rate of a
   first sweep), at most ``max_moves`` sweeps.

The result is N particles of equal weight from the same target as the weighted population; its
Kish effective sample size is trivially N, so what is reported is the number of distinct particles
and two Kish effective sample sizes (``ess_of_counts``): with identical particles pooled (copies of
an ancestor that never moved count as one point; optimistic) and with each ancestor's descendants
pooled (pessimistic), beside the importance-sampling ESS before the move. Every proposal and every
simulation is a deterministic function of the root seed, the stage and the particle's index (and
the simulation of the parameter values), so the step gives the same particles on any number of
workers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Rejuvenation", "ess_of_counts", "kish_ess", "rejuvenate"]

_KEY = 2**31 - 16
_STAGE_INDEX = {"fit": 0, "final": 1}


@dataclass
class Rejuvenation:
    """The moved particles and how the move went."""

    particles: pd.DataFrame  # natural scale, one column per free parameter, plus weight, distance
    epsilon: float
    sweeps: int
    acceptance_rate: float  # over every proposal of every sweep
    first_sweep_acceptance: float
    moved_share: float  # particles that moved at least once
    distinct: int  # distinct parameter vectors among the N particles
    ancestors: int  # distinct particles of the weighted population the resampling kept
    ess_before: float  # Kish ESS of the weighted population that was resampled
    n_simulations: int
    ess_distinct: float = float("nan")  # Kish ESS with identical particles pooled (see below): optimistic
    ess_ancestors: float = float("nan")  # Kish ESS with each ancestor's descendants pooled: pessimistic

    @property
    def ess(self) -> float:
        return kish_ess(self.particles["weight"].to_numpy(dtype=float))

    def to_dict(self) -> dict[str, Any]:
        return {
            "epsilon": self.epsilon,
            "sweeps": self.sweeps,
            "acceptance_rate": self.acceptance_rate,
            "first_sweep_acceptance": self.first_sweep_acceptance,
            "moved_share": self.moved_share,
            "distinct": self.distinct,
            "ancestors": self.ancestors,
            "ess": self.ess,
            "ess_before": self.ess_before,
            "ess_distinct": self.ess_distinct,
            "ess_ancestors": self.ess_ancestors,
            "n_simulations": self.n_simulations,
        }


def _systematic(weights: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    c = np.cumsum(w / w.sum())
    c[-1] = 1.0
    return np.searchsorted(c, (rng.random() + np.arange(n)) / n)


def _log_prior_z(z: np.ndarray) -> float:
    """Independent standard normal priors on the sampler's scale (up to a constant)."""
    return float(-0.5 * np.dot(z, z))


def _move_chunk(task: dict) -> list[dict]:
    """Worker: ``sweeps`` ABC-MCMC moves of each particle in the chunk."""
    from .simulator import CaseSimulator

    priors = task["priors"]
    names = priors.names
    evidence = task["evidence"]
    sim = CaseSimulator(names, task["root_seed"], task.get("base"))
    chol = np.asarray(task["chol"])
    eps = float(task["epsilon"])
    out = []
    for item in task["items"]:
        z = np.asarray(item["z"], dtype=float)
        d = float(item["distance"])
        rng = np.random.default_rng(np.random.SeedSequence(task["seed"], spawn_key=(_KEY, task["stage"], item["index"], item["sweep0"])))
        accepted = 0
        for _ in range(task["sweeps"]):
            zp = z + chol @ rng.standard_normal(len(z))
            lu = math.log(rng.random())
            if lu >= _log_prior_z(zp) - _log_prior_z(z):
                continue  # rejected by the prior ratio: no simulation needed
            x = priors.from_z({f"z_{n}": zp[i] for i, n in enumerate(names)})
            dp = float(evidence.distance(sim(x)))
            if dp <= eps:
                z, d = zp, dp
                accepted += 1
        out.append({"index": item["index"], "z": z.tolist(), "distance": d, "accepted": accepted})
    return out


def rejuvenate(stage, *, seed: int, workers: int | None = 1, base: dict | None = None, max_moves: int = 40,
               target_unmoved: float = 0.01, chunk: int = 50, progress=None) -> Rejuvenation:
    """Resample-move the final population of ``stage`` (a ``calibration.fit.StageResult``)."""
    from experiments.execution.executor import make_executor

    priors = stage.priors
    names = list(priors.names)
    parts = stage.particles
    n = len(parts)
    w = stage.weights
    ess_before = kish_ess(w)
    eps = float(stage.final_epsilon)
    stage_index = _STAGE_INDEX.get(stage.name, 2)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_KEY, stage_index)))
    idx = _systematic(w, n, rng)
    zmat = np.column_stack([priors[nm].to_z(parts[nm].to_numpy(dtype=float)) for nm in names])
    mean = w @ zmat
    cov = ((zmat - mean) * w[:, None]).T @ (zmat - mean)
    d = len(names)
    cov = cov + 1e-9 * np.eye(d) * max(1.0, float(np.trace(cov)) / d)
    chol = np.linalg.cholesky((2.38**2 / d) * cov)
    z = zmat[idx].copy()
    dist = parts["distance"].to_numpy(dtype=float)[idx].copy()
    moved = np.zeros(n, dtype=bool)
    total_accepted = 0
    proposals = 0
    n_sims = 0

    def sweep(n_sweeps: int, sweep0: int) -> int:
        nonlocal total_accepted, proposals, n_sims
        tasks = []
        for a in range(0, n, chunk):
            tasks.append({
                "priors": priors, "evidence": stage.evidence, "root_seed": seed, "seed": seed, "stage": stage_index,
                "base": base, "chol": chol.tolist(), "epsilon": eps, "sweeps": n_sweeps,
                "items": [{"index": i, "z": z[i].tolist(), "distance": float(dist[i]), "sweep0": sweep0} for i in range(a, min(n, a + chunk))],
            })
        ex = make_executor(workers, max_tasks=len(tasks))
        acc = 0
        try:
            futures = {ex.submit(_move_chunk, t, key=f"move-{stage_index}-{sweep0}-{k}"): k for k, t in enumerate(tasks)}
            pending = list(futures)
            while pending:
                for f in ex.wait_first(pending):
                    pending.remove(f)
                    for r in f.result():
                        i = r["index"]
                        z[i] = np.asarray(r["z"])
                        dist[i] = r["distance"]
                        if r["accepted"]:
                            moved[i] = True
                        acc += r["accepted"]
                    if progress is not None:
                        progress({"stage": stage.name, "rejuvenation": True, "done": min(n, (len(tasks) - len(pending)) * chunk), "of": n,
                                  "sweeps": n_sweeps})
        finally:
            ex.close()
        total_accepted += acc
        proposals += n * n_sweeps
        n_sims += n * n_sweeps  # an upper bound: proposals the prior ratio rejects need no run
        return acc

    first = sweep(1, 0) / n
    if first > 0:
        more = min(max_moves - 1, max(0, math.ceil(math.log(target_unmoved) / math.log(1.0 - min(first, 0.999))) - 1))
    else:
        more = max_moves - 1
    if more > 0:
        sweep(more, 1)
    x = {nm: priors[nm].from_z(z[:, i]) for i, nm in enumerate(names)}
    out = pd.DataFrame(x)
    out["weight"] = 1.0 / n
    out["distance"] = dist
    _, counts = np.unique(np.round(z, 12), axis=0, return_counts=True)
    distinct = int(len(counts))
    return Rejuvenation(
        particles=out, epsilon=eps, sweeps=1 + more, acceptance_rate=total_accepted / max(proposals, 1),
        first_sweep_acceptance=first, moved_share=float(moved.mean()), distinct=distinct,
        ancestors=int(len(np.unique(idx))), ess_before=ess_before,
        n_simulations=n_sims, ess_distinct=ess_of_counts(counts),
        ess_ancestors=ess_of_counts(np.unique(idx, return_counts=True)[1]),
    )


def kish_ess(weights) -> float:
    """Kish's effective sample size of importance weights (any scale): ``(sum w)**2 / sum(w**2)``."""
    w = np.asarray(weights, dtype=float)
    return float(w.sum() ** 2 / np.sum(w**2)) if w.size else 0.0


def ess_of_counts(counts) -> float:
    """Kish's effective sample size of N equally weighted particles grouped into sets of sizes
    ``counts``: ``N**2 / sum(n_k**2)``, between 1 (one set) and the number of sets (equal sets).
    Grouped by identical values (copies of an ancestor that never moved) it is *optimistic*: a
    particle that moved once counts as an independent draw although, at a low acceptance rate, it
    stays near its ancestor. Grouped by ancestor (every descendant of one resampled particle in one
    set) it is *pessimistic*: moved descendants count as copies. Both are reported."""
    return kish_ess(counts)
