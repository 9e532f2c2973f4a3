"""What the page draws: the six elements of each district (network and table), the four dimensions
over the months (inline SVG) and the narrative event log."""

from __future__ import annotations

import html
import math
import networkx as nx
import numpy as np
import solara
from mesa.visualization.utils import update_counter
from sim import coding
from sim.calendar import month_label
from sim.model import CoherenceModel
from sim.vocab import Capacity, Consistency, Content, Element, Substantiveness
from experiments.narrative import narrate
from .model import CoherenceApp, DIMENSIONS


_ABBR = {
    Element.FRAMEWORK: "FW",
    Element.PEDAGOGY: "PED",
    Element.ASSESSMENT: "ASM",
    Element.TEACHER_LEARNING: "TL",
    Element.SCHOOL_LEADER_LEARNING: "SLL",
    Element.OVERSIGHT: "OV",
}


_FILL = {Capacity.DID_NOT_EXIST: "#ffffff", Capacity.EMERGENT: "#c6dbef", Capacity.ESTABLISHED: "#3182bd"}


_RING = {
    Consistency.NO_CHANGE: "#bdbdbd",
    Consistency.CONSISTENT: "#2ca02c",
    Consistency.SOMEWHAT: "#ff7f0e",
    Consistency.NOT_CONSISTENT: "#d62728",
}


_GRAPH = nx.cycle_graph(list(Element))


_POS = {e: (float(x), float(y)) for e, (x, y) in nx.circular_layout(_GRAPH, scale=1.0).items()}


def element_states(model: CoherenceModel, d: int) -> list[dict]:
    """Per element of district ``d``: capacity now, substantiveness, consistency, depth, pre-K,
    links so far (plain values; the table and the network draw from these)."""
    n = model.n_add_on[d] + model.n_transform[d]
    sub = coding.substantiveness(model.n_add_on[d], model.n_transform[d])
    con = coding.consistency(model.n_consistent[d], model.n_competing[d])
    out = []
    for e in Element:
        c = model.content[d, e]
        depth = (
            "High-leverage practices" if c[Content.PRINCIPLES]
            else "Counting Collections" if c[Content.SIGNATURE]
            else "Competing vision" if c[Content.COMPETING]
            else "—"
        )
        if c[Content.COMPETING] and (c[Content.PRINCIPLES] or c[Content.SIGNATURE]):
            depth += " + competing"
        out.append({
            "element": e,
            "capacity0": Capacity(int(model.capacity0[d, e])),
            "capacity": Capacity(int(model.capacity[d, e])),
            "changes": int(n[e]),
            "substantiveness": Substantiveness(int(sub[e])),
            "consistency": Consistency(int(con[e])),
            "depth": depth,
            "principles": bool(c[Content.PRINCIPLES]),
            "prek": bool(model.prek_included[d, e]),
            "pending": bool(model.pending[d, e]),
            "links": [f for f in Element if model.links[d, e, f]],
        })
    return out


