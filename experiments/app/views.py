"""What the page draws, in words a class can read: what happened this month (a caption), each
district's six elements (who owns each, what the improvement team is working on, what runs in the
element now, the changes so far and the proposals blocked or reshaped), a legend, the four
dimensions over the months (inline SVG) and the district's story so far.

Everything here reads the model's public state (``CoherenceModel`` arrays, ``District.owner``,
``District.team``, ``District.structure``, the change and event records); nothing changes it.
The HTML builders are plain functions (tested without a browser); the Solara components at the end
re-render on every step (Mesa's ``update_counter``).
"""

from __future__ import annotations

import html
import math
import re

import numpy as np
import solara
from mesa.visualization.utils import update_counter
from sim import coding
from sim.calendar import month_label, school_year
from sim.initiative import MOST
from sim.model import CoherenceModel
from sim.records import SOURCE_INITIATIVE
from sim.structure import NO_ROUTINE
from sim.vocab import Capacity, Consistency, Content, Decision, Element, Substantiveness
from experiments.narrative import element_name, long_month, month_caption, month_clauses, role_text, timeline_entries
from .controls import ALL, scenario_title
from .model import CoherenceApp, DIMENSIONS


# --- words ---------------------------------------------------------------------------------------

_CAPACITY_SHORT = {Capacity.DID_NOT_EXIST: "Did not exist", Capacity.EMERGENT: "Emergent",
                   Capacity.ESTABLISHED: "Established"}

_CONTENT_WORDS = {
    Content.SIGNATURE: "Counting Collections",
    Content.PRINCIPLES: "high-leverage practices",
    Content.COMPETING: "competing vision",
    Content.TRADITIONAL: "district's own way",
}

_ELEMENT_BY_LOWER_LABEL = {e.label.lower(): e for e in Element}

# Colours of the consistency codes (the chips of the table and the legend).
CONSISTENCY_COLOUR = {
    Consistency.NO_CHANGE: "#bdbdbd",
    Consistency.CONSISTENT: "#2ca02c",
    Consistency.SOMEWHAT: "#ff7f0e",
    Consistency.NOT_CONSISTENT: "#d62728",
}


def _esc(x) -> str:
    return html.escape(str(x))


def _el(e: Element | int) -> str:
    return element_name(Element(int(e)))


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


# --- the model's state, per district and element ---------------------------------------------------


def _practising(model: CoherenceModel, d: int, team_only: bool) -> tuple[float, float]:
    """Shares of the district's (or its team's) pre-K-3 teachers practising Counting Collections or
    beyond, and the high-leverage practices."""
    t, c, h = model.teachers_pop.level_counts(d, team_only=team_only)
    n = t + c + h
    return ((c + h) / n, h / n) if n else (0.0, 0.0)


def _event_tallies(model: CoherenceModel, d_name: str) -> dict[str, list[int]]:
    """Per element: proposals escalated to the superintendent, competing agendas kept out (read from
    the event log, whose details name the element)."""
    out = {"escalated": [0] * len(Element), "agenda_blocked": [0] * len(Element)}
    for rec in model.event_log:
        if rec.district != d_name or rec.kind not in out:
            continue
        m = re.search(r" (?:on|out of) (?P<el>[^;]+)$", rec.detail)
        if m and m.group("el") in _ELEMENT_BY_LOWER_LABEL:
            out[rec.kind][_ELEMENT_BY_LOWER_LABEL[m.group("el")]] += 1
    return out


