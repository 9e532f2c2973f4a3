"""A rollout: every district of a population alone under one provider type with simulated
recruitment, R replicates each, chunk by chunk through the one session loop into a sweep store."""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
import numpy as np
import pandas as pd
from sim.conditions import Conditions, DistrictConditions
from sim.parameters import PARAMETER_SPECS, Parameters
from sim.providers import PROVIDER_KINDS, ProviderSpec
from sim.results import OUTCOME_NAMES
from sim.vocab import Element, Practice
from ..scenario import short_key, show_value
from .districts import _derivation, district_conditions, draw_district
from .files import DEFAULT_SEED, MAX_DISTRICTS, PopulationError, PopulationSpec, _finite, _val, load_population, validate_population
from .summary import _RESULT_COLUMNS, _RUN_COLUMNS, load_rollout, summarise_rollout


DEFAULT_REPLICATES = 10


DEFAULT_CHUNK_SIZE = 100


MAX_ROLLOUT_RUNS = 100_000_000


_TYPE_COLUMNS = ("size_class", "capacity_class", "leadership")


def _run_params(overrides: dict | None) -> Parameters:
    from experiments.evidence import default_parameters

    base = default_parameters()
    if not overrides:
        return base
    return Parameters.from_mapping({**base.to_dict(), **overrides})


