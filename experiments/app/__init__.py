"""The coherence-sim app: a Mesa SolaraViz page to run the model month by month.

In the style of Mesa's example apps, one job a module: :mod:`.controls` (the choices and how they
become the model's conditions), :mod:`.model` (``CoherenceApp``: the model with a DataCollector),
:mod:`.views` (the elements, the four dimensions and the event log, drawn) and :mod:`.page` (the
SolaraViz page ``solara run`` serves; importing this package builds no page). Part of the shell: it
may use every layer.

Run it with ``coherence-sim app`` (binds to 127.0.0.1:8765) or ``solara run experiments.app.page``.

Choose a scenario (the four-district case, or one of the named what-ifs of
``experiments/data/whatifs.toml``) and a district (one of the four, or all), adjust the chosen
district's leadership (the lead's positional authority and buy-in, a competing authority holder)
and starting capacity per element, press *Reset* to build the model with those settings, then
*Step* or play month by month. The page shows

- the six elements of each district as a network (state, depth, pre-K inclusion; links between
  elements) and as a table;
- the four dimensions of change over the months (share of the district-elements changed,
  transformed, consistent with the provider's vision, newly aligned, fostering continuity);
- the event log: the narrative timeline (experiments/narrative.py) up to the current month.

The model is sim's ``CoherenceModel``, unchanged. ``CoherenceApp`` only builds its conditions
from a scenario with the experiments layer (``default_scenario``, the what-if library,
``Scenario.conditions``) and collects the four dimensions each month with a Mesa DataCollector.
"""

from .controls import ALL, AS_IN_SCENARIO, DEFAULT_SCENARIO, build_conditions, model_params, scenario_choices
from .model import DIMENSIONS, CoherenceApp, dimension_shares
from .views import DimensionsView, ElementsView, EventLogView, dimensions_svg, element_states, elements_html, network_svg, status_text


def make_page(model: CoherenceApp | None = None):
    """The SolaraViz page for ``model`` (default: the four-district case); see :mod:`.page`."""
    from .page import make_page as _make_page

    return _make_page(model)


__all__ = [
    "ALL",
    "AS_IN_SCENARIO",
    "DEFAULT_SCENARIO",
    "DIMENSIONS",
    "build_conditions",
    "CoherenceApp",
    "dimension_shares",
    "dimensions_svg",
    "DimensionsView",
    "element_states",
    "elements_html",
    "make_page",
    "ElementsView",
    "EventLogView",
    "model_params",
    "network_svg",
    "scenario_choices",
    "status_text",
]
