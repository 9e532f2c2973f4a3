"""Benchmark: sweep throughput (runs/s) of the four-district case on 1 and 2 local workers and on a
2-worker Dask LocalCluster, and peak memory as a sweep grows.

Throughput: ``--runs`` runs (default 2,000: 20 design points of ``parameters.change_rate`` x 100
replicates, chunks of 100) per measurement, wall time of ``run_sweep`` end to end (executor start,
runs, Parquet writes, manifest). The configurations are interleaved in each of ``--repeats``
rounds so background load hits them alike; medians are reported, and the first round separately
("cold": the forkserver's or the Dask workers' first import of the model is in it).

* parallel efficiency = throughput(2 local workers) / (2 x throughput(1 worker, in-process))
* Dask overhead       = 1 - throughput(Dask, 2 workers) / throughput(2 local workers)
* sweep overhead      = 1 - throughput(1 worker) / runs/s of bare ``run_replicates`` (no sweep machinery)

Memory: a fresh process runs a sweep of N runs (default 2,000 and 20,000) on 2 local workers;
reported are its own peak RSS (``resource.getrusage``) and, sampled every 50 ms with psutil, the
peak RSS of its worker processes and of the whole process tree. Flat memory = the same peaks for
both sizes (results stream to disk; in-flight work is bounded).

Run: ``.venv/bin/python benchmarks/bench_sweep.py`` (``--json`` for JSON only; about 5 minutes on
2 cores). Scripts that call ``run_sweep`` with worker processes need the
``if __name__ == "__main__":`` guard, as this one has.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd


def make_plan(n_runs: int, replicates: int = 100, chunk_size: int = 100):
    from experiments.scenario import default_scenario
    from experiments.sweep import make_plan as _make_plan

    n_points = max(1, n_runs // replicates)
    design = pd.DataFrame({"parameters.change_rate": np.linspace(0.05, 0.3, n_points)})
    return _make_plan(default_scenario(), design, replicates, seed=1, chunk_size=chunk_size, name=f"bench-{n_runs}")


def bare_runs_per_second(n: int = 200) -> float:
    from experiments.runner import run_replicates
    from experiments.scenario import default_scenario

    s = default_scenario()
    conds, params = s.conditions(), s.parameters_()
    run_replicates(conds, params, 1, range(5))
    t0 = time.perf_counter()
    run_replicates(conds, params, 1, range(n))
    return n / (time.perf_counter() - t0)


def timed_sweep(plan, root: Path, tag: str, **kw) -> float:
    from experiments.sweep import run_sweep

    out = root / tag
    t0 = time.perf_counter()
    result = run_sweep(plan, out, quiet=True, **kw)
    dt = time.perf_counter() - t0
    assert result.complete and result.runs_done == plan.n_runs and result.n_errors == 0, result.summary()
    shutil.rmtree(out)
    return plan.n_runs / dt


def throughput(n_runs: int, repeats: int, root: Path) -> dict:
    from distributed import LocalCluster

    plan = make_plan(n_runs)
    rates: dict[str, list[float]] = {"local_1": [], "local_2": [], "dask_2": []}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        for i in range(repeats):
            rates["local_1"].append(timed_sweep(plan, root, f"l1-{i}", workers=1))
            rates["local_2"].append(timed_sweep(plan, root, f"l2-{i}", workers=2))
            rates["dask_2"].append(timed_sweep(plan, root, f"d2-{i}", scheduler=cluster.scheduler_address))
            print(f"  round {i + 1}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in rates.items()) + " runs/s", file=sys.stderr)
    med = {k: statistics.median(v) for k, v in rates.items()}
    warm = {k: statistics.median(v[1:]) if len(v) > 1 else v[0] for k, v in rates.items()}
    return {
        "runs": plan.n_runs,
        "chunk_size": plan.chunk_size,
        "repeats": repeats,
        "runs_per_second": rates,
        "median_runs_per_second": med,
        "median_runs_per_second_after_first_round": warm,
        "parallel_efficiency_2_workers": med["local_2"] / (2 * med["local_1"]),
        "dask_overhead_vs_local_2": 1 - med["dask_2"] / med["local_2"],
        "parallel_efficiency_2_workers_after_first_round": warm["local_2"] / (2 * warm["local_1"]),
        "dask_overhead_vs_local_2_after_first_round": 1 - warm["dask_2"] / warm["local_2"],
    }


# --- memory (in a fresh process) ---------------------------------------------------------------
def _rss_child(n_runs: int, out: str, workers: int) -> None:
    """Run one sweep and print JSON with peak RSS figures (this process and its descendants)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover
        psutil = None
    from experiments.sweep import run_sweep

    plan = make_plan(n_runs)
    peaks = {"workers_max_mib": 0.0, "tree_max_mib": 0.0}
    stop = threading.Event()

    def sample() -> None:
        me = psutil.Process()
        while not stop.is_set():
            try:
                kids = me.children(recursive=True)
                rss = [k.memory_info().rss for k in kids]
                tree = me.memory_info().rss + sum(rss)
                peaks["workers_max_mib"] = max(peaks["workers_max_mib"], max(rss, default=0) / 2**20)
                peaks["tree_max_mib"] = max(peaks["tree_max_mib"], tree / 2**20)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
            stop.wait(0.05)

    t = threading.Thread(target=sample, daemon=True)
    if psutil is not None:
        t.start()
    t0 = time.perf_counter()
    result = run_sweep(plan, out, workers=workers, quiet=True)
    dt = time.perf_counter() - t0
    stop.set()
    if psutil is not None:
        t.join()
    print(json.dumps({
        "runs": result.runs_done,
        "seconds": dt,
        "runs_per_second": result.runs_done / dt,
        "parent_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker_peak_rss_mib": peaks["workers_max_mib"] if psutil is not None else None,
        "tree_peak_rss_mib": peaks["tree_max_mib"] if psutil is not None else None,
        "store_mib": sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file()) / 2**20,
    }))


