"""The page ``solara run experiments.app.page`` serves (``coherence-sim app`` runs exactly that)."""

from __future__ import annotations

from mesa.visualization import SolaraViz
from .controls import model_params
from .model import CoherenceApp
from .views import DimensionsView, ElementsView, EventLogView


def make_page(model: CoherenceApp | None = None):
    """The SolaraViz page for ``model`` (default: the four-district case)."""
    model = model if model is not None else CoherenceApp()
    return SolaraViz(
        model,
        components=[(ElementsView, 0), (DimensionsView, 0), (EventLogView, 0)],
        model_params=model_params,
        name="coherence-sim: early-math instructional infrastructure",
        play_interval=300,
    )


model = CoherenceApp()
page = make_page(model)
page  # noqa: B018  (solara run serves ``page``)