def element_states(model: CoherenceModel, d: int) -> list[dict]:
    """Per element of district ``d``, plain values the table draws from: its owner, the team's
    attention to it, what runs in it now, the Appendix A codes of its changes so far and what
    happened to the team's proposals."""
    dist = model.district_list[d]
    team = dist.team
    s = dist.structure
    n = model.n_add_on[d] + model.n_transform[d]
    sub = coding.substantiveness(model.n_add_on[d], model.n_transform[d])
    con = coding.consistency(model.n_consistent[d], model.n_competing[d])
    practising_team, _ = _practising(model, d, team_only=True)
    eligible = dist.eligible(practising_team)
    tallies = _event_tallies(model, dist.name)
    reshaped = [0] * len(Element)
    for c in model.changes:
        if c.district == dist.name and c.source == SOURCE_INITIATIVE and c.decision == Decision.RESHAPED:
            reshaped[int(c.element)] += 1
    out = []
    for e in Element:
        owner = dist.owner[e]
        if dist.pending[e]:
            attention = "pending"
        elif e in team.projects:
            attention = "working"
        elif not eligible[e]:
            attention = "waiting"
        else:
            attention = "idle"
        waiting_for = ""
        if attention == "waiting":
            if e == Element.SCHOOL_LEADER_LEARNING and practising_team >= MOST:
                waiting_for = "awaits a session for school leaders"
            else:
                waiting_for = _WAITING.get(e, "a prerequisite is missing")
        out.append({
            "element": e,
            "owner": owner.role,
            "owner_is_lead": owner is dist.lead,
            "owner_buy_in": float(owner.buy_in),
            "attention": attention,
            "waiting_for": waiting_for,
            "progress": float(team.projects.get(int(e), 0.0)),
            "readiness": float(team.readiness[e]),
            "capacity0": Capacity(int(model.capacity0[d, e])),
            "capacity": Capacity(int(model.capacity[d, e])),
            "routine": None if s.routine[e] == NO_ROUTINE else Content(s.routine[e]),
            "practices": [Content(p) for p in s.practices[e]],
            "changes": int(n[e]),
            "substantiveness": Substantiveness(int(sub[e])),
            "consistency": Consistency(int(con[e])),
            "prek": bool(model.prek_included[d, e]),
            "links": [f for f in Element if model.links[d, e, f]],
            "blocked": int(model.proposals_blocked[d, e]),
            "reshaped": reshaped[e],
            "escalated": tallies["escalated"][e],
            "agenda_blocked": tallies["agenda_blocked"][e],
        })
    return out


_WAITING = {
    Element.SCHOOL_LEADER_LEARNING: "waits until most team teachers practise the provider's approach",
    Element.OVERSIGHT: "waits for a framework or pedagogy in the provider's vision to oversee",
}

READINESS_FULL = 5.0  # readiness (exposure units) drawn as a full bar


def _attention_cell(s: dict) -> str:
    e = s["element"]
    bar = min(s["readiness"] / READINESS_FULL, 1.0)
    meter = (f'<span class="meter" title="readiness {s["readiness"]:.1f}"><span style="width:{100 * bar:.0f}%">'
             f'</span></span> <span class="small">ready {s["readiness"]:.1f}</span>')
    if s["attention"] == "pending":
        return '<b class="pending">Decided</b>, awaiting enactment'
    if s["attention"] == "working":
        return (f'<span class="progress"><span style="width:{100 * s["progress"]:.0f}%"></span></span> '
                f'<b class="working">Working on it</b> <span class="small">{_pct(s["progress"])} designed</span>')
    if s["attention"] == "waiting":
        return f'{meter}<br><span class="waiting small">Not yet: {_esc(s["waiting_for"])}</span>'
    return f"{meter}"


def _now_cell(s: dict) -> str:
    now = _CAPACITY_SHORT[s["capacity"]]
    was = "" if s["capacity"] == s["capacity0"] else f' <span class="small">(was {_CAPACITY_SHORT[s["capacity0"]].lower()})</span>'
    parts = []
    if s["routine"] is not None:
        parts.append(f"routine: {_CONTENT_WORDS[s['routine']]}")
    if s["practices"]:
        counts: dict = {}
        for p in s["practices"]:  # several pieces of one content: named once, with their number
            counts[p] = counts.get(p, 0) + 1
        parts.append("beside it: " + ", ".join(_CONTENT_WORDS[p] + (f" \u00d7{k}" if k > 1 else "") for p, k in counts.items()))
    detail = "; ".join(parts) if parts else "nothing runs"
    return f"<b>{now}</b>{was}<br><span class=\"small\">{_esc(detail)}</span>"