def memory(sizes: list[int], root: Path, workers: int) -> dict:
    out = {}
    for n in sizes:
        target = root / f"rss-{n}"
        proc = subprocess.run(
            [sys.executable, __file__, "--rss-child", str(n), "--rss-out", str(target), "--workers", str(workers)],
            capture_output=True, text=True, check=True,
        )
        out[str(n)] = json.loads(proc.stdout.strip().splitlines()[-1])
        shutil.rmtree(target, ignore_errors=True)
        print(f"  {n} runs: " + json.dumps(out[str(n)]), file=sys.stderr)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=2000, help="runs per throughput measurement (default 2000)")
    ap.add_argument("--repeats", type=int, default=3, help="rounds of the three configurations (default 3)")
    ap.add_argument("--rss-sizes", default="2000,20000", help="sweep sizes for the memory measurement")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--json", action="store_true", help="print JSON only")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    ap.add_argument("--rss-child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--rss-out", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child is not None:
        _rss_child(args.rss_child, args.rss_out, args.workers)
        return

    from experiments.provenance import provenance

    result: dict = {"cores": os.cpu_count(), "load_average_before": os.getloadavg()}
    root = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    try:
        result["bare_run_replicates_runs_per_second"] = bare_runs_per_second()
        if not args.skip_throughput:
            print(f"throughput, {args.runs} runs x {args.repeats} rounds ...", file=sys.stderr)
            result["throughput"] = tp = throughput(args.runs, args.repeats, root)
            tp["sweep_overhead_1_worker_vs_bare"] = 1 - tp["median_runs_per_second"]["local_1"] / result["bare_run_replicates_runs_per_second"]
        if not args.skip_memory:
            print("memory ...", file=sys.stderr)
            result["memory"] = memory([int(x) for x in args.rss_sizes.split(",") if x], root, args.workers)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result["load_average_after"] = os.getloadavg()
    result["provenance"] = provenance()
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    if args.json:
        print(text)
        return
    print(text)
    if "throughput" in result:
        tp = result["throughput"]
        m = tp["median_runs_per_second"]
        print(f"\nsweep of {tp['runs']} runs (median of {tp['repeats']}): 1 worker {m['local_1']:.1f}, "
              f"2 workers {m['local_2']:.1f}, Dask 2 workers {m['dask_2']:.1f} runs/s")
        print(f"parallel efficiency (2 workers): {tp['parallel_efficiency_2_workers']:.3f}   "
              f"Dask overhead vs local: {tp['dask_overhead_vs_local_2']:+.3f}   "
              f"sweep overhead vs bare runs: {tp['sweep_overhead_1_worker_vs_bare']:+.3f}")
    for n, m in result.get("memory", {}).items():
        print(f"{n} runs: parent peak {m['parent_peak_rss_mib']:.0f} MiB, worker peak {m['worker_peak_rss_mib']:.0f} MiB, "
              f"tree peak {m['tree_peak_rss_mib']:.0f} MiB, {m['runs_per_second']:.0f} runs/s")


if __name__ == "__main__":
    main()
