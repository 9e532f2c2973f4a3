"""The evidence the calibration compares a run with, and the distance between them.

* :func:`run_summaries` turns one simulated run (:class:`sim.RunResult`) into plain count arrays:
  the analogues of Tables 2-5, consistency, end-of-run continuity per district, the number of
  elements carrying the high-leverage practices per district, and the month of each element's first
  change.
* :func:`load_split` reads the declared split (``calibration/data/split.toml``): which evidence
  components are fitted, which are held out, and the readings each component allows.
* :class:`Evidence` is a set of components with :meth:`Evidence.distance` (the ABC distance) and
  :meth:`Evidence.components` (each component's distance).

Distance. Each of the report's tables counts the same 24 district-elements, row by row, with fixed
row totals (6 elements per district; 7 / 3 / 14 per starting capacity). The distance of a table is
``sum over rows of 1/2 * sum_j |simulated_j - observed_j|``: the smallest number of district-elements
that would have to move to another column for the simulated table to equal the observed one. It is
zero only for identical tables, grows by one with every element moved, is in the same unit for every
table ("elements out of place") and needs no scale estimated from simulations; unlike chi-square or
Hellinger distances it is defined when an observed cell is zero (many are). A fact (depth, timing)
that a run violates counts as one element out of place. Where the report allows several readings of
a table (observed.toml's alternatives), the component's distance is the minimum over its readings:
a run matches the report if it matches any reading the report allows.
"""

from __future__ import annotations

import functools
import hashlib
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from sim.vocab import CASE_DISTRICTS, TABLE_COLUMNS, Capacity, Continuity, Element

from experiments.evidence import ObservedTargets, load_observed, parse_lines

__all__ = [
    "SUMMARY_SHAPES",
    "Component",
    "Evidence",
    "Split",
    "load_split",
    "observed_array",
    "run_summaries",
    "table_distance",
]

#: Summary statistic -> shape, for one run of the four-district case.
SUMMARY_SHAPES: dict[str, tuple[int, ...]] = {
    "table2": (4, 3),
    "table3": (3, 3),
    "table4": (3, 3),
    "table5": (3, 3),
    "consistency": (4, 4),
    "continuity_by_district": (4, 3),
    "principles": (4,),
    "first_month": (4, 6),
    "has_prek_end": (4,),
}

# Row and column labels of each coded table (one place: calibration/report.py reads them too).
TABLE_ROWS = {
    "table2": CASE_DISTRICTS,
    "consistency": CASE_DISTRICTS,
    "continuity_by_district": CASE_DISTRICTS,
    "table3": Capacity.keys(),
    "table4": Capacity.keys(),
    "table5": Capacity.keys(),
}
TABLE_COLS = {**TABLE_COLUMNS, "continuity_by_district": Continuity.keys()}


def run_summaries(result) -> dict[str, np.ndarray]:
    """Count arrays of one run (see :data:`SUMMARY_SHAPES`); rows in ``CASE_DISTRICTS`` order."""
    if tuple(result.districts) != CASE_DISTRICTS:
        raise ValueError(f"districts: the calibration needs the case's {CASE_DISTRICTS}, got {result.districts}")
    t = result.tables()
    k = len(Continuity)
    idx = np.arange(4)[:, None] * k + result.continuity_end
    return {
        "table2": t["table2"].astype(np.int16),
        "table3": t["table3"].astype(np.int16),
        "table4": t["table4"].astype(np.int16),
        "table5": t["table5"].astype(np.int16),
        "consistency": t["consistency"].astype(np.int16),
        "continuity_by_district": np.bincount(idx.ravel(), minlength=4 * k).reshape(4, k).astype(np.int16),
        "principles": result.principles.sum(axis=1).astype(np.int16),
        "first_month": result.first_month.astype(np.int16),
        "has_prek_end": result.has_prek_end.astype(np.int16),
    }


def observed_array(tables: Mapping[str, Mapping[str, Mapping[str, int]]], name: str) -> np.ndarray:
    """One observed table (``ObservedTargets.reading()`` layout) as a count array."""
    rows = tables[name]
    return np.array([[rows[r][c] for c in TABLE_COLS[name]] for r in TABLE_ROWS[name]], dtype=np.int16)