def _changes_cell(s: dict) -> str:
    if not s["changes"]:
        return '<span class="muted">No change yet</span>'
    c = s["consistency"]
    chip = f'<span class="chip" style="background:{CONSISTENCY_COLOUR[c]}"></span>'
    extra = [f'{s["changes"]} changes'] if s["changes"] > 1 else []
    if s["prek"]:
        extra.append("includes pre-K")
    if s["links"]:
        names = ", ".join(_el(f) for f in s["links"])
        n = len(s["links"])
        extra.append(f'<span title="aligned with {_esc(names)}">aligned with {n} other{"s" if n > 1 else ""}</span>')
    line2 = f'<br><span class="small">{" · ".join(extra)}</span>' if extra else ""
    return f'<b>{s["substantiveness"].label}</b>{chip}{c.label}{line2}'


def _proposals_cell(s: dict) -> str:
    parts = []
    if s["blocked"]:
        parts.append(f'<span class="blocked">{s["blocked"]} blocked</span>')
    if s["reshaped"]:
        parts.append(f'<span class="reshaped">{s["reshaped"]} reshaped</span>')
    if s["escalated"]:
        parts.append(f'{s["escalated"]} escalated')
    if s["agenda_blocked"]:
        parts.append(f'agenda kept out {s["agenda_blocked"]}×')
    return "<br>".join(parts) if parts else '<span class="muted">—</span>'


def team_summary(model: CoherenceModel, d: int) -> str:
    """Who leads the district's team, what it is working on, what it understands, what classrooms
    show (HTML, one short paragraph)."""
    dist = model.district_list[d]
    team = dist.team
    lead = dist.lead
    working = [f"{_el(e)} ({_pct(p)} designed)" for e, p in sorted(team.projects.items())]
    slots = model.team_slots
    if working:
        attention = f"works on {len(working)} of the {slots} elements it can handle at once: " + ", ".join(working)
    else:
        attention = f"works on nothing yet (it can handle {slots} elements at once)"
    authority = "with positional authority" if lead.positional_authority else "without positional authority"
    practising, hlpp = _practising(model, d, team_only=False)
    holders = [l for l in dist.leaders if l.agenda is not None]
    agenda = "".join(f" The {_esc(role_text(l.role))} pushes a competing {_esc(l.agenda.name)} agenda "
                     f"(buy-in {l.buy_in:.2f})." for l in holders)
    prek = "" if dist.has_prek else " <b>No pre-K programme</b> (its four-year-olds are in TK)."
    return (f'<p class="team"><b>The improvement team</b>, led by the {_esc(role_text(lead.role))} ({authority}, '
            f"buy-in {lead.buy_in:.2f}), {_esc(attention)}. It understands the approach {_pct(team.know)}, its "
            f"principles {_pct(team.know_principles)}. Teachers practising Counting Collections or more: "
            f"{_pct(practising)}; the high-leverage practices: {_pct(hlpp)}.{agenda}{prek}</p>")


