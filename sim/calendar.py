"""The monthly calendar of the initiative and the provider's activity schedule.

Model time ``t`` is measured in months from July 2020. Month ``m`` spans ``[m, m+1)``; the report's
school years run July to June (Appendix A, lines 1541-1542: Year 1 = Jan-Jun 2021 of the study,
Year 2 = Jul 2021-Jun 2022, Year 3 = Jul 2022-Jun 2023), so year ``y`` (1-based) is
``m // 12 + 1`` and the initiative's three years (Fall 2020 - Spring 2023, lines 14-15, 148-155) are
months 0-35.

Within a month, events are ordered by their offset: shocks at ``m + 0.1``, enactment of delayed
decisions at ``m + 0.5``, leader turnover at ``m + 0.75``, and the month's step at ``m + 1``
(Mesa's default step, which fires at integer times; the provider acts inside it).
"""

from __future__ import annotations

START_YEAR = 2020
START_MONTH = 7  # July

SHOCK_OFFSET = 0.1
ENACT_OFFSET = 0.5
TURNOVER_OFFSET = 0.75

_MONTH_NAMES = ("Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "Jan", "Feb", "Mar", "Apr", "May", "Jun")


def school_year(month: int) -> int:
    """1-based school year (July-June) of model month ``month``."""
    return month // 12 + 1


def month_of_year(month: int) -> int:
    """0 = July ... 11 = June."""
    return month % 12


def month_label(month: int) -> str:
    """Calendar label of a model month, e.g. ``month_label(3) == 'Oct 2020'``."""
    moy = month_of_year(month)
    year = START_YEAR + (month + START_MONTH - 1) // 12
    return f"{_MONTH_NAMES[moy]} {year}"


def month_of_time(time: float) -> int:
    """The model month an event time falls in."""
    return int(time)
