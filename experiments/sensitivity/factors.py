"""Factors: from SALib's unit cube to scenarios. Each factor maps u in [0, 1] to dotted scenario keys
(model parameters, booleans by threshold, capacities by bins, a size that sets schools, leaders and
teachers, a shock); :class:`FactorSpace` turns unit-cube samples into natural values and overrides."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
import numpy as np
import pandas as pd
from sim.parameters import PARAMETER_SPECS
from sim.vocab import Capacity, Element
from ..execution.provenance import content_hash
from ..numerics import capacity_cuts, weighted_quantile
from ..scenario import Scenario, ScenarioError, apply_overrides, scenario_dict
from .spec import FactorSpec, SensitivityError, SensitivitySpec


@dataclass
class Factor:
    """A factor with its resolved range (after a posterior, if any) and nominal value."""

    name: str
    kind: str
    group: str
    reason: str
    low: float | None = None
    high: float | None = None
    scale: str = "linear"
    threshold: float | None = None
    key: str | None = None
    district: str | None = None
    element: str | None = None
    shock: str | None = None
    month: int | None = None
    nominal: Any = None
    nominal_u: float = 0.5
    range_source: str = "spec"

    def value(self, u: float) -> float:
        """Continuous map of u (parameter, continuous, size)."""
        if self.scale == "log":
            return float(self.low * (self.high / self.low) ** u)
        return float(self.low + u * (self.high - self.low))

    def unit(self, x: float) -> float:
        if self.scale == "log":
            return math.log(x / self.low) / math.log(self.high / self.low)
        return (x - self.low) / (self.high - self.low)

    def describe(self) -> dict:
        d = {k: getattr(self, k) for k in ("name", "kind", "group", "low", "high", "scale", "threshold", "key", "district", "element", "shock", "month", "nominal", "nominal_u")}
        return {k: v for k, v in d.items() if v is not None}

    def mapping(self) -> str:
        """One line saying how u becomes the scenario value."""
        if self.kind in ("parameter", "continuous"):
            key = self.key or f"parameters.{self.name}"
            return f"{key} = {'log-uniform' if self.scale == 'log' else 'uniform'} [{_num(self.low)}, {_num(self.high)}]"
        if self.kind == "bool":
            return f"{self.key} = (u >= {self.threshold}), P(true) = {1 - self.threshold:g}"
        if self.kind == "shock":
            return f"{self.shock} at month {self.month} if u >= {self.threshold} (P = {1 - self.threshold:g})"
        if self.kind == "size":
            return f"students {'log-uniform' if self.scale == 'log' else 'uniform'} [{_num(self.low)}, {_num(self.high)}]; schools, leaders, teachers derived"
        if self.kind == "capacity":
            return f"capacity of {self.element}: bin of (1-w) u + w u_level"
        return "district-wide capacity level: shifts every element's bin"


def _num(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


class FactorSpace:
    """The study's factors: unit-cube samples -> natural values -> dotted-key scenario overrides."""

    def __init__(self, spec: SensitivitySpec, base: Scenario | None = None) -> None:
        self.spec = spec
        self.base = base if base is not None else spec.base_scenario()
        self.capacity = spec.capacity
        self.size = spec.size
        posterior = _load_posterior(spec) if spec.ranges.posterior else None
        self.factors: list[Factor] = []
        for name, f in spec.factors.items():
            self.factors.append(self._resolve(name, f, posterior))
        # order: groups contiguous, in order of first appearance (SALib's group order)
        order = list(dict.fromkeys(f.group for f in self.factors))
        self.factors.sort(key=lambda f: order.index(f.group))
        self.names = [f.name for f in self.factors]
        self.groups = [f.group for f in self.factors]
        self.group_names = list(dict.fromkeys(self.groups))
        self._by_name = {f.name: f for f in self.factors}
        levels = {f.district for f in self.factors if f.kind == "capacity_level"}
        self._cuts = {
            d: capacity_cuts(self.capacity.marginal, self.capacity.level_weight if d in levels else 0.0)
            for d in {f.district for f in self.factors if f.kind in ("capacity", "capacity_level")}
        }
        self._check()

    # --- building ---------------------------------------------------------------------------
    def _resolve(self, name: str, f: FactorSpec, posterior: pd.DataFrame | None) -> Factor:
        where = f"factors.{name}"
        fac = Factor(name=name, kind=f.kind, group=f.group or name, reason=f.reason, low=f.low, high=f.high, scale=f.scale,
                     threshold=f.threshold, key=f.key, district=f.district, element=f.element, shock=f.shock, month=f.month)
        if f.kind == "parameter":
            ps = PARAMETER_SPECS.get(name)
            if ps is None:
                raise SensitivityError(f"{where}: {name!r} is not a model parameter; allowed: {', '.join(PARAMETER_SPECS)}")
            fac.key = f"parameters.{name}"
            fac.low = ps.low if f.low is None else f.low
            fac.high = ps.high if f.high is None else f.high
            if fac.low < ps.low or fac.high > ps.high:
                raise SensitivityError(f"{where}: [{fac.low}, {fac.high}] leaves the parameter's range [{ps.low}, {ps.high}]")
            fac.nominal = ps.default if f.nominal is None else float(f.nominal)
            if posterior is not None and name in posterior.columns:
                w = posterior["weight"].to_numpy(float) if "weight" in posterior.columns else np.ones(len(posterior))
                x = posterior[name].to_numpy(float)
                lo, hi = (weighted_quantile(x, w, q) for q in self.spec.ranges.quantiles)
                lo, hi = max(lo, ps.low), min(hi, ps.high)
                if hi > lo:
                    if fac.scale == "log" and lo <= 0:
                        fac.scale = "linear"
                    fac.low, fac.high = lo, hi
                    fac.nominal = float(min(max(weighted_quantile(x, w, 0.5), lo), hi))
                    fac.range_source = "posterior"
        if f.kind in ("bool", "shock"):
            nominal = False if f.nominal is None else f.nominal
            if not isinstance(nominal, bool):
                raise SensitivityError(f"{where}.nominal: {nominal!r} is not allowed; allowed: true or false")
            fac.nominal = nominal
            fac.nominal_u = (1.0 + f.threshold) / 2 if nominal else f.threshold / 2
        elif f.kind in ("capacity", "capacity_level"):
            fac.nominal_u = 0.5 if f.nominal is None else float(f.nominal)
            fac.nominal = fac.nominal_u
        else:
            if fac.nominal is None:
                if f.nominal is None:
                    raise SensitivityError(f"{where}.nominal: missing (where the factor stays when it is not varied)")
                fac.nominal = f.nominal
            if isinstance(fac.nominal, bool) or not isinstance(fac.nominal, (int, float)) or not fac.low <= fac.nominal <= fac.high:
                raise SensitivityError(f"{where}.nominal: {fac.nominal!r} is not allowed; allowed: a number in [{fac.low}, {fac.high}]")
            fac.nominal_u = fac.unit(float(fac.nominal))
        if f.kind == "shock":
            from sim.conditions import SHOCK_KINDS

            if f.shock not in SHOCK_KINDS:
                raise SensitivityError(f"{where}.shock: {f.shock!r} is not allowed; allowed: {', '.join(SHOCK_KINDS)}")
        if f.kind in ("shock", "size", "capacity", "capacity_level") and f.district not in self.base.districts:
            raise SensitivityError(f"{where}.district: {f.district!r} is not a district of the scenario; allowed: {', '.join(self.base.districts)}")
        return fac

    def _check(self) -> None:
        seen: dict[tuple, str] = {}
        for f in self.factors:
            tag = (f.kind, f.key or "", f.district or "", f.element or "", f.shock or "")
            if tag in seen:
                raise SensitivityError(f"factors.{f.name}: sets the same thing as factors.{seen[tag]}")
            seen[tag] = f.name
        members: dict[str, list[str]] = {}
        for f in self.factors:
            members.setdefault(f.group, []).append(f.name)
        clash = [g for g in members if g in self._by_name and members[g] != [g]]
        if clash:
            raise SensitivityError(f"group {clash[0]!r}: has the name of a factor outside it; rename the group")
        for f in self.factors:
            if f.kind == "capacity_level":
                missing = [e for e in Element.keys() if not any(g.kind == "capacity" and g.district == f.district and g.element == e for g in self.factors)]
                if missing:
                    raise SensitivityError(f"factors.{f.name}: a district-wide capacity level acts through the element factors; "
                                           f"district {f.district} has none for {', '.join(missing)}")
        # every corner and the nominal point must be a valid scenario (a bad key fails here, named)
        for label, u in (("nominal", self.nominal_unit()), ("all u = 0", np.zeros(len(self.factors))), ("all u = 1", np.full(len(self.factors), 1.0 - 1e-12))):
            try:
                apply_overrides(self.base, self.overrides(u[None, :])[0])
            except ScenarioError as exc:
                raise SensitivityError(f"factors ({label}): not a valid scenario: {exc}") from None

    # --- mapping ----------------------------------------------------------------------------
    def nominal_unit(self) -> np.ndarray:
        return np.array([f.nominal_u for f in self.factors], float)

    def index(self, names: Sequence[str]) -> list[int]:
        try:
            return [self.names.index(n) for n in names]
        except ValueError:
            bad = [n for n in names if n not in self.names]
            raise SensitivityError(f"unknown factor(s) {', '.join(bad)}; allowed: {', '.join(self.names)}") from None

    def members(self, groups: Sequence[str]) -> list[str]:
        bad = [g for g in groups if g not in self.group_names]
        if bad:
            raise SensitivityError(f"unknown group(s) {', '.join(bad)}; allowed: {', '.join(self.group_names)}")
        return [f.name for f in self.factors if f.group in set(groups)]

    def problem(self, names: Sequence[str] | None = None, grouped: bool = True) -> dict:
        """SALib problem on the unit cube for ``names`` (default: every factor), with groups."""
        names = list(self.names if names is None else names)
        fs = [self._by_name[n] for n in names]
        prob = {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}
        if grouped:
            prob["groups"] = [f.group for f in fs]
        return prob

    def full(self, U: np.ndarray, names: Sequence[str]) -> np.ndarray:
        """Samples of ``names`` -> samples of every factor (the others at their nominal u)."""
        U = np.atleast_2d(np.asarray(U, float))
        out = np.tile(self.nominal_unit(), (len(U), 1))
        out[:, self.index(names)] = U
        return out

    def natural(self, U: np.ndarray) -> pd.DataFrame:
        """Natural value of every factor for full-space samples ``U`` (rows x factors)."""
        U = np.atleast_2d(np.asarray(U, float))
        cols: dict[str, Any] = {}
        for j, f in enumerate(self.factors):
            u = U[:, j]
            if f.kind in ("parameter", "continuous"):
                cols[f.name] = np.array([f.value(x) for x in u])
            elif f.kind in ("bool", "shock"):
                cols[f.name] = u >= f.threshold
            elif f.kind == "size":
                cols[f.name] = np.array([int(round(f.value(x))) for x in u], dtype=np.int64)
            elif f.kind == "capacity_level":
                cols[f.name] = u.copy()
        for j, f in enumerate(self.factors):
            if f.kind == "capacity":
                cols[f.name] = np.array([Capacity(c).key for c in self._capacity_codes(U, f.district, j)], dtype=object)
        return pd.DataFrame({f.name: cols[f.name] for f in self.factors})

    def _capacity_codes(self, U: np.ndarray, district: str, j: int) -> np.ndarray:
        lvl = [i for i, f in enumerate(self.factors) if f.kind == "capacity_level" and f.district == district]
        w = self.capacity.level_weight if lvl else 0.0
        z = (1 - w) * U[:, j] + (w * U[:, lvl[0]] if lvl else 0.0)
        t1, t2 = self._cuts[district]
        return np.where(z < t1, int(Capacity.DID_NOT_EXIST), np.where(z < t2, int(Capacity.EMERGENT), int(Capacity.ESTABLISHED)))

    def overrides(self, U: np.ndarray) -> list[dict[str, Any]]:
        """Dotted-key overrides (experiments.scenario.apply_overrides) for each full-space sample."""
        nat = self.natural(U)
        out: list[dict[str, Any]] = []
        records = nat.to_dict("records")
        for row in records:
            ov: dict[str, Any] = {}
            shocks: dict[str, list] = {}
            for f in self.factors:
                v = row[f.name]
                if f.kind in ("parameter", "continuous", "bool"):
                    ov[f.key] = bool(v) if f.kind == "bool" else float(v)
                elif f.kind == "capacity":
                    ov[f"districts.{f.district}.capacity.{f.element}"] = v
                elif f.kind == "size":
                    ov.update(self._size_overrides(f.district, int(v)))
                elif f.kind == "shock":
                    cur = shocks.setdefault(f.district, [s.model_dump() for s in self.base.districts[f.district].shocks if s.kind != f.shock])
                    if v:
                        cur.append({"kind": f.shock, "month": int(f.month)})
            for d, lst in shocks.items():
                ov[f"districts.{d}.shocks"] = sorted(lst, key=lambda s: (s["month"], s["kind"]))
            out.append(ov)
        return out

    def _size_overrides(self, district: str, students: int) -> dict[str, Any]:
        s = self.size
        d = self.base.districts[district]
        schools = max(1, int(round(students * s.elementary_students_share / s.students_per_elementary_school)))
        teachers = max(1, math.ceil(students * s.prek3_share / s.students_per_teacher))
        shares = np.asarray(s.band_shares, float) / float(np.sum(s.band_shares))
        prek = max(1, int(round(teachers * shares[0]))) if d.has_prek else 0
        prek = min(prek, teachers)
        tk = min(int(round(teachers * shares[1])), teachers - prek)
        k3 = teachers - prek - tk
        team = int(round(teachers * s.one_school_team_share)) if schools == 1 else min(teachers, s.team_teachers)
        team = max(1, min(teachers, team))
        p = f"districts.{district}"
        return {
            f"{p}.students": int(students),
            f"{p}.n_elementary_schools": schools,
            f"{p}.n_school_leaders": schools * s.school_leaders_per_school,
            f"{p}.teachers": {"prek": prek, "tk": tk, "k3": k3},
            f"{p}.team_teachers": team,
        }

    def describe(self) -> dict:
        """Everything that fixes the mapping (for hashes and the report)."""
        return {
            "factors": [f.describe() for f in self.factors],
            "capacity": self.capacity.model_dump(),
            "size": self.size.model_dump(),
            "base": content_hash(scenario_dict(self.base)),
        }

    def table(self) -> pd.DataFrame:
        """One row per factor: group, kind, mapping, nominal, source of the range, reason."""
        return pd.DataFrame(
            [{"factor": f.name, "group": f.group, "kind": f.kind, "mapping": f.mapping(), "nominal": f.nominal,
              "range_source": f.range_source, "reason": f.reason} for f in self.factors]
        )


def _load_posterior(spec: SensitivitySpec) -> pd.DataFrame:
    if spec.ranges.posterior == "calibrated":  # the posterior shipped with the package (issue 4)
        from experiments.evidence import load_posterior_samples

        try:
            return load_posterior_samples()
        except ValueError as exc:
            raise SensitivityError(f"ranges.posterior 'calibrated': {exc}") from None
    p = spec.resolve(spec.ranges.posterior)
    if not p.is_file():
        raise SensitivityError(f"ranges.posterior {p}: does not exist")
    try:
        df = pd.read_parquet(p) if p.suffix.lower() in (".parquet", ".pq") else pd.read_csv(p)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is bad input
        raise SensitivityError(f"ranges.posterior {p}: cannot be read ({exc})") from None
    if not any(c in PARAMETER_SPECS for c in df.columns):
        raise SensitivityError(f"ranges.posterior {p}: no column names a model parameter")
    if "weight" in df.columns and not (df["weight"].to_numpy(float) >= 0).all():
        raise SensitivityError(f"ranges.posterior {p}: negative weights")
    return df
