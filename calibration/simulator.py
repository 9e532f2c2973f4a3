"""One simulated observation for the calibration: the four-district case run once at a parameter vector.

A particle of the ABC is one run (one replicate) of the case, not the mean of several. The report
is one realisation of the process (24 district-elements coded once), so the ABC likelihood is the
probability that ONE simulated realisation lies within epsilon of it; comparing the mean of k
replicates with the report would target a different, over-confident posterior (the report would be
treated as an average), and requiring k replicates to be close at once treats the report as observed
k times. More replicates per particle buy less noise in the acceptance decision, not a better
target, and with a 9 ms model one replicate per particle is also the cheapest way to a given
effective sample size (Bornn et al. 2017, "One pseudo-sample is enough in approximate Bayesian
computation MCMC", Biometrika 104(1)).

The capacity uncertainty (experiments/evidence/capacities.py) is part of the simulated
observation: each particle's run uses one of the K starting-capacity assignments consistent with the
report, so the likelihood averages over them with equal weight.

Seeding goes through :func:`experiments.execution.runner.run_replicates`, the project's one mapping from
(root seed, design point, replicate) to a run: a particle's design point is a 63-bit hash of the
root seed and its parameter vector, and its replicate index (which picks the capacity assignment)
is that hash modulo K. The same parameter vector therefore always gives the same run, whichever
process or worker simulates it.
"""

from __future__ import annotations

import functools
import hashlib
import struct
from collections.abc import Mapping, Sequence

import numpy as np

from sim import Parameters

from .distance import run_summaries

__all__ = ["CaseSimulator", "SamplerScaleSimulator", "case_conditions_cached", "particle_key", "run_draws"]


@functools.cache
def case_conditions_cached() -> tuple:
    """The four-district case's Conditions, one per capacity assignment (cached per process)."""
    from experiments.scenario import scenario_from_case

    return scenario_from_case().conditions()


def particle_key(root_seed: int, theta: Mapping[str, float], names: Sequence[str]) -> int:
    """A 63-bit integer determined by the root seed and the parameter values (in ``names`` order)."""
    payload = struct.pack(f"<q{len(names)}d", int(root_seed), *(float(theta[n]) for n in names))
    return int.from_bytes(hashlib.blake2b(payload, digest_size=8).digest(), "little") >> 1


class CaseSimulator:
    """pyabc model: parameter dict -> count summaries of one run of the four-district case.

    ``base`` gives every parameter not in ``names`` (the fixed ones, at their documented defaults).
    Small and picklable: the case's conditions are built lazily in each process.
    """

    def __init__(self, names: Sequence[str], root_seed: int, base: Mapping[str, float] | None = None):
        self.names = tuple(names)
        self.root_seed = int(root_seed)
        self.base = dict(base if base is not None else Parameters().to_dict())
        self.__name__ = "four_district_case"

    def parameters(self, theta: Mapping[str, float]) -> Parameters:
        values = dict(self.base)
        values.update({n: float(theta[n]) for n in self.names})
        return Parameters(**values)

    def __call__(self, theta: Mapping[str, float]) -> dict[str, np.ndarray]:
        from experiments.execution.runner import run_replicates

        conds = case_conditions_cached()
        key = particle_key(self.root_seed, theta, self.names)
        ((_, _, result),) = run_replicates(conds, self.parameters(theta), self.root_seed, [key % len(conds)], design_point=key)
        return run_summaries(result)


class SamplerScaleSimulator:
    """pyabc model on the sampler's scale: ``{z_<name>: z}`` -> natural values -> :class:`CaseSimulator`."""

    def __init__(self, priors, simulator: CaseSimulator):
        self.priors = priors
        self.simulator = simulator
        self.__name__ = "four_district_case"

    def __call__(self, z: Mapping[str, float]) -> dict[str, np.ndarray]:
        return self.simulator(self.priors.from_z(z))


def _draws_chunk(task: dict) -> list[dict[str, np.ndarray]]:
    """Worker task: run replicates ``task['replicates']`` with their parameter dicts."""
    from experiments.execution.runner import run_replicates

    conds = case_conditions_cached()
    out = []
    for r, values in zip(task["replicates"], task["parameters"], strict=True):
        ((_, _, result),) = run_replicates(conds, Parameters(**values), task["seed"], [r], design_point=0)
        out.append(run_summaries(result))
    return out


def run_draws(
    parameter_dicts: Sequence[Mapping[str, float]],
    seed: int,
    workers: int | None = 1,
    chunk_size: int = 50,
    progress=None,
) -> list[dict[str, np.ndarray]]:
    """Run replicate ``j`` of the case with parameters ``parameter_dicts[j]`` (full parameter dicts).

    Replicate j is seeded ``run_seed(seed, 0, j)`` and uses capacity assignment ``order[j % K]``,
    exactly like replicate j of ``coherence-sim case --seed SEED``; only its parameters differ. The
    result does not depend on ``workers`` (local processes via experiments.execution.executor).
    """
    from experiments.execution.executor import make_executor

    n = len(parameter_dicts)
    tasks = [
        {
            "seed": int(seed),
            "replicates": list(range(a, min(n, a + chunk_size))),
            "parameters": [dict(p) for p in parameter_dicts[a : a + chunk_size]],
        }
        for a in range(0, n, chunk_size)
    ]
    if not tasks:
        return []
    ex = make_executor(workers, max_tasks=len(tasks))
    results: dict[int, list] = {}
    try:
        pending = {}
        queue = list(enumerate(tasks))
        done_runs = 0
        while queue or pending:
            while queue and len(pending) < ex.max_in_flight:
                i, t = queue.pop(0)
                pending[ex.submit(_draws_chunk, t, key=f"draws-{i}")] = i
            for f in ex.wait_first(list(pending)):
                i = pending.pop(f)
                results[i] = f.result()
                done_runs += len(results[i])
                if progress is not None:
                    progress(done_runs, n)
    finally:
        ex.close()
    return [s for i in range(len(tasks)) for s in results[i]]
