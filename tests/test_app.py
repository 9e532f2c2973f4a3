"""The app's model, words and page, without a browser (the browser test is tests/test_app_browser.py)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from experiments.app import (ALL, CoherenceApp, DEFAULT_SETTINGS, build_conditions, caption_text, choice_label,
                             choice_value, dimensions_svg, element_states, elements_html, model_params, scenario_choices)
from experiments.app.views import CAPTION_CLAUSES
from experiments.narrative import _event_phrase, long_month, month_caption, month_clauses
from experiments.cli import build_parser
from sim.model import CoherenceModel
from sim.records import SOURCE_INITIATIVE, EventRecord
from sim.results import RunResult
from sim.vocab import Decision, Element


def _run(model):
    while model.running:
        model.step()
    return RunResult.from_model(model, seed=7)


def _step(model, months):
    for _ in range(months):
        model.step()
    return model


@pytest.mark.parametrize("district", [ALL, "Diamond"])
def test_app_runs_the_unchanged_model(district):
    """The app adds a DataCollector and nothing else: the same conditions and seed give the same run."""
    app = CoherenceApp(district=district, seed=7)
    conds, params, _ = build_conditions(district=district, seed=7)
    plain = CoherenceModel(conds, params, rng=7)
    a = _run(app)
    plain.run()
    b = RunResult.from_model(plain, seed=7)
    assert app.steps == app.horizon
    assert a.changes == b.changes and len(a.changes) > 0
    np.testing.assert_array_equal(a.substantiveness, b.substantiveness)


def test_dimensions_chart_has_one_point_per_collected_month():
    app = _step(CoherenceApp(seed=3), 10)
    svg = dimensions_svg(app)
    root = ET.fromstring(svg)  # well-formed SVG
    lines = [e for e in root.iter("{http://www.w3.org/2000/svg}polyline")]
    assert [e.get("data-name") for e in lines] == ["Changed", "Transformed", "Consistent", "Aligned", "Continuity"]
    for e in lines:
        pts = [tuple(map(float, p.split(","))) for p in e.get("points").split()]
        assert len(pts) == 11  # the start and ten months
        xs = [p[0] for p in pts]
        assert xs == sorted(xs)
    df = app.datacollector.get_model_vars_dataframe()
    total = 6 * len(app.district_list)
    assert ((df >= 0) & (df <= total)).all().all()  # counts of district-elements
    assert df["Changed"].is_monotonic_increasing  # an element once changed stays changed
    assert (df.drop(columns="Changed").le(df["Changed"], axis=0)).all().all()  # every code is of a changed element
    assert df["Changed"].iloc[-1] == int(((app.n_add_on + app.n_transform) > 0).sum())


def test_elements_table_shows_every_element_of_every_district():
    app = CoherenceApp(seed=3)
    html = elements_html(app)
    assert len(re.findall(r'<td class="state"', html)) == 6 * len(app.district_list)
    assert html.count('id="legend"') == 1
    one = elements_html(app, "Cedarville")
    assert len(re.findall(r"<tr data-element=", one)) == 6 and 'id="elements-Cedarville"' in one
    assert 'id="elements-Avalon"' not in one


def test_the_table_shows_owners_and_the_teams_attention():
    """Owners as the case file gives them (Diamond's fluency leader heads curriculum and instruction);
    the elements the team works on are the team's projects, with the share designed; nothing in
    codes: every row names its element in words."""
    app = _step(CoherenceApp(seed=5), 14)
    diamond = next(d for d in app.district_list if d.name == "Diamond")
    states = element_states(app, diamond.index)
    owners = {s["element"]: s["owner"] for s in states}
    assert owners[Element.PEDAGOGY] == owners[Element.ASSESSMENT] == owners[Element.TEACHER_LEARNING] \
        == "District leader with a fluency agenda"
    assert owners[Element.FRAMEWORK] == "Superintendent"
    for dist in app.district_list:
        states = element_states(app, dist.index)
        working = {s["element"] for s in states if s["attention"] == "working"}
        assert working == {Element(e) for e in dist.team.projects if not dist.pending[e]}
        html = elements_html(app, dist.name)
        for s in states:
            assert f"<th scope=\"row\">{s['element'].label.replace('&', '&amp;')}</th>" in html
            if s["attention"] == "working":
                assert f"{100 * s['progress']:.0f}% designed" in html
    assert any(dist.team.projects for dist in app.district_list)  # the check above saw a project


def test_blocked_reshaped_and_escalated_proposals_are_counted_per_element():
    """The table's proposal counts are the model's: blocked from ``proposals_blocked``, reshaped
    from the changes a reshaping owner enacted, escalated from the event log."""
    seen = {"blocked": 0, "reshaped": 0, "escalated": 0}
    runs = [{"district": "Diamond", "seed": seed, **auth} for seed in range(3, 11)
            for auth in ({}, {"lead_authority": "with authority"})]
    for kw in runs:  # until the runs have shown each kind (at most 16 histories)
        if all(v > 0 for v in seen.values()):
            break
        app = _run_app(CoherenceApp(**kw))
        d = 0
        states = element_states(app, d)
        for s in states:
            e = s["element"]
            assert s["blocked"] == app.proposals_blocked[d, e]
            assert s["reshaped"] == sum(1 for c in app.changes if c.element == e and c.decision == Decision.RESHAPED
                                        and c.source == SOURCE_INITIATIVE)
            assert s["escalated"] == sum(1 for r in app.event_log if r.kind == "escalated"
                                         and r.detail.endswith(e.label.lower()))
            for k in seen:
                seen[k] += s[k]
        html = elements_html(app)
        for s in states:
            if s["blocked"]:
                assert f"{s['blocked']} blocked" in html
    assert all(v > 0 for v in seen.values()), seen  # the runs show each kind


def _run_app(app):
    while app.running:
        app.step()
    return app


def test_caption_tells_this_month_in_words():
    told_any = {"taken_up": False, "proposal_blocked": False, "provider_adapts": False, "change": False}
    for seed in range(1, 7):  # until the histories have told each kind (a blocked proposal is not in every one)
        if all(told_any.values()):
            break
        app = CoherenceApp(seed=seed)
        assert caption_text(app).startswith("Before the start (July 2020)")
        while app.running:
            app.step()
            m = app.month
            text = caption_text(app)
            assert text.startswith(long_month(m) + ":") and text.endswith(".")
            assert "_" not in text  # no codes
            clauses = month_clauses(app, m)
            for kind, _ in clauses:
                if kind in told_any:
                    told_any[kind] = True
            if len(clauses) <= CAPTION_CLAUSES:
                for _, clause in clauses:
                    assert clause in text or clause[:1].upper() + clause[1:] in text  # the first one capitalised
            else:
                assert f"and {len(clauses) - CAPTION_CLAUSES} more" in text
            # the month's own events, and only those
            assert [k for k, _ in clauses].count("taken_up") == sum(1 for r in app.event_log if r.month == m and r.kind == "taken_up")
        # the same sentence from the run's result, one district's share of it
        result = RunResult.from_model(app, seed=seed)
        for m in range(app.horizon):
            assert month_caption(result, m) == month_caption(app, m)
            diamond = month_caption(result, m, "Diamond")
            assert all(name not in diamond for name in ("Avalon", "Birchwood", "Cedarville"))
    assert all(told_any.values()), told_any


def test_caption_phrases_for_the_model_events():
    """Example sentences of the issue's kind, from the model's own event details."""
    def rec(kind, detail, district="Cedarville"):
        return EventRecord(20, district, kind, detail)

    assert _event_phrase(rec("taken_up", "the team takes up student assessments", "Diamond")) == \
        "Diamond's team took up student assessments"
    assert _event_phrase(rec("proposal_blocked", "Associate Superintendent blocked the team's redesign of the core of "
                                                 "teacher learning")) == \
        "the Associate Superintendent blocked Cedarville's redesign of teacher learning"
    assert _event_phrase(rec("provider_adapts", "the provider turns to school leaders, vision and sustainability", "")) == \
        "the provider turned to school leaders, vision and sustainability"
    assert _event_phrase(rec("escalated", "the superintendent overruled District leader with a fluency agenda on "
                                          "pedagogy & materials", "Diamond")).startswith(
        "Diamond's lead took pedagogy & materials to the superintendent, who overruled the district leader")
    with pytest.raises(ValueError, match="event kind"):
        _event_phrase(rec("no_such_kind", "x"))


def test_settings_read_in_words_and_translate_back():
    for key, spec in model_params.items():
        if spec["type"] != "Select":
            continue
        labels = [choice_label(key, v) for v in spec["values"]]
        assert len(set(labels)) == len(labels), key
        assert [choice_value(key, lab) for lab in labels] == list(spec["values"])
        assert not any("_" in lab for lab in labels), (key, labels)  # words, not codes
    assert choice_label("whatif", "diamond_keeps_prek") == "Diamond keeps pre-K"
    assert choice_label("district", ALL) == "All four districts"
    assert set(DEFAULT_SETTINGS) == set(model_params) and len(scenario_choices()) > 1
    with pytest.raises(ValueError, match="district"):
        choice_value("district", "Atlantis")


@pytest.mark.parametrize(
    "kwargs, field",
    [({"district": "Atlantis"}, "district"), ({"lead_authority": "maybe"}, "lead_authority"),
     ({"seed": "x"}, "seed"), ({"seed": -1}, "seed"), ({"whatif": "no_such"}, "scenario"),
     ({"capacity_framework": "huge"}, "capacity_framework")],
)
def test_bad_control_values_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        CoherenceApp(**kwargs)


def test_app_binds_to_this_machine_by_default():
    args = build_parser().parse_args(["app"])
    assert args.host == "127.0.0.1"


def test_app_command_contacts_no_outside_host(monkeypatch):
    """Solara checks its version against the package index and sends telemetry unless told not to:
    the command tells it not to (and keeps the assets local, and shows no banner over the page).
    The server itself is exercised in tests/test_app_server.py."""
    from experiments.cli import commands

    monkeypatch.delenv("SOLARA_TELEMETRY_MIXPANEL_ENABLE", raising=False)
    cmd, env = commands.app_command("127.0.0.1", 8799)
    assert "--no-check-version" in cmd and "experiments.app.page" in cmd
    assert cmd[cmd.index("--port") + 1] == "8799" and cmd[cmd.index("--host") + 1] == "127.0.0.1"
    assert env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] == "False"
    assert env["SOLARA_ASSETS_PROXY"] == "true"
    assert env["SOLARA_THEME_SHOW_BANNER"] == "False"


def _render_page():
    import solara

    from experiments.app.page import Page

    @solara.component
    def Wrapped():
        with solara.AppLayout():  # as under `solara run`: the layout holds the sidebar
            Page()

    return solara.render(Wrapped(), handle_error=False)


def _month_html(rc) -> str:
    import solara.widgets

    return next(w.unsafe_innerHTML for w in rc.find(solara.widgets.HTML).widgets
                if 'id="app-month"' in (w.unsafe_innerHTML or ""))


def test_page_applies_a_setting_at_once_and_each_render_has_its_own_model():
    """Server side: choosing a district starts a new run with it (no Reset); a second page (a second
    session) starts at month 0 whatever the first did; importing the page builds no model."""
    import ipyvuetify as v

    import experiments.app.page as page

    assert not any(isinstance(x, CoherenceModel) for x in vars(page).values())
    _, first = _render_page()
    _, second = _render_page()
    try:
        first.find(v.Btn, children=["Step"]).widget.click()
        first.find(v.Btn, children=["Step"]).widget.click()
        assert "Month 1 (Aug 2020)" in _month_html(first)
        assert "Start: before month 0" in _month_html(second)
        first.find(v.Select, label="District").widget.v_model = "Diamond"
        assert "Start: before month 0" in _month_html(first) and "district Diamond" in _month_html(first)
        assert "all four districts" in _month_html(second)
        # a refused setting: the message shows, the run stays
        second.find(v.Btn, children=["Step"]).widget.click()
        seed = second.find(v.TextField, label="Random seed (a whole number)").widget
        seed.v_model = "x"
        seed.fire_event("keyup.enter", None)  # the text applies on Enter (or leaving the field)
        assert "Month 0 (Jul 2020)" in _month_html(second)
        alerts = second.find(v.Alert).widgets
        assert any("seed: 'x' is not a whole number" in str(a.children) for a in alerts), alerts
    finally:
        first.close()
        second.close()


def test_changing_a_setting_while_playing_stops_playing_and_starts_the_new_run():
    """Mesa's ModelController kept stepping whatever model the page held when a setting replaced it;
    the app's controls stop playing, and a playing loop never steps a run it did not start."""
    import time

    import ipyvuetify as v

    _, rc = _render_page()
    try:
        rc.find(v.Select, label="Playing speed (▶)").widget.v_model = "fast: a month every 0.2 s"
        rc.find(v.Btn, children=["▶"]).widget.click()
        deadline = time.monotonic() + 20
        while "Month 1 (" not in _month_html(rc) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "Month 1 (" in _month_html(rc)  # it plays
        assert rc.find(v.Btn, children=["Step"]).widget.disabled
        rc.find(v.Select, label="District").widget.v_model = "Birchwood"
        time.sleep(1.0)  # five months at this speed, had it kept playing
        assert "Start: before month 0" in _month_html(rc) and "district Birchwood" in _month_html(rc)
        assert rc.find(v.Btn, children=["▶"]).widget.disabled is False
        assert rc.find(v.Btn, children=["Step"]).widget.disabled is False
    finally:
        rc.close()
