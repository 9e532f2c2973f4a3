"""Populations of districts and rollouts (experiments/population/).

* the generator reproduces the distributions of its input file (4,000 districts; tolerances stated
  per check, several standard errors wide);
* a district does not depend on how many are drawn;
* a rollout gives the same numbers in this process, on two local processes and on a Dask
  LocalCluster, with any chunking (seeds keyed by (district, replicate));
* recruitment depends on the provider type (publisher reach, subsidy) in a rollout;
* the CLI runs a rollout and refuses bad input with the allowed values.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest

from experiments.cli import main
from experiments.population import (
    STATES,
    PopulationError,
    district_conditions,
    generate_population,
    load_population,
    load_rollout,
    run_rollout,
    validate_population,
)
from sim.vocab import Capacity


@pytest.fixture(scope="module")
def ca():
    return load_population("CA")


def test_packaged_states_load_and_state_their_assumptions():
    for st in STATES:
        p = load_population(st)
        assert p.state == st and p.n_districts >= 1
        assert "assumption" in p.raw["sources"]["note"].lower()
        d = generate_population(p, n=3)
        for x in d:
            district_conditions(x)  # valid model conditions


def test_generator_reproduces_its_input_distributions(ca):
    raw = copy.deepcopy(ca.raw)
    raw["size"].update(min_students=1, max_students=5_000_000)  # no clipping, so the log-normal is exact
    spec = validate_population(raw)
    n = 4000
    ds = generate_population(spec, n=n, seed=77)
    logs = np.log([d["students"] for d in ds])
    assert np.median(logs) == pytest.approx(math.log(raw["size"]["median_students"]), abs=0.1)
    assert np.std(logs) == pytest.approx(raw["size"]["sigma_log"], rel=0.05)
    df = pd.DataFrame(ds)
    for cls, p in raw["rural"].items():
        sub = df[df.size_class == cls]
        if len(sub) > 200:
            assert sub.rural.mean() == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / len(sub)) + 0.01), cls
    caps = np.array([[Capacity.from_key(c) for c in d["capacity"]] for d in ds])
    marg = np.array(raw["capacity"]["marginal"], dtype=float)
    marg /= marg.sum()
    for k in range(3):
        assert (caps == k).mean() == pytest.approx(marg[k], abs=0.02), k
    # the district-wide level correlates a district's elements (level_weight > 0)
    r = np.corrcoef(caps[:, 0], caps[:, 1])[0, 1]
    assert r > 0.1
    E, L = raw["experience"], raw["leadership"]
    for key, col in (("prior_experience", "prior_experience"), ("prior_provider", "prior_provider"), ("has_prek", "has_prek")):
        assert df[col].mean() == pytest.approx(E[key], abs=0.025), key
    assert df.lead_authority.mean() == pytest.approx(L["lead_authority"], abs=0.025)
    assert df.competing_holder.mean() == pytest.approx(L["competing_holder"], abs=0.025)
    assert df.ec_lead.mean() == pytest.approx(L["ec_lead_on_team"], abs=0.025)
    for key in ("lead_buy_in", "superintendent_buy_in", "holder_buy_in"):
        lo, hi = L[key]
        assert df[key].between(lo, hi).all() and df[key].mean() == pytest.approx((lo + hi) / 2, abs=0.02 * (hi - lo) + 0.005)
    # a pre-K elimination only where there is pre-K
    assert not (df.prek_eliminated & ~df.has_prek).any()


def test_a_district_does_not_depend_on_how_many_are_drawn(ca):
    a = generate_population(ca, n=5)
    b = generate_population(ca, n=40)
    assert a == b[:5]
    assert generate_population(ca, n=5, seed=1) != a


@pytest.mark.parametrize(
    "path, value, text",
    [
        (("size", "sigma_log"), -1, "size.sigma_log"),
        (("rural", "small"), 1.5, "rural.small"),
        (("capacity", "marginal"), [1, 2], "capacity.marginal"),
        (("leadership", "lead_buy_in"), [0.9, 0.1], "leadership.lead_buy_in"),
        (("run", "colour"), 1, "run.colour: unknown key"),
    ],
)
def test_bad_population_files_name_the_key(ca, path, value, text):
    raw = copy.deepcopy(ca.raw)
    raw[path[0]][path[1]] = value
    with pytest.raises(PopulationError, match=text.replace(".", r"\.")):
        validate_population(raw)


# --- rollouts ---------------------------------------------------------------------------------------
N, R = 12, 3


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["district", "replicate"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def inline_rollout(tmp_path_factory):
    out = tmp_path_factory.mktemp("ro") / "inline"
    return run_rollout("TX", out, provider="bundle", n=N, replicates=R, workers=1, chunk_size=7)


def test_rollout_runs_and_summarises_by_district_type(inline_rollout):
    res = inline_rollout
    assert res.runs_done == N * R and res.n_errors == 0
    df = res.load()
    assert len(df) == N * R and set(df.status) == {"ok"}
    assert (df.cost_district[~df.joined] == 0).all() and (df.cost_district[df.joined] > 0).all()
    assert (df.elements_changed[~df.joined] <= df.elements_changed.max()).all()
    s = res.summary
    assert set(s.grouping) == {"all", "size_class", "capacity_class", "leadership", "rural"}
    for col in ("joined", "elements_changed", "cost_district", "cost_per_student"):
        ok = s[[col, f"{col}_p05", f"{col}_p95"]].dropna()
        assert ((ok[f"{col}_p05"] <= ok[col] + 1e-12) & (ok[col] <= ok[f"{col}_p95"] + 1e-12)).all(), col
    assert (res.out_dir / "summary.csv").exists() and (res.out_dir / "summary.json").exists()


@pytest.fixture(scope="module")
def dask_cluster():
    from experiments.execution.executor import local_dask_cluster

    with local_dask_cluster(2) as cluster:  # 2 single-threaded worker processes, configured for sweeps
        yield cluster


def test_same_numbers_on_local_processes_and_dask(inline_rollout, tmp_path, dask_cluster):
    ref = _sorted(inline_rollout.load())
    local = run_rollout("TX", tmp_path / "local", provider="bundle", n=N, replicates=R, workers=2, chunk_size=5,
                        summarise=False)
    dask = run_rollout("TX", tmp_path / "dask", provider="bundle", n=N, replicates=R, scheduler=dask_cluster.scheduler_address,
                       chunk_size=4, summarise=False)
    assert "dask" in dask.executor.lower() or "tcp://" in dask.executor
    pd.testing.assert_frame_equal(_sorted(local.load()), ref)
    pd.testing.assert_frame_equal(_sorted(dask.load()), ref)


def test_recruitment_depends_on_provider_reach_and_subsidy(tmp_path):
    """Same districts, same seeds: a publisher recruits more rural districts than a PL provider alone
    (brief lines 15, 17); a subsidy for small districts raises small districts' take-up and leaves
    the others' exactly as they were (brief line 191)."""
    kw = dict(n=60, replicates=4, workers=1, summarise=False)
    pl = load_rollout(run_rollout("TX", tmp_path / "pl", provider="pl_provider", **kw).out_dir)
    pub = load_rollout(run_rollout("TX", tmp_path / "pub", provider="publisher", **kw).out_dir)
    assert pub[pub.rural].joined.mean() > pl[pl.rural].joined.mean() + 0.1
    b0 = load_rollout(run_rollout("TX", tmp_path / "b0", provider="bundle", **kw).out_dir)
    b1 = load_rollout(run_rollout("TX", tmp_path / "b1", provider={"kind": "bundle", "subsidy_share": 0.9}, **kw).out_dir)
    small = b0.students <= 2500
    assert b1[small].joined.mean() > b0[small].joined.mean() + 0.1
    assert (b1[~small].joined.values == b0[~small].joined.values).all()
    assert b1.cost_subsidy[small & b1.joined].gt(0).all() and (b1.cost_subsidy[~small] == 0).all()


def test_cli_rollout(tmp_path, capsys):
    assert main(["rollout", "FL", "--provider", "publisher", "--districts", "4", "--replicates", "2", "--workers", "1",
                 "--out", str(tmp_path / "cli"), "--quiet", "--set", "parameters.reach_publisher=0.9"]) == 0
    out = capsys.readouterr().out
    assert "rollout FL (publisher): 8 of 8 runs" in out and "size_class" in out
    assert main(["rollout", "FL", "--provider", "consultant", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "consultant" in err and "bundle" in err and "publisher" in err
    assert main(["rollout", "XX", "--out", str(tmp_path / "y")]) == 2
    assert "CA" in capsys.readouterr().err
    assert main(["rollout", "FL", "--set", "provider.colour=1", "--out", str(tmp_path / "z")]) == 2
    assert "provider.colour" in capsys.readouterr().err