def table_distance(sim: np.ndarray, obs: np.ndarray) -> float:
    """Elements out of place: ``sum over rows of 1/2 * sum_j |sim_j - obs_j|``."""
    return 0.5 * float(np.abs(np.asarray(sim, dtype=float) - np.asarray(obs, dtype=float)).sum())


# --------------------------------------------------------------------------------------------
# Components
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Component:
    """One piece of evidence: a table (with its allowed readings) or a set of facts."""

    name: str
    kind: str  # table | depth | timing
    weight: float
    lines: tuple[tuple[int, int], ...]
    description: str
    table: str | None = None
    readings: tuple[tuple[str, ...], ...] = ((),)
    observed: tuple[np.ndarray, ...] = ()  # one array per reading (tables)
    min_elements: int = 2
    beyond: tuple[int, ...] = ()  # district indices that went beyond the signature practice
    not_beyond: tuple[int, ...] = ()
    year: int = 3
    facts: tuple[tuple[int, int], ...] = ()  # (district index, element index)
    fact_lines: tuple[tuple[tuple[int, int], ...], ...] = ()

    @property
    def n_facts(self) -> int:
        if self.kind == "depth":
            return len(self.beyond) + len(self.not_beyond)
        return len(self.facts)

    def fact_holds(self, s: Mapping[str, np.ndarray]) -> np.ndarray:
        """Depth/timing: a bool per fact (in file order) for one run."""
        if self.kind == "depth":
            p = np.asarray(s["principles"])
            return np.array([p[d] >= self.min_elements for d in self.beyond] + [p[d] < self.min_elements for d in self.not_beyond])
        if self.kind == "timing":
            fm = np.asarray(s["first_month"])
            lo, hi = 12 * (self.year - 1), 12 * self.year - 1
            return np.array([lo <= fm[d, e] <= hi for d, e in self.facts])
        raise ValueError(f"{self.name}: a {self.kind} component has no facts")

    def fact_labels(self) -> list[str]:
        if self.kind == "depth":
            return [f"{CASE_DISTRICTS[d]} beyond Counting Collections (>= {self.min_elements} elements with HLPPs)" for d in self.beyond] + [
                f"{CASE_DISTRICTS[d]} not beyond (< {self.min_elements} elements with HLPPs)" for d in self.not_beyond
            ]
        if self.kind == "timing":
            return [f"{CASE_DISTRICTS[d]} {Element(e).key} first changed in year {self.year}" for d, e in self.facts]
        return []

    def distance(self, s: Mapping[str, np.ndarray]) -> float:
        """Unweighted distance of one run's summaries to this component."""
        if self.kind == "table":
            sim = s[self.table]
            return min(table_distance(sim, obs) for obs in self.observed)
        return float(np.count_nonzero(~self.fact_holds(s)))

    def best_reading(self, s: Mapping[str, np.ndarray]) -> int:
        """Index of the reading closest to the run (tables)."""
        if self.kind != "table":
            return 0
        return int(np.argmin([table_distance(s[self.table], obs) for obs in self.observed]))


@dataclass(frozen=True)
class Evidence:
    """A weighted set of components; callable as a pyabc distance ``(x, x_0) -> float``."""

    components_: tuple[Component, ...]
    name: str = "evidence"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.components_)

    def distance(self, s: Mapping[str, np.ndarray]) -> float:
        return float(sum(c.weight * c.distance(s) for c in self.components_))

    def components(self, s: Mapping[str, np.ndarray]) -> dict[str, float]:
        return {c.name: c.distance(s) for c in self.components_}

    def __call__(self, x: Mapping[str, np.ndarray], x_0: Any = None) -> float:  # pyabc's signature
        return self.distance(x)

    def max_distance(self) -> float:
        """The largest possible distance (every element out of place, every fact violated)."""
        total = 0.0
        for c in self.components_:
            if c.kind == "table":
                total += c.weight * float(c.observed[0].sum())
            else:
                total += c.weight * c.n_facts
        return total


