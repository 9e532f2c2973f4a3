"""Scenario discovery (issue 16): a planted box recovered from a synthetic store, stability flagged on
an unstable box, replicate aggregation and NaN, errors naming the field, and end to end on a tiny real
sweep store and a tiny real sensitivity store."""

from __future__ import annotations

import json
import math
import os
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("ema_workbench")

from api_snippets import run_snippet  # noqa: E402
from experiments.api import pool_replicates  # noqa: E402
from experiments.discovery import (  # noqa: E402
    FILES,
    DiscoveryError,
    Settings,
    choose_box,
    discover,
    inside,
    load_points,
    stability,
)
from sim.results import OUTCOME_NAMES  # noqa: E402

# The planted box: Diamond's share consistent is high (0.6 +- 0.12 per replicate) exactly where
# uptake_rate >= 0.3, buy_in <= 0.6, the lead has authority and the district has <= 10,000 students;
# low (0.1 +- 0.12) elsewhere. noise_a, noise_b and provider.kind play no part.
PLANTED = {
    "parameters.uptake_rate": ("min", 0.3),
    "districts.Diamond.lead.buy_in": ("max", 0.6),
    "districts.Diamond.students": ("max", 10_000),
}
NOISE = ("parameters.noise_a", "parameters.noise_b", "provider.kind")


