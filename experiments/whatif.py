"""What-ifs: a counterfactual scenario run beside its baseline with common random numbers.

A what-if is a set of dotted overrides (the same ``KEY=VALUE`` keys as scenario files and
``--set``) applied to a base scenario (default: the four-district case). Both arms run the same
replicates with the same seeds: replicate ``r`` of either arm uses ``run_seed(seed, 0, r)`` and
capacity assignment ``order[r % K]`` (experiments/runner.py), and the model gives each district
its own random stream (docs/ODD.md section 4.9). A replicate's difference
``counterfactual - baseline`` is therefore paired: what the change did to the same district
history, not the gap between two unrelated samples. A what-if that changes nothing gives
differences of exactly zero, and a what-if that changes one district leaves the others' runs
exactly as they were (their differences are exactly zero). A change to the number of capacity
assignments (giving every capacity) unpairs the assignments; the provenance says so
(``assignments_paired``).

Statistics, per outcome and district (and per cell of Tables 2-5):

- ``baseline`` / ``counterfactual``: mean over the replicates where the outcome is defined (a share
  of changed elements is undefined in a replicate where the district changed nothing);
- ``difference``: mean of the paired differences over the replicates where both arms are defined
  (``n``), with ``p05`` / ``p95``, the 5th and 95th percentiles of those differences: a 90% range
  for the effect in a single replicate (one possible history of the districts);
- ``mean_p05`` / ``mean_p95``: a 90% confidence interval for the *mean* difference,
  ``mean +- t(0.95, n - 1) * sd / sqrt(n)`` (Student t; the replicates are independent, so the
  paired differences are too). It shrinks with more replicates; ``p05``/``p95`` do not.

Because of the NaN rule the difference need not equal counterfactual minus baseline exactly when
some replicates are undefined (``n`` < replicates); the text table marks those rows with ``*``.

The library of named what-ifs (``experiments/data/whatifs.toml``) is drawn from the report's own
explanations; each entry has a one-line question, its overrides, and the report lines it probes.
In what-if overrides an element key may stand for a column of the provider's emphasis table:
``program.emphasis.0.school_leader_learning=1.0`` is year 1's school-leader-learning weight.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import tempfile
import textwrap
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from sim.results import OUTCOME_NAMES
from sim.vocab import Element

from .case import DEFAULT_REPLICATES, DEFAULT_SEED, REPORT_TABLES, CaseRun, run_scenario, summarise
from .execution.provenance import content_hash, provenance
from .scenario import Scenario, apply_overrides, default_scenario, dump_scenario, load_scenario, scenario_dict

__all__ = [
    "LIBRARY_PATH",
    "OUTCOME_LABELS",
    "WhatIf",
    "WhatIfLibraryError",
    "WhatIfSpec",
    "format_whatif_list",
    "get_whatif",
    "list_whatifs",
    "load_whatif_library",
    "paired_difference",
    "resolve_override",
    "run_whatif",
]

LIBRARY_PATH = Path(__file__).resolve().parent / "data" / "whatifs.toml"
LEVEL = 0.90
OVERALL = "overall"
#: Tables whose cell differences are reported (Tables 2-5, consistency, Table 5 at the end of the run).
TABLES = REPORT_TABLES + ("table5_end",)
#: Files written by :meth:`WhatIf.write`.
FILENAMES = ("whatif.json", "whatif.png", "baseline_scenario.toml", "counterfactual_scenario.toml")

OUTCOME_LABELS = {
    "elements_changed": "Elements changed",
    "share_transformed": "Changes that transformed the element",
    "share_consistent": "Changes consistent with the initiative's vision",
    "share_aligned": "Changes aligned with other elements",
    "share_continuity_changes": "Changes that included pre-K (during)",
    "share_continuity_end": "Changes that included pre-K (at the end)",
    "share_beyond_signature_practice": "Changes beyond the signature practice (HLPPs)",
    "mean_month_of_change": "Month of first change (average)",
}
SHARE_OUTCOMES = tuple(n for n in OUTCOME_NAMES if n.startswith("share_"))
_TABLE_TITLES = {
    "table2": "Table 2. Substantiveness of change, by district",
    "table3": "Table 3. Pre-existing capacity x substantiveness",
    "table4": "Table 4. Pre-existing capacity x alignment",
    "table5": "Table 5. Pre-existing capacity x continuity",
    "table5_end": "Table 5 at the end of the run (after e.g. pre-K is eliminated)",
    "consistency": "Figure 2 as a table. Consistency of change, by district",
}
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_LINES = re.compile(r"^(\d{1,6})(?:-(\d{1,6}))?$")
_ENTRY_KEYS = {"name", "question", "set", "lines", "note"}


# ---------------------------------------------------------------------------------------------
# The library of named what-ifs
# ---------------------------------------------------------------------------------------------


class WhatIfLibraryError(ValueError):
    """A what-if library file that cannot be used; the message names the entry and the key."""


@dataclass(frozen=True)
class WhatIfSpec:
    """A named what-if: a one-line question, its overrides, the report lines it probes."""

    name: str
    question: str
    set: tuple[str, ...]
    lines: tuple[str, ...] = ()
    note: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "question": self.question, "set": list(self.set), "lines": list(self.lines), "note": self.note}


def load_whatif_library(path: str | Path | None = None) -> dict[str, WhatIfSpec]:
    """The named what-ifs of a library file (default: the packaged one), by name, in file order.

    The file holds ``[[whatif]]`` tables with ``name``, ``question`` (one line), ``set`` (a list
    of ``KEY=VALUE`` overrides), and optionally ``lines`` (report lines, ``"941"`` or
    ``"941-950"``) and ``note``. Overrides are checked against a scenario only when applied
    (see tests/test_whatif.py for the check of the packaged library against the case)."""
    from .scenario import ScenarioError, parse_toml, read_input_file

    p = Path(path) if path is not None else LIBRARY_PATH
    try:
        data = parse_toml(read_input_file(p, "what-if library"), f"what-if library {p}")
    except ScenarioError as exc:
        raise WhatIfLibraryError(str(exc)) from None
    extra = sorted(set(data) - {"whatif"})
    if extra:
        from .scenario import short_key

        raise WhatIfLibraryError(f"what-if library {p}: unknown key(s) {', '.join(short_key(k) for k in extra[:10])}; allowed: whatif")
    entries = data.get("whatif", [])
    if not isinstance(entries, list) or not entries:
        raise WhatIfLibraryError(f"what-if library {p}: needs at least one [[whatif]] table")
    out: dict[str, WhatIfSpec] = {}
    for i, e in enumerate(entries):
        spec = _spec(e, f"{p.name}: whatif[{i}]")
        if spec.name in out:
            raise WhatIfLibraryError(f"{p.name}: whatif[{i}].name: {spec.name!r} is used twice")
        out[spec.name] = spec
    return out


def _spec(e, where: str) -> WhatIfSpec:
    if not isinstance(e, dict):
        raise WhatIfLibraryError(f"{where}: expected a table")
    if "name" not in e:
        raise WhatIfLibraryError(f"{where}.name: missing")
    name = e["name"]
    if not isinstance(name, str) or not _NAME.match(name):
        from .scenario import show_value

        raise WhatIfLibraryError(f"{where}.name: {show_value(name)} is not allowed: lower-case letters, digits and _, starting with a letter")
    where = f"{where} ({name})"
    unknown = sorted(set(e) - _ENTRY_KEYS)
    if unknown:
        from .scenario import short_key

        raise WhatIfLibraryError(f"{where}.{short_key(unknown[0])}: unknown key; allowed: {', '.join(sorted(_ENTRY_KEYS))}")
    for key in ("question", "set"):
        if key not in e:
            raise WhatIfLibraryError(f"{where}.{key}: missing")
    question, sets = e["question"], e["set"]
    if not isinstance(question, str) or not question.strip() or "\n" in question.strip() or len(question) > 200:
        raise WhatIfLibraryError(f"{where}.question: needs one line of text (at most 200 characters)")
    if not isinstance(sets, list) or not sets or not all(isinstance(s, str) and "=" in s for s in sets):
        raise WhatIfLibraryError(f"{where}.set: needs a non-empty list of \"KEY=VALUE\" strings")
    lines = e.get("lines", [])
    if not isinstance(lines, list) or not all(isinstance(l, str) for l in lines):
        raise WhatIfLibraryError(f"{where}.lines: needs a list of strings like \"941\" or \"941-950\"")
    for l in lines:
        m = _LINES.match(l)
        if not m or int(m.group(1)) < 1 or (m.group(2) and int(m.group(2)) < int(m.group(1))):
            raise WhatIfLibraryError(f"{where}.lines: {l!r} is not a line or a range like \"941-950\"")
    note = e.get("note", "")
    if not isinstance(note, str):
        raise WhatIfLibraryError(f"{where}.note: needs text")
    return WhatIfSpec(name, question.strip(), tuple(sets), tuple(lines), note.strip())


def list_whatifs(path: str | Path | None = None) -> list[WhatIfSpec]:
    """The named what-ifs of the library, in file order."""
    return list(load_whatif_library(path).values())


def get_whatif(name: str, library: Mapping[str, WhatIfSpec] | None = None) -> WhatIfSpec:
    """One named what-if; an unknown name is a ``ValueError`` listing the names."""
    library = load_whatif_library() if library is None else library
    try:
        return library[name]
    except KeyError:
        from .scenario import short_key

        raise ValueError(f"--whatif {short_key(repr(name))}: unknown what-if; allowed: {', '.join(library)}") from None


def format_whatif_list(specs: Iterable[WhatIfSpec]) -> str:
    """The library as text: name, question, report lines and overrides."""
    blocks = []
    for s in specs:
        lines = [s.name, f"    {s.question}"]
        if s.lines:
            lines.append(f"    report lines: {', '.join(s.lines)}")
        lines.append("    sets: " + "  ".join(s.set))
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def resolve_override(text: str) -> str:
    """Spell an element key in an emphasis path as its column:
    ``program.emphasis.0.school_leader_learning=1`` -> ``program.emphasis.0.4=1`` (Element order)."""
    if "=" not in text:
        return text
    key, value = text.split("=", 1)
    parts = key.strip().split(".")
    if len(parts) == 4 and parts[:2] == ["program", "emphasis"] and parts[3] in Element.keys():
        parts[3] = str(int(Element.from_key(parts[3])))
        return ".".join(parts) + "=" + value
    return text


# ---------------------------------------------------------------------------------------------
# Paired statistics
# ---------------------------------------------------------------------------------------------

_T95_SMALL = {1: 6.313752, 2: 2.919986, 3: 2.353363, 4: 2.131847}


def _t95(nu: np.ndarray) -> np.ndarray:
    """Student t 95th percentile for ``nu`` degrees of freedom (exact for nu < 5, otherwise the
    Cornish-Fisher expansion in 1/nu, within 0.04% of the exact value)."""
    z = 1.6448536269514722
    nu = np.asarray(nu, dtype=float)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    with np.errstate(divide="ignore", invalid="ignore"):
        t = z + g1 / nu + g2 / nu**2 + g3 / nu**3
    for k, v in _T95_SMALL.items():
        t = np.where(nu == k, v, t)
    return np.where(nu >= 1, t, np.nan)


def _nanstat(fn, x: np.ndarray, *args, **kw) -> np.ndarray:
    """A nan-aware statistic over axis 0, quietly NaN where nothing is defined."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(fn(x, *args, axis=0, **kw), dtype=float)


