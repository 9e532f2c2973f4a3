"""Benchmark: the cost of recording a chunk in a results store, as the store grows.

Writes ``--chunks`` tiny chunks (one run, no element rows: the chunk files cost little, the
bookkeeping is what is measured) through ``SweepStore.write_chunk`` and reports the median time per
chunk over the first 100 chunks and over the last 100, and the total. A store that rewrites its whole
manifest after every chunk (before issue 15) grows linearly per chunk (quadratically in all); one that
appends a record per chunk stays flat.

Run: ``.venv/bin/python benchmarks/bench_store.py --chunks 10000`` (``--json`` for JSON only). To
compare with an older checkout, run the same file with ``PYTHONPATH=/path/to/old/checkout``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path


def measure(n_chunks: int, root: Path) -> dict:
    import numpy as np
    import pyarrow as pa

    from experiments.execution.store import SweepStore, elements_schema

    manifest = {"format": "coherence-sim sweep", "format_version": 1, "name": "bench", "plan_hash": "bench",
                "plan": {"n_runs": n_chunks, "n_chunks": n_chunks}, "sessions": [{"started": "now"}]}
    store = SweepStore.open(root, manifest, resume=False)
    empty = elements_schema().empty_table()
    times = []
    t_all = time.perf_counter()
    for c in range(n_chunks):
        runs = pa.table({"design_point": np.array([c], np.int64), "replicate": np.array([0], np.int64)})
        t0 = time.perf_counter()
        store.write_chunk(c, runs, empty, {"runs": 1, "errors": 0, "seconds": 0.0, "worker": "bench", "attempt": 1})
        times.append(time.perf_counter() - t0)
    t_end = time.perf_counter()
    store.set_status("complete")
    store.close()
    total = time.perf_counter() - t_all
    import experiments

    return {
        "code": str(Path(experiments.__file__).resolve().parent.parent),
        "chunks": n_chunks,
        "first_100_median_ms": 1000 * statistics.median(times[:100]),
        "last_100_median_ms": 1000 * statistics.median(times[-100:]),
        "chunks_total_s": t_end - t_all,
        "with_final_manifest_s": total,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", type=int, default=10_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-store-") as d:
        r = measure(args.chunks, Path(d) / "store")
    if args.json:
        print(json.dumps(r))
        return
    print(f"{r['code']}: {r['chunks']:,} chunks: median per chunk {r['first_100_median_ms']:.2f} ms (first 100), "
          f"{r['last_100_median_ms']:.2f} ms (last 100); {r['chunks_total_s']:.1f} s in all "
          f"({r['with_final_manifest_s']:.1f} s with the final manifest)")


if __name__ == "__main__":
    main()
