"""Sweeps: specs and plans, identical numbers whatever the executor, resume after kill -9, failures
recorded, refusals. Small sweeps of the four-district case (about 10 ms a run)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from experiments.execution.runner import run_replicates
from experiments.scenario import ScenarioError, apply_overrides, default_scenario
from experiments.execution.store import CODE_KEYS, read_manifest
from experiments.sweep import (
    LazyConditions,
    load_results,
    load_sweep_spec,
    make_plan,
    plan_sweep,
    run_design,
    run_sweep,
)
from sim.parameters import PARAMETER_SPECS
from sim.results import OUTCOME_NAMES
from sim.vocab import CASE_DISTRICTS, Element

ROOT = Path(__file__).resolve().parent.parent

GRID = """\
[sweep]
name = "t-grid"
replicates = {replicates}
seed = {seed}
chunk_size = {chunk_size}
set = ["horizon_months=30"]

[design]
kind = "grid"

[design.factors]
"parameters.uptake_rate" = [0.1, 0.3]
"districts.Diamond.lead.positional_authority" = [false, true]
"""


def write(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def grid_spec(tmp_path: Path, replicates: int = 4, seed: int = 5, chunk_size: int = 3, name: str = "spec.toml") -> Path:
    return write(tmp_path, GRID.format(replicates=replicates, seed=seed, chunk_size=chunk_size), name)


# --- specs and plans --------------------------------------------------------------------------
def test_grid_spec_plans_every_combination_in_order(tmp_path):
    plan = plan_sweep(grid_spec(tmp_path))
    assert plan.name == "t-grid" and plan.kind == "grid"
    assert plan.n_design_points == 4 and plan.n_runs == 16 and plan.n_chunks == 6
    # first factor slowest
    assert plan.design["parameters.uptake_rate"].tolist() == [0.1, 0.1, 0.3, 0.3]
    assert plan.design["districts.Diamond.lead.positional_authority"].tolist() == [False, True, False, True]
    assert plan.base.horizon_months == 30  # [sweep] set
    assert plan.scenario(3).districts["Diamond"].lead.positional_authority is True
    assert plan.scenario(2).parameters.uptake_rate == 0.3
    # chunks cover the runs in plan order, once
    runs = [j for c in range(plan.n_chunks) for j in plan.runs_of_chunk(c)]
    assert runs == list(range(16))
    task = plan.task(1)  # runs 3..5: design point 0 replicate 3, design point 1 replicates 0, 1
    assert [(dp, reps) for dp, reps, _ in task["items"]] == [(0, [3]), (1, [0, 1])]
    assert task["items"][1][2] == {"parameters.uptake_rate": 0.1, "districts.Diamond.lead.positional_authority": True}
    assert len(set(plan.scenario_hashes)) == 4
    # the plan hash fixes numbers and chunks, and nothing else
    assert plan_sweep(grid_spec(tmp_path, name="again.toml")).plan_hash == plan.plan_hash
    assert plan_sweep(grid_spec(tmp_path, seed=6, name="s6.toml")).plan_hash != plan.plan_hash


def test_lhs_spec_is_a_seeded_latin_hypercube(tmp_path):
    text = """\
