"""Seeds for runs: one ``SeedSequence`` per (design point, replicate), whatever the worker count,
chunking or order of execution."""

from __future__ import annotations

import numpy as np


def run_seed(root: int, design_point: int, replicate: int) -> np.random.SeedSequence:
    """The seed of replicate ``replicate`` at design point ``design_point`` of a study rooted at
    ``root``. Identical replicate numbers at different design points share nothing."""
    if root < 0 or design_point < 0 or replicate < 0:
        raise ValueError(f"seed: root, design point and replicate must be >= 0, got {root}, {design_point}, {replicate}")
    return np.random.SeedSequence(entropy=int(root), spawn_key=(int(design_point), int(replicate)))
