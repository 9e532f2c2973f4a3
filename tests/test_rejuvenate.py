"""The resample-move step after ABC-SMC (calibration/rejuvenate.py)."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.rejuvenate import _systematic, rejuvenate


def test_systematic_resampling_keeps_the_weights():
    rng = np.random.default_rng(3)
    w = rng.random(50) ** 4
    idx = _systematic(w, 100_000, rng)
    counts = np.bincount(idx, minlength=50) / 100_000
    assert np.allclose(counts, w / w.sum(), atol=2e-5 + 1e-3 * w.max() / w.sum())
    assert (_systematic(np.array([0.0, 1.0, 0.0]), 7, rng) == 1).all()


@pytest.fixture(scope="module")
def stage(tmp_path_factory):
    from calibration.distance import load_split
    from calibration.fit import Budget, run_stage
    from calibration.priors import load_priors

    b = Budget("tiny", population=24, max_generations=2, max_simulations=400, min_acceptance_rate=0.05,
               max_walltime_s=None, predictive_draws=10, scheduler="single")
    split, priors = load_split(), load_priors()
    return run_stage("fit", split.evidence("fit"), priors.subset("fit"), b, tmp_path_factory.mktemp("rj") / "h.db", seed=5)


def test_moved_particles_are_equally_weighted_inside_the_tolerance_and_reproducible(stage):
    a = rejuvenate(stage, seed=5, workers=1, max_moves=3, chunk=10)
    b = rejuvenate(stage, seed=5, workers=2, max_moves=3, chunk=7)
    assert len(a.particles) == len(stage.particles)
    assert np.allclose(a.particles["weight"], 1 / len(a.particles)) and a.ess == pytest.approx(len(a.particles))
    assert (a.particles["distance"] <= stage.final_epsilon).all()
    for name in stage.names:
        lo, hi = stage.priors[name].low, stage.priors[name].high
        assert a.particles[name].between(lo, hi).all()
    # the same particles on any number of workers and any chunking
    assert np.allclose(a.particles[list(stage.names)].to_numpy(), b.particles[list(stage.names)].to_numpy())
    d = a.to_dict()
    assert 1 <= d["sweeps"] <= 3 and 0 <= d["acceptance_rate"] <= 1 and d["ancestors"] <= len(stage.particles)
    assert d["distinct"] >= d["ancestors"] or d["moved_share"] == 0
    assert 1 <= d["ess_distinct"] <= d["distinct"] + 1e-9
    assert 1 <= d["ess_ancestors"] <= d["ancestors"] + 1e-9
    c = rejuvenate(stage, seed=6, workers=1, max_moves=3, chunk=10)
    assert not np.allclose(a.particles[list(stage.names)].to_numpy(), c.particles[list(stage.names)].to_numpy())


def test_pooled_effective_sample_size_counts_copies_once():
    from calibration.rejuvenate import ess_of_counts

    assert ess_of_counts([1] * 50) == pytest.approx(50)  # all distinct: N
    assert ess_of_counts([50]) == pytest.approx(1)  # one particle copied: 1
    assert ess_of_counts([10] * 5) == pytest.approx(5)  # five ancestors, none moved
    mixed = ess_of_counts([10] + [1] * 40)  # one unmoved ancestor's ten copies, forty moved
    assert mixed == pytest.approx(50**2 / (100 + 40))
