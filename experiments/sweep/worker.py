"""The worker side of a sweep: :func:`run_chunk` runs one chunk (plain data in, plain columns out).

A run that raises becomes a row with ``status="error"``, its error and traceback, and no element
rows; the chunk goes on. Scenarios and conditions are cached per process (a worker sees the same
base scenario chunk after chunk)."""

from __future__ import annotations

import json
import os
import socket
import time
import traceback as _traceback
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any
import numpy as np
from sim.results import OUTCOME_NAMES
from sim.vocab import Element
from ..execution.provenance import content_hash, git_commit, model_identity, package_version
from ..execution.runner import run_replicates
from ..scenario import (
    Scenario,
    apply_overrides,
    scenario_dict,
    validate_scenario,
)



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
            n_districts = len(res.districts)
            n = n_districts * len(element_keys)
            el["design_point"].append(np.full(n, dp, dtype=np.int64))
            el["replicate"].append(np.full(n, r, dtype=np.int64))
            el["district"].append(np.repeat(np.array(res.districts, dtype=object), len(element_keys)))
            el["element"].append(np.tile(element_keys, n_districts))
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
        "model": model_identity(),
        "seconds": time.perf_counter() - t0,
        "worker": f"{socket.gethostname()}:{os.getpid()}",
    }
