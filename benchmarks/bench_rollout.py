"""Benchmark: a rollout of 1,000 synthetic districts x 20 replicates (20,000 runs) on 2 local cores.

Reports the wall time of ``run_rollout`` end to end (executor start, runs, Parquet writes, summary),
the CPU seconds per run over the whole process tree (independent of other work sharing the cores),
the projected wall time on a cluster of C cores (``runs x cpu_per_run / C``, i.e. perfect scaling of
independent chunks; a Dask cluster adds a few per cent, see benchmarks/bench_sweep.py), and memory:
the peak RSS of this process, of its workers and of the whole tree, sampled every 50 ms with psutil,
plus the tree's RSS at 25/50/75/100% of the runs (flat memory: results stream to disk, in-flight
work is bounded).

Run: ``nice .venv/bin/python benchmarks/bench_rollout.py`` (``--districts``, ``--replicates``,
``--state``, ``--provider``, ``--workers``, ``--json``). About 2-4 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import threading
import time
from pathlib import Path


class _Sampler(threading.Thread):
    def __init__(self, out_dir: Path, n_runs: int):
        super().__init__(daemon=True)
        import psutil

        self.proc = psutil.Process()
        self.out_dir, self.n_runs = out_dir, n_runs
        self.stop = threading.Event()
        self.peak_self = self.peak_workers = self.peak_tree = 0
        self.cpu_children = 0.0
        self.timeline: list[tuple[float, int]] = []  # (fraction of runs done, tree RSS)

    def _done(self) -> int:
        m = self.out_dir / "manifest.json"
        try:
            return sum(v["runs"] for v in json.loads(m.read_text()).get("completed", {}).values())
        except Exception:  # noqa: BLE001 - the manifest is being replaced
            return -1

    def run(self) -> None:
        marks = [0.25, 0.5, 0.75]
        while not self.stop.is_set():
            try:
                me = self.proc.memory_info().rss
                kids = self.proc.children(recursive=True)
                kr = 0
                cpu = 0.0
                for k in kids:
                    try:
                        kr += k.memory_info().rss
                        t = k.cpu_times()
                        cpu += t.user + t.system
                    except Exception:  # noqa: BLE001
                        pass
                self.cpu_children = max(self.cpu_children, cpu)
                self.peak_self = max(self.peak_self, me)
                self.peak_workers = max(self.peak_workers, kr)
                self.peak_tree = max(self.peak_tree, me + kr)
                if marks:
                    done = self._done()
                    if done >= marks[0] * self.n_runs:
                        self.timeline.append((marks.pop(0), me + kr))
            except Exception:  # noqa: BLE001
                pass
            self.stop.wait(0.05)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--state", default="CA")
    ap.add_argument("--provider", default="bundle")
    ap.add_argument("--districts", type=int, default=1000)
    ap.add_argument("--replicates", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunk-size", type=int, default=100)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from experiments.population import make_rollout_plan, run_rollout
    from experiments.execution.provenance import provenance

    plan = make_rollout_plan(args.state, provider=args.provider, n=args.districts, replicates=args.replicates,
                             chunk_size=args.chunk_size)
    tmp = Path(tempfile.mkdtemp(prefix="bench-rollout-"))
    out = tmp / "out"
    load0 = os.getloadavg()
    sampler = _Sampler(out, plan.n_runs)
    sampler.start()
    t_cpu0 = time.process_time()
    t0 = time.perf_counter()
    result = run_rollout(plan, out, workers=args.workers)
    wall = time.perf_counter() - t0
    cpu_self = time.process_time() - t_cpu0
    sampler.stop.set()
    sampler.join()
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_children = max(sampler.cpu_children, ru.ru_utime + ru.ru_stime)
    sampler.timeline.append((1.0, None))
    cpu_per_run = (cpu_self + cpu_children) / plan.n_runs
    size_mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
    joined = None
    if result.summary is not None:
        row = result.summary[result.summary.grouping == "all"].iloc[0]
        joined = float(row["joined"])
    shutil.rmtree(tmp, ignore_errors=True)
    res = {
        "state": args.state,
        "provider": args.provider,
        "districts": args.districts,
        "replicates": args.replicates,
        "runs": plan.n_runs,
        "errors": result.n_errors,
        "workers": args.workers,
        "wall_s": wall,
        "runs_per_s": plan.n_runs / wall,
        "wall_ms_per_run_per_worker": 1e3 * wall * args.workers / plan.n_runs,
        "cpu_ms_per_run": 1e3 * cpu_per_run,
        "projected_cluster_s": {str(c): plan.n_runs * cpu_per_run / c for c in (16, 64, 256)},
        "projected_full_state_x5_providers_x100_replicates_on_64_cores_s": None,
        "peak_rss_mb": {"this_process": sampler.peak_self / 2**20, "workers": sampler.peak_workers / 2**20,
                        "tree": sampler.peak_tree / 2**20,
                        "this_process_ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024},
        "tree_rss_mb_by_progress": {f"{f:.0%}": (v / 2**20 if v else None) for f, v in sampler.timeline},
        "store_mb": size_mb,
        "share_joined": joined,
        "load_average_before": load0,
        "provenance": provenance(),
    }
    from experiments.population import load_population

    n_state = load_population(args.state).n_districts
    res["projected_full_state_x5_providers_x100_replicates_on_64_cores_s"] = n_state * 5 * 100 * cpu_per_run / 64
    if args.json:
        print(json.dumps(res, indent=2, default=str))
        return
    print(f"rollout {args.state} ({args.provider}): {args.districts} districts x {args.replicates} replicates = "
          f"{plan.n_runs} runs on {args.workers} local workers (load before: {load0[0]:.2f})")
    print(f"  wall time:          {wall:.1f} s ({res['runs_per_s']:.0f} runs/s)")
    print(f"  per run:            {res['cpu_ms_per_run']:.2f} ms CPU (all processes); "
          f"{res['wall_ms_per_run_per_worker']:.2f} ms wall x workers")
    print("  projected cluster:  " + ", ".join(f"{c} cores {s:.0f} s" for c, s in res["projected_cluster_s"].items())
          + f"; the whole state ({n_state} districts) x 5 provider types x 100 replicates on 64 cores: "
          f"{res['projected_full_state_x5_providers_x100_replicates_on_64_cores_s']:.0f} s")
    print(f"  peak RSS:           this process {res['peak_rss_mb']['this_process']:.0f} MB, workers "
          f"{res['peak_rss_mb']['workers']:.0f} MB, tree {res['peak_rss_mb']['tree']:.0f} MB")
    print("  tree RSS by progress: " + ", ".join(f"{k} {v:.0f} MB" for k, v in res["tree_rss_mb_by_progress"].items() if v))
    print(f"  store: {size_mb:.1f} MB; share of districts joining: {joined:.2f}")


if __name__ == "__main__":
    main()