def network_svg(model: CoherenceModel, d: int, size: int = 190) -> str:
    """The six elements of district ``d`` as an SVG network: fill = capacity now, ring = consistency,
    double ring = carries the high-leverage practices, P = change included pre-K; edges = links
    (green: the provider's practice, red: a competing vision). Positions from networkx."""
    states = element_states(model, d)
    half, r_node = size / 2, 19
    scale = half - r_node - 8

    def xy(e):
        x, y = _POS[e]
        return half + scale * x, half - scale * y

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 {size} {size}" '
             f'role="img" aria-label="elements of {html.escape(model.district_list[d].name)}">']
    for a in Element:
        for b in Element:
            if a < b and model.links[d, a, b]:
                (x1, y1), (x2, y2) = xy(a), xy(b)
                colour = "#2ca02c" if model.link_consistent[d, a, b] else "#d62728"
                parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{colour}" stroke-width="3"/>')
    for s in states:
        e = s["element"]
        x, y = xy(e)
        dash = ' stroke-dasharray="4 3"' if s["capacity"] == Capacity.DID_NOT_EXIST else ""
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r_node}" fill="{_FILL[s["capacity"]]}" '
                     f'stroke="{_RING[s["consistency"]]}" stroke-width="4"{dash}><title>{html.escape(e.label)}</title></circle>')
        if s["principles"]:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r_node + 5}" fill="none" stroke="#2ca02c" stroke-width="1.5"/>')
        text_colour = "#ffffff" if s["capacity"] == Capacity.ESTABLISHED else "#000000"
        parts.append(f'<text x="{x:.1f}" y="{y + 4:.1f}" font-size="11" text-anchor="middle" fill="{text_colour}" '
                     f'font-family="sans-serif">{_ABBR[e]}</text>')
        if s["prek"]:
            parts.append(f'<text x="{x + r_node - 2:.1f}" y="{y - r_node + 6:.1f}" font-size="11" font-weight="bold" '
                         f'fill="#8c2d04" font-family="sans-serif">P</text>')
    parts.append("</svg>")
    return "".join(parts)


def elements_html(model: CoherenceModel) -> str:
    """Network and table of the six elements for every district of the model."""
    blocks = []
    for dist in model.district_list:
        d = dist.index
        rows = []
        for s in element_states(model, d):
            e = s["element"]
            state = s["substantiveness"].label if s["changes"] else "No change"
            if s["pending"]:
                state += " (decision pending)"
            rows.append(
                f'<tr data-element="{e.key}"><td>{html.escape(e.label)} ({_ABBR[e]})</td>'
                f'<td>{s["capacity0"].label} → {s["capacity"].label}</td>'
                f'<td class="state">{html.escape(state)}</td><td>{s["consistency"].label}</td>'
                f'<td>{html.escape(s["depth"])}</td><td>{"yes" if s["prek"] else "—"}</td>'
                f'<td>{", ".join(_ABBR[f] for f in s["links"]) or "—"}</td></tr>'
            )
        prek = "" if dist.has_prek else " · no pre-K programme"
        blocks.append(
            f'<div class="district" id="elements-{html.escape(dist.name)}" style="margin-bottom:12px">'
            f'<h3 style="margin:4px 0">{html.escape(dist.name)}{prek}</h3>'
            f'<div style="display:flex;gap:12px;align-items:flex-start;flex-wrap:wrap">{network_svg(model, d)}'
            '<table style="border-collapse:collapse;font-size:12px" border="1" cellpadding="3">'
            "<tr><th>Element</th><th>Capacity (start → now)</th><th>Change</th><th>Consistency</th>"
            "<th>Depth</th><th>Pre-K</th><th>Links</th></tr>" + "".join(rows) + "</table></div></div>"
        )
    legend = (
        '<p style="font-size:11px;color:#555">Fill: capacity now (white dashed = did not exist, light = emergent, '
        "dark = established). Ring: consistency (green consistent, orange somewhat, red not, grey no change). "
        "Outer green ring: carries the high-leverage practices. P: a change included pre-K. "
        "Lines: alignment links (green the provider's practice, red a competing vision).</p>"
    )
    return "".join(blocks) + legend


def status_text(model: CoherenceApp) -> str:
    """What month the run has reached, e.g. 'Month 5 (Dec 2020) of 36 · scenario ... · district ...'."""
    if model.month < 0:
        where = f"Start: before month 0 ({month_label(0)})"
    else:
        where = f"Month {model.month} ({month_label(model.month)})"
    return f"{where} of {model.horizon} · scenario {model.scenario_name} · district {model.district_choice} · seed {model.seed}"


