"""The page ``solara run experiments.app.page`` serves (``coherence-sim app`` runs exactly that).

``Page`` is a Solara component, rendered once per browser session: each session builds its own
``CoherenceApp`` (nothing is built at import, so no model is shared between sessions). The views
re-render on Mesa's ``update_counter`` (``force_update`` after each step), as under Mesa's SolaraViz;
the page is not the ``SolaraViz`` component itself, because SolaraViz keeps the parameters it
collects to itself (a change could only apply on Reset, with nothing to say one is pending), its
``ModelController`` keeps playing when the model is replaced, and it lays the views in a draggable
grid of fixed-height cells (which clipped the element table).

``RunControls`` (Reset, play/pause, Step) owns the "playing" state with the page: changing a
setting stops playing and builds a new run with it at once (month 0), and the settings panel says
so. A playing loop steps only the run it started with, so a new run is never stepped by an old loop.
A setting the model refuses (a seed that is not a whole number) leaves the run as it was and shows
why.
"""

from __future__ import annotations

import time

import solara
from mesa.visualization.utils import force_update, update_counter
from .controls import (CAPACITY_KEYS, DEFAULT_SETTINGS, LEADERSHIP_KEYS, ALL, choice_label, choice_value, model_params,
                       scenario_question)
from .model import CoherenceApp
from .views import MainView

TITLE = "coherence-sim: how four districts changed their early-math infrastructure"

SPEEDS = {"slow: a month every 1.5 s": 1500, "medium: a month every 0.6 s": 600, "fast: a month every 0.2 s": 200}
DEFAULT_SPEED = "medium: a month every 0.6 s"


def _speed_label(ms: int) -> str:
    return next((label for label, v in SPEEDS.items() if v == ms), DEFAULT_SPEED)


@solara.component
def RunControls(model: solara.Reactive, settings: solara.Reactive, playing: solara.Reactive, interval_ms: solara.Reactive):
    """Reset (a new run with the current settings), play/pause, Step (one month)."""
    update_counter.get()  # re-render when a step ends the run
    running = model.value.running

    def step_once() -> None:
        m = model.value
        if m.running:
            m.step()
        if not m.running:
            playing.value = False
        force_update()

    def reset() -> None:
        playing.value = False
        model.value = CoherenceApp(**settings.value)

    def play_loop() -> None:
        m = model.value  # the run this loop plays: a new run (a setting changed) stops it
        while playing.value and model.value is m and m.running:
            time.sleep(interval_ms.value / 1000)
            if not playing.value or model.value is not m:
                break
            m.step()
            force_update()
        if model.value is m and not m.running:
            playing.value = False

    solara.lab.use_task(play_loop, dependencies=[playing.value, model.value], prefer_threaded=True)
    with solara.Row(justify="space-between"):
        solara.Button(label="Reset", color="primary", on_click=reset)
        solara.Button(label="❚❚" if playing.value else "▶", color="primary", disabled=not running,
                      on_click=lambda: playing.set(not playing.value))
        solara.Button(label="Step", color="primary", on_click=step_once, disabled=playing.value or not running)


@solara.component
def SettingsView(settings: dict, on_change, error: str):
    """The settings, in words; each change calls ``on_change(key, label)`` at once."""
    solara.HTML(tag="div", classes=["settings-note"], attributes={"id": "apply-note"}, unsafe_innerHTML=(
        "<b>Changes apply at once:</b> changing a setting starts a new run from July 2020 with it."))
    if error:
        solara.Error(error)

    def select(key: str, disabled: bool = False):
        spec = model_params[key]
        solara.Select(spec["label"], value=choice_label(key, settings[key]),
                      values=[choice_label(key, v) for v in spec["values"]],
                      on_value=lambda label, key=key: on_change(key, label), disabled=disabled)

    select("whatif")
    solara.HTML(tag="p", style="font-size: 12px; color: #555; margin: -12px 0 8px 0",
                unsafe_innerHTML=scenario_question(settings["whatif"]))
    select("district")
    one = settings["district"] != ALL
    if not one:
        solara.HTML(tag="p", style="font-size: 12px; color: #555; margin: -12px 0 4px 0",
                    unsafe_innerHTML="Choose one district to change its leadership or starting capacity.")
    for key in LEADERSHIP_KEYS:
        select(key, disabled=not one)
    with solara.Details("Starting capacity, element by element", expand=False):
        for key in CAPACITY_KEYS:
            select(key, disabled=not one)
    solara.InputText(model_params["seed"]["label"], value=settings["seed"],
                     on_value=lambda text: on_change("seed", text), continuous_update=False)


@solara.component
def Page():
    """The app: run controls and settings in the sidebar, the run's state in the main area."""
    first = solara.use_memo(lambda: CoherenceApp(**DEFAULT_SETTINGS), [])
    model = solara.use_reactive(first)
    settings = solara.use_reactive(dict(DEFAULT_SETTINGS))
    generation = solara.use_reactive(0)
    error = solara.use_reactive("")
    play_interval = solara.use_reactive(SPEEDS[DEFAULT_SPEED])
    playing = solara.use_reactive(False)

    def on_change(key: str, label: str) -> None:
        try:
            new = {**settings.value, key: choice_value(key, label)}
            run = CoherenceApp(**new)
        except ValueError as e:
            error.value = str(e)
            generation.value += 1  # redraw the settings as they were
            return
        playing.value = False
        error.value = ""
        settings.value = new
        model.value = run
        generation.value += 1

    with solara.AppBar():
        solara.AppBarTitle(TITLE)
    with solara.Sidebar():
        with solara.Card("Run month by month", margin=0):
            RunControls(model, settings, playing, play_interval)
            solara.Select("Playing speed (▶)", value=_speed_label(play_interval.value), values=list(SPEEDS),
                          on_value=lambda label: play_interval.set(SPEEDS[label]))
        with solara.Card("Settings", margin=0, style={"margin-top": "12px"}):
            SettingsView(settings.value, on_change, error.value).key(f"settings-{generation.value}")
    MainView(model.value)


def make_page(model: CoherenceApp | None = None):
    """The page's main area for ``model`` (default: a new run of the four-district case) with the
    run controls in the sidebar, for rendering outside ``solara run`` (benchmarks/bench_app.py).
    Settings are not shown: ``model`` is given."""
    model = model if model is not None else CoherenceApp()

    @solara.component
    def Fixed():
        reactive = solara.use_reactive(model)
        settings = solara.use_reactive(dict(model.settings))
        playing = solara.use_reactive(False)
        interval = solara.use_reactive(SPEEDS[DEFAULT_SPEED])
        with solara.Sidebar():
            RunControls(reactive, settings, playing, interval)
        MainView(reactive.value)

    return Fixed()
