"""Text rendering of a case summary: simulated (mean [p05, p95]) beside observed, per table cell."""

from __future__ import annotations

_TITLES = {
    "table2": "Table 2. Substantiveness of change, by district",
    "table3": "Table 3. Pre-existing capacity x substantiveness",
    "table4": "Table 4. Pre-existing capacity x alignment",
    "table5": "Table 5. Pre-existing capacity x continuity",
    "consistency": "Figure 2 as a table. Consistency of change, by district",
}


def _cell(mean: float, lo: float, hi: float, obs) -> str:
    o = "-" if obs is None else f"{obs:g}"
    return f"{mean:4.1f} [{lo:3.0f},{hi:3.0f}] obs {o:>2}"


def format_table(summary: dict, name: str) -> str:
    sim, lo, hi = summary["simulated"][name], summary["simulated_p05"][name], summary["simulated_p95"][name]
    obs = summary["observed"].get(name, {})
    rows = list(sim)
    cols = list(next(iter(sim.values())))
    width = max(len(r) for r in rows) + 2
    colw = 24
    lines = [_TITLES.get(name, name), " " * width + "".join(f"{c:>{colw}}" for c in cols)]
    for r in rows:
        cells = "".join(
            f"{_cell(sim[r][c], lo[r][c], hi[r][c], obs.get(r, {}).get(c)):>{colw}}" for c in cols
        )
        lines.append(f"{r:<{width}}{cells}")
    return "\n".join(lines)


def format_summary(summary: dict) -> str:
    prov = summary["provenance"]
    head = (
        f"coherence-sim {prov['version']} | case {prov['case']} | {prov['replicates']} replicates | "
        f"seed {prov['seed']} | {prov['capacity_assignments']} capacity assignments\n"
        "Cells: simulated mean [5th, 95th percentile] across replicates, observed count from the report."
    )
    body = "\n\n".join(format_table(summary, n) for n in ("table2", "table3", "table4", "table5", "consistency"))
    return head + "\n\n" + body