def rollout_task_runs(task: dict):
    """(district, replicate) pairs of a task, in plan order."""
    per_district = task["replicates"]
    return [(j // per_district, j % per_district) for j in range(task["start"], task["stop"])]


def run_rollout_chunk(task: dict) -> dict:
    """One chunk of a rollout (a worker's task): plain data in, plain columns out."""
    from sim.run import simulate

    t0 = time.perf_counter()
    spec = validate_population(task["population"])
    provider = ProviderSpec(**task["provider"])
    params = Parameters(**task["params"])
    deriv = task["derivation"]
    run_settings = spec.run
    rows: dict[str, list] = {k: [] for k in _RUN_COLUMNS}
    el: dict[str, list] = {k: [] for k in ("design_point", "replicate", "district", "element", "capacity0", "capacity_end",
                                           "substantiveness", "consistency", "alignment", "continuity", "continuity_end",
                                           "principles", "first_month", "n_changes")}
    cache: dict[int, tuple[dict, DistrictConditions]] = {}
    horizon = int(_val(run_settings, "horizon_months"))
    turb = float(_val(run_settings, "turbulence"))
    for i, r in rollout_task_runs(task):
        if i not in cache:
            d = draw_district(spec, i, task["population_seed"])
            cache = {i: (d, district_conditions(d, deriv, int(_val(run_settings, "prek_eliminated_month"))))}
        d, dc = cache[i]
        rows["district"].append(i)
        rows["replicate"].append(r)
        for k in ("name", "students", "size_class", "capacity_class", "leadership", "rural", "prior_experience", "has_prek"):
            rows[k].append(d[k])
        try:
            cond = Conditions(districts=(dc,), horizon_months=horizon, turbulence_by_year=(turb,), turbulence_after=turb,
                              provider=provider)
            res = simulate(cond, params, seed=np.random.SeedSequence(task["seed"], spawn_key=(i, r)))
            o = res.overall_outcomes()
            hl = res.practice_series[-1, 0, int(Practice.HLPP)] if len(res.practice_series) else 0.0
            vals = {
                "joined": bool(res.joined[0]), "curriculum_adopted": bool(res.curriculum_adopted[0]),
                "service_months": int(res.service_months[0]), "cost_district": float(res.cost_district[0]),
                "cost_subsidy": float(res.cost_subsidy[0]), "partnership_failed_month": int(res.partnership_failed_month),
                "hlpp_share_end": float(hl), "status": "ok", "error": None,
            }
            vals.update({k: float(o[k]) for k in OUTCOME_NAMES})
            n = len(Element)
            el["design_point"].append(np.full(n, i, dtype=np.int64))
            el["replicate"].append(np.full(n, r, dtype=np.int64))
            el["district"].append(np.full(n, d["name"], dtype=object))
            el["element"].append(np.array(Element.keys(), dtype=object))
            for col in ("capacity0", "capacity_end", "substantiveness", "consistency", "alignment", "continuity", "continuity_end"):
                el[col].append(np.asarray(getattr(res, col), dtype=np.int8).ravel())
            el["principles"].append(np.asarray(res.principles, dtype=bool).ravel())
            el["first_month"].append(np.asarray(res.first_month, dtype=np.int16).ravel())
            el["n_changes"].append(np.asarray(res.n_changes, dtype=np.int16).ravel())
        except Exception as exc:  # noqa: BLE001 - a failing run is recorded, the rollout goes on
            vals = {k: None for k in _RESULT_COLUMNS}
            vals.update(status="error", error=f"{type(exc).__name__}: {exc}"[:2000])
        for k in _RESULT_COLUMNS:
            rows[k].append(vals.get(k))
    return {
        "chunk": task["chunk"],
        "runs": rows,
        "elements": {k: (np.concatenate(v) if v else np.array([])) for k, v in el.items()},
        "seconds": time.perf_counter() - t0,
        "worker": f"{socket.gethostname()}:{os.getpid()}",
    }


def _runs_schema():
    import pyarrow as pa

    types = {"district": pa.int64(), "replicate": pa.int64(), "name": pa.string(), "students": pa.int64(),
             "size_class": pa.string(), "capacity_class": pa.string(), "leadership": pa.string(), "rural": pa.bool_(),
             "prior_experience": pa.bool_(), "has_prek": pa.bool_(), "joined": pa.bool_(), "curriculum_adopted": pa.bool_(),
             "service_months": pa.int32(), "cost_district": pa.float64(), "cost_subsidy": pa.float64(),
             "partnership_failed_month": pa.int32(), "hlpp_share_end": pa.float64(), "status": pa.string(), "error": pa.string()}
    for k in OUTCOME_NAMES:
        types[k] = pa.float64()
    return pa.schema([pa.field(k, types[k]) for k in _RUN_COLUMNS])


@dataclass
class RolloutPlan:
    population: PopulationSpec
    n: int
    replicates: int
    seed: int
    provider: dict
    params: dict
    chunk_size: int = DEFAULT_CHUNK_SIZE
    population_seed: int | None = None

    @property
    def n_runs(self) -> int:
        return self.n * self.replicates

    @property
    def n_chunks(self) -> int:
        return -(-self.n_runs // self.chunk_size)

    def plan_dict(self) -> dict:
        return {"state": self.population.state, "population": self.population.raw, "districts": self.n,
                "replicates": self.replicates, "seed": self.seed, "provider": self.provider, "params": self.params,
                "chunk_size": self.chunk_size, "population_seed": self.population_seed}

    @property
    def plan_hash(self) -> str:
        from ..execution.provenance import content_hash

        return content_hash(self.plan_dict())

    def task(self, c: int, derivation: dict) -> dict:
        return {"chunk": c, "start": c * self.chunk_size, "stop": min((c + 1) * self.chunk_size, self.n_runs),
                "replicates": self.replicates, "seed": self.seed, "population": self.population.raw,
                "population_seed": self.population_seed if self.population_seed is not None else self.population.seed,
                "provider": self.provider, "params": self.params, "derivation": derivation}


@dataclass
class RolloutResult:
    out_dir: Path
    plan_hash: str
    n_runs: int
    runs_done: int
    n_errors: int
    seconds: float
    executor: str
    summary: pd.DataFrame | None = None
    failed_chunks: dict = field(default_factory=dict)

    def load(self) -> pd.DataFrame:
        return load_rollout(self.out_dir)


def split_overrides(overrides: list[str] | tuple[str, ...], provider_kind: str = "pl_provider") -> tuple[dict, dict]:
    """``--set`` texts of a rollout as (provider keys with ``kind``, parameter values): rollouts take
    ``provider.KEY=VALUE`` and ``parameters.NAME=VALUE`` only."""
    from ..scenario import parse_override

    provider: dict = {"kind": provider_kind}
    params: dict = {}
    for text in overrides:
        key, value = parse_override(text)
        head, _, name = key.partition(".")
        if head == "provider" and name:
            provider[name] = value
        elif head == "parameters" and name:
            params[name] = value
        else:
            raise ValueError(f"--set {text!r}: rollouts take provider.KEY or parameters.NAME keys")
    return provider, params


def make_rollout_plan(population: PopulationSpec | str | Path, *, provider: str | dict = "pl_provider", n: int | None = None,
                      replicates: int = DEFAULT_REPLICATES, seed: int = DEFAULT_SEED, params: dict | None = None,
                      chunk_size: int = DEFAULT_CHUNK_SIZE, population_seed: int | None = None) -> RolloutPlan:
    """Validate a rollout request. ``provider``: a kind, or a dict of ``provider.*`` keys (recruitment
    is always simulated). ``params``: parameter overrides on the calibrated defaults."""
    pop = population if isinstance(population, PopulationSpec) else load_population(population)
    prov = {"kind": provider} if isinstance(provider, str) else dict(provider)
    if prov.get("kind", "pl_provider") not in PROVIDER_KINDS:
        raise PopulationError(f"--provider: {prov.get('kind')!r} is not one of: {', '.join(PROVIDER_KINDS)}")
    prov["recruit"] = True
    allowed = list(ProviderSpec.__dataclass_fields__)
    unknown = sorted(set(prov) - set(allowed))
    if unknown:
        raise PopulationError(f"provider.{short_key(unknown[0])}: unknown key; allowed: {', '.join(allowed)}")
    for k in sorted(prov):  # one key at a time, so that the error names it
        try:
            ProviderSpec(**{"kind": prov.get("kind", "pl_provider"), k: prov[k]})
        except (TypeError, ValueError, OverflowError) as exc:
            msg = str(exc)
            raise PopulationError(msg if msg.startswith(f"provider.{k}:") else f"provider.{k}: {show_value(prov[k])} is not allowed ({msg})") from None
    try:
        ProviderSpec(**prov)
    except (TypeError, ValueError, OverflowError) as exc:
        raise PopulationError(f"provider: {exc}") from None
    unknown = sorted(set(params or {}) - set(PARAMETER_SPECS))
    if unknown:
        raise PopulationError(f"parameters.{short_key(unknown[0])}: unknown parameter; allowed: {', '.join(PARAMETER_SPECS)}")
    for k, v in (params or {}).items():
        if isinstance(v, int) and not isinstance(v, bool) and not _finite(v):
            raise PopulationError(f"parameters.{k}: {show_value(v)} is not allowed; allowed: a number in "
                                  f"[{PARAMETER_SPECS[k].low}, {PARAMETER_SPECS[k].high}]")
    try:
        p = _run_params(params)
    except (TypeError, OverflowError) as exc:
        raise PopulationError(f"parameters: {exc}") from None
    n = pop.n_districts if n is None else n
    for what, v, lo, hi in (("districts", n, 1, MAX_DISTRICTS), ("replicates", replicates, 1, MAX_ROLLOUT_RUNS),
                            ("chunk_size", chunk_size, 1, MAX_ROLLOUT_RUNS), ("seed", seed, 0, 2**128 - 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
            raise PopulationError(f"{what}: {show_value(v)} is not allowed; allowed: a whole number in [{lo}, {hi}]")
    if n * replicates > MAX_ROLLOUT_RUNS:
        raise PopulationError(f"districts x replicates: {n} x {replicates} runs; allowed: at most {MAX_ROLLOUT_RUNS}")
    return RolloutPlan(pop, n, int(replicates), int(seed), prov, p.to_dict(), int(chunk_size), population_seed)


def run_rollout(population: PopulationSpec | str | Path | RolloutPlan, out_dir: str | Path, *, provider: str | dict = "pl_provider",
                n: int | None = None, replicates: int = DEFAULT_REPLICATES, seed: int = DEFAULT_SEED,
                params: dict | None = None, chunk_size: int = DEFAULT_CHUNK_SIZE, workers: int | None = None,
                scheduler: Any = None, resume: bool = False, summarise: bool = True, quiet: bool = True) -> RolloutResult:
    """Run a rollout into ``out_dir`` (a sweep store) and write its summary by district type."""
    import pyarrow as pa

    from ..execution.executor import make_executor
    from ..execution.provenance import provenance
    from ..execution.session import open_store, run_session

    plan = population if isinstance(population, RolloutPlan) else make_rollout_plan(
        population, provider=provider, n=n, replicates=replicates, seed=seed, params=params, chunk_size=chunk_size)
    out = Path(out_dir)
    manifest = {
        "format": "coherence-sim sweep",
        "format_version": 1,
        "name": f"rollout-{plan.population.state}-{plan.provider['kind']}",
        "kind": "rollout",
        "plan_hash": plan.plan_hash,
        "plan": {k: v for k, v in plan.plan_dict().items() if k != "population"},
        "provenance": provenance(plan_hash=plan.plan_hash),
        "sessions": [{"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "resume": bool(resume)}],
    }
    store, executor = open_store(out, manifest, resume=resume, scheduler=scheduler)
    deriv = _derivation()
    schema = _runs_schema()

    def save(c: int, res: dict, attempt: int) -> int:
        runs = pa.table({f.name: res["runs"][f.name] for f in schema}, schema=schema)
        n_err = sum(1 for s in res["runs"]["status"] if s != "ok")
        store.write_chunk(c, runs, _elements_table(res["elements"]),
                          {"runs": runs.num_rows, "errors": n_err, "seconds": round(res["seconds"], 3),
                           "worker": res["worker"], "attempt": attempt})
        return runs.num_rows

    done = run_session(
        store, plan.n_chunks, compute=run_rollout_chunk, task_of=lambda c: plan.task(c, deriv),
        key_of=lambda c: f"coherence-rollout-{c:06d}", save=save,
        runs_in_chunk=lambda c: min((c + 1) * plan.chunk_size, plan.n_runs) - c * plan.chunk_size,
        make_executor=lambda n_todo: make_executor(workers=workers, max_tasks=n_todo),
        describe=lambda done_runs: f"rollout {plan.population.state}", executor=executor, quiet=quiet,
        before=lambda: store.write_static(
            "population.json", lambda p: p.write_text(json.dumps(plan.population.raw, indent=1), encoding="utf-8")),
    )
    info = store.completed_info()
    result = RolloutResult(out, plan.plan_hash, plan.n_runs, sum(v["runs"] for v in info.values()),
                           sum(v["errors"] for v in info.values()), done.seconds, done.executor_description,
                           failed_chunks=done.failed)
    if summarise and len(info) == plan.n_chunks:
        result.summary = summarise_rollout(out)
        result.summary.to_csv(out / "summary.csv", index=False)
        (out / "summary.json").write_text(json.dumps(
            {"plan": manifest["plan"], "provenance": manifest["provenance"],
             "summary": json.loads(result.summary.to_json(orient="records"))}, indent=1, default=str), encoding="utf-8")
    return result


def _elements_table(e: dict):
    import pyarrow as pa

    from ..execution.store import elements_schema

    es = elements_schema()
    if len(e["design_point"]) == 0:
        return es.empty_table()
    return pa.table({f.name: e[f.name] for f in es}, schema=es)
