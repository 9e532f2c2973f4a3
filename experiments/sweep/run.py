"""Running a sweep: the plan's chunks through the one session loop
(:func:`experiments.execution.session.run_session`) into a resumable Parquet store, and what a call
did (:class:`SweepResult`); :func:`load_results` reads the store back."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
import numpy as np
import pandas as pd
from sim.results import OUTCOME_NAMES
from ..execution.executor import make_executor
from ..execution.session import now, open_store, run_session
from ..execution.provenance import git_commit, package_version, provenance
from ..scenario import Scenario
from ..scenario.io import scenario_text
from .plan import SweepPlan, make_plan, plan_sweep
from .spec import DEFAULT_CHUNK_SIZE, SweepSpec, _SHOWN_ERRORS
from .worker import run_chunk


def runs_schema(plan: SweepPlan):
    import pyarrow as pa

    fields = [
        pa.field("design_point", pa.int64()),
        pa.field("replicate", pa.int64()),
        pa.field("seed", pa.int64()),
        pa.field("assignment", pa.int32()),
    ]
    fields += [pa.field(f.name, f.type) for f in plan._arrow.schema]
    fields += [pa.field(name, pa.float64()) for name in OUTCOME_NAMES]
    fields += [pa.field(f"{d}.{name}", pa.float64()) for d in plan.districts for name in OUTCOME_NAMES]
    fields += [pa.field(n, pa.string()) for n in ("status", "error", "traceback", "scenario_hash", "version", "git_commit")]
    return pa.schema(fields, metadata={"coherence_sim.plan_hash": plan.plan_hash, "coherence_sim.seeding": "SeedSequence(seed, spawn_key=(design_point, replicate)) via experiments.execution.runner.run_replicates"})


def _tables(plan: SweepPlan, schema, result: dict):
    import pyarrow as pa

    from ..execution.store import elements_schema

    r = result["runs"]
    n = len(r["design_point"])
    dp = r["design_point"]
    cols: dict[str, Any] = {
        "design_point": dp,
        "replicate": r["replicate"],
        "seed": np.full(n, plan.seed, dtype=np.int64),
        "assignment": pa.array(r["assignment"], type=pa.int32()),
    }
    take = pa.array(dp, type=pa.int64())
    for name in plan._arrow.column_names:
        cols[name] = plan._arrow.column(name).take(take)
    for name in OUTCOME_NAMES:
        cols[name] = r[name]
    for d in plan.districts:
        for name in OUTCOME_NAMES:
            v = result["district_outcomes"].get(f"{d}.{name}")
            cols[f"{d}.{name}"] = v if v is not None else np.full(n, np.nan)
    cols["status"] = r["status"]
    cols["error"] = r["error"]
    cols["traceback"] = r["traceback"]
    cols["scenario_hash"] = [plan.scenario_hashes[i] for i in dp]
    cols["version"] = [result["version"]] * n
    cols["git_commit"] = [result["git_commit"]] * n
    runs = pa.table({f.name: cols[f.name] for f in schema}, schema=schema)
    es = elements_schema()
    e = result["elements"]
    if len(e["design_point"]) == 0:
        elements = es.empty_table()
    else:
        elements = pa.table({f.name: e[f.name] for f in es}, schema=es)
    return runs, elements


@dataclass
class SweepResult:
    """What a call of :func:`run_sweep` did, and where the results are."""

    out_dir: Path
    name: str
    plan_hash: str
    n_runs: int
    n_chunks: int
    chunks_done: int
    runs_done: int
    n_errors: int
    runs_this_session: int
    seconds: float
    executor: str
    failed_chunks: dict[int, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.chunks_done == self.n_chunks

    @property
    def runs_per_second(self) -> float:
        return self.runs_this_session / self.seconds if self.seconds > 0 else float("nan")

    def load(self, codes: str = "int") -> tuple[pd.DataFrame, pd.DataFrame]:
        """(runs, elements) as DataFrames: see :func:`load_results`."""
        return load_results(self.out_dir, codes=codes)

    def summary(self) -> str:
        state = "complete" if self.complete else f"INCOMPLETE ({self.n_chunks - self.chunks_done} of {self.n_chunks} chunks not done)"
        rate = f", {self.runs_per_second:.0f} runs/s" if self.runs_this_session else ""
        lines = [
            f"sweep {self.name!r}: {state}; {self.runs_done} of {self.n_runs} runs stored, {self.n_errors} with errors",
            f"  this session: {self.runs_this_session} runs in {self.seconds:.1f} s{rate} on {self.executor}",
            f"  results: {self.out_dir} (load with experiments.sweep.load_results({str(self.out_dir)!r}))",
        ]
        for c, msg in sorted(self.failed_chunks.items())[:_SHOWN_ERRORS]:
            lines.append(f"  chunk {c} failed: {msg}")
        if not self.complete:
            lines.append("  run again with --resume (resume=True) to finish it")
        return "\n".join(lines)


def load_results(out_dir: str | Path, *, codes: str = "int") -> tuple[pd.DataFrame, pd.DataFrame]:
    """The runs and district-elements of a sweep's folder as pandas DataFrames, in plan order
    (see ``experiments.execution.store.load_results``)."""
    from ..execution.store import load_results as _load

    return _load(out_dir, codes=codes)


def _as_plan(spec_or_plan: Any) -> SweepPlan:
    if isinstance(spec_or_plan, SweepPlan):
        return spec_or_plan
    if isinstance(spec_or_plan, (SweepSpec, str, Path)):
        return plan_sweep(spec_or_plan)
    raise ValueError(f"sweep: expected a SweepPlan, SweepSpec or a spec file path, got {type(spec_or_plan).__name__}")


def run_sweep(
    spec_or_plan: SweepSpec | SweepPlan | str | Path,
    out_dir: str | Path,
    *,
    workers: int | None = None,
    scheduler: Any = None,
    resume: bool = False,
    quiet: bool = False,
    allow_mixed_code: bool = False,
) -> SweepResult:
    """Run a sweep into ``out_dir`` and return what was done.

    ``workers``: local worker processes (default: every core; 1 runs in this process).
    ``scheduler``: a Dask scheduler address (``tcp://host:port``) or a ``distributed.Client``; the
    same tasks then run on that cluster. ``resume``: continue the sweep already in ``out_dir``
    (same plan), skipping its finished chunks and recomputing any that no longer verify; without it
    a non-empty ``out_dir`` is refused. Resuming a store computed by other code (another version,
    or edited ``sim/`` sources) is refused unless ``allow_mixed_code`` (the mix is then recorded).
    ``quiet``: no progress bar (there is none anyway when stderr is not a terminal).
    Ctrl-C stops the sweep cleanly (finished chunks are kept) and re-raises KeyboardInterrupt.
    """

    plan = _as_plan(spec_or_plan)
    out = Path(out_dir)
    session = {
        "started": now(),
        "resume": bool(resume),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "version": package_version(),
        "git_commit": git_commit(),  # a resumed sweep's sessions show whether the code changed in between
    }
    manifest = {
        "format": "coherence-sim sweep",
        "name": plan.name,
        "plan_hash": plan.plan_hash,
        "plan": plan.summary(),
        "spec": plan.spec,
        "provenance": provenance(scenario_hash=plan.base_hash, plan_hash=plan.plan_hash),
        "sessions": [session],
    }
    if scheduler is not None and workers is not None:
        raise ValueError("workers: give either the number of local workers or a Dask scheduler, not both")
    store, executor = open_store(out, manifest, resume=resume, scheduler=scheduler, allow_mixed_code=allow_mixed_code,
                                 expected_keys=lambda c: plan_keys(plan, c))
    schema = runs_schema(plan)

    def before() -> None:
        store.write_static("scenario.toml", scenario_text(plan.base, ".toml").encode("utf-8"))  # loadable by load_scenario
        store.write_static("design.parquet", lambda fh: _write_design(plan, fh))

    done = run_session(
        store, plan.n_chunks, compute=run_chunk, task_of=plan.task, key_of=lambda c: f"coherence-sweep-{c:06d}",
        save=lambda c, result, attempt: _store_chunk(store, plan, schema, c, result, attempt),
        runs_in_chunk=lambda c: len(plan.runs_of_chunk(c)),
        make_executor=lambda n_todo: make_executor(workers=workers, max_tasks=n_todo),
        describe=lambda done_runs: f"sweep {plan.name}" + (f" (resumed, {done_runs} done)" if done_runs else ""),
        executor=executor, quiet=quiet, before=before,
    )
    info = store.completed_info()
    return SweepResult(
        out_dir=out,
        name=plan.name,
        plan_hash=plan.plan_hash,
        n_runs=plan.n_runs,
        n_chunks=plan.n_chunks,
        chunks_done=len(info),
        runs_done=sum(v["runs"] for v in info.values()),
        n_errors=sum(v["errors"] for v in info.values()),
        runs_this_session=done.runs,
        seconds=done.seconds,
        executor=done.executor_description,
        failed_chunks=done.failed,
    )


def run_design(
    base_scenario: Scenario,
    design: pd.DataFrame,
    replicates: int,
    seed: int,
    out_dir: str | Path,
    *,
    fixed: Sequence[str] = (),
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    name: str = "design",
    workers: int | None = None,
    scheduler: Any = None,
    resume: bool = False,
    quiet: bool = False,
    allow_mixed_code: bool = False,
) -> SweepResult:
    """Run an externally made design (e.g. a SALib sample): ``design`` has one row per design point
    and one column per factor, named by its dotted scenario key. See :func:`run_sweep`."""
    plan = make_plan(base_scenario, design, replicates, seed, chunk_size=chunk_size, name=name, fixed=fixed, kind="table")
    return run_sweep(plan, out_dir, workers=workers, scheduler=scheduler, resume=resume, quiet=quiet,
                     allow_mixed_code=allow_mixed_code)


def plan_keys(plan: SweepPlan, c: int) -> np.ndarray:
    """The (design point, replicate) pairs the plan puts in chunk ``c`` ((n, 2); IndexError beyond the plan)."""
    j = np.arange(plan.runs_of_chunk(c).start, plan.runs_of_chunk(c).stop, dtype=np.int64)
    return np.column_stack([j // plan.replicates, j % plan.replicates])


def _store_chunk(store, plan: SweepPlan, schema, c: int, result: dict, attempt: int) -> int:
    runs, elements = _tables(plan, schema, result)
    n_err = int(sum(1 for s in result["runs"]["status"] if s != "ok"))
    store.write_chunk(
        c,
        runs,
        elements,
        {"runs": runs.num_rows, "errors": n_err, "seconds": round(result["seconds"], 3), "worker": result["worker"], "attempt": attempt,
         "model": result.get("model")},
    )
    return runs.num_rows


def _write_design(plan: SweepPlan, p) -> None:
    """The design as Parquet: design_point, the factor columns (as in the runs table), scenario_hash."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = pa.table({"design_point": np.arange(plan.n_design_points, dtype=np.int64)})
    for name in plan._arrow.column_names:
        t = t.append_column(name, plan._arrow.column(name))
    t = t.append_column("scenario_hash", pa.array(plan.scenario_hashes, type=pa.string()))
    pq.write_table(t, p)
