"""A what-if beside its baseline: both arms run with common random numbers, paired differences per
outcome, district and table cell, with intervals; :class:`WhatIf` holds them and writes them."""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
import numpy as np
from sim.results import OUTCOME_NAMES
from ..case import DEFAULT_REPLICATES, DEFAULT_SEED, REPORT_TABLES, CaseRun, run_scenario, summarise
from ..execution.provenance import content_hash, provenance
from ..scenario import Scenario, apply_overrides, default_scenario, dump_scenario, load_scenario, scenario_dict
from .library import WhatIfSpec, get_whatif, load_whatif_library, resolve_override


LEVEL = 0.90


OVERALL = "overall"


#: Tables whose cell differences are reported (Tables 2-5, consistency, Table 5 at the end of the run).
TABLES = REPORT_TABLES + ("table5_end",)


#: What a provider what-if reports beside the outcomes (:attr:`WhatIf.provider_metrics`).
PROVIDER_METRICS = ("joined", "price", "subsidy", "cost_per_element_changed")
PROVIDER_DEFINITION = (
    "joined: take-up, the share of replicates in which the district joined (overall: the share of districts); "
    "price: USD the district paid over the run; subsidy: USD paid by supplemental funding; cost_per_element_changed: "
    "(price + subsidy) summed over replicates / elements changed summed over replicates (overall: all districts); "
    "means over replicates, differences paired by replicate with their 5th-95th percentiles"
)