def status_view(model: CoherenceApp) -> None:
    """The current month and the settings the model was built with (drawn inside ElementsView,
    so a step re-renders one component for both)."""
    with solara.Column():
        solara.HTML(tag="div", unsafe_innerHTML=f'<h3 id="app-month" style="margin:0">{html.escape(status_text(model))}</h3>')
        for note in model.notes:
            solara.Text(note)
        if not model.running:
            solara.Text("The run has reached its horizon; press Reset to start again.")


@solara.component
def ElementsView(model: CoherenceApp):
    """The month reached, the settings, and the six elements per district (network and table)."""
    update_counter.get()
    with solara.Column(style={"height": "100%", "max-height": "380px", "overflow-y": "auto"}):
        status_view(model)
        solara.HTML(tag="div", unsafe_innerHTML=elements_html(model))


@solara.component
def EventLogView(model: CoherenceApp):
    """The narrative timeline up to the current month."""
    update_counter.get()
    md = narrate(model, up_to_month=model.month)
    with solara.Column(style={"height": "100%", "max-height": "380px", "overflow-y": "auto"}):
        solara.Markdown(md)


# The colours as hex (matplotlib's tab10), for the inline SVG chart.
_HEX = {"tab:gray": "#7f7f7f", "tab:blue": "#1f77b4", "tab:green": "#2ca02c", "tab:purple": "#9467bd",
        "tab:orange": "#ff7f0e"}


def dimensions_svg(model: "CoherenceApp", width: int = 420, height: int = 280) -> str:
    """The four dimensions (and the share changed) over the months, as an inline SVG line chart.

    Drawn here rather than with Mesa's plot components: the matplotlib backend takes 80-170 ms per
    step on the 2-core machine (the step budget is 200 ms), and the Altair backend's Vega-Lite widget
    asks Solara's CDN for ``vega@5``, which the offline assets (solara-assets 1.58.2 ships
    vega@5.21.0) do not resolve, so its chart stays blank offline. This is a few polylines from the
    DataCollector, under 2 ms."""
    df = model.datacollector.get_model_vars_dataframe()
    left, right, top, bottom = 48, 96, 28, 36
    pw, ph = width - left - right, height - top - bottom
    n = max(int(model.horizon), 1)

    def x(i: float) -> float:
        return left + pw * i / n

    def y(v: float) -> float:
        return top + ph * (1.0 - v)

    parts = [f'<svg id="dimensions-chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="Four dimensions of change over the months" style="font: 11px sans-serif">',
             f'<text x="{left}" y="16" style="font-weight:bold; font-size:13px">Four dimensions of change</text>']
    for v in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.2f}</text>')
    for m in range(0, n + 1, 6):
        parts.append(f'<text x="{x(m):.1f}" y="{top + ph + 14}" text-anchor="middle">{m}</text>')
    parts.append(f'<text x="{left + pw / 2:.1f}" y="{height - 4}" text-anchor="middle">months simulated</text>'
                 f'<text transform="translate(12 {top + ph / 2:.1f}) rotate(-90)" text-anchor="middle">'
                 "share of district-elements</text>")
    for k, (name, colour) in enumerate(DIMENSIONS.items()):
        values = df[name].to_numpy(dtype=float) if name in df else np.zeros(0)
        pts = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values) if math.isfinite(v))
        c = _HEX.get(colour, colour)
        parts.append(f'<polyline class="dimension" data-name="{name}" fill="none" stroke="{c}" stroke-width="2" '
                     f'points="{pts}"/>')
        ly = top + 14 * k + 6
        parts.append(f'<line x1="{left + pw + 10}" x2="{left + pw + 26}" y1="{ly}" y2="{ly}" stroke="{c}" '
                     f'stroke-width="2"/><text x="{left + pw + 30}" y="{ly + 4}">{name}</text>')
    parts.append("</svg>")
    return "".join(parts)


@solara.component
def DimensionsView(model: "CoherenceApp"):
    """The four dimensions over time (updated every step)."""
    update_counter.get()
    solara.HTML(tag="div", unsafe_innerHTML=dimensions_svg(model))
