"""Narratives from runs (experiments/narrative.py): event log, timeline, Markdown."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from experiments import narrative
from experiments.narrative import UnknownCodeError, event_log, narrate, timeline, timeline_entries
from experiments.scenario import apply_overrides, default_scenario
from experiments.whatif import get_whatif, resolve_override
from sim import simulate
from sim.initiative import activity_label
from sim.conditions import ProviderProgram
from sim.model import CoherenceModel
from sim.records import SOURCE_AGENDA, SOURCE_INITIATIVE, SOURCES, ChangeRecord, EventRecord, LinkRecord
from sim.vocab import CASE_DISTRICTS, Activity, Content, Element

SIM = Path(__file__).resolve().parents[1] / "sim"


@pytest.fixture(scope="module")
def scenario():
    return default_scenario()


@pytest.fixture(scope="module")
def runs(scenario):
    """A few runs of the case plus what-ifs that reach every kind of trigger and event."""
    out = []
    params = scenario.parameters_()
    conds = scenario.conditions()
    for seed in range(4):
        out.append(simulate(conds[seed % len(conds)], params, seed=seed))
    for name in ("later_horizon", "five_year_initiative"):
        s = apply_overrides(scenario, [resolve_override(o) for o in get_whatif(name).set])
        c = s.conditions()
        out.append(simulate(c[0], s.parameters_(), seed=11))
    return out


def _hand_made():
    """Cedarville: one transform with a same-month link, one delayed add-on, a lone link, an event."""
    tl, ped, asm = Element.TEACHER_LEARNING, Element.PEDAGOGY, Element.ASSESSMENT
    changes = [
        ChangeRecord(14, "Cedarville", tl, True, False, Content.PRINCIPLES, True, True, "Associate Superintendent",
                     SOURCE_INITIATIVE, "the convening (teacher learning emphasis, year 2)", 14),
        ChangeRecord(3, "Cedarville", asm, False, True, Content.COMPETING, False, False,
                     "District leader with a fluency agenda", SOURCE_AGENDA,
                     "the fluency agenda of the District leader with a fluency agenda", 1),
    ]
    links = [
        LinkRecord(14, "Cedarville", ped, tl, Content.SIGNATURE, True),
        LinkRecord(20, "Cedarville", ped, asm, Content.COMPETING, False),
    ]
    events = [EventRecord(24, "Cedarville", "prek_eliminated", "pre-K programme ended; its children moved to TK"),
              EventRecord(35, "", "programme_ended", "the provider's programme ends; districts continue on their own")]
    return SimpleNamespace(districts=("Cedarville",), changes=changes, link_log=links, events=events)


def test_hand_made_result_gives_the_exact_lines():
    lines = timeline(_hand_made())
    assert lines == [
        "Month 3 (Oct 2020) — Cedarville creates student assessments (as a single practice) as part of the fluency "
        "agenda of the district leader with a fluency agenda; not consistent with the provider's vision (a competing "
        "vision); leaves pre-K out; decided by the district leader with a fluency agenda in month 1 (Aug 2020).",
        "Month 14 (Sep 2021) — Cedarville transforms teacher learning after the provider's convening in year 2 "
        "(main emphasis: teacher learning); consistent with the provider's vision (the high-leverage practices); "
        "includes pre-K; linked to pedagogy & materials; decided by the Associate Superintendent.",
        "Month 20 (Mar 2022) — Cedarville links pedagogy & materials and student assessments (both carry a competing vision).",
        "Month 24 (Jul 2022) — Cedarville ends its pre-K programme; its four-year-olds move into transitional kindergarten.",
        "Month 35 (Jun 2023) — The provider's programme ends; the districts continue on their own.",
    ]


def test_narrate_hand_made_markdown():
    md = narrate(_hand_made())
    assert md.startswith("## Cedarville\n\n- Month 3 (Oct 2020) — Cedarville creates student assessments")
    assert "## The initiative\n\n- Month 35 (Jun 2023) — The provider's programme ends" in md
    # one district: initiative-wide events go in its section, no separate heading
    md1 = narrate(_hand_made(), "Cedarville")
    assert "## The initiative" not in md1 and md1.count("\n- ") == 5


def test_event_log_hand_made_rows():
    df = event_log(_hand_made())
    assert list(df["month"]) == [3, 14, 14, 20, 24, 35]
    assert list(df["kind"]) == ["change", "change", "link", "link", "prek_eliminated", "programme_ended"]
    row = df.iloc[1]
    assert (row.month_label, row.district, row.element, row.action) == ("Sep 2021", "Cedarville", "teacher_learning", "transform")
    assert row.links == ("pedagogy",) and bool(row.consistent) and bool(row.prek_included)
    assert row.trigger_code == "provider_activity" and row.source == SOURCE_INITIATIVE
    assert df.iloc[0].action == "created" and df.iloc[0].decided_month == 1


@pytest.mark.parametrize("i", range(6))
def test_every_change_appears_exactly_once_and_months_ascend(runs, i):
    r = runs[i]
    entries = timeline_entries(r)
    told = [e.record for e in entries if e.kind == "change"]
    assert len(told) == len(r.changes) and all(any(t is c for t in told) for c in r.changes)
    months = [e.month for e in entries]
    assert months == sorted(months)
    for d in r.districts:
        sub = timeline_entries(r, d)
        assert sum(e.kind == "change" for e in sub) == sum(c.district == d for c in r.changes)
        assert {e.district for e in sub} <= {d, ""}
        assert [e.month for e in sub] == sorted(e.month for e in sub)
    # every link is told: in a change line of the same month or its own line
    df = event_log(r)
    assert (df.kind == "change").sum() == len(r.changes) and (df.kind == "link").sum() == len(r.link_log)
    assert list(df.month) == sorted(df.month)
    own = {id(e.record) for e in entries if e.kind == "link"}
    for l in r.link_log:
        in_change = any(e.kind == "change" and e.month == l.month and e.district == l.district
                        and e.record.element in (l.a, l.b) for e in entries)
        assert in_change or id(l) in own
    # narrate has a heading per district and a bullet per line
    md = narrate(r)
    for d in r.districts:
        assert f"## {d}\n" in md
    assert md.count("\n- ") >= len(r.changes)


def test_no_raw_codes_in_text(runs):
    for r in runs:
        for line in timeline(r):
            assert "_" not in line, line  # no snake_case keys such as teacher_learning or competing_agenda
            assert re.match(r"^Month \d+ \([A-Z][a-z]{2} \d{4}\) — ", line), line


def test_every_trigger_source_and_event_kind_the_runs_emit_has_text(runs):
    triggers, sources, kinds = set(), set(), set()
    for r in runs:
        triggers |= {c.trigger for c in r.changes}
        sources |= {c.source for c in r.changes}
        kinds |= {e.kind for e in r.events}
    codes = {narrative.trigger_code(t) for t in triggers}
    # the runs reach the provider's activities, the competing agenda, the curriculum adoption and
    # the districts' own work after the programme (later_horizon)
    assert {"provider_activity", "competing_agenda", "curriculum_adoption", "sustainability"} <= codes
    assert sources <= set(narrative.SOURCE_TEXT)
    assert set(SOURCES) <= set(narrative.SOURCE_TEXT), set(SOURCES) - set(narrative.SOURCE_TEXT)
    assert kinds <= set(narrative.EVENT_TEXT)


def test_every_event_names_the_element_its_record_names(runs):
    # The class of defect: a text that ignores the event's detail and so tells another story (the
    # no_traction text once said "the common assessment" whatever element the team had failed on).
    from experiments.narrative import _event_phrase
    from sim.vocab import Element
    from experiments.narrative import element_name

    kinds = set()
    for r in runs:
        for ev in r.events:
            named = [e for e in Element if e.label.lower() in ev.detail]
            if not named or ev.kind in ("provider_adapts",):
                continue
            kinds.add(ev.kind if ev.kind != "no_traction" else "no_traction (systemic)")
            for text in (narrative.event_text(ev), _event_phrase(ev)):
                assert any(element_name(e) in text for e in named), (ev, text)
    # the runs reach the kinds whose record names an element, the defect's own included
    assert {"taken_up", "proposal_blocked", "no_traction (systemic)"} <= kinds, kinds


def test_every_provider_activity_label_has_text():
    """Every label the provider can write: each activity, each element on top, any phase and year."""
    from sim.vocab import Phase

    seen = set()
    for top in Element:
        row = tuple(1.0 if e == top else 0.1 for e in Element)
        program = ProviderProgram(years=5, emphasis=(row,) * len(Phase))
        for activity in Activity:
            for phase in Phase:
                for year in (1, 2, 5):
                    text = narrative.trigger_text(activity_label(program, activity, 12 * (year - 1), phase))
                    assert activity.label in text and narrative.element_name(top) in text and f"year {year}" in text
                    seen.add((activity, top))
    assert len(seen) == len(Activity) * len(Element)


def test_launch_trigger_has_text(scenario):
    model = CoherenceModel(scenario.conditions()[0], scenario.parameters_(), rng=1)
    assert narrative.trigger_code(model.provider.last_activity) == "launch"


def _sim_sources():
    return {p: ast.parse(p.read_text(encoding="utf-8")) for p in sorted(SIM.glob("*.py"))}


def test_every_event_kind_logged_in_sim_has_text():
    """Scan sim/ for log_event(month, district, KIND, detail) calls: each KIND needs text."""
    kinds = set()
    for tree in _sim_sources().values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "log_event":
                arg = node.args[2]
                assert isinstance(arg, ast.Constant), "event kinds must be literal strings"
                kinds.add(arg.value)
    assert {"leader_turnover", "prek_eliminated", "programme_ended"} <= kinds
    assert kinds <= set(narrative.EVENT_TEXT), kinds - set(narrative.EVENT_TEXT)


def _constants(node) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_every_literal_trigger_in_sim_has_text():
    """Every phrase sim/ can pass as a trigger has text: constants assigned to ``trigger`` or
    ``last_activity``, passed as ``trigger=`` or as the trigger argument of ``enact``/``decide``
    (a variable is followed to its assignments in the same function); f-strings are checked with
    their fields filled in."""
    phrases, fstrings = set(), []
    for tree in _sim_sources().values():
        for fn in [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]:
            assigned: dict[str, list] = {}
            for node in ast.walk(fn):
                if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                    for t in getattr(node, "targets", None) or [node.target]:
                        name = t.attr if isinstance(t, ast.Attribute) else getattr(t, "id", None)
                        if name:
                            assigned.setdefault(name, []).append(node.value)
            values = list(assigned.get("trigger", [])) + list(assigned.get("last_activity", []))
            for node in ast.walk(fn):
                if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                    continue
                args = [k.value for k in node.keywords if k.arg == "trigger"]
                if node.func.attr in ("enact", "decide") and len(node.args) >= 4:
                    args.append(node.args[3])
                for a in args:
                    values += assigned.get(a.id, []) if isinstance(a, ast.Name) else [a]
            for v in values:
                if isinstance(v, ast.JoinedStr):
                    fstrings.append(ast.unparse(v))
                elif not (isinstance(v, ast.Attribute) and v.attr == "last_activity"):
                    phrases |= {s for s in _constants(v) if " " in s}
    assert {"curriculum adopted with another provider", "the district's own sustainability plan",
            "the initiative's launch"} <= phrases
    for p in phrases:
        narrative.trigger_text(p)  # raises UnknownCodeError if a phrase has no text
    # f-strings: the provider's activity label (month_plan) and the competing agenda
    assert any("agenda" in f for f in fstrings)
    for f in fstrings:
        if "agenda" in f:
            narrative.trigger_text("the fluency agenda of the Superintendent")


def test_unknown_codes_raise():
    with pytest.raises(UnknownCodeError, match="trigger"):
        narrative.trigger_text("a brand-new provider event")
    with pytest.raises(UnknownCodeError, match="not one of"):
        narrative.trigger_text("the webinar (pedagogy & materials emphasis, year 1)")
    with pytest.raises(UnknownCodeError, match="event kind"):
        narrative.event_text(EventRecord(3, "Avalon", "budget_cut", ""))
    bad = _hand_made()
    bad.changes = [ChangeRecord(1, "Cedarville", Element.PEDAGOGY, True, False, Content.SIGNATURE, True, True,
                                "Superintendent", "board_mandate", "curriculum adopted with another provider", 1)]
    with pytest.raises(UnknownCodeError, match="source"):
        timeline(bad)


def test_bad_district_names_the_allowed_values(runs):
    with pytest.raises(ValueError, match=r"district: 'Atlantis' is not one of: Avalon, Birchwood, Cedarville, Diamond"):
        timeline(runs[0], "Atlantis")
    with pytest.raises(TypeError, match="result"):
        event_log(object())


def test_case_roles_have_text(scenario):
    for name in CASE_DISTRICTS:
        d = scenario.districts[name]
        for l in (d.lead, *d.leaders.values()):
            assert l.role in narrative.ROLE_TEXT


def test_live_model_and_up_to_month(scenario):
    """The app narrates a live model: only months reached so far, the same text as the result."""
    model = CoherenceModel(scenario.conditions()[0], scenario.parameters_(), rng=5)
    for _ in range(20):
        model.step()
    lines = timeline(model, up_to_month=19)
    assert all(int(l.split()[1]) <= 19 for l in lines)
    assert sum(1 for e in timeline_entries(model) if e.kind == "change") == len(model.changes)
    assert isinstance(event_log(model), pd.DataFrame)
    assert timeline(model, up_to_month=-1) == []


def test_empty_run_has_an_empty_log():
    empty = SimpleNamespace(districts=("Avalon",), changes=[], link_log=[], events=[])
    df = event_log(empty)
    assert len(df) == 0 and "month_label" in df.columns
    assert narrate(empty) == "## Avalon\n\n- No changes yet.\n"


def test_month_caption_tells_decisions_and_their_delay(runs):
    """The month in one sentence: a change adopted this month says who adopted it; one that waited
    for the bureaucracy says when it was decided; an owner's own piece of a reshaped proposal is told
    with the proposal; every clause of every month of the runs reads without codes."""
    from sim.vocab import ChangeForm, Decision

    def change(**kw):
        base = dict(month=20, district="Cedarville", element=Element.TEACHER_LEARNING, transform=True, created=False,
                    content=Content.PRINCIPLES, consistent=True, prek_included=False, decided_by="Superintendent",
                    source=SOURCE_INITIATIVE, trigger="the initiative's launch", decided_month=20,
                    form=ChangeForm.REDESIGN, proposed_by="Associate Superintendent", decision=Decision.ADOPTED)
        return ChangeRecord(**{**base, **kw})

    r = SimpleNamespace(changes=[change()], link_log=[], events=[EventRecord(20, "", "provider_adapts",
                                                                             "the provider turns to school leaders, vision and sustainability")])
    assert narrative.month_caption(r, 20) == ("March 2022: Cedarville's Superintendent adopted the team's redesign of teacher "
                                              "learning (high-leverage practices); the provider turned to school leaders, "
                                              "vision and sustainability.")
    r.changes = [change(decided_month=15, decision=Decision.RESHAPED),
                 change(decided_month=15, decision=Decision.RESHAPED, source="owner_reshaped", content=Content.TRADITIONAL,
                        form=ChangeForm.ADD_ON, transform=False, consistent=False)]
    text = narrative.month_caption(r, 20, "Cedarville")
    assert "reshaped by the Superintendent in Oct 2021 with a piece of its own merged in, took effect" in text
    assert text.count("teacher learning") == 1  # the owner's piece is not told twice
    assert narrative.month_caption(r, 21) == ""
    for result in runs:
        for m in range(result.horizon_months):
            for kind, clause in narrative.month_clauses(result, m):
                assert clause and "_" not in clause, (kind, clause)
