"""Sweeps: many runs of a scenario over a design (grid, Latin hypercube or a supplied table) x
replicates, on local processes or a Dask cluster, streamed to a resumable Parquet store.

Python API (the CLI's ``coherence-sim sweep SPEC`` calls exactly these)::

    from experiments.sweep import load_sweep_spec, plan_sweep, run_sweep, run_design, load_results

    spec = load_sweep_spec("experiments/data/sweeps/example_grid.toml")
    plan = plan_sweep(spec)                 # validates every design point before any run
    result = run_sweep(plan, "results/sweeps/example-grid", workers=2)   # or scheduler="tcp://host:8786"
    runs, elements = result.load()          # == load_results("results/sweeps/example-grid")

    # a design made elsewhere (e.g. SALib), columns named by dotted scenario keys:
    result = run_design(default_scenario(), design_df, replicates=4, seed=1, out_dir="results/sobol")

A script that runs a sweep on local worker processes needs the usual
``if __name__ == "__main__":`` guard (workers started by forkserver re-import the main module);
the CLI and notebooks need nothing.

Seeds: run (design point ``i``, replicate ``r``) goes through ``experiments.execution.runner.run_replicates``,
the one place mapping (root seed, design point, replicate) to a seed
(``SeedSequence(seed, spawn_key=(i, r))``) and a starting-capacity assignment. Numbers therefore do
not depend on the worker count, the executor, the chunk size or the order of completion.

Work: the plan's runs, in plan order (design point major, replicate minor), are cut into chunks of
``chunk_size`` runs (chunk ``c`` holds runs ``c*chunk_size ..``). A chunk is one task: a top-level
function (:func:`run_chunk`) receiving plain data (the base scenario as a dict, each design point's
overrides) and returning plain columns. Chunks are written as they finish (see
``experiments.execution.store``); ``resume=True`` skips the finished ones.

Failures: a run that raises becomes a runs row with ``status="error"``, its error and traceback,
and no element rows; the sweep goes on. A task that fails as a whole (a worker died) is resubmitted
up to ``MAX_ATTEMPTS`` times; a chunk still failing then is left undone and reported
(``SweepResult.failed_chunks``), to be retried with ``resume=True``.

Tables (see :func:`load_results`):

* runs: ``design_point, replicate, seed`` (the root seed; the spawn key is (design_point,
  replicate)), ``assignment`` (index of the starting-capacity assignment), one column per factor
  (its dotted key), the pooled outcomes of ``sim.results.OUTCOME_NAMES``, per-district outcomes as
  ``<District>.<outcome>``, ``status`` (ok | error), ``error``, ``traceback``, ``scenario_hash``
  (of the design point's scenario), ``version`` and ``git_commit`` (of the code that ran it).
* elements: ``design_point, replicate, district, element`` (key), the codes ``capacity0,
  capacity_end, substantiveness, consistency, alignment, continuity, continuity_end`` as small ints
  (``sim.vocab`` IntEnum values; ``load_results(codes="keys")`` gives the keys), ``principles``,
  ``first_month`` (-1: no change) and ``n_changes``.
"""

from __future__ import annotations

import json
import os
import socket
import time
import traceback as _traceback
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from sim.results import OUTCOME_NAMES
from sim.vocab import Element

from .execution.executor import make_executor
from .execution.session import close_quietly, now, run_session
from .design import design_values, grid_design, lhs_design, normalise_design, read_design_file
from .execution.provenance import content_hash, git_commit, package_version, provenance
from .execution.runner import run_replicates
from .scenario import (
    Scenario,
    ScenarioError,
    apply_overrides,
    default_scenario,
    dump_scenario,
    load_scenario,
    parse_scenario_text,
    read_input_file,
    scenario_dict,
    short_key,
    validate_scenario,
)

DEFAULT_CHUNK_SIZE = 100
DEFAULT_REPLICATES = 10
DEFAULT_SEED = 20201
MAX_RUNS = 100_000_000
_SHOWN_ERRORS = 5


