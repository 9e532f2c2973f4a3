"""Running full-space designs through the sweep engine with common random numbers: every design
point's replicate r uses ``spawn_key=(0, r)`` (:func:`run_crn_chunk`); :class:`_Engine` stores them in
sweep-format stores through the one session loop, resumable, and reads them back."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any
import numpy as np
import pandas as pd
from sim.results import OUTCOME_NAMES
from ..execution.provenance import content_hash, provenance
from ..scenario import scenario_dict
from ..execution.session import MAX_ATTEMPTS, now
from .factors import FactorSpace
from .spec import SensitivityError


SEEDING = "SeedSequence(seed, spawn_key=(0, replicate)) at every design point (common random numbers)"


def run_crn_chunk(task: dict) -> dict:
    """A worker's task: ``experiments.sweep.run_chunk`` with every design point seeded as design
    point 0 (common random numbers), its rows then labelled with their real design points."""
    from ..sweep import run_chunk

    items = task["items"]
    res = run_chunk(dict(task, items=[(0, reps, ov) for _, reps, ov in items]))
    labels = np.concatenate([np.full(len(reps), dp, dtype=np.int64) for dp, reps, _ in items])
    runs = res["runs"]
    if len(labels) != len(runs["design_point"]):  # run_chunk emits one row per (item, replicate), in order
        raise RuntimeError("run_chunk returned an unexpected number of rows")
    runs["design_point"] = labels
    ok = np.array([s == "ok" for s in runs["status"]], bool)
    el = res["elements"]
    n_el = len(el["design_point"])
    if ok.sum():
        per = n_el // int(ok.sum())
        el["design_point"] = np.repeat(labels[ok], per)
    return res


class _Engine:
    """Runs full-space designs into sweep-format stores, chunk by chunk, resumable."""

    def __init__(self, space: FactorSpace, replicates: int, seed: int, workers=None, scheduler=None, quiet: bool = False,
                 allow_mixed_code: bool = False) -> None:
        self.space = space
        self.allow_mixed_code = bool(allow_mixed_code)
        self.replicates = int(replicates)
        self.seed = int(seed)
        self.workers, self.scheduler, self.quiet = workers, scheduler, quiet
        self.base_dict = scenario_dict(space.base)
        self.base_hash = content_hash(self.base_dict)
        self.districts = list(space.base.districts)
        self._executor = None
        self.runs_session = 0
        self.seconds = 0.0

    def close(self, cancel: bool = False) -> None:
        if self._executor is not None:
            try:
                self._executor.close(cancel=cancel)
            except Exception:  # noqa: BLE001
                pass
            self._executor = None

    def describe_executor(self) -> str:
        return self._executor.describe() if self._executor is not None else "none"

    def ensure(self, root: Path, plan: dict, U: np.ndarray, chunk_rows: int, label: str) -> None:
        """Make sure the first ``len(U)`` design points (full-space unit rows) are stored in ``root``."""
        from ..execution.executor import make_executor
        from ..execution.session import run_session
        from ..execution.store import SweepStore

        n = len(U)
        if n % chunk_rows:
            raise SensitivityError(f"{label}: {n} design points are not a whole number of chunks of {chunk_rows}")
        plan_hash = content_hash(plan)
        manifest = {
            "format": "coherence-sim sweep",
            "name": f"sensitivity-{label}",
            "plan_hash": plan_hash,
            "plan": {"stage": label, "replicates": self.replicates, "seed": self.seed, "chunk_rows": chunk_rows,
                     "factors": self.space.names, "scenario_hash": self.base_hash},
            "spec": plan,
            "seeding": SEEDING,
            "provenance": provenance(scenario_hash=self.base_hash, plan_hash=plan_hash),
            "sessions": [{"started": now(), "host": socket.gethostname(), "pid": os.getpid(), "design_points": n}],
        }
        replicates = self.replicates

        def expected_keys(c: int) -> np.ndarray:
            rows = np.repeat(np.arange(c * chunk_rows, (c + 1) * chunk_rows, dtype=np.int64), replicates)
            return np.column_stack([rows, np.tile(np.arange(replicates, dtype=np.int64), chunk_rows)])

        store = SweepStore.open(root, manifest, resume=True, expected_keys=expected_keys,
                                allow_mixed_code=self.allow_mixed_code)

        def before() -> None:
            from ..scenario.io import scenario_text

            store.write_static("scenario.toml", scenario_text(self.space.base, ".toml").encode("utf-8"))

        try:
            done = run_session(
                store, n // chunk_rows, compute=run_crn_chunk, task_of=lambda c: self._task(c, U, chunk_rows),
                key_of=lambda c: f"coherence-sens-{label.split()[0]}-{c:06d}",
                save=lambda c, result, attempt: self._store(store, c, U, chunk_rows, result),
                runs_in_chunk=lambda c: chunk_rows * self.replicates,
                make_executor=lambda n_todo: make_executor(workers=self.workers, scheduler=self.scheduler, max_tasks=n_todo),
                describe=lambda done_runs: f"sensitivity {label}", executor=self._executor, keep_executor=True,
                quiet=self.quiet, before=before,
            )
        except BaseException:
            self._executor = None  # the session closed it
            raise
        self._executor = done.executor
        self.runs_session += done.runs
        self.seconds += done.seconds
        if done.failed:
            c, msg = sorted(done.failed.items())[0]
            raise SensitivityError(f"{label}: {len(done.failed)} chunk(s) failed after {MAX_ATTEMPTS} attempts (chunk {c}: {msg}); run again to retry them")

    def _task(self, c: int, U: np.ndarray, chunk_rows: int) -> dict:
        rows = range(c * chunk_rows, (c + 1) * chunk_rows)
        ovs = self.space.overrides(U[rows.start:rows.stop])
        reps = list(range(self.replicates))
        return {"chunk": c, "seed": self.seed, "base_hash": self.base_hash, "base": self.base_dict,
                "items": [(int(i), reps, ov) for i, ov in zip(rows, ovs)]}

    def _store(self, store, c: int, U: np.ndarray, chunk_rows: int, result: dict) -> int:
        import pyarrow as pa

        from ..execution.store import elements_schema

        r = result["runs"]
        dp = np.asarray(r["design_point"], np.int64)
        n = len(dp)
        local = dp - c * chunk_rows
        Uc = U[c * chunk_rows:(c + 1) * chunk_rows]
        nat = self.space.natural(Uc)
        cols: dict[str, Any] = {
            "design_point": pa.array(dp, pa.int64()),
            "replicate": pa.array(np.asarray(r["replicate"], np.int64), pa.int64()),
            "seed": pa.array(np.full(n, self.seed, np.int64), pa.int64()),
            "assignment": pa.array(r["assignment"], pa.int32()),
        }
        for j, name in enumerate(self.space.names):
            cols[f"u.{name}"] = pa.array(Uc[local, j], pa.float64())
        for name in self.space.names:
            v = nat[name].to_numpy()[local]
            cols[f"x.{name}"] = pa.array(v.tolist())
        for name in OUTCOME_NAMES:
            cols[name] = pa.array(np.asarray(r[name], float), pa.float64())
        for d in self.districts:
            for name in OUTCOME_NAMES:
                v = result["district_outcomes"].get(f"{d}.{name}")
                cols[f"{d}.{name}"] = pa.array(np.asarray(v, float) if v is not None else np.full(n, np.nan), pa.float64())
        cols["status"] = pa.array(list(r["status"]), pa.string())
        cols["error"] = pa.array(list(r["error"]), pa.string())
        cols["traceback"] = pa.array(list(r["traceback"]), pa.string())
        cols["version"] = pa.array([result["version"]] * n, pa.string())
        cols["git_commit"] = pa.array([result["git_commit"]] * n, pa.string())
        runs = pa.table(cols)
        es = elements_schema()
        e = result["elements"]
        elements = es.empty_table() if len(e["design_point"]) == 0 else pa.table({f.name: e[f.name] for f in es}, schema=es)
        n_err = int(sum(1 for s in r["status"] if s != "ok"))
        store.write_chunk(c, runs, elements, {"runs": n, "errors": n_err, "seconds": round(result["seconds"], 3), "worker": result["worker"],
                                             "model": result.get("model")})
        return n


def _load_runs(root: Path, n_points: int, replicates: int, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Runs of the first ``n_points`` design points of a store, sorted (design point, replicate);
    every chunk verified first (a damaged store raises ``StoreError`` naming the chunk)."""
    import pyarrow.compute as pc

    from ..execution.store import RUNS, read_chunks

    t = read_chunks(root, (RUNS,))[RUNS]
    if t is None:
        return pd.DataFrame()
    if columns is not None:
        t = t.select([c for c in dict.fromkeys(["design_point", "replicate", "status", "error", *columns]) if c in t.column_names])
    t = t.filter(pc.less(t.column("design_point"), n_points))
    df = t.to_pandas().sort_values(["design_point", "replicate"], kind="stable").reset_index(drop=True)
    if len(df) != n_points * replicates:
        raise SensitivityError(f"{root}: expected {n_points * replicates} runs of {n_points} design points, found {len(df)}")
    bad = df[df["status"] != "ok"]
    if len(bad):
        raise SensitivityError(f"{root}: {len(bad)} run(s) failed (first: design point {int(bad['design_point'].iat[0])}: {bad['error'].iat[0]})")
    return df


def _load_elements(root: Path, n_points: int) -> pd.DataFrame:
    import pyarrow.compute as pc

    from ..execution.store import ELEMENTS, read_chunks

    t = read_chunks(root, (ELEMENTS,))[ELEMENTS]
    if t is None:
        return pd.DataFrame()
    t = t.select(["design_point", "replicate", "district", "element", "capacity0", "substantiveness", "consistency",
                  "alignment", "continuity", "continuity_end"])
    return t.filter(pc.less(t.column("design_point"), n_points)).to_pandas()