@dataclass(frozen=True)
class Split:
    """The declared split: components and the fit / holdout / final sets (see split.toml)."""

    name: str
    description: str
    components: dict[str, Component]
    sets: dict[str, tuple[str, ...]]
    text: str
    source: str

    def evidence(self, which: str) -> Evidence:
        if which not in self.sets:
            raise ValueError(f"split: {which!r} is not one of: {', '.join(self.sets)}")
        return Evidence(tuple(self.components[n] for n in self.sets[which]), name=which)

    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "sha256": self.sha256(),
            "description": self.description,
            "sets": {k: list(v) for k, v in self.sets.items()},
            "components": {
                n: {
                    "kind": c.kind,
                    "weight": c.weight,
                    "lines": [f"{a}-{b}" if a != b else str(a) for a, b in c.lines],
                    "description": c.description,
                    **({"table": c.table, "readings": [list(r) for r in c.readings]} if c.kind == "table" else {}),
                    **({"facts": c.fact_labels()} if c.kind != "table" else {}),
                }
                for n, c in self.components.items()
            },
        }


def load_split(path: str | Path | None = None, observed: ObservedTargets | None = None) -> Split:
    """Read and validate the split file (default: the packaged ``calibration/data/split.toml``).

    Table readings are resolved against ``observed.toml`` (an unknown alternative is an error); the
    depth and timing facts must match facts of ``observed.toml`` (same district, element, year or
    value), so the two files cannot drift apart silently.
    """
    if path is None and observed is None:
        return _load_packaged()
    observed = observed or load_observed()
    if path is None:
        text = resources.files("calibration").joinpath("data/split.toml").read_text(encoding="utf-8")
        return _parse(text, "calibration/data/split.toml", observed)
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"split file {p}: cannot be read ({exc})") from None
    return _parse(text, str(p), observed)


@functools.cache
def _load_packaged() -> Split:
    text = resources.files("calibration").joinpath("data/split.toml").read_text(encoding="utf-8")
    return _parse(text, "calibration/data/split.toml", load_observed())


_TABLE_KEYS = {"kind", "table", "weight", "lines", "description", "readings"}
_DEPTH_KEYS = {"kind", "weight", "lines", "description", "min_elements", "beyond", "not_beyond"}
_TIMING_KEYS = {"kind", "weight", "lines", "description", "year", "facts"}


def _parse(text: str, where: str, observed: ObservedTargets) -> Split:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{where}: not valid TOML ({exc})") from None
    unknown = set(raw) - {"meta", "sets", "components"}
    if unknown:
        raise ValueError(f"{sorted(unknown)[0]}: unknown top-level key; allowed: meta, sets, components")
    meta = raw.get("meta", {})
    comps_raw = raw.get("components")
    if not isinstance(comps_raw, dict) or not comps_raw:
        raise ValueError("components: missing or empty")
    components = {name: _component(name, node, observed) for name, node in comps_raw.items()}
    sets_raw = raw.get("sets")
    if not isinstance(sets_raw, dict) or set(sets_raw) != {"fit", "holdout", "final"}:
        raise ValueError("sets: expected exactly fit, holdout and final")
    sets: dict[str, tuple[str, ...]] = {}
    for k, v in sets_raw.items():
        if not isinstance(v, list) or not v:
            raise ValueError(f"sets.{k}: expected a non-empty list of component names")
        for n in v:
            if n not in components:
                raise ValueError(f"sets.{k}: {n!r} is not a component; allowed: {', '.join(components)}")
        if len(set(v)) != len(v):
            raise ValueError(f"sets.{k}: a component is listed twice")
        sets[k] = tuple(v)
    overlap = set(sets["fit"]) & set(sets["holdout"])
    if overlap:
        raise ValueError(f"sets.holdout: {sorted(overlap)[0]!r} is also fitted; held-out evidence must not be fitted")
    return Split(
        name=str(meta.get("name", "split")),
        description=str(meta.get("description", "")),
        components=components,
        sets=sets,
        text=text,
        source=where,
    )