def _summary_stats(x: np.ndarray) -> dict[str, np.ndarray]:
    """mean, p05, p95 and n over the replicates (axis 0) where ``x`` is finite."""
    x = np.asarray(x, dtype=float)
    return {
        "mean": _nanstat(np.nanmean, x),
        "p05": _nanstat(np.nanpercentile, x, 5),
        "p95": _nanstat(np.nanpercentile, x, 95),
        "n": np.isfinite(x).sum(axis=0),
    }


def paired_difference(baseline: np.ndarray, counterfactual: np.ndarray) -> dict[str, np.ndarray]:
    """Statistics of ``counterfactual - baseline`` paired by replicate (axis 0).

    Returns arrays ``mean``, ``p05``, ``p95`` (percentiles of the replicate differences),
    ``mean_p05``, ``mean_p95`` (90% Student-t interval of the mean difference) and ``n`` (replicates
    where both arms are defined). NaN where nothing is defined (and the mean interval where n < 2).
    """
    d = np.asarray(counterfactual, dtype=float) - np.asarray(baseline, dtype=float)
    out = _summary_stats(d)
    n = out["n"]
    sd = _nanstat(np.nanstd, d, ddof=1) if d.shape[0] > 1 else np.full(d.shape[1:], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = np.where(n >= 2, _t95(n - 1) * sd / np.sqrt(np.maximum(n, 1)), np.nan)
    out["mean_p05"] = out["mean"] - half
    out["mean_p95"] = out["mean"] + half
    return out


def _num(x) -> float | None:
    x = float(x)
    return None if not math.isfinite(x) else round(x, 6)


def _stats_dict(stats: Mapping[str, np.ndarray], idx) -> dict:
    return {k: (int(v[idx]) if k == "n" else _num(v[idx])) for k, v in stats.items()}


# ---------------------------------------------------------------------------------------------
# The what-if
# ---------------------------------------------------------------------------------------------


@dataclass(repr=False)
class WhatIf:
    """A baseline and a counterfactual run with common random numbers, and their differences."""

    question: str
    overrides: tuple[str, ...]
    baseline: CaseRun
    counterfactual: CaseRun
    name: str | None = None
    lines: tuple[str, ...] = ()
    note: str = ""
    _cache: dict = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        return (
            f"WhatIf(name={self.name!r}, question={self.question!r}, overrides={list(self.overrides)!r}, "
            f"replicates={self.replicates}, seed={self.seed})"
        )

    # --- shape ---------------------------------------------------------------------------------
    @property
    def seed(self) -> int:
        return self.baseline.seed

    @property
    def replicates(self) -> int:
        return len(self.baseline.results)

    @property
    def districts(self) -> tuple[str, ...]:
        """Districts in both arms, in the baseline's order (columns of the differences, + overall)."""
        cf = set(self.counterfactual.districts)
        return tuple(d for d in self.baseline.districts if d in cf)

    @property
    def columns(self) -> tuple[str, ...]:
        return self.districts + (OVERALL,)

    @property
    def assignments_paired(self) -> bool:
        """Both arms draw the same capacity assignment per replicate (same number K of assignments)."""
        return self.baseline.n_assignments == self.counterfactual.n_assignments

    # --- numbers ------------------------------------------------------------------------------
    def _arm_samples(self, run: CaseRun) -> dict[str, np.ndarray]:
        """outcome -> (replicates, len(columns)) in this what-if's column order."""
        cols = list(run.districts) + [OVERALL]
        idx = [cols.index(c) for c in self.columns]
        return {k: v[:, idx] for k, v in run.outcome_samples().items()}

    @cached_property
    def outcome_samples(self) -> dict[str, dict[str, np.ndarray]]:
        """arm ('baseline', 'counterfactual') -> outcome -> (replicates, columns)."""
        return {"baseline": self._arm_samples(self.baseline), "counterfactual": self._arm_samples(self.counterfactual)}

    @cached_property
    def outcome_differences(self) -> dict[str, dict[str, np.ndarray]]:
        """outcome -> paired-difference statistics per column."""
        b, c = self.outcome_samples["baseline"], self.outcome_samples["counterfactual"]
        return {k: paired_difference(b[k], c[k]) for k in OUTCOME_NAMES}

    @cached_property
    def summaries(self) -> dict[str, dict]:
        """The case summary (experiments.case.summarise) of each arm."""
        return {"baseline": summarise(self.baseline), "counterfactual": summarise(self.counterfactual)}

    def _table_rows(self, name: str) -> tuple[list[str], list[str], list[int], list[int]]:
        b = self.summaries["baseline"]["simulated"].get(name) or self.summaries["baseline"]["simulated_end_of_run"][name]["mean"]
        c = self.summaries["counterfactual"]["simulated"].get(name) or self.summaries["counterfactual"]["simulated_end_of_run"][name]["mean"]
        rows = [r for r in b if r in c]
        cols = list(next(iter(b.values())))
        return rows, cols, [list(b).index(r) for r in rows], [list(c).index(r) for r in rows]

    @cached_property
    def table_differences(self) -> dict[str, dict]:
        """table -> {'rows', 'columns', 'baseline' (R, rows, cols), 'counterfactual', 'difference' stats}."""
        out = {}
        for name in TABLES:
            rows, cols, ib, ic = self._table_rows(name)
            b = self.baseline.table_samples(name)[:, ib, :].astype(float)
            c = self.counterfactual.table_samples(name)[:, ic, :].astype(float)
            out[name] = {"rows": rows, "columns": cols, "baseline": b, "counterfactual": c, "difference": paired_difference(b, c)}
        return out

    # --- outputs ------------------------------------------------------------------------------
    def _arm_dict(self, arm: str, run: CaseRun) -> dict:
        s = self.summaries[arm]
        all_cols = list(run.districts) + [OVERALL]
        samples = run.outcome_samples()  # every district of this arm, not only those in both
        outcomes = {}
        for k in OUTCOME_NAMES:
            st = _summary_stats(samples[k])
            outcomes[k] = {c: _stats_dict(st, i) for i, c in enumerate(all_cols)}
        return {
            "scenario": run.scenario.name,
            "scenario_hash": content_hash(scenario_dict(run.scenario)),
            "capacity_assignments": run.n_assignments,
            "districts": list(run.districts),
            "simulated": s["simulated"],
            "simulated_p05": s["simulated_p05"],
            "simulated_p95": s["simulated_p95"],
            "simulated_end_of_run": s["simulated_end_of_run"],
            "outcomes": outcomes,
        }

    def to_dict(self) -> dict:
        """Everything in ``whatif.json``: both arms, the differences, provenance. JSON-safe (no NaN)."""
        if "dict" in self._cache:
            return self._cache["dict"]
        diff_out = {
            k: {c: _stats_dict(st, i) for i, c in enumerate(self.columns)} for k, st in self.outcome_differences.items()
        }
        diff_tables = {}
        for name, t in self.table_differences.items():
            st = t["difference"]
            diff_tables[name] = {
                r: {col: _stats_dict(st, (i, j)) for j, col in enumerate(t["columns"])} for i, r in enumerate(t["rows"])
            }
        d = {
            "whatif": {
                "name": self.name,
                "question": self.question,
                "overrides": list(self.overrides),
                "lines": list(self.lines),
                "note": self.note,
            },
            "baseline": self._arm_dict("baseline", self.baseline),
            "counterfactual": self._arm_dict("counterfactual", self.counterfactual),
            "difference": {
                "definition": "counterfactual minus baseline, paired by replicate (common random numbers); "
                "mean over the n replicates where both are defined; p05/p95: 5th/95th percentiles of the "
                "replicate differences (90% range for one replicate); mean_p05/mean_p95: 90% Student-t "
                "confidence interval of the mean difference",
                "outcomes": diff_out,
                "tables": diff_tables,
            },
            "provenance": provenance(
                whatif=self.name,
                question=self.question,
                overrides=list(self.overrides),
                base_scenario=self.baseline.scenario.name,
                baseline_scenario_hash=content_hash(scenario_dict(self.baseline.scenario)),
                counterfactual_scenario_hash=content_hash(scenario_dict(self.counterfactual.scenario)),
                seed=self.seed,
                replicates=self.replicates,
                capacity_assignments={"baseline": self.baseline.n_assignments, "counterfactual": self.counterfactual.n_assignments},
                assignments_paired=self.assignments_paired,
                seeding="both arms: numpy SeedSequence(entropy=seed, spawn_key=(design_point=0, replicate)); "
                "capacity assignment order[replicate % K], order a permutation keyed by the seed "
                "(common random numbers)",
                interval_level=LEVEL,
            ),
        }
        self._cache["dict"] = d
        return d

    def table(self) -> "pd.DataFrame":  # noqa: F821
        """Tidy outcome differences: one row per outcome and district (and 'overall')."""
        import pandas as pd

        rows = []
        for k in OUTCOME_NAMES:
            b = _summary_stats(self.outcome_samples["baseline"][k])
            c = _summary_stats(self.outcome_samples["counterfactual"][k])
            d = self.outcome_differences[k]
            for i, col in enumerate(self.columns):
                rows.append(
                    {
                        "outcome": k,
                        "district": col,
                        "baseline": float(b["mean"][i]),
                        "counterfactual": float(c["mean"][i]),
                        "difference": float(d["mean"][i]),
                        "p05": float(d["p05"][i]),
                        "p95": float(d["p95"][i]),
                        "mean_p05": float(d["mean_p05"][i]),
                        "mean_p95": float(d["mean_p95"][i]),
                        "n": int(d["n"][i]),
                    }
                )
        return pd.DataFrame(rows)

    def table_cells(self) -> "pd.DataFrame":  # noqa: F821
        """Tidy differences of the Tables 2-5 (and consistency) cells, in counts of district-elements."""
        import pandas as pd

        rows = []
        for name, t in self.table_differences.items():
            bm, cm, d = t["baseline"].mean(axis=0), t["counterfactual"].mean(axis=0), t["difference"]
            for i, r in enumerate(t["rows"]):
                for j, col in enumerate(t["columns"]):
                    rows.append(
                        {
                            "table": name,
                            "row": r,
                            "column": col,
                            "baseline": float(bm[i, j]),
                            "counterfactual": float(cm[i, j]),
                            "difference": float(d["mean"][i, j]),
                            "p05": float(d["p05"][i, j]),
                            "p95": float(d["p95"][i, j]),
                            "mean_p05": float(d["mean_p05"][i, j]),
                            "mean_p95": float(d["mean_p95"][i, j]),
                        }
                    )
        return pd.DataFrame(rows)

    def format(self) -> str:
        """The text report: outcome differences, then the Tables 2-5 cell differences."""
        from .execution.provenance import package_version

        head = [
            self.question,
            f"coherence-sim {package_version()} | what-if {self.name or '(custom)'} | base {self.baseline.scenario.name} | "
            f"{self.replicates} replicates per arm | seed {self.seed} | common random numbers",
        ]
        if self.overrides:
            head.append("changes: " + "  ".join(self.overrides))
        if self.lines:
            head.append("report lines: " + ", ".join(self.lines))
        if not self.assignments_paired:
            head.append(
                "note: the arms have different numbers of capacity assignments "
                f"({self.baseline.n_assignments} vs {self.counterfactual.n_assignments}); capacities are not paired"
            )
        head.append(
            "difference = counterfactual - baseline, paired by replicate: mean [5th, 95th percentile of the "
            "replicate differences] (90% interval of the mean difference)."
        )
        tab = self.table()
        w = max(len(k) for k in OUTCOME_NAMES) + 2
        dw = max(len(c) for c in self.columns) + 2
        lines = [
            f"{'outcome':<{w}}{'district':<{dw}}{'baseline':>10}{'counterfactual':>16}   {'difference [p05, p95]':<27}(mean 90%)"
        ]
        prev = None
        for r in tab.itertuples(index=False):
            if prev is not None and r.outcome != prev:
                lines.append("")
            prev = r.outcome
            star = "*" if r.n < self.replicates else " "
            diff = f"{_f(r.difference, 7)} [{_f(r.p05, 6)}, {_f(r.p95, 6)}]{star}"
            lines.append(
                f"{r.outcome if r.district == self.columns[0] else '':<{w}}{r.district:<{dw}}{_f(r.baseline, 10, False)}"
                f"{_f(r.counterfactual, 16, False)}   {diff:<27}({_f(r.mean_p05, 6)}, {_f(r.mean_p95, 6)})"
            )
        foot = []
        if (tab["n"] < self.replicates).any():
            foot.append("* some replicates undefined (no change in the district): difference over the replicates defined in both arms.")
        return "\n".join(head) + "\n\n" + "\n".join(lines) + ("\n" + "\n".join(foot) if foot else "") + "\n\n" + self.format_tables()

    def format_tables(self) -> str:
        blocks = [
            "Tables 2-5: difference in counts of district-elements (counterfactual - baseline), "
            "mean [5th, 95th percentile of the replicate differences]"
        ]
        colw = 22
        for name, t in self.table_differences.items():
            d = t["difference"]
            width = max(len(r) for r in t["rows"]) + 2
            lines = [_TABLE_TITLES.get(name, name), " " * width + "".join(f"{c:>{colw}}" for c in t["columns"])]
            for i, r in enumerate(t["rows"]):
                cells = "".join(
                    f"{_f(d['mean'][i, j], 6)} [{_f(d['p05'][i, j], 3, prec=0)},{_f(d['p95'][i, j], 3, prec=0)}]".rjust(colw)
                    for j in range(len(t["columns"]))
                )
                lines.append(f"{r:<{width}}{cells}")
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks)

    def figure(self, path: str | Path) -> Path:
        """A forest plot of the outcome differences (title: the question); returns the path."""
        return forest_plot(self, path)

    def write(self, outdir: str | Path, figure: bool = True) -> list[Path]:
        """Write whatif.json, whatif.png (unless ``figure`` is false) and both scenarios into
        ``outdir``. Everything is built in a staging folder first: on an error nothing is written."""
        outdir = Path(outdir)
        if outdir.exists() and not outdir.is_dir():
            raise OSError(f"--out {outdir}: exists and is not a folder")
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        staging = Path(tempfile.mkdtemp(prefix="coherence-whatif-"))
        try:
            files = [staging / "whatif.json"]
            files[0].write_text(text, encoding="utf-8")
            if figure:
                files.append(self.figure(staging / "whatif.png"))
            files.append(dump_scenario(self.baseline.scenario, staging / "baseline_scenario.toml"))
            files.append(dump_scenario(self.counterfactual.scenario, staging / "counterfactual_scenario.toml"))
            outdir.mkdir(parents=True, exist_ok=True)
            written = []
            for f in files:
                dst = outdir / f.name
                tmp = outdir / (f.name + ".tmp")
                shutil.copyfile(f, tmp)
                tmp.replace(dst)
                written.append(dst)
            return written
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _f(x, width: int, sign: bool = True, prec: int = 2) -> str:
    x = float(x)
    if not math.isfinite(x):
        return f"{'-':>{width}}"
    if prec == 0:
        return f"{x:+{width}.0f}" if sign else f"{x:{width}.0f}"
    return f"{x:+{width}.{prec}f}" if sign else f"{x:{width}.{prec}f}"


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------


