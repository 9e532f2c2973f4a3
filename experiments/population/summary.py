"""A rollout's runs read back, and aggregated by district type with intervals over replicates."""

from __future__ import annotations

from pathlib import Path
import numpy as np
import pandas as pd
from sim.results import OUTCOME_NAMES


#: Outcomes aggregated in the summary (means over districts of a type, then intervals over replicates).
SUMMARY_OUTCOMES = ("joined", "elements_changed", "share_transformed", "share_consistent", "share_aligned",
                    "share_continuity_changes", "share_beyond_signature_practice", "hlpp_share_end",
                    "cost_district", "cost_subsidy", "cost_per_student")


_ID_COLUMNS = ("district", "replicate", "name", "students", "size_class", "capacity_class", "leadership", "rural",
               "prior_experience", "has_prek")


_RESULT_COLUMNS = ("joined", "curriculum_adopted", "service_months", "cost_district", "cost_subsidy",
                   "partnership_failed_month", "hlpp_share_end", *OUTCOME_NAMES, "status", "error")


_RUN_COLUMNS = _ID_COLUMNS + _RESULT_COLUMNS


def load_rollout(out_dir: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """The runs of a rollout (one row per district x replicate), in plan order. Every chunk is
    verified first (``experiments.execution.store.read_chunks``): a damaged store raises
    ``StoreError`` naming the chunk."""
    from ..execution.store import RUNS, read_chunks

    t = read_chunks(Path(out_dir), (RUNS,), columns={RUNS: columns} if columns else None)[RUNS]
    if t is None:
        return pd.DataFrame(columns=columns or list(_RUN_COLUMNS))
    return t.to_pandas()


def summarise_rollout(out_dir: str | Path | pd.DataFrame, level: float = 0.90) -> pd.DataFrame:
    """Aggregate a rollout by district type: for each grouping (all, size class, capacity class,
    leadership configuration, rural) and group, the mean over replicates of the group's mean, and a
    ``level`` interval over replicates. ``joined`` is over all districts of the group; the other
    outcomes over those that joined (costs: per district that joined; ``cost_per_student``: the
    group's total cost to districts / its total enrolment among those that joined)."""
    df = out_dir if isinstance(out_dir, pd.DataFrame) else load_rollout(out_dir)
    df = df[df["status"] == "ok"].copy()
    df["rural"] = df["rural"].map({True: "rural", False: "not rural"})
    df["all"] = "all districts"
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    rows = []
    for grouping in ("all", "size_class", "capacity_class", "leadership", "rural"):
        for group, g in df.groupby(grouping, sort=True):
            per_rep = []
            for r, gr in g.groupby("replicate"):
                j = gr[gr["joined"]]
                v = {"joined": gr["joined"].mean()}
                for k in ("elements_changed", "share_transformed", "share_consistent", "share_aligned",
                          "share_continuity_changes", "share_beyond_signature_practice", "hlpp_share_end",
                          "cost_district", "cost_subsidy"):
                    v[k] = j[k].mean() if len(j) else np.nan
                v["cost_per_student"] = j["cost_district"].sum() / j["students"].sum() if len(j) else np.nan
                per_rep.append(v)
            t = pd.DataFrame(per_rep)
            row = {"grouping": grouping, "group": group, "districts": int(g["district"].nunique()),
                   "replicates": int(g["replicate"].nunique())}
            for k in SUMMARY_OUTCOMES:
                x = t[k].dropna()
                row[k] = float(x.mean()) if len(x) else np.nan
                row[f"{k}_p05"] = float(x.quantile(lo_q)) if len(x) else np.nan
                row[f"{k}_p95"] = float(x.quantile(hi_q)) if len(x) else np.nan
            rows.append(row)
    return pd.DataFrame(rows)


def format_summary(summary: pd.DataFrame) -> str:
    """A text table of the summary (joined share, elements changed, cost per district)."""
    lines = [f"{'grouping':<15} {'group':<34} {'n':>5} {'joined':>17} {'elements changed':>19} {'cost/district (USD)':>27}"]
    for _, r in summary.iterrows():
        def cell(k, fmt):
            if pd.isna(r[k]):
                return "-"
            return f"{fmt.format(r[k])} [{fmt.format(r[k + '_p05'])}, {fmt.format(r[k + '_p95'])}]"
        lines.append(f"{r['grouping']:<15} {str(r['group']):<34} {r['districts']:>5} {cell('joined', '{:.2f}'):>17} "
                     f"{cell('elements_changed', '{:.2f}'):>19} {cell('cost_district', '{:,.0f}'):>27}")
    return "\n".join(lines)
