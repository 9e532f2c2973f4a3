"""Reference outputs of the tools, and a check that two sets of them are the same.

A refactoring that claims to change no result runs this on the tree before and after::

    python benchmarks/compare_outputs.py /tmp/ref/old          # on the old tree
    python benchmarks/compare_outputs.py /tmp/ref/new          # on the new tree
    python benchmarks/compare_outputs.py --compare /tmp/ref/old /tmp/ref/new

Producing (through the ``coherence-sim`` command line, so that it runs on any version of the code):

* ``case/``: the four-district case, 200 replicates, the default seed (``summary.json``, ``scenario.toml``);
* ``posterior/``: ``case --posterior`` with 20 replicates (parameters drawn from the stored posterior);
* ``whatif/``: the what-if ``diamond_keeps_prek``, 100 replicates per arm (``whatif.json``, both scenarios);
* ``sweep/``: ``experiments/data/sweeps/example_grid.toml`` with 10 replicates per design point, on two
  worker processes (the Parquet store: runs, elements, design, manifest);
* ``sensitivity/``: a tiny study of the default spec (2 replicates, 2 Morris trajectories, Sobol'
  N = 2 then 4) with its report, indices and stores;
* ``rollout/``: 20 synthetic Texas districts x 2 replicates under the bundle provider.

``--compare A B`` reads every file of both folders and reports each difference. It ignores exactly:

* JSON keys and Parquet schema-metadata keys named in ``IGNORED_KEYS`` (timestamps, version strings,
  git commits, hosts, process ids, wall times, worker names, executor descriptions, and a store
  manifest's ``sessions``: the log of who ran which session when, on what);
* Parquet columns named in ``IGNORED_COLUMNS`` (``version``, ``git_commit``: the code that ran a run);
* the output folder's own path inside any text (replaced by ``<OUT>``), and the repository's path;
  paths of code and data files that moved (``MOVED_MODULES``, old -> new) inside any text;
* lines of Markdown reports and text files that state a wall time or a creation time (``TIME_LINE``);
* in ``manifest.json`` and Parquet schema metadata, hashes of the plan (``plan_hash``: a hash of the
  plan that includes the spec file's path) -- every run's content is still compared;
* PNG figures are compared byte for byte after dropping their ``tEXt`` chunks (matplotlib writes
  its version there).

Exit status 0 when the two folders are the same in everything else, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

IGNORED_KEYS = frozenset({
    "created", "started", "finished", "version", "git_commit", "git_dirty", "host", "pid", "seconds",
    "wall_time_s", "run_seconds", "worker", "executor", "calibration_created", "plan_hash", "coherence_sim.plan_hash",
    "sessions",
})
#: Paths of code and data files that moved (issue 13): text naming the old path reads as the new one.
MOVED_MODULES = {
    "experiments.executor": "experiments.execution.executor",
    "experiments.store": "experiments.execution.store",
    "experiments.runner": "experiments.execution.runner",
    "calibration/data/calibrated.toml": "experiments/evidence/data/calibrated.toml",
    "calibration/data/posterior_samples.csv": "experiments/evidence/data/posterior_samples.csv",
    "calibration/data/observed.toml": "experiments/evidence/data/observed.toml",
}
IGNORED_COLUMNS = frozenset({"version", "git_commit"})
TIME_LINE = re.compile(r"(\bin \d+(\.\d+)? ?s\b|\d+(\.\d+)? s on |wall time|seconds|\d{4}-\d\d-\d\dT\d\d:\d\d)", re.I)


def _cli(*args: str) -> None:
    exe = Path(sys.executable).with_name("coherence-sim")
    cmd = [str(exe), *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def produce(out: Path) -> None:
    """Write the reference outputs into ``out`` (which must not exist yet)."""
    out.mkdir(parents=True)
    specs = out / "_specs"
    specs.mkdir()
    _cli("case", "--replicates", "200", "--seed", "20201", "--out", str(out / "case"), "--no-figures", "--quiet")
    _cli("case", "--replicates", "20", "--seed", "20201", "--posterior", "--out", str(out / "posterior"),
         "--no-figures", "--quiet")
    _cli("whatif", "--whatif", "diamond_keeps_prek", "--replicates", "100", "--out", str(out / "whatif"),
         "--no-figure", "--quiet")

    import tomli_w

    grid = tomllib.loads((ROOT / "experiments/data/sweeps/example_grid.toml").read_text(encoding="utf-8"))
    grid["sweep"]["replicates"] = 10
    grid["sweep"]["chunk_size"] = 20
    (specs / "sweep.toml").write_text(tomli_w.dumps(grid), encoding="utf-8")
    _cli("sweep", str(specs / "sweep.toml"), "--out", str(out / "sweep"), "--workers", "2", "--quiet")

    sens = tomllib.loads((ROOT / "experiments/data/sensitivity/default.toml").read_text(encoding="utf-8"))
    sens["study"].update(replicates=2)
    sens["morris"].update(trajectories=2, num_resamples=50)
    sens["sobol"].update(n_start=2, n_max=4, num_resamples=20)
    (specs / "sensitivity.toml").write_text(tomli_w.dumps(sens), encoding="utf-8")
    _cli("sensitivity", str(specs / "sensitivity.toml"), "--out", str(out / "sensitivity"), "--workers", "1", "--quiet")

    _cli("rollout", "TX", "--provider", "bundle", "--districts", "20", "--replicates", "2", "--out",
         str(out / "rollout"), "--workers", "1", "--quiet")


# --- comparing ------------------------------------------------------------------------------------
def _scrub_text(text: str, root: Path) -> str:
    text = text.replace(str(root.resolve()), "<OUT>").replace(str(root), "<OUT>")
    for old, new in MOVED_MODULES.items():
        text = re.sub(rf"\b{re.escape(old)}\b", new, text)
    return text.replace(str(ROOT), "<REPO>")


def _scrub(obj, root: Path):
    if isinstance(obj, dict):
        return {k: _scrub(v, root) for k, v in obj.items() if k not in IGNORED_KEYS}
    if isinstance(obj, list):
        return [_scrub(v, root) for v in obj]
    if isinstance(obj, str):
        return _scrub_text(obj, root)
    return obj


def _same_json(a, b, path: str, diffs: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                diffs.append(f"{path}.{k}: only in {'B' if k not in a else 'A'}")
            else:
                _same_json(a[k], b[k], f"{path}.{k}", diffs)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            diffs.append(f"{path}: {len(a)} vs {len(b)} items")
        for i, (x, y) in enumerate(zip(a, b)):
            _same_json(x, y, f"{path}[{i}]", diffs)
    elif isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return
    elif a != b or type(a) is not type(b):
        diffs.append(f"{path}: {a!r:.80} vs {b!r:.80}")


def _parquet_diffs(fa: Path, fb: Path, name: str) -> list[str]:
    import pandas as pd
    import pyarrow.parquet as pq

    ta, tb = pq.read_table(fa), pq.read_table(fb)
    diffs: list[str] = []
    ma = {k.decode(): _scrub_text(v.decode(), fa.parent) for k, v in (ta.schema.metadata or {}).items()
          if k.decode() not in IGNORED_KEYS | {"pandas"}}
    mb = {k.decode(): _scrub_text(v.decode(), fb.parent) for k, v in (tb.schema.metadata or {}).items()
          if k.decode() not in IGNORED_KEYS | {"pandas"}}
    if ma != mb:
        diffs.append(f"{name}: schema metadata {ma} vs {mb}")
    sa = [f for f in ta.schema if f.name not in IGNORED_COLUMNS]
    sb = [f for f in tb.schema if f.name not in IGNORED_COLUMNS]
    if [(f.name, str(f.type)) for f in sa] != [(f.name, str(f.type)) for f in sb]:
        diffs.append(f"{name}: columns differ")
        return diffs
    da = ta.drop_columns([c for c in IGNORED_COLUMNS if c in ta.column_names]).to_pandas()
    db = tb.drop_columns([c for c in IGNORED_COLUMNS if c in tb.column_names]).to_pandas()
    try:
        pd.testing.assert_frame_equal(da, db, check_exact=True)
    except AssertionError as exc:
        diffs.append(f"{name}: {str(exc).splitlines()[0:3]}")
    return diffs


def _png_chunks(data: bytes) -> bytes:
    """The PNG without its tEXt/iTXt/zTXt chunks."""
    out, i = bytearray(data[:8]), 8
    while i < len(data):
        n = int.from_bytes(data[i:i + 4], "big")
        kind = data[i + 4:i + 8]
        if kind not in (b"tEXt", b"iTXt", b"zTXt"):
            out += data[i:i + 12 + n]
        i += 12 + n
    return bytes(out)


def compare(a: Path, b: Path) -> list[str]:
    files_a = {p.relative_to(a) for p in a.rglob("*") if p.is_file()}
    files_b = {p.relative_to(b) for p in b.rglob("*") if p.is_file()}
    skip = {".lock"}
    diffs = [f"{p}: only in {a}" for p in sorted(files_a - files_b) if p.name not in skip]
    diffs += [f"{p}: only in {b}" for p in sorted(files_b - files_a) if p.name not in skip]
    for rel in sorted(files_a & files_b):
        fa, fb = a / rel, b / rel
        name = str(rel)
        if rel.name in skip:
            continue
        if rel.suffix == ".json":
            ja = _scrub(json.loads(fa.read_text(encoding="utf-8")), a)
            jb = _scrub(json.loads(fb.read_text(encoding="utf-8")), b)
            _same_json(ja, jb, name, diffs)
        elif rel.suffix == ".parquet":
            diffs += _parquet_diffs(fa, fb, name)
        elif rel.suffix == ".png":
            if _png_chunks(fa.read_bytes()) != _png_chunks(fb.read_bytes()):
                diffs.append(f"{name}: figures differ")
        else:
            ta = [l for l in _scrub_text(fa.read_text(encoding="utf-8"), a).splitlines() if not TIME_LINE.search(l)]
            tb = [l for l in _scrub_text(fb.read_text(encoding="utf-8"), b).splitlines() if not TIME_LINE.search(l)]
            if ta != tb:
                first = next((i for i, (x, y) in enumerate(zip(ta, tb)) if x != y), min(len(ta), len(tb)))
                diffs.append(f"{name}: line {first + 1} differs: "
                             f"{(ta[first] if first < len(ta) else '<end>')!r:.120} vs {(tb[first] if first < len(tb) else '<end>')!r:.120}")
    return diffs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", type=Path, help="folder to write the reference outputs into (must not exist)")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"), help="compare two such folders")
    args = parser.parse_args(argv)
    if args.compare:
        a, b = args.compare
        diffs = compare(a, b)
        n = sum(1 for p in a.rglob("*") if p.is_file())
        if diffs:
            print(f"{len(diffs)} difference(s) between {a} and {b}:")
            print("\n".join(f"  {d}" for d in diffs[:200]))
            return 1
        print(f"identical: {n} files in {a} and {b} (ignoring {', '.join(sorted(IGNORED_KEYS))}; "
              f"columns {', '.join(sorted(IGNORED_COLUMNS))}; paths; time lines; PNG text chunks)")
        return 0
    if args.out is None:
        parser.error("give an output folder, or --compare A B")
    produce(args.out)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