def district_html(model: CoherenceModel, d: int) -> str:
    """One district: the team's summary and the table of its six elements."""
    dist = model.district_list[d]
    rows = []
    for s in element_states(model, d):
        e = s["element"]
        lead = ' <span class="badge">team lead</span>' if s["owner_is_lead"] else ""
        rows.append(
            f'<tr data-element="{e.key}" class="att-{s["attention"]}">'
            f'<th scope="row">{_esc(e.label)}</th>'
            f'<td class="owner">{_esc(role_text(s["owner"]))}{lead} <span class="small">· buy-in {s["owner_buy_in"]:.2f}</span></td>'
            f'<td class="attention">{_attention_cell(s)}</td>'
            f'<td class="now">{_now_cell(s)}</td>'
            f'<td class="state" data-code="{s["substantiveness"].key}">{_changes_cell(s)}</td>'
            f'<td class="proposals">{_proposals_cell(s)}</td></tr>'
        )
    return (
        f'<div class="district" id="elements-{_esc(dist.name)}" data-district="{_esc(dist.name)}">'
        + team_summary(model, d)
        + '<table class="elements"><colgroup><col style="width:13%"><col style="width:18%"><col style="width:17%">'
          '<col style="width:20%"><col style="width:21%"><col style="width:11%"></colgroup>'
          '<thead><tr><th>Element</th><th>Owner (decides)</th><th>Team\'s attention</th>'
          "<th>What runs now</th><th>Changes so far</th><th>Proposals</th></tr></thead><tbody>"
        + "".join(rows) + "</tbody></table></div>"
    )


def legend_html() -> str:
    """How to read the element table (colours and words)."""
    chips = " ".join(f'<span class="chip" style="background:{CONSISTENCY_COLOUR[c]}"></span>{c.label.lower()}'
                     for c in (Consistency.CONSISTENT, Consistency.SOMEWHAT, Consistency.NOT_CONSISTENT))
    return (
        '<div id="legend" class="legend"><b>How to read the table.</b> '
        "<b>Owner</b>: the leader who decides about the element by position; the team's proposals go to the owner "
        "(buy-in: how far the owner is on board, 0 to 1). "
        '<b>Team\'s attention</b>: <span class="meter"><span style="width:60%"></span></span> readiness built by the '
        "provider's emphasis (it fades while the team is busy elsewhere); with room, the team takes up an element, "
        "designs a change and proposes it. "
        "<b>What runs now</b>: did not exist, emergent (practices, no routine) or established (a routine: the "
        "systemic way of doing the work). "
        "<b>Changes so far</b>, coded as in the report: transform (a redesign or a new routine) or add on (a piece "
        f"beside the routine); {chips} with the provider's vision. "
        "<b>Proposals</b>: blocked by the owner; reshaped (the owner merged in a piece of its own); escalated (the "
        "superintendent overruled the owner).</div>"
    )


def elements_html(model: CoherenceModel, district: str | None = None) -> str:
    """The element tables of every district of the model (or of ``district``), then the legend."""
    blocks = [district_html(model, dist.index) for dist in model.district_list
              if district is None or dist.name == district]
    return "".join(blocks) + legend_html()


# --- this month, in words ----------------------------------------------------------------------

CAPTION_CLAUSES = 4  # the caption tells at most this many things (and how many more there were)


def caption_text(model: CoherenceApp) -> str:
    """This month in one plain-language sentence (``experiments.narrative.month_caption``), e.g.
    "March 2022: Diamond's team took up student assessments; the Superintendent blocked
    Cedarville's redesign of teacher learning; the provider turned to ...", at most
    ``CAPTION_CLAUSES`` clauses (the most telling first) and how many more there were. A month
    without events says what the provider did; before the first step, what to do."""
    m = model.month
    if m < 0:
        return (f"Before the start ({long_month(0)}). Press Step to simulate the first month, or ▶ to play "
                "month after month.")
    if not month_clauses(model, m):
        plan = model.provider.plan(m) if school_year(m) <= model.program.years else None
        if plan is not None and plan.activities:
            acts = " and ".join(a.label for a in plan.activities)
            return f"{long_month(m)}: the provider held its {acts}; the teams kept working, and no decision was taken."
        return f"{long_month(m)}: no decision was taken this month."
    return month_caption(model, m, max_clauses=CAPTION_CLAUSES, more="(the story so far tells all)")


def status_text(model: CoherenceApp) -> str:
    """What month the run has reached and what it runs, e.g. 'Month 5 (Dec 2020) of 36 · school
    year 1 · The four districts, as in the report · all four districts · seed 42'."""
    if model.month < 0:
        where = f"Start: before month 0 ({month_label(0)}) of {model.horizon}"
    else:
        where = f"Month {model.month} ({month_label(model.month)}) of {model.horizon} · school year {school_year(model.month)}"
    who = "all four districts" if model.district_choice == ALL else f"district {model.district_choice}"
    return f"{where} · {scenario_title(model.scenario_name)} · {who} · seed {model.seed}"