[sweep]
replicates = 2
seed = 3
[design]
kind = "lhs"
n = 20
[design.factors."parameters.uptake_rate"]
[design.factors."parameters.readiness_fade"]
low = 0.05
high = 0.4
scale = "log"
[design.factors.districts.Avalon.n_elementary_schools]
low = 2
high = 11
integer = true
"""
    plan = plan_sweep(write(tmp_path, text, "lhs.toml"))
    d = plan.design
    assert plan.name == "lhs" and plan.n_design_points == 20 and plan.n_runs == 40
    assert list(d.columns) == ["parameters.uptake_rate", "parameters.readiness_fade", "districts.Avalon.n_elementary_schools"]
    spec = PARAMETER_SPECS["uptake_rate"]
    x = d["parameters.uptake_rate"].to_numpy()
    assert x.min() >= spec.low and x.max() <= spec.high
    # one point in each of the n strata of every factor
    assert sorted(np.floor((x - spec.low) / (spec.high - spec.low) * 20).astype(int)) == list(range(20))
    y = np.log(d["parameters.readiness_fade"].to_numpy())
    assert sorted(np.floor((y - np.log(0.05)) / (np.log(0.4) - np.log(0.05)) * 20).astype(int)) == list(range(20))
    k = d["districts.Avalon.n_elementary_schools"]
    assert k.dtype == np.int64 and k.min() >= 2 and k.max() <= 11 and np.bincount(k - 2).tolist() == [2] * 10
    # fixed by the seed
    again = plan_sweep(write(tmp_path, text, "lhs2.toml")).design
    pdt.assert_frame_equal(again, d)
    other = plan_sweep(write(tmp_path, text.replace("n = 20", "n = 20\nseed = 99"), "lhs3.toml")).design
    assert not np.allclose(other["parameters.uptake_rate"], x)


def test_file_design_and_yaml_spec(tmp_path):
    pd.DataFrame({"parameters.uptake_rate": [0.1, 0.2, 0.25], "districts.Avalon.lead.buy_in": [0.5, 0.6, 0.7]}).to_csv(
        tmp_path / "design.csv", index=False
    )
    write(tmp_path, "sweep:\n  replicates: 2\ndesign:\n  kind: file\n  path: design.csv\n", "spec.yaml")
    plan = plan_sweep(load_sweep_spec(tmp_path / "spec.yaml"))
    assert plan.n_design_points == 3 and plan.kind == "file"
    assert plan.scenario(2).districts["Avalon"].lead.buy_in == 0.7


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[sweep]\nreplicats = 3\n[design]\nkind = 'grid'\n[design.factors]\n'parameters.uptake_rate' = [0.1]\n",
         ["sweep.replicats: unknown key", "allowed: name, scenario, replicates, seed, chunk_size, set"]),
        ("[sweep]\n[design]\nkind = 'grd'\n", ["design.kind", "'grd'", "allowed: grid, lhs, file"]),
        ("[sweep]\n[design]\nfactors = {}\n", ["design.kind: missing", "allowed: grid, lhs, file"]),
        ("[sweep]\nreplicates = 0\n[design]\nkind = 'grid'\n[design.factors]\n'parameters.uptake_rate' = [0.1]\n",
         ["sweep.replicates", "0", "greater than or equal to 1"]),
        ("[sweep]\n[design]\nkind = 'lhs'\nn = 4\n[design.factors.'parameters.uptake_rate']\nlo = 1\n",
         ["design.factors.parameters.uptake_rate.lo: unknown key", "allowed: low, high, integer, scale"]),
        ("[sweep]\n[design]\nkind = 'lhs'\nn = 4\noptimization = 'best'\n[design.factors.'parameters.uptake_rate']\n",
         ["design.optimization", "'best'", "random-cd", "lloyd"]),
        ("[sweep]\n[design]\nkind = 'grid'\n[design.factors]\n'parameters.uptake_rate' = [0.1, 0.9]\n",
         ["design point 1", "parameters.uptake_rate=0.9", "less than or equal to 0.5"]),
        ("[sweep]\n[design]\nkind = 'grid'\n[design.factors]\n'parameters.uptke_rate' = [0.1]\n",
         ["design point 0", "parameters.uptke_rate: unknown key", "allowed: team_attention, uptake_rate"]),
        ("[sweep]\nset = ['horizon_month=3']\n[design]\nkind = 'grid'\n[design.factors]\n'parameters.uptake_rate' = [0.1]\n",
         ["sweep.set", "horizon_month: unknown key", "horizon_months"]),
        ("[sweep]\n[design]\nkind = 'lhs'\nn = 3\n[design.factors.'districts.Avalon.lead.buy_in']\n",
         ["design.factors.districts.Avalon.lead.buy_in", "give low and high"]),
        ("[sweep]\n[design]\nkind = 'file'\npath = 'missing.csv'\n", ["design.path", "missing.csv", "does not exist"]),
        ("[sweep\n", ["not valid TOML"]),
    ],
)
def test_bad_specs_name_the_key(tmp_path, text, expected):
    with pytest.raises(ValueError) as info:
        plan_sweep(write(tmp_path, text))
    for part in expected:
        assert part in str(info.value), str(info.value)


def test_lazy_conditions_equal_the_scenarios():
    s = apply_overrides(default_scenario(), {"districts.Diamond.lead.buy_in": 0.4})
    eager = s.conditions()
    lazy = LazyConditions(s)
    assert len(lazy) == len(eager) > 1
    assert all(lazy[k] == eager[k] for k in range(len(eager)))


# --- identical numbers whatever the executor --------------------------------------------------
def _check_tables(runs: pd.DataFrame, elements: pd.DataFrame, plan) -> None:
    assert len(runs) == plan.n_runs and not runs.duplicated(["design_point", "replicate"]).any()
    assert (runs["status"] == "ok").all()
    assert len(elements) == plan.n_runs * len(CASE_DISTRICTS) * len(Element)
    for name in OUTCOME_NAMES:
        assert name in runs and f"Diamond.{name}" in runs
    assert set(elements["element"]) == set(Element.keys())


@pytest.fixture(scope="module")
def dask_cluster():
    from experiments.execution.executor import local_dask_cluster

    with local_dask_cluster(2) as cluster:  # 2 single-threaded worker processes, configured for sweeps
        yield cluster


def test_same_numbers_for_1_and_2_workers_dask_and_any_chunking(tmp_path, dask_cluster):
    plan = plan_sweep(grid_spec(tmp_path, replicates=5, chunk_size=3))
    ref = run_sweep(plan, tmp_path / "w1", workers=1, quiet=True)
    assert ref.complete and ref.runs_done == 20 and ref.n_errors == 0
    runs, elements = ref.load()
    _check_tables(runs, elements, plan)

    # the sweep's run (i, r) is run_replicates' run (i, r): same seed, same capacity assignment
    row = runs.iloc[13]
    i, r = int(row["design_point"]), int(row["replicate"])
    s = plan.scenario(i)
    ((_, k, res),) = run_replicates(s.conditions(), s.parameters_(), plan.seed, [r], design_point=i)
    assert row["assignment"] == k and row["seed"] == plan.seed
    assert row["share_transformed"] == res.overall_outcomes()["share_transformed"]

    two = run_sweep(plan, tmp_path / "w2", workers=2, quiet=True)
    assert two.complete and two.executor.startswith("2 local processes")
    r2, e2 = two.load()
    pdt.assert_frame_equal(r2, runs)
    pdt.assert_frame_equal(e2, elements)

    dask = run_sweep(plan, tmp_path / "dask", scheduler=dask_cluster.scheduler_address, quiet=True)
    assert dask.complete and dask.executor.startswith("Dask cluster")
    r3, e3 = dask.load()
    pdt.assert_frame_equal(r3, runs)
    pdt.assert_frame_equal(e3, elements)

    # another chunk size: other chunk files, the same rows
    big = plan_sweep(grid_spec(tmp_path, replicates=5, chunk_size=7, name="c7.toml"))
    r4, e4 = run_sweep(big, tmp_path / "c7", workers=1, quiet=True).load()
    pdt.assert_frame_equal(r4, runs)
    pdt.assert_frame_equal(e4, elements)


# --- failures -----------------------------------------------------------------------------------
def test_a_failing_run_is_recorded_and_the_rest_complete(tmp_path, monkeypatch):
    import experiments.execution.runner as runner

    real = runner.simulate

    def flaky(conditions, parameters, seed):
        if tuple(seed.spawn_key) == (1, 2):
            raise FloatingPointError("injected failure in design point 1, replicate 2")
        return real(conditions, parameters, seed=seed)

    monkeypatch.setattr(runner, "simulate", flaky)
    plan = plan_sweep(grid_spec(tmp_path, replicates=4, chunk_size=5))
    result = run_sweep(plan, tmp_path / "out", workers=1, quiet=True)
    assert result.complete and result.runs_done == 16 and result.n_errors == 1
    runs, elements = result.load()
    bad = runs[runs["status"] == "error"]
    assert len(bad) == 1 and (bad["design_point"].iloc[0], bad["replicate"].iloc[0]) == (1, 2)
    assert bad["error"].iloc[0] == "FloatingPointError: injected failure in design point 1, replicate 2"
    assert "flaky" in bad["traceback"].iloc[0]
    assert np.isnan(bad["share_transformed"].iloc[0]) and pd.isna(bad["assignment"].iloc[0])
    ok = runs[runs["status"] == "ok"]
    assert len(ok) == 15 and ok["error"].isna().all() and ok["share_transformed"].notna().all()
    assert len(elements) == 15 * len(CASE_DISTRICTS) * len(Element)
    assert not ((elements["design_point"] == 1) & (elements["replicate"] == 2)).any()


# --- the store: refusals, resume ----------------------------------------------------------------
def test_existing_folder_is_refused_and_resume_checks_the_plan(tmp_path):
    spec = grid_spec(tmp_path, replicates=2, chunk_size=4)
    out = tmp_path / "out"
    first = run_sweep(spec, out, workers=1, quiet=True)
    assert first.complete
    with pytest.raises(ValueError, match="not empty.*--resume"):
        run_sweep(spec, out, workers=1, quiet=True)
    with pytest.raises(ValueError, match="different sweep.*differs in: .*seed"):
        run_sweep(grid_spec(tmp_path, replicates=2, chunk_size=4, seed=99, name="other.toml"), out, workers=1, resume=True, quiet=True)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        run_sweep(spec, tmp_path / "junk", workers=1, quiet=True)
    with pytest.raises(ValueError, match="not a sweep"):
        run_sweep(spec, tmp_path / "junk", workers=1, resume=True, quiet=True)
    # resuming a finished sweep computes nothing and changes nothing
    before = load_results(out)
    again = run_sweep(spec, out, workers=1, resume=True, quiet=True)
    assert again.complete and again.runs_this_session == 0
    after = load_results(out)
    pdt.assert_frame_equal(before[0], after[0])
    pdt.assert_frame_equal(before[1], after[1])


def test_resume_after_kill_9_equals_an_uninterrupted_sweep(tmp_path):
    text = GRID.format(replicates=30, seed=11, chunk_size=4).replace("[0.1, 0.3]", "[0.1, 0.2, 0.3]")
    spec = write(tmp_path, text)  # 6 design points x 30 replicates = 180 runs in 45 chunks
    plan = plan_sweep(spec)
    out = tmp_path / "killed"
    env = {k: v for k, v in os.environ.items() if k != "COHERENCE_SIM_START_METHOD"}  # the CLI forks its workers (in-process tests here use forkserver: threads)
    proc = subprocess.Popen(
        [sys.executable, "-m", "experiments.cli", "sweep", str(spec), "--out", str(out), "--workers", "2", "--quiet"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True, env=env,
    )
    done_at_kill = 0
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                done_at_kill = len(read_manifest(out)["completed"])
            except (OSError, ValueError, KeyError):
                done_at_kill = 0
            if done_at_kill >= 1:
                break
            time.sleep(0.005)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the sweep's whole process group: parent, forkserver, workers
        proc.wait(timeout=30)
    assert 1 <= done_at_kill < plan.n_chunks, proc.stderr.read().decode()
    stored = read_manifest(out)
    assert stored["status"] == "running" and 1 <= len(stored["completed"]) < plan.n_chunks

    resumed = run_sweep(plan, out, workers=1, resume=True, quiet=True)
    assert resumed.complete
    already = sum(v["runs"] for v in stored["completed"].values())
    assert resumed.runs_this_session == plan.n_runs - already  # nothing finished was computed again
    assert not list(out.rglob(".*.tmp"))

    ref = run_sweep(plan, tmp_path / "ref", workers=1, quiet=True)
    runs, elements = load_results(out)
    ref_runs, ref_elements = ref.load()
    assert len(runs) == plan.n_runs and not runs.duplicated(["design_point", "replicate"]).any()
    pdt.assert_frame_equal(runs, ref_runs)
    pdt.assert_frame_equal(elements, ref_elements)
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "complete" and len(m["sessions"]) == 2 and m["sessions"][1]["resume"] is True


class _DieOnArrival:
    """Unpickled by a worker process with its task, ends that process at once (``os._exit``): a
    worker lost in the middle of a chunk, at a chosen chunk rather than at a chosen time."""

    def __reduce__(self):
        return (os._exit, (70,))


def test_a_lost_local_worker_is_replaced_and_its_chunks_run_again(tmp_path):
    text = GRID.format(replicates=30, seed=12, chunk_size=4)
    plan = plan_sweep(write(tmp_path, text))  # 4 design points x 30 replicates = 120 runs in 30 chunks
    out = tmp_path / "lost"
    real_task, poisoned = plan.task, []

    def task(c: int) -> dict:  # event-based, not timed: the worker that receives chunk 5 dies
        t = real_task(c)
        if c == 5 and not poisoned:
            poisoned.append(c)
            t = {**t, "die": _DieOnArrival()}
        return t

    plan.task = task
    result = run_sweep(plan, out, workers=2, quiet=True)
    assert poisoned == [5] and result.complete and result.n_errors == 0 and not result.failed_chunks
    assert result.executor.startswith("2 local processes")
    info = read_manifest(out)["completed"]
    assert info["5"]["attempt"] >= 2  # the lost chunk was submitted again (with every chunk then in flight)
    assert sum(v["runs"] for v in info.values()) == plan.n_runs
    ref = run_sweep(plan_sweep(write(tmp_path, text, "ref.toml")), tmp_path / "ref", workers=1, quiet=True)
    for got, want in zip(load_results(out), ref.load()):
        pdt.assert_frame_equal(got, want)


def test_a_lost_dask_worker_does_not_lose_runs(tmp_path, dask_cluster):
    import threading

    from distributed import Client

    with Client(dask_cluster, set_as_default=False) as client:
        pids = list(client.run(os.getpid).values())
    plan = plan_sweep(write(tmp_path, GRID.format(replicates=30, seed=13, chunk_size=4)))
    out = tmp_path / "dask-lost"
    killed: list[int] = []

    def kill_one_worker() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                done = len(read_manifest(out)["completed"])
                if done >= 1:
                    os.kill(pids[0], signal.SIGKILL)  # the nanny starts a new worker; Dask reschedules its tasks
                    killed.append(done)
                    return
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.005)

    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    result = run_sweep(plan, out, scheduler=dask_cluster.scheduler_address, quiet=True)
    killer.join()
    assert killed and result.complete and result.n_errors == 0
    assert killed[0] < plan.n_chunks, "the worker was killed after the sweep had finished: nothing was tested"
    ref = run_sweep(plan, tmp_path / "ref", workers=1, quiet=True)
    for got, want in zip(load_results(out), ref.load()):
        pdt.assert_frame_equal(got, want)


def test_dask_workers_are_configured_for_sweeps_and_a_default_cluster_is_warned_about(dask_cluster):
    """Dask's default MALLOC_TRIM_THRESHOLD_ slows the runs; our cluster unsets it, and a sweep on a
    cluster that still has it says how to start the workers."""
    import warnings

    from distributed import LocalCluster

    from experiments.execution.executor import DaskExecutor, _worker_trim_threshold

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        ex = DaskExecutor(dask_cluster.scheduler_address)
        assert set(ex._client.run(_worker_trim_threshold).values()) == {None}
        ex.close()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as default:
        with pytest.warns(RuntimeWarning, match="MALLOC_TRIM_THRESHOLD_=65536"):
            ex = DaskExecutor(default.scheduler_address)
        ex.close()


# --- API and CLI --------------------------------------------------------------------------------
def test_run_design_for_external_designs_and_code_keys(tmp_path):
    design = pd.DataFrame({"parameters.uptake_rate": np.array([0.12, 0.24]), "parameters.link_rate": np.array([0.1, 0.2])})
    result = run_design(default_scenario(), design, replicates=2, seed=4, out_dir=tmp_path / "d", workers=1, quiet=True)
    runs, elements = load_results(tmp_path / "d", codes="keys")
    assert result.complete and len(runs) == 4
    assert runs["parameters.link_rate"].tolist() == [0.1, 0.1, 0.2, 0.2]
    assert list(elements["substantiveness"].cat.categories) == CODE_KEYS["substantiveness"] == ["no_change", "add_on", "transform"]
    assert set(elements["element"]) == set(Element.keys())
    assert (tmp_path / "d" / "scenario.toml").is_file() and (tmp_path / "d" / "design.parquet").is_file()
    with pytest.raises(ScenarioError, match="design point 0.*missing value"):
        make_plan(default_scenario(), pd.DataFrame({"parameters.uptake_rate": [np.nan]}), 1, 1)


def test_cli_sweep(tmp_path, capsys):
    from experiments.cli import main

    spec = grid_spec(tmp_path, replicates=2, chunk_size=8)
    out = tmp_path / "cli"
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    assert "complete; 8 of 8 runs stored, 0 with errors" in capsys.readouterr().out
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1", "--quiet"]) == 2
    assert "use --resume" in capsys.readouterr().err
    assert main(["sweep", str(spec), "--out", str(out), "--resume", "--quiet", "--workers", "1"]) == 0
    bad = write(tmp_path, "[sweep]\nrepeats = 2\n[design]\nkind = 'grid'\n", "bad.toml")
    assert main(["sweep", str(bad), "--out", str(tmp_path / "bad")]) == 2
    assert "sweep.repeats: unknown key" in capsys.readouterr().err
    assert main(["sweep", str(spec), "--out", str(tmp_path / "x"), "--workers", "2", "--scheduler", "nonsense"]) == 2
    assert "not both" in capsys.readouterr().err


def test_example_specs_plan():
    for name in ("example_grid.toml", "example_lhs.toml"):
        plan = plan_sweep(ROOT / "experiments" / "data" / "sweeps" / name)
        assert plan.n_runs > 0 and plan.factors
