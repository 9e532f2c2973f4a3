"""Running replicates of a scenario: which conditions and which seed each replicate gets.

This is the one place that maps (root seed, design point, replicate) to a run, so the case job,
what-ifs, sweeps and calibration all produce identical numbers for identical inputs, whatever the
worker count, chunking or order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from sim import Parameters, RunResult, simulate
from sim.conditions import Conditions

from .seeds import run_seed

# spawn_key reserved for the permutation of capacity assignments (design points use 0, 1, ...).
_ASSIGNMENT_KEY = 2**31 - 1


def assignment_order(root_seed: int, k: int) -> np.ndarray:
    """A random permutation of the K capacity assignments, fixed by the root seed.

    Replicate r uses assignment ``order[r % K]`` at every design point, so design points and
    what-if arms compare like with like (common random numbers)."""
    rng = np.random.default_rng(np.random.SeedSequence(entropy=int(root_seed), spawn_key=(_ASSIGNMENT_KEY,)))
    return rng.permutation(k)


def run_replicates(
    conditions: Sequence[Conditions],
    parameters: Parameters,
    root_seed: int,
    replicates: Iterable[int],
    design_point: int = 0,
) -> list[tuple[int, int, RunResult]]:
    """Run the given replicates; returns (replicate, assignment index, result) triples."""
    order = assignment_order(root_seed, len(conditions))
    out = []
    for r in replicates:
        k = int(order[r % len(conditions)])
        out.append((r, k, simulate(conditions[k], parameters, seed=run_seed(root_seed, design_point, r))))
    return out