def provider_text(model: CoherenceApp) -> str:
    """The provider's current focus, in words."""
    if model.month >= 0 and school_year(model.month) > model.program.years:
        return "The provider's programme has ended; the districts go on alone."
    common = "; it asks every district for the common assessment" if model.provider.common_assessment else ""
    return f"The provider's focus: {model.provider.phase.label}{common}."


# --- the four dimensions over time -------------------------------------------------------------

# The colours as hex (matplotlib's tab10), for the inline SVG chart.
_HEX = {"tab:gray": "#7f7f7f", "tab:blue": "#1f77b4", "tab:green": "#2ca02c", "tab:purple": "#9467bd",
        "tab:orange": "#ff7f0e"}


# Lines that often coincide (every change consistent, every change with pre-K) are told apart by dashes.
_DASH = {"Continuity": "6 3", "Aligned": "2 2"}


def dimensions_svg(model: CoherenceApp, width: int = 440, height: int = 250) -> str:
    """How many district-elements have changed, been transformed, changed consistently, been
    aligned and included pre-K, month by month, as an inline SVG line chart.

    Drawn here rather than with Mesa's plot components: the matplotlib backend takes 80-170 ms per
    step on the 2-core machine (the step budget is 200 ms), and the Altair backend's Vega-Lite widget
    asks Solara's CDN for ``vega@5``, which the offline assets (solara-assets 1.58.2 ships
    vega@5.21.0) do not resolve, so its chart stays blank offline. This is a few polylines from the
    DataCollector, under 2 ms."""
    df = model.datacollector.get_model_vars_dataframe()
    total = 6 * len(model.district_list)
    left, right, top, bottom = 40, 118, 26, 34
    pw, ph = width - left - right, height - top - bottom
    n = max(int(model.horizon), 1)

    def x(i: float) -> float:
        return left + pw * i / n

    def y(v: float) -> float:
        return top + ph * (1.0 - v / total)

    parts = [f'<svg id="dimensions-chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="District-elements changed, month by month" '
             'style="font: 11px sans-serif; max-width: 100%">',
             f'<text x="{left}" y="14" style="font-weight:bold; font-size:12px">How many of the {total} '
             "district-elements have ...</text>"]
    ticks = sorted({0, total // 4, total // 2, 3 * total // 4, total})
    for v in ticks:
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v}</text>')
    for m in range(0, n + 1, 6 if n <= 60 else 12):
        parts.append(f'<text x="{x(m):.1f}" y="{top + ph + 13}" text-anchor="middle">{m}</text>')
    if model.month >= 0:
        parts.append(f'<line x1="{x(model.month + 1):.1f}" x2="{x(model.month + 1):.1f}" y1="{top}" y2="{top + ph}" '
                     'stroke="#999" stroke-dasharray="3 3"/>')
    parts.append(f'<text x="{left + pw / 2:.1f}" y="{height - 4}" text-anchor="middle">months simulated</text>')
    for k, (name, (colour, words)) in enumerate(DIMENSIONS.items()):
        values = df[name].to_numpy(dtype=float) if name in df else np.zeros(0)
        pts = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values) if math.isfinite(v))
        c = _HEX.get(colour, colour)
        dash = f' stroke-dasharray="{_DASH[name]}"' if name in _DASH else ""
        ly = top + 16 * k + 6
        last = int(values[-1]) if len(values) else 0
        label = {"Changed": "changed", "Transformed": "transformed", "Consistent": "consistent",
                 "Aligned": "aligned", "Continuity": "incl. pre-K"}[name]
        if name == "Changed":  # the total, as a grey area the other lines sit in
            if len(values):
                area = f"{x(0):.1f},{y(0):.1f} {pts} {x(len(values) - 1):.1f},{y(0):.1f}"
                parts.append(f'<polygon fill="#e8e8e8" stroke="none" points="{area}"/>')
            parts.append(f'<rect x="{left + pw + 8}" y="{ly - 5}" width="14" height="10" fill="#e8e8e8" stroke="{c}"/>')
        else:
            parts.append(f'<line x1="{left + pw + 8}" x2="{left + pw + 22}" y1="{ly}" y2="{ly}" stroke="{c}" '
                         f'stroke-width="2"{dash}/>')
        parts.append(f'<text x="{left + pw + 26}" y="{ly + 4}">{label} ({last})</text>')
        width_ = 1 if name == "Changed" else 2
        parts.append(f'<polyline class="dimension" data-name="{name}" fill="none" stroke="{c}" stroke-width="{width_}"{dash} '
                     f'points="{pts}"><title>{_esc(words)}</title></polyline>')
    parts.append("</svg>")
    return "".join(parts)