# === the spec file ===========================================================================
_SPEC = ConfigDict(extra="forbid", allow_inf_nan=False)


class SweepSection(BaseModel):
    """``[sweep]``: what to run and how many times."""

    model_config = _SPEC
    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    scenario: str | None = Field(default=None, min_length=1, max_length=4096)
    replicates: int = Field(default=DEFAULT_REPLICATES, ge=1, le=1_000_000, strict=True)
    seed: int = Field(default=DEFAULT_SEED, ge=0, le=2**63 - 1, strict=True)
    chunk_size: int = Field(default=DEFAULT_CHUNK_SIZE, ge=1, le=100_000, strict=True)
    set: list[str] = Field(default_factory=list, max_length=10_000)


class GridDesign(BaseModel):
    """``[design] kind = "grid"``: every combination of ``[design.factors]`` key = [values]."""

    model_config = _SPEC
    kind: Literal["grid"]
    factors: dict[str, list[Any]] = Field(min_length=1)

    @field_validator("factors", mode="before")
    @classmethod
    def _flatten(cls, v):
        return _flatten_keys(v, leaf=lambda x: not isinstance(x, dict)) if isinstance(v, dict) else v

    @field_validator("factors")
    @classmethod
    def _non_empty(cls, v):
        for k, vals in v.items():
            if not vals:
                raise ValueError(f"{k}: needs at least one value")
            for x in vals:  # a design column is int64 or float64: whole numbers beyond int64 do not fit
                if isinstance(x, int) and not isinstance(x, bool) and not -(2**63) < x < 2**63:
                    raise ValueError(f"{k}: {_short(x)} is not allowed: a whole number beyond +-2**63")
        return v


class LhsFactor(BaseModel):
    model_config = _SPEC
    low: float | None = None
    high: float | None = None
    integer: bool = False
    scale: Literal["linear", "log"] = "linear"

    @field_validator("low", "high")
    @classmethod
    def _not_huge(cls, v):
        if v is not None and abs(v) > 1e15:
            raise ValueError(f"{v!r} is beyond +-1e15")
        return v

    @model_validator(mode="after")
    def _integer_log_range(self):  # the log scale of integers tabulates every integer in the range
        if self.integer and self.scale == "log" and self.low is not None and self.high is not None \
                and self.high - self.low > 10_000_000:
            raise ValueError("integer = true with scale = \"log\": high - low is more than 10,000,000")
        return self


class LhsDesign(BaseModel):
    """``[design] kind = "lhs"``: ``n`` Latin-hypercube points over ``[design.factors."key"]`` ranges
    (``low``/``high``, optional for model parameters: their plausible range; ``integer``; ``scale``)."""

    model_config = _SPEC
    kind: Literal["lhs"]
    n: int = Field(ge=1, le=10_000_000, strict=True)
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1, strict=True)
    optimization: Literal["random-cd", "lloyd"] | None = None
    factors: dict[str, LhsFactor] = Field(min_length=1)

    @field_validator("factors", mode="before")
    @classmethod
    def _flatten(cls, v):
        # a factor's table holds scalars (low, high, ...); a table holding tables is a dotted-key prefix
        return _flatten_keys(v, leaf=lambda x: not isinstance(x, dict) or not any(isinstance(y, dict) for y in x.values())) if isinstance(v, dict) else v


class FileDesign(BaseModel):
    """``[design] kind = "file"``: a CSV or Parquet table (path relative to the spec), columns = dotted keys."""

    model_config = _SPEC
    kind: Literal["file"]
    path: str = Field(min_length=1, max_length=4096)


DesignSpec = Annotated[GridDesign | LhsDesign | FileDesign, Field(discriminator="kind")]
_DESIGN_KINDS = {"grid": GridDesign, "lhs": LhsDesign, "file": FileDesign}


