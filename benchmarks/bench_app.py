"""How fast the app answers a Step: the model's month plus re-rendering every component, server side.

The page (experiments/app/page.py ``make_page``) is rendered with Solara's ``solara.render`` (no browser,
no websocket); clicking its Step button runs Mesa's ``do_step``: one model step, then a forced
re-render of the caption, the district's element table, the four-dimensions chart (inline SVG) and
the story so far. Reports the median (and 90th percentile) over the months of a run, for all
four districts (the largest page) and for one district, plus the parts on their own.

    .venv/bin/python benchmarks/bench_app.py [--runs 3] [--json PATH]

Target: median < 200 ms per step.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

TARGET_MS = 200.0


def _percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def bench_page(district: str, runs: int) -> dict:
    import ipyvuetify as v
    import solara

    from experiments.app import CoherenceApp, make_page

    times = []
    for r in range(runs):
        model = CoherenceApp(district=district, seed=42 + r)

        @solara.component
        def Page(model=model):
            # as under `solara run`: the page inside the app layout (which holds the sidebar)
            with solara.AppLayout():
                make_page(model)

        box, rc = solara.render(Page(), handle_error=False)
        step = rc.find(v.Btn, children=["Step"]).widget
        for _ in range(model.horizon):
            t0 = time.perf_counter()
            step.click()
            times.append((time.perf_counter() - t0) * 1000)
        assert model.steps == model.horizon, f"expected {model.horizon} steps, got {model.steps}"
        rc.close()
    return {"district": district, "steps": len(times), "median_ms": statistics.median(times),
            "p90_ms": _percentile(times, 0.9), "max_ms": max(times)}


def bench_parts(runs: int) -> dict:
    """The same work without Solara: model step, the caption and the element HTML, the story so far,
    the dimensions chart's SVG."""
    from experiments.app import CoherenceApp, caption_text, dimensions_svg, elements_html, story_html

    parts = {"model_step": [], "caption_and_elements_html": [], "story": [], "dimensions_svg": []}
    for r in range(runs):
        model = CoherenceApp(seed=42 + r)
        for _ in range(model.horizon):
            t0 = time.perf_counter()
            model.step()
            t1 = time.perf_counter()
            caption_text(model)
            elements_html(model)
            t2 = time.perf_counter()
            story_html(model, model.district_list[0].name)
            t3 = time.perf_counter()
            dimensions_svg(model)
            t4 = time.perf_counter()
            for k, a, b in (("model_step", t0, t1), ("caption_and_elements_html", t1, t2), ("story", t2, t3), ("dimensions_svg", t3, t4)):
                parts[k].append((b - a) * 1000)
    return {k: statistics.median(v) for k, v in parts.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="runs of 36 months per page (default 3)")
    ap.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    args = ap.parse_args(argv)
    out = {"target_ms": TARGET_MS, "pages": [bench_page("all", args.runs), bench_page("Diamond", args.runs)],
           "parts_median_ms_all_districts": bench_parts(args.runs)}
    for p in out["pages"]:
        ok = "OK" if p["median_ms"] < TARGET_MS else "SLOW"
        print(f"step + render, district={p['district']:<8} median {p['median_ms']:6.1f} ms  p90 {p['p90_ms']:6.1f} ms  "
              f"max {p['max_ms']:6.1f} ms  over {p['steps']} steps  [{ok}: target < {TARGET_MS:.0f} ms]")
    print("parts (median ms, all districts): " + ", ".join(f"{k} {v:.1f}" for k, v in out["parts_median_ms_all_districts"].items()))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2)
    return 0 if all(p["median_ms"] < TARGET_MS for p in out["pages"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
