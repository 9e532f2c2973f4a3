"""The coherence-sim app: a page for a class to follow the model month by month (Mesa + Solara).

In the style of Mesa's example apps, one job a module: :mod:`.controls` (the settings, how they read
in words, and how they become the model's conditions), :mod:`.model` (``CoherenceApp``: the model
with a DataCollector), :mod:`.views` (what the page draws, and the words for it) and :mod:`.page`
(the page ``solara run`` serves, one model per browser session; importing this package builds no
page and no model). Part of the shell: it may use every layer.

Run it with ``coherence-sim app`` (binds to 127.0.0.1:8765) or ``solara run experiments.app.page``.

In the sidebar: the run controls (Reset, play/pause, Step) and the settings -- a scenario (the
four-district case, or one of the named what-ifs of ``experiments/data/whatifs.toml``), a district
(one of the four, or all), the chosen district's leadership (the lead's positional authority and
buy-in, a competing authority holder), its starting capacity per element, and the seed. **A change
applies at once**: it starts a new run from month 0 with the new setting. The main area shows

- **this month in words** (``caption_text``: "March 2022: Diamond's team took up student
  assessments; the Superintendent blocked Cedarville's redesign of teacher learning; the provider
  turned to ..."), the month reached and the provider's current focus;
- **a district's six elements** (one district at a time; buttons choose which): who owns each
  element (and so decides about the team's proposals), the improvement team's attention (what it is
  working on and how far its design is, its readiness for the others, what waits for a
  prerequisite), what runs in the element now (routine and practices), the changes so far as the
  report codes them, and the team's proposals blocked, reshaped or escalated; above the table, the
  team's lead, understanding and classrooms; below it, a legend;
- **the four dimensions over the months** (how many district-elements changed, transformed, changed
  consistently, aligned, included pre-K);
- **the district's story so far**: the narrative timeline (experiments/narrative.py), newest first.

The model is sim's ``CoherenceModel``, unchanged. ``CoherenceApp`` only builds its conditions from a
scenario with the experiments layer (``default_scenario``, the what-if library,
``Scenario.conditions``) and collects the four dimensions each month with a Mesa DataCollector.
"""

from .controls import (ALL, AS_IN_SCENARIO, DEFAULT_SCENARIO, DEFAULT_SETTINGS, build_conditions, choice_label, choice_value,
                       model_params, scenario_choices, scenario_title)
from .model import DIMENSIONS, CoherenceApp, dimension_counts
from .views import (CaptionView, DimensionsView, DistrictView, MainView, StoryView, caption_text, dimensions_svg,
                    element_states, elements_html, legend_html, status_text, story_html)


def make_page(model: CoherenceApp | None = None):
    """The page's main area and run controls for ``model`` (see :func:`.page.make_page`)."""
    from .page import make_page as _make_page

    return _make_page(model)


__all__ = [
    "ALL",
    "AS_IN_SCENARIO",
    "DEFAULT_SCENARIO",
    "DEFAULT_SETTINGS",
    "DIMENSIONS",
    "build_conditions",
    "caption_text",
    "CaptionView",
    "choice_label",
    "choice_value",
    "CoherenceApp",
    "dimension_counts",
    "dimensions_svg",
    "DimensionsView",
    "DistrictView",
    "element_states",
    "elements_html",
    "legend_html",
    "MainView",
    "make_page",
    "model_params",
    "scenario_choices",
    "scenario_title",
    "status_text",
    "story_html",
    "StoryView",
]
