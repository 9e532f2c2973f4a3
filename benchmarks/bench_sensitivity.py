"""Benchmark: throughput of the sensitivity pipeline, projected to the issue's target study.

Target (issue): a Sobol' study of 12 factor groups at N = 1024 with second order and 8 replicates,
N (2 x 12 + 2) x 8 = 212,992 runs, in <= 20 minutes on this 2-core machine.

Measured here:

* ``bare``: CPU and wall time per run of the generic district (``experiments.execution.runner.run_replicates``
  at random design points of the default spec, in this process, no sweep machinery);
* ``engine``: a real Sobol' study (``experiments.sensitivity.run_sobol``) of 12 groups of the default
  spec, second order, 8 replicates, at ``--n`` base points (default 8: 1,664 runs) on ``--workers``
  local processes (default 2), end to end: executor start, runs, Parquet chunks, loading, SALib
  analysis. Runs/s of the run phase -> projected wall time of the 212,992-run target;
* ``analysis``: SALib's Sobol' analysis (6 outputs, second order, 200 resamples) and the doubling's
  re-analyses at N = 128 ... 1024 on synthetic outputs, the part of the study that does not scale with
  cores;
* the machine's load average before and after (other jobs share the 2 cores: the numbers say so).

``--full`` also runs the default study (Morris + Sobol', experiments/data/sensitivity/default.toml)
into ``--out`` and reports its wall time (resumes if ``--out`` already holds its runs: use a fresh
folder for a timing).

Run: ``.venv/bin/python benchmarks/bench_sensitivity.py [--n 8] [--workers 2] [--full --out DIR] [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_GROUPS = 12
TARGET_N = 1024
TARGET_R = 8
TARGET_RUNS = TARGET_N * (2 * TARGET_GROUPS + 2) * TARGET_R
TARGET_SECONDS = 20 * 60
BENCH_GROUPS = ["capacity", "lead_authority", "lead_buy_in", "competing_holder", "holder_buy_in", "prek_eliminated",
                "turbulence", "pace", "transform", "linking", "prek_inclusion", "size"]


def load() -> float:
    return os.getloadavg()[0]


def bare(n_points: int = 12, replicates: int = 8) -> dict:
    from experiments.execution.runner import run_replicates
    from experiments.scenario import apply_overrides
    from experiments.sensitivity import FactorSpace, load_sensitivity_spec

    space = FactorSpace(load_sensitivity_spec())
    U = np.random.default_rng(0).random((n_points, len(space.names)))
    scen = [apply_overrides(space.base, ov) for ov in space.overrides(U)]
    run_replicates(scen[0].conditions(), scen[0].parameters_(), 1, range(2))
    w0, c0 = time.perf_counter(), time.process_time()
    for s in scen:
        run_replicates(s.conditions(), s.parameters_(), 1, range(replicates))
    n = n_points * replicates
    return {"runs": n, "wall_ms_per_run": 1e3 * (time.perf_counter() - w0) / n, "cpu_ms_per_run": 1e3 * (time.process_time() - c0) / n}


def engine(n: int, workers: int) -> dict:
    from experiments.sensitivity import load_sensitivity_spec, run_sobol

    spec = load_sensitivity_spec()
    spec.sobol.n_start = n
    spec.sobol.n_max = n
    spec.study.replicates = TARGET_R
    root = Path(tempfile.mkdtemp(prefix="bench-sens-"))
    try:
        t0 = time.perf_counter()
        res = run_sobol(spec, root, groups=BENCH_GROUPS, workers=workers, quiet=True)
        wall = time.perf_counter() - t0
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {"N": n, "groups": len(res.groups), "runs": res.n_runs, "wall_s": wall, "runs_per_s_end_to_end": res.n_runs / wall}


def engine_run_phase(n: int, workers: int) -> dict:
    """Only the run phase (executor, runs, chunk writes), timed by the engine itself."""
    from experiments.sensitivity import FactorSpace, _Engine, load_sensitivity_spec, rows_per_base, sobol_design

    spec = load_sensitivity_spec()
    space = FactorSpace(spec)
    names = space.members(BENCH_GROUPS)
    prob = space.problem(names)
    X = sobol_design(prob, n, second_order=True, seed=1)
    U = space.full(X, names)
    step = rows_per_base(prob, True)
    root = Path(tempfile.mkdtemp(prefix="bench-sens-"))
    eng = _Engine(space, TARGET_R, 1, workers=workers, quiet=True)
    try:
        eng.ensure(root / "s", {"bench": n}, U, step, "bench")
        ex = eng.describe_executor()
    finally:
        eng.close()
        shutil.rmtree(root, ignore_errors=True)
    return {"runs": eng.runs_session, "seconds": eng.seconds, "runs_per_s": eng.runs_session / eng.seconds, "executor": ex}


def analysis() -> dict:
    from experiments.sensitivity import sobol_indices, sobol_design

    prob = {"num_vars": 30, "names": [f"x{i}" for i in range(30)], "bounds": [[0, 1]] * 30,
            "groups": [f"g{i % TARGET_GROUPS}" for i in range(30)]}
    out = {}
    total = 0.0
    for N in (128, 256, 512, 1024):
        t0 = time.perf_counter()
        X = sobol_design(prob, N, second_order=True, seed=1)
        t_design = time.perf_counter() - t0
        Y = np.column_stack([np.sin(6 * X[:, k]) + X[:, k + 1] * X[:, k + 2] + 0.1 * np.random.default_rng(k).standard_normal(len(X)) for k in range(6)])
        t0 = time.perf_counter()
        sobol_indices(prob, X, Y, [f"y{k}" for k in range(6)], second_order=True, num_resamples=200, conf_level=0.95, seed=7)
        t_an = time.perf_counter() - t0
        out[f"N={N}"] = {"design_s": t_design, "analysis_s": t_an}
        total += t_design + t_an
    out["doubling_128_to_1024_s"] = total
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=8, help="base points of the measured Sobol' study (power of two)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--full", action="store_true", help="also time the default study (Morris + Sobol')")
    ap.add_argument("--out", type=Path, default=Path("results/sensitivity/bench-default"))
    ap.add_argument("--json", action="store_true", help="print JSON only")
    args = ap.parse_args()
    res: dict = {"cores": os.cpu_count(), "load_before": load()}
    res["bare"] = bare()
    res["run_phase"] = engine_run_phase(args.n, args.workers)
    res["end_to_end"] = engine(args.n, args.workers)
    res["analysis"] = analysis()
    rps = res["run_phase"]["runs_per_s"]
    proj = TARGET_RUNS / rps + res["analysis"]["doubling_128_to_1024_s"]
    ideal = TARGET_RUNS * res["bare"]["cpu_ms_per_run"] / 1e3 / args.workers * 1.15  # +15% engine overhead (measured: run_chunk vs bare)
    res["target"] = {
        "runs": TARGET_RUNS,
        "projected_wall_s_at_measured_rate": proj,
        "projected_wall_min_at_measured_rate": proj / 60,
        "projected_wall_min_if_cores_were_free": (ideal + res["analysis"]["doubling_128_to_1024_s"]) / 60,
        "meets_20_min_at_measured_rate": proj <= TARGET_SECONDS,
    }
    if args.full:
        from experiments.sensitivity import run_study

        t0 = time.perf_counter()
        st = run_study("experiments/data/sensitivity/default.toml", args.out, workers=args.workers, quiet=True)
        res["default_study"] = {"wall_s": time.perf_counter() - t0, "runs_total": st.runs_total, "runs_this_session": st.runs_this_session,
                                "run_seconds": st.run_seconds, "sobol_N": st.sobol.N, "converged": st.sobol.converged}
    res["load_after"] = load()
    if args.json:
        print(json.dumps(res, indent=1))
        return 0
    b, r, e, t = res["bare"], res["run_phase"], res["end_to_end"], res["target"]
    print(f"machine: {res['cores']} cores; load average {res['load_before']:.2f} before, {res['load_after']:.2f} after (other jobs share the cores)")
    print(f"bare model run (generic district): {b['cpu_ms_per_run']:.2f} ms CPU, {b['wall_ms_per_run']:.2f} ms wall per run")
    print(f"run phase, {r['executor']}: {r['runs']} runs in {r['seconds']:.1f} s = {r['runs_per_s']:.1f} runs/s")
    print(f"end to end run_sobol (N={e['N']}, {e['groups']} groups, 2nd order, R={TARGET_R}): {e['runs']} runs in {e['wall_s']:.1f} s")
    print(f"analysis (SALib, 6 outputs, 2nd order, doubling 128..1024): {res['analysis']['doubling_128_to_1024_s']:.1f} s")
    print(f"target {TARGET_RUNS} runs: projected {t['projected_wall_min_at_measured_rate']:.1f} min at the measured rate "
          f"({'meets' if t['meets_20_min_at_measured_rate'] else 'misses'} 20 min); "
          f"{t['projected_wall_min_if_cores_were_free']:.1f} min if both cores were free (bare CPU time + 15% engine overhead)")
    if "default_study" in res:
        d = res["default_study"]
        print(f"default study: {d['runs_total']} runs ({d['runs_this_session']} this session), Sobol' N = {d['sobol_N']} "
              f"({'converged' if d['converged'] else 'not converged'}), wall {d['wall_s'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