def _base_scenario(base: Scenario | str | Path | None) -> Scenario:
    if base is None:
        return default_scenario()
    if isinstance(base, Scenario):
        return base
    return load_scenario(base)


def run_whatif(
    base: Scenario | str | Path | None = None,
    overrides: Sequence[str] = (),
    name: str | None = None,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = DEFAULT_SEED,
    progress: Callable[[int, int], None] | None = None,
    *,
    question: str | None = None,
    library: str | Path | Mapping[str, WhatIfSpec] | None = None,
) -> WhatIf:
    """Run a counterfactual beside its baseline with common random numbers.

    ``base``: a Scenario, a scenario file (TOML/YAML) or None (the four-district case).
    ``name``: a what-if of the library (its overrides come first); ``overrides``: further
    ``KEY=VALUE`` changes. ``progress(done, total)`` counts runs of both arms (total 2 x
    replicates). Bad input (unknown key, bad value, unknown name) raises ``ValueError`` before
    anything runs. With no overrides at all the counterfactual equals the baseline and every
    difference is exactly zero.
    """
    if isinstance(replicates, bool) or not isinstance(replicates, int) or replicates < 1:
        raise ValueError(f"replicates: {replicates!r} must be a whole number >= 1")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: {seed!r} must be a whole number >= 0")
    if isinstance(overrides, str):
        overrides = (overrides,)
    spec = None
    if name is not None:
        lib = library if isinstance(library, Mapping) else load_whatif_library(library)
        spec = get_whatif(name, lib)
    given = tuple(spec.set if spec else ()) + tuple(overrides)
    base_s = _base_scenario(base)
    cf = apply_overrides(base_s, [resolve_override(o) for o in given])
    if question is None:
        question = spec.question if spec else ("What if " + ", ".join(given) + "?" if given else "No change (baseline against itself)")
    total = 2 * replicates

    def arm_progress(offset: int):
        if progress is None:
            return None
        return lambda done, _t: progress(offset + done, total)

    baseline = run_scenario(base_s, replicates, seed, arm_progress(0))
    counterfactual = run_scenario(cf, replicates, seed, arm_progress(replicates), overrides=given)
    return WhatIf(
        question=question,
        overrides=given,
        baseline=baseline,
        counterfactual=counterfactual,
        name=name,
        lines=spec.lines if spec else (),
        note=spec.note if spec else "",
    )


