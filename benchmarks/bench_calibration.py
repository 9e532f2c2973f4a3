"""Benchmark: wall time and number of simulations of a calibration (target for ``full``: <= 30 min
on 2 cores).

Runs ``calibration.fit.calibrate`` with the given budget and workers into a fresh folder and reports
the wall time of the whole calibration (both ABC stages, the posterior predictive runs, figures and
report), the ABC simulations per stage, the predictive runs, the final epsilons, and the machine's
load average before and after (other processes competing for the cores lengthen the wall time).
``--from DIR`` reports an existing calibration (its calibration.json) instead of running one.

Run: ``.venv/bin/python benchmarks/bench_calibration.py --budget full --workers 2``
(``--budget quick`` for a fast check). Does not write the calibrated defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path


def report_from(path: Path) -> dict:
    data = json.loads((path / "calibration.json").read_text())
    st = data["stages"]
    return {
        "budget": data["provenance"]["budget"]["name"],
        "scheduler": data["provenance"].get("scheduler"),
        "workers": data["provenance"].get("workers"),
        "wall_time_s": data["wall_time_s"],
        "wall_time_min": round(data["wall_time_s"] / 60, 2),
        "abc_simulations": data["n_simulations"],
        "abc_simulations_split_fit": st["fit"]["n_simulations"],
        "abc_simulations_final_fit": st["final"]["n_simulations"],
        "predictive_runs": data["n_predictive_runs"],
        "generations": {k: v["generations"] for k, v in st.items()},
        "final_epsilon": {k: v["final_epsilon"] for k, v in st.items()},
        "effective_sample_size": {k: round(v["effective_sample_size"], 1) for k, v in st.items()},
        "stop_reason": {k: v["stop_reason"] for k, v in st.items()},
        "sampling_wall_time_s": {k: v["sampling_wall_time_s"] for k, v in st.items()},
        "version": data["provenance"].get("version"),
        "git_commit": data["provenance"].get("git_commit"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--budget", choices=("quick", "full"), default="full")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scheduler", default=None, help="default: the budget's (single for quick, processes for full)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/calibration"))
    ap.add_argument("--from", dest="from_dir", type=Path, default=None, help="report an existing calibration folder")
    ap.add_argument("--json", action="store_true", help="print JSON only")
    args = ap.parse_args()

    if args.from_dir is not None:
        out = report_from(args.from_dir)
    else:
        from calibration.fit import calibrate, format_progress

        target = args.out / args.budget
        if target.exists():
            shutil.rmtree(target)
        load0 = os.getloadavg()
        t0 = time.perf_counter()
        calibrate(args.budget, target, scheduler=args.scheduler, workers=None if args.budget == "quick" else args.workers,
                  write_defaults=False,
                  progress=None if args.json else (lambda e: print(format_progress(e), file=sys.stderr, flush=True)))
        wall = time.perf_counter() - t0
        out = report_from(target)
        out["command_wall_time_s"] = round(wall, 1)
        out["load_average_before"] = [round(x, 2) for x in load0]
        out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        out["cores"] = os.cpu_count()
    text = json.dumps(out, indent=2)
    print(text)
    if not args.json:
        ok = out["budget"] != "full" or out["wall_time_s"] <= 30 * 60
        print(f"\n{out['budget']}: {out['wall_time_min']} min, {out['abc_simulations']:,} ABC simulations "
              f"+ {out['predictive_runs']:,} predictive runs; target <= 30 min for full: {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