def _component(name: str, node: Any, observed: ObservedTargets) -> Component:
    key = f"components.{name}"
    if not isinstance(node, dict):
        raise ValueError(f"{key}: expected a table")
    kind = node.get("kind")
    allowed = {"table": _TABLE_KEYS, "depth": _DEPTH_KEYS, "timing": _TIMING_KEYS}
    if kind not in allowed:
        raise ValueError(f"{key}.kind: {kind!r} is not allowed; allowed: table, depth, timing")
    extra = set(node) - allowed[kind]
    if extra:
        raise ValueError(f"{key}.{sorted(extra)[0]}: unknown key; allowed: {', '.join(sorted(allowed[kind]))}")
    weight = node.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
        raise ValueError(f"{key}.weight: expected a positive number, got {weight!r}")
    lines = parse_lines(node.get("lines"), key=f"{key}.lines", max_line=1710)
    description = str(node.get("description", ""))
    common = dict(name=name, kind=kind, weight=float(weight), lines=lines, description=description)
    if kind == "table":
        table = node.get("table")
        if table not in TABLE_ROWS:
            raise ValueError(f"{key}.table: {table!r} is not allowed; allowed: {', '.join(TABLE_ROWS)}")
        readings_raw = node.get("readings", [[]])
        if not isinstance(readings_raw, list) or not readings_raw:
            raise ValueError(f"{key}.readings: expected a non-empty list of lists of alternative names")
        readings, arrays = [], []
        for i, r in enumerate(readings_raw):
            if not isinstance(r, list) or not all(isinstance(a, str) for a in r):
                raise ValueError(f"{key}.readings[{i}]: expected a list of alternative names")
            try:
                tables = observed.reading(*r)
            except ValueError as exc:
                raise ValueError(f"{key}.readings[{i}]: {exc}") from None
            if table not in tables:
                raise ValueError(f"{key}.readings[{i}]: the reading has no table {table!r} (name an alternative that provides it)")
            readings.append(tuple(r))
            arrays.append(observed_array(tables, table))
        return Component(**common, table=table, readings=tuple(readings), observed=tuple(arrays))
    if kind == "depth":
        m = node.get("min_elements", 2)
        if isinstance(m, bool) or not isinstance(m, int) or not 1 <= m <= 6:
            raise ValueError(f"{key}.min_elements: expected an integer in 1-6, got {m!r}")
        idx = {}
        for part, value in (("beyond", "hlpp"), ("not_beyond", "counting_collections")):
            ds = node.get(part, [])
            if not isinstance(ds, list):
                raise ValueError(f"{key}.{part}: expected a list of districts")
            for d in ds:
                if d not in CASE_DISTRICTS:
                    raise ValueError(f"{key}.{part}: {d!r} is not one of: {', '.join(CASE_DISTRICTS)}")
                facts = [f for f in observed.facts_of("depth", district=d) if f["element"] is None]
                if not facts or facts[0]["value"].key != value:
                    raise ValueError(f"{key}.{part}: observed.toml has no district-level depth fact {value!r} for {d}")
            idx[part] = tuple(CASE_DISTRICTS.index(d) for d in ds)
        if set(idx["beyond"]) & set(idx["not_beyond"]):
            raise ValueError(f"{key}: a district is both beyond and not beyond")
        return Component(**common, min_elements=m, beyond=idx["beyond"], not_beyond=idx["not_beyond"])
    year = node.get("year", 3)
    if isinstance(year, bool) or not isinstance(year, int) or not 1 <= year <= 3:
        raise ValueError(f"{key}.year: expected 1, 2 or 3, got {year!r}")
    facts, fact_lines = [], []
    for i, item in enumerate(node.get("facts", [])):
        if not (isinstance(item, list) and len(item) == 2):
            raise ValueError(f"{key}.facts[{i}]: expected [district, element]")
        d, e = item
        if d not in CASE_DISTRICTS:
            raise ValueError(f"{key}.facts[{i}]: {d!r} is not one of: {', '.join(CASE_DISTRICTS)}")
        element = Element.from_key(e, field=f"{key}.facts[{i}]")
        match = [f for f in observed.facts_of("timing", district=d, element=element) if f["year"] == year]
        if not match:
            raise ValueError(f"{key}.facts[{i}]: observed.toml has no timing fact for {d} {e} in year {year}")
        facts.append((CASE_DISTRICTS.index(d), int(element)))
        fact_lines.append(match[0]["lines"])
    if not facts:
        raise ValueError(f"{key}.facts: expected at least one [district, element]")
    return Component(**common, year=year, facts=tuple(facts), fact_lines=tuple(fact_lines))


def stack_summaries(items: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Stack per-run summaries into arrays with a leading run axis."""
    return {k: np.stack([np.asarray(s[k]) for s in items]) for k in SUMMARY_SHAPES}
