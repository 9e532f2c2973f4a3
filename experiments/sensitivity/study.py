"""The study: Morris, the selection, Sobol' on the groups kept, the contrasts behind the indices and
the answer to the report's claims; :func:`load_study` reads a study's indices back."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
import numpy as np
import pandas as pd
from sim.vocab import Alignment, Capacity, Consistency, Continuity, Substantiveness
from .engine import _Engine, _load_elements
from .factors import FactorSpace
from .morris import MorrisResult, run_morris
from .report import unconverged_notice, write_report
from .sobol import SobolResult, run_sobol
from .spec import SensitivityError, SensitivitySpec, load_sensitivity_spec


@dataclass
class StudyResult:
    spec: SensitivitySpec
    out_dir: Path
    morris: MorrisResult
    sobol: SobolResult
    factors: pd.DataFrame
    contrasts: dict
    answer: dict
    runs_total: int
    runs_this_session: int
    seconds: float
    run_seconds: float
    executor: str
    written: list[Path] = field(default_factory=list)

    @property
    def runs_per_second(self) -> float:
        return self.runs_this_session / self.run_seconds if self.run_seconds > 0 else float("nan")

    def summary(self) -> str:
        a = self.answer
        notice = unconverged_notice(self.sobol, self.spec)
        lines = ([notice, ""] if notice else []) + [
            f"sensitivity {self.spec.name!r}: Morris {self.morris.n_runs} runs, Sobol' N = {self.sobol.N} "
            f"({'converged' if self.sobol.converged else 'NOT converged: n_max reached'}) {self.sobol.n_runs} runs, "
            f"{len(self.sobol.groups)} groups",
            f"  this session: {self.runs_this_session} runs in {self.run_seconds:.1f} s of running"
            + (f" ({self.runs_per_second:.0f} runs/s)" if self.runs_this_session else "") + f"; {self.seconds:.1f} s in all; executor: {self.executor}",
        ]
        for c in a.get("claims", []):
            lines.append(f"  claim: {c['claim']}: {c['verdict'].upper()} ({c['evidence']})")
        lines.append(f"  report: {self.out_dir / 'report.md'}")
        return "\n".join(lines)


def run_study(spec: SensitivitySpec | str | Path, out_dir: str | Path, *, workers=None, scheduler=None, quiet: bool = False,
              report: bool = True) -> StudyResult:
    """Morris over every factor, Sobol' on the groups the selection rule keeps, the answer and the
    report (``out_dir/report.md``, figures, CSV/Parquet indices). Resumes from runs already stored."""
    if not isinstance(spec, SensitivitySpec):
        spec = load_sensitivity_spec(spec)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise SensitivityError(f"--out {out}: exists and is not a folder")
    t0 = time.perf_counter()
    space = FactorSpace(spec)
    for key, g in (("answer.capacity", spec.answer.capacity), ("answer.authority", spec.answer.authority), ("answer.buy_in", spec.answer.buy_in)):
        if g not in space.group_names:
            raise SensitivityError(f"{key}: {g!r} is not a group; allowed: {', '.join(space.group_names)}")
    out.mkdir(parents=True, exist_ok=True)
    engine = _Engine(space, spec.study.replicates, spec.study.seed, workers, scheduler, quiet)
    try:
        morris = run_morris(spec, out, _engine=engine)
        sobol = run_sobol(spec, out, groups=morris.selected_groups, _engine=engine)
        executor = engine.describe_executor()
    except BaseException:
        engine.close(cancel=True)
        raise
    engine.close()
    contrasts = study_contrasts(spec, space, sobol)
    answer = answer_question(spec, sobol, contrasts)
    res = StudyResult(spec=spec, out_dir=out, morris=morris, sobol=sobol, factors=space.table(), contrasts=contrasts, answer=answer,
                      runs_total=morris.n_runs + sobol.n_runs, runs_this_session=engine.runs_session, seconds=0.0,
                      run_seconds=engine.seconds, executor=executor)
    res.seconds = time.perf_counter() - t0
    if report:
        res.written = write_report(res)
        res.seconds = time.perf_counter() - t0
    return res


def study_contrasts(spec: SensitivitySpec, space: FactorSpace, sobol: SobolResult) -> dict:
    """Directions behind the indices: element codes by starting capacity (every Sobol' run), and the
    mean replicate-mean outputs by leadership condition (every design point is a draw of the inputs)."""
    out: dict[str, Any] = {}
    if sobol.store is not None:
        el = _load_elements(sobol.store, len(sobol.natural))
        if len(el):
            changed = el["substantiveness"] != int(Substantiveness.NO_CHANGE)
            caps = {int(c): Capacity(c).key for c in Capacity}
            ch = el[changed].assign(
                transform=el["substantiveness"] == int(Substantiveness.TRANSFORM),
                continuity_=el["continuity"] == int(Continuity.CONTINUITY),
                continuity_end_=el["continuity_end"] == int(Continuity.CONTINUITY),
                consistent=el["consistency"] == int(Consistency.CONSISTENT),
                aligned=el["alignment"] == int(Alignment.ALIGNED),
            )
            g = ch.groupby("capacity0")
            tab = pd.DataFrame({
                "elements": el.groupby("capacity0").size(),
                "changed": g.size(),
                "transform": g["transform"].mean(),
                "continuity": g["continuity_"].mean(),
                "continuity_end": g["continuity_end_"].mean(),
                "consistent": g["consistent"].mean(),
                "aligned": g["aligned"].mean(),
            })
            tab["share_changed"] = tab["changed"] / tab["elements"]
            tab.index = [caps[int(i)] for i in tab.index]
            out["by_capacity"] = tab
    nat = sobol.natural
    Y = pd.DataFrame(sobol.Y, columns=sobol.labels)
    a = spec.answer
    if nat is not None and a.authority in nat and a.buy_in in nat:
        auth = nat[a.authority].astype(bool).to_numpy()
        hold = nat[a.holder].astype(bool).to_numpy() if a.holder in nat else np.zeros(len(nat), bool)
        buy = nat[a.buy_in].to_numpy(float)
        bins = pd.cut(buy, [-np.inf, 0.6, 0.8, np.inf], labels=["buy-in < 0.6", "0.6-0.8", ">= 0.8"])
        df = Y.assign(authority=np.where(auth, "authority", "no authority"), holder=np.where(hold, "competing holder", "no competing holder"), buy_in=bins)
        keep = [o for o in ("share_consistent", "share_transformed", "share_continuity_changes", "elements_changed") if o in Y]
        out["by_leadership"] = df.groupby(["authority", "holder", "buy_in"], observed=True)[keep].mean().assign(
            points=df.groupby(["authority", "holder", "buy_in"], observed=True).size())
    return out


def answer_question(spec: SensitivitySpec, sobol: SobolResult, contrasts: dict) -> dict:
    """Verdicts on the report's claims from the Sobol' indices (pooled outputs), by stated rules:
    a group "matters" for an output if its ST confidence interval lies above ``important``, "does not
    matter" if it lies below, else the result is inconclusive."""
    a = spec.answer
    imp = a.important
    idx = sobol.indices.set_index(["output", "group"])

    def get(o, g):
        if (o, g) not in idx.index:
            return None
        r = idx.loc[(o, g)]
        return {k: float(r[k]) for k in ("S1", "S1_conf", "ST", "ST_conf")}

    def status(v):
        if v is None:
            return "not varied"
        if v["ST"] - v["ST_conf"] > imp:
            return "matters"
        if v["ST"] + v["ST_conf"] < imp:
            return "does not matter"
        return "inconclusive"

    def show(name, v):
        return f"{name}: S1 = {v['S1']:.3f} ± {v['S1_conf']:.3f}, ST = {v['ST']:.3f} ± {v['ST_conf']:.3f}" if v else f"{name}: not varied"

    claims = []
    cap_sub = get("share_transformed", a.capacity)
    st = status(cap_sub)
    verdict = {"matters": "agrees", "does not matter": "disagrees"}.get(st, "inconclusive" if cap_sub else "not tested")
    if verdict == "agrees" and cap_sub["S1"] - cap_sub["S1_conf"] <= 0:
        verdict = "agrees, through interactions only (S1 ~ 0)"
    claims.append({"claim": "capacity matters for substantiveness (share of changed elements transformed)", "verdict": verdict,
                   "evidence": show("capacity on share_transformed", cap_sub)})
    for o in ("share_continuity_changes", "share_continuity_end"):
        v = get(o, a.capacity)
        st = status(v)
        claims.append({"claim": f"capacity does not matter for continuity ({o})",
                       "verdict": {"matters": "disagrees", "does not matter": "agrees"}.get(st, "inconclusive" if v else "not tested"),
                       "evidence": show(f"capacity on {o}", v)})
    va, vb = get("share_consistent", a.authority), get("share_consistent", a.buy_in)
    sa, sb = status(va), status(vb)
    s2 = None
    if not sobol.second_order.empty:
        m = sobol.second_order[(sobol.second_order["output"] == "share_consistent")
                               & (((sobol.second_order["group_a"] == a.authority) & (sobol.second_order["group_b"] == a.buy_in))
                                  | ((sobol.second_order["group_a"] == a.buy_in) & (sobol.second_order["group_b"] == a.authority)))]
        if len(m):
            s2 = {"S2": float(m["S2"].iat[0]), "S2_conf": float(m["S2_conf"].iat[0])}
    if va is None or vb is None:
        verdict = "not tested"
    elif sa == "matters" and sb == "matters":
        verdict = "agrees"
    elif sa == "does not matter" or sb == "does not matter":
        verdict = "disagrees"
    else:
        verdict = "inconclusive"
    ev = show("authority on share_consistent", va) + "; " + show("buy-in on share_consistent", vb)
    if s2:
        ev += f"; S2(authority, buy-in) = {s2['S2']:.3f} ± {s2['S2_conf']:.3f}"
    claims.append({"claim": "authority with buy-in matters for consistency (share of changed elements consistent)", "verdict": verdict, "evidence": ev,
                   "authority": sa, "buy_in": sb, "s2": s2})
    top = {}
    for o in sobol.labels:
        sub = sobol.indices[sobol.indices["output"] == o].sort_values("ST", ascending=False)
        top[o] = [(r.group, float(r.S1), float(r.S1_conf), float(r.ST), float(r.ST_conf)) for r in sub.head(4).itertuples()]
    return {"claims": claims, "top": top, "important": imp}


def load_study(out_dir: str | Path) -> dict[str, pd.DataFrame]:
    """The tables a finished study wrote (Parquet), by name: morris, selection, sobol, sobol_s2,
    sobol_history, noise, types, type_means, factors."""
    out = Path(out_dir)
    tables = {}
    for p in sorted(out.glob("*.parquet")):
        tables[p.stem] = pd.read_parquet(p)
    if not tables:
        raise SensitivityError(f"{out}: no study tables (*.parquet); run the study first")
    return tables