# ---------------------------------------------------------------------------------------------
# The figure
# ---------------------------------------------------------------------------------------------

DPI = 120
# (outcomes, scale, x label, smallest half-width of the x axis)
_PANELS = (
    (SHARE_OUTCOMES, 100.0, "Difference in percentage points (share of the changed elements)", 5.0),
    (("elements_changed",), 1.0, "Difference in the number of elements changed (of 6 per district)", 0.5),
    (("mean_month_of_change",), 1.0, "Difference in months (month of each element's first change, averaged)", 1.0),
)


@contextmanager
def _style():
    """Seaborn styling for this figure only (as experiments.figures): rcParams restored on exit."""
    import seaborn as sns

    with sns.axes_style("white"), sns.plotting_context("notebook", font_scale=0.85):
        yield


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(str(text), width, break_long_words=False)) or str(text)


def forest_plot(w: WhatIf, path: str | Path) -> Path:
    """For each outcome (rows) and district / all districts (colours): the mean difference (dot),
    its 90% confidence interval (thick bar) and the 90% range of single replicates' differences
    (thin bar), against a zero line. Built as a matplotlib Figure (no pyplot)."""
    import seaborn as sns
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    cols = w.columns
    g = len(cols)
    palette = sns.color_palette("colorblind", max(g - 1, 1)).as_hex()
    colours = {c: palette[i % len(palette)] for i, c in enumerate(cols[:-1])}
    colours[OVERALL] = "#222222"
    step = min(0.16, 0.8 / g)
    heights = [0.8] + [len(names) * (0.35 + 0.17 * g) + 0.6 for names, _, _, _ in _PANELS]
    with _style():
        fig = Figure(figsize=(11, sum(heights) + 1.6), layout="constrained")
        # The legend gets a row of its own: a figure legend "outside upper" collides with the title.
        key, *axes = fig.subplots(len(_PANELS) + 1, 1, gridspec_kw={"height_ratios": heights})
        for ax, (names, scale, xlabel, min_half) in zip(axes, _PANELS):
            lo_x, hi_x = -min_half, min_half
            for i, k in enumerate(names):
                st = w.outcome_differences[k]
                for j, c in enumerate(cols):
                    y = i + (j - (g - 1) / 2) * step
                    m = st["mean"][j] * scale
                    if not math.isfinite(m):
                        continue
                    lo, hi = st["p05"][j] * scale, st["p95"][j] * scale
                    mlo, mhi = st["mean_p05"][j] * scale, st["mean_p95"][j] * scale
                    col = colours[c]
                    lo_x, hi_x = np.nanmin([lo_x, lo, mlo]), np.nanmax([hi_x, hi, mhi])
                    ax.hlines(y, lo, hi, color=col, lw=1.2, alpha=0.55)
                    if math.isfinite(mlo):
                        ax.hlines(y, mlo, mhi, color=col, lw=4.5, alpha=0.9)
                    ax.plot(m, y, "D" if c == OVERALL else "o", color=col, ms=6.5 if c == OVERALL else 5.5,
                            mec="white", mew=0.7, zorder=3)
            for b in np.arange(len(names) - 1) + 0.5:
                ax.axhline(b, color="#e3e3e3", lw=0.8)
            ax.axvline(0, color="#555555", lw=1.1, ls="--", zorder=1)
            ax.set_yticks(np.arange(len(names)), [_wrap(OUTCOME_LABELS[k], 30) for k in names])
            ax.set_ylim(len(names) - 0.5, -0.5)
            pad = 0.05 * (hi_x - lo_x)
            ax.set_xlim(lo_x - pad, hi_x + pad)
            ax.set_xlabel(xlabel)
            ax.grid(axis="x", color="#eeeeee", lw=0.8)
            sns.despine(ax=ax, left=True)
        handles = [
            Line2D([], [], color=colours[c], marker="D" if c == OVERALL else "o", lw=4.5,
                   label="All districts" if c == OVERALL else c)
            for c in cols
        ] + [
            Line2D([], [], color="#777777", lw=4.5, label="90% interval of the\naverage difference"),
            Line2D([], [], color="#777777", lw=1.2, alpha=0.6, label="90% range of the difference\nin a single replicate"),
        ]
        key.set_axis_off()
        key.legend(handles=handles, loc="center", ncol=min(len(handles), 4), frameon=False,
                   handlelength=2.6, columnspacing=1.8)
        fig.suptitle(_wrap(w.question, 90), fontsize=13, fontweight="bold")
        caption = (
            f"Difference = what-if minus the baseline ({w.baseline.scenario.name}), paired replicate by replicate: "
            f"{w.replicates} simulated replicates per arm with the same random numbers (seed {w.seed}). "
            "Right of the dashed line: more under the what-if. "
            + ("Changes: " + "; ".join(w.overrides) + "." if w.overrides else "No changes.")
        )
        fig.supxlabel(_wrap(caption, 150), fontsize=8.5, style="italic", color="#333333")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI, facecolor="white")
        fig.clear()
    return path