class SweepSpec(BaseModel):
    """A sweep spec file: ``[sweep]`` and ``[design]``."""

    model_config = _SPEC
    sweep: SweepSection = Field(default_factory=SweepSection)
    design: DesignSpec
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _source: str | None = PrivateAttr(default=None)

    @property
    def name(self) -> str:
        return self.sweep.name or (Path(self._source).stem if self._source else "sweep")

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    def resolve(self, rel: str) -> Path:
        p = Path(rel).expanduser()
        return p if p.is_absolute() else self._base_dir / p


def _short(v: Any) -> str:
    try:
        r = repr(v)
    except ValueError:  # an int of more than 4300 digits
        return f"<{type(v).__name__} too large to show>"
    return r if len(r) <= 80 else r[:77] + "..."


def _flatten_keys(d: dict, leaf, prefix: str = "") -> dict:
    """``{"parameters": {"change_rate": [..]}}`` -> ``{"parameters.change_rate": [..]}`` (TOML's
    unquoted dotted keys make nested tables; quoted ones do not -- both mean the same factor)."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if leaf(v):
            out[key] = v
        else:
            out.update(_flatten_keys(v, leaf, key))
    return out


def validate_sweep_spec(data: Any, base_dir: str | Path | None = None, source: str | None = None) -> SweepSpec:
    """Validate plain data (a parsed spec file) into a SweepSpec; errors name the key and what is allowed."""
    if not isinstance(data, dict):
        raise ScenarioError(f"sweep spec: expected a table with [sweep] and [design], got {type(data).__name__}")
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format_spec_errors(exc)) from None
    spec._base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
    spec._source = source
    return spec


def load_sweep_spec(path: str | Path) -> SweepSpec:
    """Read a sweep spec (``.toml``, ``.yaml`` or ``.yml``; parsed safely)."""
    p = Path(path)
    text = read_input_file(p, "sweep spec")
    data = parse_scenario_text(text, p.suffix.lower(), f"sweep spec {p}")
    return validate_sweep_spec(data, base_dir=p.resolve().parent, source=str(p))


def _format_spec_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors(include_url=False)[:10]:
        loc = list(err["loc"])
        model: Any = SweepSpec
        shown: list[str] = []
        for part in loc:
            if model is not None and part in _DESIGN_KINDS and model is _DESIGN_UNION:
                model = _DESIGN_KINDS[part]  # the discriminator's tag: not a key of the file
                continue
            shown.append(short_key(str(part)))
            model = _field_model(model, part)
        where = ".".join(shown) or "sweep spec"
        kind, msg, value = err["type"], err["msg"], err.get("input")
        if kind == "extra_forbidden":
            parent = _model_at(loc[:-1])
            allowed = list(getattr(parent, "model_fields", {}) or {})
            lines.append(f"{where}: unknown key" + (f"; allowed: {', '.join(allowed)}" if allowed else ""))
        elif kind == "union_tag_invalid":
            lines.append(f"{where}.kind: {value.get('kind') if isinstance(value, dict) else value!r} is not allowed; allowed: {', '.join(_DESIGN_KINDS)}")
        elif kind == "union_tag_not_found":
            lines.append(f"{where}.kind: missing; allowed: {', '.join(_DESIGN_KINDS)}")
        elif kind == "missing":
            lines.append(f"{where}: missing")
        else:
            v = _short(value) if not isinstance(value, (dict, list)) else type(value).__name__
            lines.append(f"{where}: {v} is not allowed: {msg.removeprefix('Value error, ')}")
    more = len(exc.errors()) - 10
    if more > 0:
        lines.append(f"... and {more} more")
    return "sweep spec: " + "; ".join(lines)


_DESIGN_UNION = object()  # marker: the model at "design" is the union of the design kinds


def _field_model(model: Any, part: Any) -> Any:
    fields = getattr(model, "model_fields", None)
    if model is SweepSpec and part == "design":
        return _DESIGN_UNION
    if not fields or part not in fields:
        return model  # a dict key (a factor name): the value model is already the dict's
    ann = fields[part].annotation
    for cand in (ann, *getattr(ann, "__args__", ())):
        if isinstance(cand, type) and issubclass(cand, BaseModel):
            return cand
        for sub in getattr(cand, "__args__", ()) or ():
            if isinstance(sub, type) and issubclass(sub, BaseModel):
                return sub
    return None


def _model_at(loc: list) -> Any:
    model: Any = SweepSpec
    for part in loc:
        if model is _DESIGN_UNION:
            model = _DESIGN_KINDS.get(part, None)
            continue
        model = _field_model(model, part)
    return None if model is _DESIGN_UNION else model


# === the plan ================================================================================
@dataclass
class SweepPlan:
    """What a sweep will run: the base scenario, the design (row i = design point i), replicates,
    seed and chunking -- validated. Scenarios of design points are rebuilt on demand
    (:meth:`scenario`), not stored: a plan of many design points stays small."""

    name: str
    base: Scenario
    design: pd.DataFrame
    replicates: int
    seed: int
    chunk_size: int = DEFAULT_CHUNK_SIZE
    fixed: tuple[str, ...] = ()
    kind: str = "table"
    spec: dict | None = None
    scenario_hashes: list[str] = field(default_factory=list, repr=False)
    districts: tuple[str, ...] = ()
    _base_dict: dict = field(default_factory=dict, repr=False)
    _arrow: Any = field(default=None, repr=False)

    @property
    def factors(self) -> list[str]:
        return list(self.design.columns)

    @property
    def n_design_points(self) -> int:
        return len(self.design)

    @property
    def n_runs(self) -> int:
        return self.n_design_points * self.replicates

    @property
    def n_chunks(self) -> int:
        return -(-self.n_runs // self.chunk_size)

    @property
    def base_hash(self) -> str:
        return content_hash(self._base_dict)

    @property
    def design_hash(self) -> str:
        return content_hash({"columns": self.factors, "values": self.design.to_dict("list")})

    @property
    def plan_hash(self) -> str:
        """Everything that fixes the sweep's numbers and chunk files (not its name or executor)."""
        return content_hash(
            {
                "base": self.base_hash,
                "design": self.design_hash,
                "replicates": self.replicates,
                "seed": self.seed,
                "chunk_size": self.chunk_size,
            }
        )

    def runs_of_chunk(self, c: int) -> range:
        """Indices (in plan order) of chunk ``c``'s runs; run ``j`` is (design point ``j // R``, replicate ``j % R``)."""
        if not 0 <= c < self.n_chunks:
            raise IndexError(f"chunk {c} out of range 0..{self.n_chunks - 1}")
        return range(c * self.chunk_size, min((c + 1) * self.chunk_size, self.n_runs))

    def overrides(self, i: int) -> dict[str, Any]:
        return design_values(self.design, i)

    def scenario(self, i: int) -> Scenario:
        """The scenario of design point ``i``."""
        return apply_overrides(self.base, self.overrides(i)) if self.factors else self.base

    def task(self, c: int) -> dict:
        """The plain data a worker needs for chunk ``c``."""
        R = self.replicates
        items: dict[int, list[int]] = {}
        for j in self.runs_of_chunk(c):
            items.setdefault(j // R, []).append(j % R)
        return {
            "chunk": c,
            "seed": self.seed,
            "base_hash": self.base_hash,
            "base": self._base_dict,
            "items": [(dp, reps, self.overrides(dp)) for dp, reps in items.items()],
        }

    def summary(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "n_design_points": self.n_design_points,
            "replicates": self.replicates,
            "seed": self.seed,
            "chunk_size": self.chunk_size,
            "n_runs": self.n_runs,
            "n_chunks": self.n_chunks,
            "factors": self.factors,
            "fixed": list(self.fixed),
            "districts": list(self.districts),
            "scenario_hash": self.base_hash,
            "design_hash": self.design_hash,
        }


def make_plan(
    base: Scenario,
    design: pd.DataFrame,
    replicates: int,
    seed: int,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    name: str = "design",
    fixed: Sequence[str] = (),
    kind: str = "table",
    spec: dict | None = None,
) -> SweepPlan:
    """Validate a design against ``base`` (with the ``fixed`` "k=v" overrides) and plan the sweep.

    Every design point is applied to the base scenario now, so a bad key or value fails before any
    run, naming the design point, the key, the value and what is allowed.
    """
    for what, v, lo, hi in (("replicates", replicates, 1, 1_000_000), ("seed", seed, 0, 2**63 - 1), ("chunk_size", chunk_size, 1, 100_000)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= int(v) <= hi:
            raise ValueError(f"{what}: {v!r} is not allowed; allowed: a whole number in [{lo}, {hi}]")
    if not isinstance(base, Scenario):
        raise ValueError(f"scenario: expected an experiments.scenario.Scenario, got {type(base).__name__}")
    fixed = tuple(fixed)
    if fixed:
        try:
            base = apply_overrides(base, list(fixed))
        except ScenarioError as exc:
            raise ScenarioError(f"sweep.set: {exc}") from None
    design = normalise_design(design)
    if len(design) * int(replicates) > MAX_RUNS:
        raise ValueError(f"design x replicates: {len(design) * int(replicates)} runs; at most {MAX_RUNS} are allowed")
    errors, hashes, districts = [], [], dict.fromkeys(base.districts)
    for i in range(len(design)):
        try:
            ov = design_values(design, i)
            s = apply_overrides(base, ov) if ov else base
        except (ScenarioError, ValueError) as exc:
            errors.append(f"design point {i} ({_show(design, i)}): {exc}")
            if len(errors) >= _SHOWN_ERRORS:
                break
            continue
        hashes.append(content_hash(scenario_dict(s)))
        districts.update(dict.fromkeys(s.districts))
    if errors:
        more = " (stopped at the first few)" if len(errors) >= _SHOWN_ERRORS else ""
        raise ScenarioError(f"design: not every design point is a valid scenario{more}: " + "; ".join(errors))
    plan = SweepPlan(
        name=name,
        base=base,
        design=design,
        replicates=int(replicates),
        seed=int(seed),
        chunk_size=int(chunk_size),
        fixed=fixed,
        kind=kind,
        spec=spec,
        scenario_hashes=hashes,
        districts=tuple(districts),
        _base_dict=scenario_dict(base),
    )
    plan._arrow = _design_arrow(design)
    return plan


def _show(design: pd.DataFrame, i: int) -> str:
    parts = []
    for k in design.columns:
        v = design[k].iat[i]
        parts.append(f"{k}={v!r}" if not isinstance(v, np.generic) else f"{k}={v.item()!r}")
    text = ", ".join(parts)
    return text if len(text) <= 200 else text[:197] + "..."


def plan_sweep(spec: SweepSpec | str | Path) -> SweepPlan:
    """Build and validate the plan of a sweep spec (a SweepSpec or a spec file's path)."""
    if not isinstance(spec, SweepSpec):
        spec = load_sweep_spec(spec)
    s = spec.sweep
    base = load_scenario(spec.resolve(s.scenario)) if s.scenario else default_scenario()
    d = spec.design
    if isinstance(d, GridDesign):
        design = grid_design(d.factors)
    elif isinstance(d, LhsDesign):
        design = lhs_design(
            {k: f.model_dump() for k, f in d.factors.items()}, d.n, s.seed if d.seed is None else d.seed, d.optimization
        )
    else:
        design = read_design_file(spec.resolve(d.path))
    dumped = spec.model_dump(mode="json")
    dumped["source"] = spec._source
    return make_plan(
        base, design, s.replicates, s.seed, chunk_size=s.chunk_size, name=spec.name, fixed=s.set, kind=d.kind, spec=dumped
    )


# === the worker side =========================================================================
_BASES: OrderedDict[str, Scenario] = OrderedDict()
_CONDITIONS: OrderedDict[tuple, "LazyConditions"] = OrderedDict()
_LAZY_CHECKED: dict[str, bool] = {}
_MAX_BASES, _MAX_CONDITIONS = 4, 32


class LazyConditions(Sequence):
    """``scenario.conditions()`` built one starting-capacity assignment at a time.

    ``Scenario.conditions()`` builds all K assignments (225 for the four-district case, ~40 ms),
    while a chunk uses only the few its replicates draw; this builds assignment ``k`` when asked, by
    fixing the enumerated capacities to assignment ``k`` and taking that scenario's single
    ``Conditions``. ``len()`` and indexing match ``scenario.conditions()`` (checked against it once
    per process and base scenario: :func:`_lazy_matches`).
    """

    def __init__(self, scenario: Scenario) -> None:
        self._scenario = scenario
        self._enum = [n for n, d in scenario.districts.items() if d.capacity is None]
        self._built: dict[int, Any] = {}
        if self._enum:
            from experiments.evidence import consistent_capacity_assignments

            self._assignments = consistent_capacity_assignments()
            self._eager = None
        else:
            self._assignments = None
            self._eager = scenario.conditions()

    def __len__(self) -> int:
        return len(self._eager) if self._eager is not None else len(self._assignments)

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        k = int(k)
        if k < 0:
            k += len(self)
        if not 0 <= k < len(self):
            raise IndexError(k)
        if self._eager is not None:
            return self._eager[k]
        c = self._built.get(k)
        if c is None:
            a = self._assignments[k]
            fixed = apply_overrides(self._scenario, {f"districts.{n}.capacity": a[n] for n in self._enum})
            (c,) = fixed.conditions()
            self._built[k] = c
        return c


def _lazy_matches(scenario: Scenario, lazy: LazyConditions) -> bool:
    eager = scenario.conditions()
    if len(eager) != len(lazy):
        return False
    probe = sorted({0, len(eager) // 2, len(eager) - 1})
    return all(eager[k] == lazy[k] for k in probe)


def _base_scenario(base_hash: str, base: dict) -> Scenario:
    s = _BASES.get(base_hash)
    if s is None:
        s = validate_scenario(base)
        if content_hash(scenario_dict(s)) != base_hash:
            raise RuntimeError("the base scenario changed on its way to the worker (hash mismatch)")
        _BASES[base_hash] = s
        while len(_BASES) > _MAX_BASES:
            _BASES.popitem(last=False)
    return s


def _conditions_for(base_hash: str, overrides: Mapping[str, Any], scenario: Scenario):
    """Conditions of a design point, shared by design points that differ only in model parameters
    (``Scenario.conditions()`` does not read ``parameters``)."""
    key = (base_hash, json.dumps({k: v for k, v in overrides.items() if not k.startswith("parameters.")}, sort_keys=True, default=repr))
    lazy = _CONDITIONS.get(key)
    if lazy is None:
        lazy = LazyConditions(scenario)
        if base_hash not in _LAZY_CHECKED:
            _LAZY_CHECKED[base_hash] = _lazy_matches(scenario, lazy)
            if not _LAZY_CHECKED[base_hash]:
                warnings.warn("LazyConditions differs from Scenario.conditions(); using the latter (slower)", RuntimeWarning, stacklevel=2)
        if not _LAZY_CHECKED[base_hash]:
            return scenario.conditions()
        _CONDITIONS[key] = lazy
        while len(_CONDITIONS) > _MAX_CONDITIONS:
            _CONDITIONS.popitem(last=False)
    else:
        _CONDITIONS.move_to_end(key)
    return lazy


def _error_text(exc: BaseException) -> tuple[str, str]:
    msg = f"{type(exc).__name__}: {exc}"
    tb = "".join(_traceback.format_exception(exc))
    return msg[:2000], tb[-4000:]


def run_chunk(task: dict) -> dict:
    """Run one chunk (a worker's task): plain data in, plain columns out."""
    t0 = time.perf_counter()
    seed = task["seed"]
    base = _base_scenario(task["base_hash"], task["base"])
    dps, reps, assign, status, err, tbs, overall, per_district = [], [], [], [], [], [], [], []
    el: dict[str, list] = {k: [] for k in ("design_point", "replicate", "district", "element", "capacity0", "capacity_end",
                                           "substantiveness", "consistency", "alignment", "continuity", "continuity_end",
                                           "principles", "first_month", "n_changes")}
    element_keys = np.array(Element.keys(), dtype=object)

    def failed(dp: int, r: int, exc: BaseException) -> None:
        m, tb = _error_text(exc)
        dps.append(dp), reps.append(r), assign.append(None), status.append("error"), err.append(m), tbs.append(tb)
        overall.append(None), per_district.append({})

    for dp, replicates, overrides in task["items"]:
        try:
            scen = apply_overrides(base, overrides) if overrides else base
            params = scen.parameters_()
            conds = _conditions_for(task["base_hash"], overrides, scen)
        except Exception as exc:  # noqa: BLE001 - recorded per run
            for r in replicates:
                failed(dp, r, exc)
            continue
        for r in replicates:
            try:
                ((_, k, res),) = run_replicates(conds, params, seed, [r], design_point=dp)
                o = res.overall_outcomes()
                per = res.outcomes()
            except Exception as exc:  # noqa: BLE001 - a failing run is recorded, the sweep goes on
                failed(dp, r, exc)
                continue
            dps.append(dp), reps.append(r), assign.append(int(k)), status.append("ok"), err.append(None), tbs.append(None)
            overall.append(o)
            per_district.append({f"{d}.{name}": float(per[name][i]) for i, d in enumerate(res.districts) for name in OUTCOME_NAMES})
            D = len(res.districts)
            n = D * len(element_keys)
            el["design_point"].append(np.full(n, dp, dtype=np.int64))
            el["replicate"].append(np.full(n, r, dtype=np.int64))
            el["district"].append(np.repeat(np.array(res.districts, dtype=object), len(element_keys)))
            el["element"].append(np.tile(element_keys, D))
            for col in ("capacity0", "capacity_end", "substantiveness", "consistency", "alignment", "continuity", "continuity_end"):
                el[col].append(np.asarray(getattr(res, col), dtype=np.int8).ravel())
            el["principles"].append(np.asarray(res.principles, dtype=bool).ravel())
            el["first_month"].append(np.asarray(res.first_month, dtype=np.int16).ravel())
            el["n_changes"].append(np.asarray(res.n_changes, dtype=np.int16).ravel())
    nan = float("nan")
    runs = {
        "design_point": np.asarray(dps, dtype=np.int64),
        "replicate": np.asarray(reps, dtype=np.int64),
        "assignment": assign,
        "status": status,
        "error": err,
        "traceback": tbs,
    }
    for name in OUTCOME_NAMES:
        runs[name] = np.array([o[name] if o is not None else nan for o in overall], dtype=float)
    cols = dict.fromkeys(c for row in per_district for c in row)
    district_cols = {c: np.array([row.get(c, nan) for row in per_district], dtype=float) for c in cols}
    elements = {k: (np.concatenate(v) if v else np.array([])) for k, v in el.items()}
    return {
        "chunk": task["chunk"],
        "runs": runs,
        "district_outcomes": district_cols,
        "elements": elements,
        "version": package_version(),
        "git_commit": git_commit(),
        "seconds": time.perf_counter() - t0,
        "worker": f"{socket.gethostname()}:{os.getpid()}",
    }


# === the parent side: tables, executor loop ==================================================
def _design_arrow(design: pd.DataFrame):
    """The design as an Arrow table (one row per design point): factor columns of the runs table.
    Columns Arrow cannot type (mixed values) are stored as JSON text."""
    import pyarrow as pa

    arrays, names = [], []
    for c in design.columns:
        col = design[c]
        try:
            arr = pa.array(col, from_pandas=True)
            if pa.types.is_null(arr.type):
                raise pa.ArrowInvalid("all null")
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            arr = pa.array([json.dumps(v.item() if isinstance(v, np.generic) else v, default=str) for v in col], type=pa.string())
        arrays.append(arr)
        names.append(c)
    return pa.Table.from_arrays(arrays, names=names) if names else pa.table({})


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

    from .execution.store import elements_schema

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
    from .execution.store import load_results as _load

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
) -> SweepResult:
    """Run a sweep into ``out_dir`` and return what was done.

    ``workers``: local worker processes (default: every core; 1 runs in this process).
    ``scheduler``: a Dask scheduler address (``tcp://host:port``) or a ``distributed.Client``; the
    same tasks then run on that cluster. ``resume``: continue the sweep already in ``out_dir``
    (same plan), skipping its finished chunks; without it a non-empty ``out_dir`` is refused.
    ``quiet``: no progress bar (there is none anyway when stderr is not a terminal).
    Ctrl-C stops the sweep cleanly (finished chunks are kept) and re-raises KeyboardInterrupt.
    """
    from .execution.store import SweepStore

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
        "format_version": 1,
        "name": plan.name,
        "plan_hash": plan.plan_hash,
        "plan": plan.summary(),
        "spec": plan.spec,
        "provenance": provenance(scenario_hash=plan.base_hash, plan_hash=plan.plan_hash),
        "sessions": [session],
    }
    # a Dask cluster is reached before the output folder is touched: a wrong address leaves nothing behind
    executor = make_executor(workers=workers, scheduler=scheduler) if scheduler is not None else None
    try:
        store = SweepStore.open(out, manifest, resume=resume)
    except BaseException:
        close_quietly(executor)
        raise
    schema = runs_schema(plan)

    def before() -> None:
        if not (out / "scenario.toml").exists():
            dump_scenario(plan.base, out / "scenario.toml")  # atomic itself; loadable by load_scenario
        store.write_static("design.parquet", lambda p: _write_design(plan, p))

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
) -> SweepResult:
    """Run an externally made design (e.g. a SALib sample): ``design`` has one row per design point
    and one column per factor, named by its dotted scenario key. See :func:`run_sweep`."""
    plan = make_plan(base_scenario, design, replicates, seed, chunk_size=chunk_size, name=name, fixed=fixed, kind="table")
    return run_sweep(plan, out_dir, workers=workers, scheduler=scheduler, resume=resume, quiet=quiet)


def _store_chunk(store, plan: SweepPlan, schema, c: int, result: dict, attempt: int) -> int:
    runs, elements = _tables(plan, schema, result)
    n_err = int(sum(1 for s in result["runs"]["status"] if s != "ok"))
    store.write_chunk(
        c,
        runs,
        elements,
        {"runs": runs.num_rows, "errors": n_err, "seconds": round(result["seconds"], 3), "worker": result["worker"], "attempt": attempt},
    )
    return runs.num_rows


def _write_design(plan: SweepPlan, p: Path) -> None:
    """The design as Parquet: design_point, the factor columns (as in the runs table), scenario_hash."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = pa.table({"design_point": np.arange(plan.n_design_points, dtype=np.int64)})
    for name in plan._arrow.column_names:
        t = t.append_column(name, plan._arrow.column(name))
    t = t.append_column("scenario_hash", pa.array(plan.scenario_hashes, type=pa.string()))
    pq.write_table(t, p)


__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "LazyConditions",
    "SweepPlan",
    "SweepResult",
    "SweepSpec",
    "load_results",
    "load_sweep_spec",
    "make_plan",
    "plan_sweep",
    "run_chunk",
    "run_design",
    "run_sweep",
    "validate_sweep_spec",
]