def story_html(model: CoherenceApp, district: str | None) -> str:
    """The district's story so far (the narrative timeline), newest first."""
    entries = timeline_entries(model, district, up_to_month=model.month)
    if not entries:
        return '<p class="muted">Nothing has happened yet.</p>'
    items = "".join(f"<li>{_esc(e.text)}</li>" for e in reversed(entries))
    return f"<ul>{items}</ul>"


# --- the page's panels (Solara components) ----------------------------------------------------------

CSS = """
.v-navigation-drawer.solara-content-main { min-width: 316px !important; max-width: 316px !important; }
.app-grid { display: grid; gap: 10px; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr);
  grid-template-areas: "caption caption" "district district" "chart story"; align-items: start; }
@media (min-width: 1600px) {
  .app-grid { grid-template-columns: minmax(0, 1fr) 460px; grid-template-areas: "caption caption" "district side"; }
}
.app-side { grid-area: side; display: contents; }
@media (min-width: 1600px) { .app-side { display: flex; flex-direction: column; gap: 12px; } }
.panel { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 6px 12px; min-width: 0; }
.caption-panel { grid-area: caption; }
.district-panel { grid-area: district; }
.chart-panel { grid-area: chart; }
.story-panel { grid-area: story; }
.panel h3 { margin: 0 0 4px 0; font-size: 15px; }
.status-row { display: flex; flex-wrap: wrap; justify-content: space-between; column-gap: 16px; }
#app-month { font-size: 13.5px; font-weight: 600; color: #333; }
#app-caption { font-size: 14.5px; line-height: 1.35; margin: 3px 0 0 0; color: #111; }
.provider-line, .notes { font-size: 12.5px; color: #444; margin: 2px 0; }
.team { font-size: 12.5px; margin: 2px 0 6px 0; line-height: 1.35; }
.badge { font-size: 10.5px; background: #e3ecf7; color: #1f5fa8; border-radius: 3px; padding: 0 4px; white-space: nowrap; }
table.elements { border-collapse: collapse; width: 100%; table-layout: fixed; font-size: 12.5px; line-height: 1.3; }
table.elements th, table.elements td { border: 1px solid #ddd; padding: 3px 6px; vertical-align: top; text-align: left; }
table.elements thead th { background: #f3f3f3; font-weight: 600; }
table.elements tbody th { font-weight: 600; }
table.elements tr.att-working { background: #eef6ff; }
table.elements tr.att-pending { background: #fff7e6; }
.small { font-size: 11.5px; color: #555; }
.muted { color: #888; }
.working { color: #1f5fa8; } .pending { color: #a86500; } .waiting { color: #777; }
.blocked { color: #b00020; font-weight: 600; } .reshaped { color: #a86500; font-weight: 600; }
.chip { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin: 0 4px 0 6px; vertical-align: -1px; }
.meter, .progress { display: inline-block; width: 44px; height: 8px; background: #e6e6e6; border-radius: 4px; vertical-align: middle; overflow: hidden; }
.meter > span { display: block; height: 100%; background: #8c6bb1; }
.progress > span { display: block; height: 100%; background: #1f77b4; }
.district-panel .v-btn-toggle .v-btn.v-btn--active { background: #1565c0 !important; color: #fff !important; }
.legend { font-size: 12px; color: #333; line-height: 1.3; margin-top: 4px; }
.story-panel ul { margin: 0; padding-left: 18px; font-size: 12.5px; }
.story-panel li { margin-bottom: 3px; }
.story-scroll { max-height: 300px; overflow-y: auto; }
@media (min-width: 1600px) {
  .story-scroll { max-height: 440px; }
  table.elements { font-size: 13.5px; } .team, .legend { font-size: 13px; } .small { font-size: 12px; }
  #app-caption { font-size: 16px; } #app-month { font-size: 14px; }
}
.settings-note { font-size: 13px; background: #fff8e1; border-left: 4px solid #f9a825; padding: 6px 8px; margin-bottom: 8px; }
"""