def synthetic_runs(n: int = 300, replicates: int = 2, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({
        "parameters.uptake_rate": rng.uniform(0, 1, n),
        "districts.Diamond.lead.buy_in": rng.uniform(0, 1, n),
        "districts.Diamond.lead.positional_authority": rng.random(n) < 0.5,
        "districts.Diamond.students": rng.integers(300, 16_001, n),
        "parameters.noise_a": rng.uniform(0, 1, n),
        "parameters.noise_b": rng.uniform(0, 1, n),
        "provider.kind": rng.choice(["pl_provider", "publisher", "bundle"], n),
    })
    inbox = ((x["parameters.uptake_rate"] >= 0.3) & (x["districts.Diamond.lead.buy_in"] <= 0.6)
             & x["districts.Diamond.lead.positional_authority"] & (x["districts.Diamond.students"] <= 10_000)).to_numpy()
    rows = []
    for i in range(n):
        for r in range(replicates):
            row = {"design_point": i, "replicate": r, "seed": 1, "assignment": 0, **x.iloc[i].to_dict(), "status": "ok"}
            for o in OUTCOME_NAMES:
                row[o] = 5.0 if o == "elements_changed" else float(rng.uniform(0, 1))
                row[f"Diamond.{o}"] = 5.0 if o == "elements_changed" else float(rng.uniform(0, 1))
            row["Diamond.share_consistent"] = float(np.clip((0.6 if inbox[i] else 0.1) + rng.normal(0, 0.12), 0, 1))
            # months to change: short inside the box (for --below)
            row["Diamond.mean_month_of_change"] = float((10.0 if inbox[i] else 25.0) + rng.normal(0, 3))
            rows.append(row)
    return pd.DataFrame(rows), inbox


def write_store(runs: pd.DataFrame, root: Path) -> Path:
    """A sweep store as experiments.execution.store lays it out: manifest.json, runs/ and elements/ chunks."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (root / "runs").mkdir(parents=True)
    (root / "elements").mkdir()
    pq.write_table(pa.Table.from_pandas(runs, preserve_index=False), root / "runs" / "chunk-000000.parquet")
    pq.write_table(pa.table({"design_point": pa.array([], pa.int64())}), root / "elements" / "chunk-000000.parquet")
    manifest = {"format": "coherence-sim sweep", "format_version": 1, "plan_hash": "synthetic",
                "completed": {"0": {"runs": len(runs), "errors": 0}}}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    runs, inbox = synthetic_runs()
    return write_store(runs, tmp_path_factory.mktemp("planted") / "store"), runs, inbox


def test_planted_box_is_recovered_with_noise_factors_unrestricted(planted, tmp_path):
    store, runs, inbox = planted
    out = tmp_path / "out"
    res = discover(store, "Diamond.share_consistent", above=0.3, out=out, bootstrap=20)
    lim = res.chosen.limits
    assert set(lim) == set(PLANTED) | {"districts.Diamond.lead.positional_authority"}  # noise factors unrestricted
    assert lim["districts.Diamond.lead.positional_authority"]["in"] == [True]
    # bounds within tolerances: 0.06 of the unit range, 6% of the students' range; the other side open
    for f, (side, true) in PLANTED.items():
        other = "max" if side == "min" else "min"
        tol = 0.06 * (16_000 - 300 if f.endswith("students") else 1.0)
        assert abs(lim[f][side] - true) <= tol, (f, lim[f])
        assert lim[f][other] is None
        assert lim[f]["qp"][0 if side == "min" else 1] < 0.01
    c = res.chosen
    assert c.coverage >= 0.9 and c.density >= 0.9
    assert inside(res.points.x, lim).sum() == c.n
    st = res.stability
    assert st["unstable"] is False and st["share"] >= 0.8 and st["bootstrap"] == 20
    assert all(st["restricted"][f] == 0 for f in NOISE[:2])
    assert set(res.feature_scores.index) == set(res.points.x.columns)
    assert res.feature_scores[list(PLANTED)].min() > res.feature_scores[list(NOISE)].max()
    # the trajectory: PRIM's peeling boxes, coverage falling and density rising from the first box
    t = res.trajectory
    assert t["coverage"].iat[0] == 1.0 and t["density"].iat[0] == pytest.approx(inbox.mean(), abs=0.02)
    assert (t["phase"] == "peel").sum() >= 10
    # the answer, the JSON, the files -- and nothing else in the folder (no temporary files left)
    text = res.text
    assert "Diamond.share_consistent (pooled over 2 replicates) is above 0.3 in" in text
    assert "districts.Diamond.lead.positional_authority is true" in text and "do not restrict the box" in text and ": stable." in text
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    data = json.loads((out / "boxes.json").read_text())
    assert data["chosen"]["limits"].keys() == lim.keys() and data["outcome"] == "Diamond.share_consistent"
    assert data["design_points"] == 300 and data["cases_of_interest"] == int(res.points.case.sum())
    assert len(data["trajectory"]) == len(t) and data["box_rule"].startswith("PRIM")
    assert set(data["chosen"]["unrestricted"]) == set(NOISE)
    assert (out / "answer.txt").read_text().strip() == text
    pts = pd.read_csv(out / "points.csv")
    assert pts["case_of_interest"].sum() == res.points.case.sum() and pts["in_chosen_box"].sum() == c.n
    umask = os.umask(0o022)
    os.umask(umask)
    assert all((p.stat().st_mode & 0o777) == (0o666 & ~umask) for p in out.iterdir())  # ordinary files, not mkstemp's 0600
    for png in ("peeling_trajectory.png", "box.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (out / png).stat().st_size > 20_000


def test_below_and_the_share_of_replicates(planted):
    store, runs, inbox = planted
    res = discover(store, "Diamond.mean_month_of_change", below=17, bootstrap=0)
    assert set(res.chosen.limits) == set(PLANTED) | {"districts.Diamond.lead.positional_authority"}
    assert res.stability["bootstrap"] == 0 and res.stability["unstable"] is None
    share = discover(store, "Diamond.share_consistent", above=0.3, aggregate="share", bootstrap=0)
    assert set(share.chosen.limits) == set(res.chosen.limits)
    # the value is the share of replicates beyond the threshold: 0, 0.5 or 1 with two replicates
    assert set(np.round(share.points.value.unique(), 6)) <= {0.0, 0.5, 1.0}
    assert "in at least 50% of replicates" in share.text


def test_the_box_rule():
    t = pd.DataFrame({
        "id": range(5),
        "coverage": [1.0, 0.95, 0.9, 0.7, 0.4],
        "density": [0.2, 0.5, 0.8, 0.81, 0.99],
        "res_dim": [0, 1, 2, 3, 3],
    })
    # box 4 has too little coverage; of 2 and 3 (density within 0.02 of 0.81) the one with fewer factors
    assert choose_box(t, min_coverage=0.5, density_tolerance=0.02) == 2
    assert choose_box(t, min_coverage=0.5, density_tolerance=0.0) == 3
    assert choose_box(t, min_coverage=0.3, density_tolerance=0.02) == 4


def test_stability_flags_a_box_that_does_not_reappear(planted):
    store, runs, inbox = planted
    pts = load_points(store, "Diamond.share_consistent", 0.3, "above")
    # a box on a noise factor: the resamples find the planted box instead, never this one
    st = stability(pts.x, pts.case, {"parameters.noise_a": {"min": 0.5, "max": None}}, Settings(bootstrap=8))
    assert st["unstable"] is True and st["reproduced"] == 0 and st["share"] == 0.0
    assert all(k < 0.5 for k in st["kappa"])
    # end to end: a box PRIM carves out of pure noise (every limit kept) does not reappear
    rng = np.random.default_rng(0)
    n = 120
    noise = pd.DataFrame({f"parameters.f{i}": rng.uniform(0, 1, n) for i in range(6)})
    noise = noise.assign(design_point=np.arange(n), share_consistent=rng.uniform(0, 1, n), elements_changed=5.0)
    res = discover(noise, "share_consistent", above=0.7, significance=1.0, bootstrap=20)
    assert res.chosen.limits and res.unstable is True
    assert res.stability["share"] < 0.5
    assert "UNSTABLE (reproduced in under 50% of the resamples)" in res.text


def test_replicates_nan_and_failed_runs():
    # design point 0: shares over replicates with weights; 1: the district changed nothing in any
    # replicate (NaN); 2: one failed run; the factor varies
    runs = pd.DataFrame({
        "design_point": [0, 0, 1, 1, 2, 2, 3, 3],
        "replicate": [0, 1] * 4,
        "parameters.uptake_rate": [0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.4, 0.4],
        "Diamond.share_consistent": [0.5, 1.0, np.nan, np.nan, 0.2, 0.9, 0.1, 0.2],
        "Diamond.elements_changed": [2.0, 6.0, 0.0, 0.0, 5.0, 5.0, 4.0, 4.0],
        "status": ["ok", "ok", "ok", "ok", "ok", "error", "ok", "ok"],
    })
    pts = load_points(runs, "Diamond.share_consistent", 0.6, "above")
    assert pts.dropped_nan == 1 and pts.runs_failed == 1 and len(pts.x) == 3
    assert pts.value.to_list() == pytest.approx([(0.5 * 2 + 1.0 * 6) / 8, 0.2, 0.15])
    assert pts.case.tolist() == [True, False, False]
    kept = load_points(runs, "Diamond.share_consistent", 0.6, "above", Settings(nan="not_of_interest"))
    assert len(kept.x) == 4 and kept.case.tolist() == [True, False, False, False] and math.isnan(kept.value.iat[1])
    share = load_points(runs, "Diamond.share_consistent", 0.4, "above", Settings(aggregate="share"))
    assert share.value.to_list() == pytest.approx([1.0, 0.0, 0.0])  # NaN replicates are not counted
    never = runs.assign(**{"Diamond.share_consistent": np.nan, "Diamond.elements_changed": 0.0})
    with pytest.raises(DiscoveryError, match=r"outcome: Diamond.share_consistent is defined at 0 design point\(s\) of a runs table \(4 without any replicate defining it\)"):
        discover(never, "Diamond.share_consistent", above=0.5)


def test_bad_input_is_refused_naming_the_field(planted, tmp_path):
    store, runs, inbox = planted
    with pytest.raises(DiscoveryError, match=r"outcome: 'Diamond.share_nothing' is not an outcome of .*; allowed: elements_changed, share_transformed"):
        discover(store, "Diamond.share_nothing", above=0.3)
    with pytest.raises(DiscoveryError, match="above/below: give exactly one threshold"):
        discover(store, "Diamond.share_consistent")
    with pytest.raises(DiscoveryError, match="above/below: give exactly one threshold"):
        discover(store, "Diamond.share_consistent", above=0.3, below=0.5)
    with pytest.raises(DiscoveryError, match=r"above: 1\.5 leaves none of the 300 design points of interest \(Diamond.share_consistent pooled over replicates ranges from 0 to 0\.\d+"):
        discover(store, "Diamond.share_consistent", above=1.5)
    with pytest.raises(DiscoveryError, match=r"below: 2 leaves every one of the 300 design points of interest"):
        discover(store, "Diamond.share_consistent", below=2)
    with pytest.raises(DiscoveryError, match=r"above: nan is not allowed; allowed: a finite number"):
        discover(store, "Diamond.share_consistent", above=float("nan"))
    fixed = runs.assign(**{c: runs[c].iloc[0] for c in runs.columns if c.startswith(("parameters.", "districts.", "provider."))})
    with pytest.raises(DiscoveryError, match=r"no factor varies across its 300 design point\(s\)"):
        discover(fixed, "Diamond.share_consistent", above=0.3)
    with pytest.raises(DiscoveryError, match="not a sweep store .* nor a sensitivity study folder"):
        discover(tmp_path, "Diamond.share_consistent", above=0.3)
    with pytest.raises(DiscoveryError, match="does not exist"):
        discover(tmp_path / "nowhere", "Diamond.share_consistent", above=0.3)
    with pytest.raises(DiscoveryError, match="aggregate: 'median' is not allowed; allowed: mean, share"):
        discover(store, "Diamond.share_consistent", above=0.3, aggregate="median")
    with pytest.raises(DiscoveryError, match=r"nan: 'drop' is not allowed; allowed: exclude, not_of_interest"):
        discover(store, "Diamond.share_consistent", above=0.3, nan="drop")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DiscoveryError, match="out .*file: exists and is not a folder"):
        discover(store, "Diamond.share_consistent", above=0.3, out=tmp_path / "file")


def test_discover_on_a_tiny_real_sweep_store(tmp_path):
    from experiments.scenario import default_scenario
    from experiments.sweep import load_results, run_design

    design = pd.DataFrame({
        "districts.Diamond.lead.buy_in": np.linspace(0.1, 1.0, 24),
        "program.years": np.tile([1, 2, 3, 4], 6),
        "districts.Diamond.lead.positional_authority": np.repeat([False, True], 12),
    })
    run_design(default_scenario(), design, 2, 5, tmp_path / "sweep", workers=1, quiet=True)
    runs, _ = load_results(tmp_path / "sweep")
    v = pool_replicates(runs, ["Diamond.share_consistent"])["Diamond.share_consistent"]
    threshold = float(v.median())
    res = discover(tmp_path / "sweep", "Diamond.share_consistent", above=threshold, out=tmp_path / "out2", bootstrap=5)
    assert list(res.points.x.columns) == list(design.columns) and len(res.points.x) == 24
    assert res.points.replicates == (2, 2) and res.points.case.sum() == (v > threshold).sum()
    assert sorted(p.name for p in (tmp_path / "out2").iterdir()) == sorted(FILES)
    assert res.text.startswith("Diamond.share_consistent (pooled over 2 replicates)") or res.text.startswith("No box separates")


def test_the_documented_call_on_the_sweep_it_describes(tmp_path):
    """docs/api.md's discover snippet on experiments/data/sweeps/example_lhs.toml (2 replicates, not 10)."""
    from experiments.sweep import load_sweep_spec, plan_sweep, run_sweep

    spec = load_sweep_spec(Path(__file__).resolve().parent.parent / "experiments" / "data" / "sweeps" / "example_lhs.toml")
    spec.sweep.replicates = 2
    run_sweep(plan_sweep(spec), tmp_path / "lhs", workers=1, quiet=True)
    ns = run_snippet("discover", STORE=tmp_path / "lhs", OUT=tmp_path / "out")
    res = ns["res"]
    assert res.outcome == "Diamond.share_consistent" and len(res.points.x) == 40 and res.stability["bootstrap"] == 50
    assert (tmp_path / "out" / "answer.txt").read_text().strip() == res.text
    assert "districts.Avalon.lead.buy_in" in res.feature_scores.index


def _tiny_sensitivity_spec():
    import experiments.sensitivity as sens

    data = tomllib.loads(sens.DEFAULT_SPEC.read_text())
    data["study"].update(replicates=2)
    data["morris"].update(trajectories=2, num_resamples=50)
    data["sobol"].update({"n_start": 2, "n_max": 2, "num_resamples": 20})
    return sens.validate_sensitivity_spec(data, base_dir=sens.DEFAULT_SPEC.parent)


def test_discover_on_a_tiny_real_sensitivity_store(tmp_path):
    import experiments.sensitivity as sens

    spec = _tiny_sensitivity_spec()
    m = sens.run_morris(spec, tmp_path / "study", workers=1, quiet=True)
    sens.run_sobol(spec, tmp_path / "study", groups=["capacity", "lead_authority", "competing_holder"], workers=1, quiet=True)
    res = discover(tmp_path / "study", "share_consistent", above=0.6, out=tmp_path / "out", bootstrap=5)
    # both stages' design points (less those where the district changed nothing in every replicate:
    # left out and counted), the natural values of every factor (x.NAME) that varies
    assert set(res.points.stages) == {p.name for p in (tmp_path / "study" / "runs").iterdir()}
    assert len(res.points.x) + res.points.dropped_nan == sum(res.points.stages.values())
    assert "competing_holder" in res.points.x.columns and not any(c.startswith(("u.", "x.")) for c in res.points.x.columns)
    assert res.points.x["capacity_framework"].dtype == object or str(res.points.x["capacity_framework"].dtype) in ("str", "string")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(FILES)
    morris = discover(tmp_path / "study", "share_consistent", above=0.6, stage="morris", bootstrap=0)
    n_morris = pd.concat([pd.read_parquet(p) for p in (m.store / "runs").glob("*.parquet")])["design_point"].nunique()
    assert list(morris.points.stages) == [m.store.name] and len(morris.points.x) + morris.points.dropped_nan == n_morris
    one = discover(m.store, "share_consistent", above=0.6, bootstrap=0)  # one stage's store, directly
    assert len(one.points.x) == len(morris.points.x) and one.chosen.limits == morris.chosen.limits
    with pytest.raises(DiscoveryError, match="stage: 'fast' matches none of the study's stores; allowed: morris-"):
        discover(tmp_path / "study", "share_consistent", above=0.6, stage="fast")
