"""The null model the patterns are judged against (calibration/null_model.py)."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.null_model import case_null_summaries, null_proportions, null_summaries
from experiments.evidence import load_observed


def test_proportions_are_the_reports_pooled_counts():
    p = null_proportions()
    assert p.changed == pytest.approx(20 / 24) and p.transform == pytest.approx(14 / 20)
    assert p.consistency == pytest.approx((16 / 20, 2 / 20, 2 / 20))
    assert p.aligned == pytest.approx(18 / 20) and p.continuity == pytest.approx(1.0)
    depth = [f for f in load_observed().facts_of("depth") if f["element"] is not None]
    assert 0 < p.principles < 1 and len(depth) >= 6


def test_a_null_run_is_coded_consistently():
    rng = np.random.default_rng(1)
    cap = np.array([[0, 1, 2, 2, 2, 0]] * 4, dtype=np.int8)
    prek_end = np.array([True, True, True, False])
    for _ in range(50):
        s = null_summaries(cap, prek_end, rng)
        assert (s["table2"].sum(axis=1) == 6).all() and (s["consistency"].sum(axis=1) == 6).all()
        assert (s["table3"].sum(axis=1) == [8, 4, 12]).all()
        no_change = s["table2"][:, 0]
        assert (s["consistency"][:, 0] == no_change).all() and (s["continuity_by_district"][:, 0] == no_change).all()
        assert s["table3"][:, 0].sum() == s["table4"][:, 0].sum() == s["table5"][:, 0].sum() == no_change.sum()
        assert s["continuity_by_district"][3, 2] == 0  # no pre-K at the end: no continuity at the end
        changed = (s["first_month"] >= 0).sum(axis=1)
        assert (changed == 6 - no_change).all() and (s["first_month"] < 36).all()


def test_null_runs_have_the_pooled_frequencies():
    # 2,000 null runs of the case: shares within 4 standard errors of the pooled proportions
    runs = case_null_summaries(2000, 7)
    p = null_proportions()
    t2 = np.stack([r["table2"] for r in runs]).sum(axis=(0, 1))
    n = t2.sum()
    changed = t2[1] + t2[2]
    assert abs(changed / n - p.changed) < 4 * np.sqrt(p.changed * (1 - p.changed) / n)
    assert abs(t2[2] / changed - p.transform) < 4 * np.sqrt(p.transform * (1 - p.transform) / changed)
    # the null knows nothing of capacity: the transform share does not depend on the capacity row
    t3 = np.stack([r["table3"] for r in runs]).sum(axis=0)
    shares = t3[:, 2] / (t3[:, 1] + t3[:, 2])
    assert np.ptp(shares) < 0.05
    # the same seed gives the same runs
    again = case_null_summaries(5, 7)
    assert all(np.array_equal(a["table2"], b["table2"]) for a, b in zip(runs[:5], again))