#: Files written by :meth:`WhatIf.write`.
FILENAMES = ("whatif.json", "whatif.png", "baseline_scenario.toml", "counterfactual_scenario.toml")


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
    #: what the baseline arm is: None (the base scenario), a what-if's name, or a scenario file
    baseline_of: str | None = None
    #: the overrides that made the baseline arm from the base scenario (a what-if baseline's own set)
    baseline_overrides: tuple[str, ...] = ()
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

    @property
    def changes_from_baseline(self) -> tuple[str, ...]:
        """The counterfactual's overrides that the baseline arm does not already have."""
        have = set(self.baseline_overrides)
        return tuple(o for o in self.overrides if o not in have)

    @property
    def is_provider_whatif(self) -> bool:
        """Either arm works with another provider than the base scenario's default one, or the arms'
        providers differ: take-up, price, subsidy and cost are then reported beside the outcomes."""
        from ..scenario import ProviderModel

        b, c = self.baseline.scenario.provider, self.counterfactual.scenario.provider
        return b != c or b != ProviderModel() or c != ProviderModel()

    @cached_property
    def provider_metrics(self) -> dict | None:
        """Take-up, price, subsidy spend and cost per element changed of each arm, per district and
        over all districts, with paired differences; None when the runs carry no provider outputs.

        Per district and replicate: ``joined`` (1 if the district took up the offer), ``price`` (USD
        the district paid over the run), ``subsidy`` (USD paid by supplemental funding), and
        ``spend`` = price + subsidy. Over all districts: the share of districts that joined, and the
        totals. ``cost_per_element_changed`` = spend summed over replicates / elements changed summed
        over replicates (a ratio of sums; NaN when nothing changed)."""
        arms = {"baseline": self.baseline, "counterfactual": self.counterfactual}
        per: dict[str, dict[str, np.ndarray]] = {}
        for arm, run in arms.items():
            fields = ("joined", "cost_district", "cost_subsidy")
            if any(getattr(r, f, None) is None for r in run.results for f in fields):
                return None
            cols = list(run.districts)
            idx = [cols.index(c) for c in self.districts]
            joined = np.stack([np.asarray(r.joined, float) for r in run.results])[:, idx]
            price = np.stack([np.asarray(r.cost_district, float) for r in run.results])[:, idx]
            subsidy = np.stack([np.asarray(r.cost_subsidy, float) for r in run.results])[:, idx]
            changed = self._arm_samples(run)["elements_changed"]  # (R, districts + overall)

            def with_all(x: np.ndarray, how) -> np.ndarray:
                return np.column_stack([x, how(x, axis=1)])

            spend = with_all(price + subsidy, np.sum)
            with np.errstate(invalid="ignore", divide="ignore"):
                cpe = spend.sum(axis=0) / changed.sum(axis=0)
            per[arm] = {"joined": with_all(joined, np.mean), "price": with_all(price, np.sum),
                        "subsidy": with_all(subsidy, np.sum), "spend": spend,
                        "cost_per_element_changed": np.where(np.isfinite(cpe), cpe, np.nan)}
        out: dict = {"columns": list(self.columns), "arms": per, "difference": {}}
        for k in ("joined", "price", "subsidy", "spend"):
            out["difference"][k] = paired_difference(per["baseline"][k], per["counterfactual"][k])
        out["difference"]["cost_per_element_changed"] = {
            "mean": per["counterfactual"]["cost_per_element_changed"] - per["baseline"]["cost_per_element_changed"]}
        return out

    def provider_table(self) -> "pd.DataFrame | None":  # noqa: F821
        """Tidy provider metrics (:attr:`provider_metrics`): one row per metric and district
        (and 'overall'): baseline, counterfactual (means over replicates, or the ratio of sums for
        ``cost_per_element_changed``) and the paired difference with its 90% range."""
        import pandas as pd

        m = self.provider_metrics
        if m is None:
            return None
        rows = []
        for k in PROVIDER_METRICS:
            b, c, d = m["arms"]["baseline"][k], m["arms"]["counterfactual"][k], m["difference"][k]
            ratio = k == "cost_per_element_changed"
            for i, col in enumerate(m["columns"]):
                rows.append({
                    "metric": k, "district": col,
                    "baseline": float(b[i]) if ratio else float(_summary_stats(b)["mean"][i]),
                    "counterfactual": float(c[i]) if ratio else float(_summary_stats(c)["mean"][i]),
                    "difference": float(d["mean"][i]),
                    "p05": float("nan") if ratio else float(d["p05"][i]),
                    "p95": float("nan") if ratio else float(d["p95"][i]),
                })
        return pd.DataFrame(rows)

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
                "baseline": self._baseline_description(),
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
            "provider": self._provider_dict(),
            "provenance": provenance(
                whatif=self.name,
                question=self.question,
                overrides=list(self.overrides),
                base_scenario=self.baseline.scenario.name,
                baseline=self._baseline_description(),
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

    def _baseline_description(self) -> dict:
        kind = "base scenario" if self.baseline_of is None else (
            "scenario file" if self.baseline_of.lower().endswith((".toml", ".yaml", ".yml")) else "what-if")
        return {"kind": kind, "name": self.baseline_of, "overrides": list(self.baseline_overrides),
                "changes_from_baseline": list(self.changes_from_baseline)}

    def _provider_dict(self) -> dict | None:
        """Provider metrics for whatif.json (None unless a provider what-if with provider outputs)."""
        if not self.is_provider_whatif or self.provider_metrics is None:
            return None
        tab = self.provider_table()
        out: dict = {"definition": PROVIDER_DEFINITION, "metrics": {}}
        for k in PROVIDER_METRICS:
            sub = tab[tab["metric"] == k]
            out["metrics"][k] = {r.district: {"baseline": _num(r.baseline), "counterfactual": _num(r.counterfactual),
                                              "difference": _num(r.difference), "p05": _num(r.p05), "p95": _num(r.p95)}
                                 for r in sub.itertuples(index=False)}
        return out

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
        from .render import format_whatif

        return format_whatif(self)

    def format_tables(self) -> str:
        from .render import format_table_differences

        return format_table_differences(self)

    def figure(self, path: str | Path) -> Path:
        """A forest plot of the outcome differences (title: the question); returns the path."""
        from .render import forest_plot

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
    baseline: Scenario | str | Path | None = None,
) -> WhatIf:
    """Run a counterfactual beside its baseline with common random numbers.

    ``base``: a Scenario, a scenario file (TOML/YAML) or None (the four-district case).
    ``name``: a what-if of the library (its overrides come first); ``overrides``: further
    ``KEY=VALUE`` changes. The counterfactual is ``base`` with those changes. The baseline arm is
    ``baseline`` when given, else the named what-if's own ``baseline`` (library field), else
    ``base``: a what-if's name (``base`` with that what-if's overrides, e.g. the subsidised bundle
    against ``bundle_at_market_price``), a Scenario, or a scenario file. ``progress(done, total)`` counts runs of both arms (total 2 x
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
    if baseline is None and spec is not None and spec.baseline is not None:
        baseline = spec.baseline_file or spec.baseline
        baseline_label = spec.baseline
    else:
        baseline_label = None if baseline is None else (baseline.name if isinstance(baseline, Scenario) else str(baseline))
    baseline_s, baseline_overrides = _baseline_scenario(baseline, base_s, library)
    if question is None:
        question = spec.question if spec else ("What if " + ", ".join(given) + "?" if given else "No change (baseline against itself)")
    total = 2 * replicates

    def arm_progress(offset: int):
        if progress is None:
            return None
        return lambda done, _t: progress(offset + done, total)

    base_run = run_scenario(baseline_s, replicates, seed, arm_progress(0), overrides=baseline_overrides)
    counterfactual = run_scenario(cf, replicates, seed, arm_progress(replicates), overrides=given)
    return WhatIf(
        question=question,
        overrides=given,
        baseline=base_run,
        counterfactual=counterfactual,
        name=name,
        lines=spec.lines if spec else (),
        note=spec.note if spec else "",
        baseline_of=baseline_label,
        baseline_overrides=baseline_overrides,
    )


def _baseline_scenario(baseline: Scenario | str | Path | None, base: Scenario,
                       library: str | Path | Mapping[str, WhatIfSpec] | None) -> tuple[Scenario, tuple[str, ...]]:
    """The baseline arm's scenario and the overrides that made it from ``base``."""
    if baseline is None:
        return base, ()
    if isinstance(baseline, Scenario):
        return baseline, ()
    text = str(baseline)
    if text.lower().endswith((".toml", ".yaml", ".yml")):
        return load_scenario(text), ()
    lib = library if isinstance(library, Mapping) else load_whatif_library(library)
    try:
        other = lib[text]
    except KeyError:
        raise ValueError(f"baseline: {text!r} is neither a what-if of the library nor a scenario file "
                         f"(.toml, .yaml, .yml); what-ifs: {', '.join(lib)}") from None
    return apply_overrides(base, [resolve_override(o) for o in other.set]), tuple(other.set)