@solara.component
def CaptionView(model: CoherenceApp):
    """The month reached, what happened in it, the provider's focus and the run's settings."""
    update_counter.get()
    notes = " ".join(model.notes)
    finished = (" The run has reached its horizon: change a setting or press Reset to start again."
                if not model.running else "")
    solara.HTML(tag="section", classes=["panel", "caption-panel"], unsafe_innerHTML=(
        f'<div class="status-row"><span id="app-month">{_esc(status_text(model))}</span>'
        f'<span class="provider-line">{_esc(provider_text(model))}</span></div>'
        f'<p id="app-caption">{_esc(caption_text(model))}</p>'
        + (f'<p class="notes">{_esc(finished.strip())}</p>' if finished else "")
        + (f'<p class="notes" id="app-notes">This run: {_esc(notes)}</p>' if notes else "")))


@solara.component
def DistrictView(model: CoherenceApp, shown: str, on_shown):
    """One district at a time (buttons to choose another): its team, its six elements, the legend."""
    update_counter.get()
    names = [d.name for d in model.district_list]
    with solara.Column(classes=["panel", "district-panel"], gap="0px"):
        with solara.Row(gap="10px", style={"align-items": "center", "margin-bottom": "2px"}):
            solara.HTML(tag="h3", unsafe_innerHTML="District")
            if len(names) > 1:
                solara.ToggleButtonsSingle(value=shown, values=names, on_value=on_shown, dense=True)
            else:
                solara.HTML(tag="h3", unsafe_innerHTML=_esc(shown))
        solara.HTML(tag="div", unsafe_innerHTML=elements_html(model, shown))


@solara.component
def DimensionsView(model: CoherenceApp):
    """The four dimensions over time (updated every step)."""
    update_counter.get()
    solara.HTML(tag="section", classes=["panel", "chart-panel"], unsafe_innerHTML=dimensions_svg(model))


@solara.component
def StoryView(model: CoherenceApp, district: str | None = None):
    """The story so far, newest first."""
    update_counter.get()
    title = f"The story so far{': ' + district if district else ''} (newest first)"
    solara.HTML(tag="section", classes=["panel", "story-panel"], unsafe_innerHTML=(
        f'<h3>{_esc(title)}</h3><div id="story" class="story-scroll">{story_html(model, district)}</div>'))


@solara.component
def MainView(model: CoherenceApp):
    """The whole main area: caption, district, chart and story, laid out for 1280 to 1920 pixels."""
    names = [d.name for d in model.district_list]
    shown, set_shown = solara.use_state(names[0])
    if shown not in names:  # a new run with other districts
        shown = names[0]
    solara.Style(CSS)
    with solara.Div(classes=["app-grid"]):
        CaptionView(model)
        DistrictView(model, shown, set_shown)
        with solara.Div(classes=["app-side"]):
            DimensionsView(model)
            StoryView(model, shown)
