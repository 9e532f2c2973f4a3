"""Benchmark: wall time of one replicate of the four-district case (median over repeats).

Reports ms per replicate and replicates per second on one core, for the run as sweeps use it
(teacher state in arrays) and with every Teacher materialised as a Mesa agent (as the app does),
measured in the same process so the ratio is meaningful. Run: ``make bench``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from experiments.case import case_conditions
from experiments.execution.provenance import provenance
from experiments.execution.seeds import run_seed
from sim import CoherenceModel, Parameters
from sim.results import RunResult


def one(cond, params, seed, materialise: bool) -> None:
    model = CoherenceModel(cond, params, rng=seed)
    if materialise:
        model.teachers  # noqa: B018  (create the Teacher agents)
    model.run()
    RunResult.from_model(model, seed=seed)


def bench(repeats: int, per_repeat: int, materialise: bool) -> list[float]:
    conds, _ = case_conditions()
    params = Parameters()
    times = []
    r = 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(per_repeat):
            one(conds[r % len(conds)], params, run_seed(1, 0, r), materialise)
            r += 1
        times.append((time.perf_counter() - t0) / per_repeat)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--per-repeat", type=int, default=40)
    ap.add_argument("--json", action="store_true", help="print JSON only")
    args = ap.parse_args()
    conds, _ = case_conditions()
    n_teachers = sum(d.n_teachers for d in conds[0].districts)
    bench(2, 10, False)  # warm-up
    plain = bench(args.repeats, args.per_repeat, False)
    agents = bench(args.repeats, args.per_repeat, True)
    out = {
        "replicate_ms_median": 1e3 * statistics.median(plain),
        "replicates_per_second": 1.0 / statistics.median(plain),
        "replicate_ms_median_with_teacher_agents": 1e3 * statistics.median(agents),
        "ratio_teacher_agents_to_plain": statistics.median(agents) / statistics.median(plain),
        "teachers": n_teachers,
        "repeats": args.repeats,
        "runs_per_repeat": args.per_repeat,
        "provenance": provenance(),
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"four-district case, {n_teachers} teachers, median of {args.repeats} x {args.per_repeat} runs, one core")
    print(f"  per replicate:                   {out['replicate_ms_median']:.2f} ms ({out['replicates_per_second']:.0f} replicates/s)")
    print(f"  with Teacher agents materialised: {out['replicate_ms_median_with_teacher_agents']:.2f} ms "
          f"(x{out['ratio_teacher_agents_to_plain']:.2f})")


if __name__ == "__main__":
    main()
