"""A sweep's plan: the base scenario, the design (row i = design point i), replicates, seed and
chunking, validated before any run; chunk ``c`` holds runs ``c * chunk_size ..`` in plan order
(design point major, replicate minor) and becomes one task."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
import numpy as np
import pandas as pd
from .design import design_values, grid_design, lhs_design, normalise_design, read_design_file
from ..execution.provenance import content_hash
from ..scenario import (
    Scenario,
    ScenarioError,
    apply_overrides,
    default_scenario,
    load_scenario,
    scenario_dict,
)
from .spec import DEFAULT_CHUNK_SIZE, GridDesign, LhsDesign, MAX_RUNS, SweepSpec, _SHOWN_ERRORS, load_sweep_spec


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
        n_replicates = self.replicates
        items: dict[int, list[int]] = {}
        for j in self.runs_of_chunk(c):
            items.setdefault(j // n_replicates, []).append(j % n_replicates)
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
    from ..scenario.overrides import override_keys, refuse_repeated_keys

    refuse_repeated_keys(list(design.columns) if isinstance(design, pd.DataFrame) else [], "design.factors")
    fixed_keys = override_keys(list(fixed))
    for col in (design.columns if isinstance(design, pd.DataFrame) else []):
        try:
            refuse_repeated_keys([*fixed_keys, str(col)], "sweep.set and design.factors")
        except ScenarioError as exc:
            raise ScenarioError(f"{exc} (a factor and a fixed value of sweep.set: the factor would replace it)") from None
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
