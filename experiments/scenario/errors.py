"""One way to say what is wrong with an input: scenario files, ``--set`` overrides, sweep and
sensitivity specs all refuse bad input with a :class:`ScenarioError` (or a subclass) whose message
is one paragraph naming the dotted key, the value and what is allowed.

:func:`format_validation_errors` turns pydantic's errors into that paragraph for any of the input
models (a scenario, a sweep spec, a sensitivity spec): unknown keys list the allowed ones (walking
the model along the error's location, through dict entries and discriminated unions), and the
value is shown briefly (:func:`show_value`).
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel, ValidationError

#: Most errors named in one message (the rest are counted).
MAX_ERRORS_SHOWN = 10
_KEY_SHOWN = 80


class ScenarioError(ValueError):
    """A scenario, file or override that cannot be used; the message names the key."""


def short_key(key: str) -> str:
    """A key (or a dotted path) as shown in an error message: at most ~80 characters."""
    key = str(key)
    if len(key) <= _KEY_SHOWN:
        return key
    return f"{key[: _KEY_SHOWN - 3]}... ({len(key)} characters)"


def show_value(value: Any) -> str:
    """A value as shown in an error message: its repr, at most 80 characters (tables and lists by
    their type)."""
    if isinstance(value, (dict, list)):
        return type(value).__name__
    try:
        shown = repr(value)
    except ValueError:  # an int of more than sys.get_int_max_str_digits() digits
        shown = f"<{type(value).__name__} too large to show>"
    return shown if len(shown) <= 80 else shown[:77] + "..."


def one_line(text: str, limit: int = 400) -> str:
    """A parser's message as one short line (PyYAML's span several lines with a snippet)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_validation_errors(exc: ValidationError, model: type[BaseModel], what: str, *, prefixed: bool = True) -> str:
    """pydantic's errors of validating data as ``model`` as one paragraph:
    ``"<what>: key: problem; key: problem; ... and N more"`` (without ``"<what>: "`` unless
    ``prefixed``; an error at the top level is named ``what``)."""
    errors = exc.errors(include_url=False)
    parts = []
    for err in errors[:MAX_ERRORS_SHOWN]:
        loc, kind, value = list(err["loc"]), err["type"], err.get("input")
        where = ".".join(short_key(str(p)) for p in _shown_location(model, loc)) or what
        if kind == "extra_forbidden":
            allowed = list(getattr(_model_at(model, loc[:-1]), "model_fields", {}) or {})
            parts.append(f"{where}: unknown key" + (f"; allowed: {', '.join(allowed)}" if allowed else ""))
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            tags = ", ".join(_union_tags(_model_at(model, loc)) or ())
            shown = value.get("kind") if isinstance(value, dict) else value
            parts.append(f"{where}.kind: " + (f"{show_value(shown)} is not allowed" if kind == "union_tag_invalid" else "missing")
                         + f"; allowed: {tags}")
        elif kind == "missing":
            parts.append(f"{where}: missing")
        elif isinstance(value, dict):  # a check across a table's keys: the message names them
            parts.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
        else:
            parts.append(f"{where}: {show_value(value)} is not allowed: {err['msg'].removeprefix('Value error, ')}")
    if len(errors) > MAX_ERRORS_SHOWN:
        parts.append(f"... and {len(errors) - MAX_ERRORS_SHOWN} more")
    return (f"{what}: " if prefixed else "") + "; ".join(parts)


class _Union:
    """A discriminated union of models at some location: tag value -> model."""

    def __init__(self, members: dict[str, type[BaseModel]]) -> None:
        self.members = members


def _union_tags(node: Any) -> list[str] | None:
    return list(node.members) if isinstance(node, _Union) else None


def _shown_location(model: Any, loc: list) -> list:
    """The location without a discriminated union's tags (they are values of ``kind``, not keys)."""
    shown, node = [], model
    for part in loc:
        if isinstance(node, _Union) and part in node.members:
            node = node.members[part]
            continue
        shown.append(part)
        node = _step(node, part)
    return shown


def _model_at(model: Any, loc: list) -> Any:
    node = model
    for part in loc:
        if isinstance(node, _Union):
            node = node.members.get(part)
            continue
        node = _step(node, part)
    return node


def _step(node: Any, part: Any) -> Any:
    """The model (or union) one key below ``node``; a dict entry keeps the dict's value model."""
    fields = getattr(node, "model_fields", None)
    if not fields or isinstance(part, int):
        return node
    if part not in fields:
        return node  # a dict key (a district, leader or factor name): the value model is the dict's
    info = fields[part]
    models = _models_in(info.annotation)
    if info.discriminator and len(models) > 1:
        tag = info.discriminator
        return _Union({typing.get_args(m.model_fields[tag].annotation)[0]: m for m in models})
    return models[0] if models else None


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds (``X``, ``X | None``, ``dict[str, X]``, ``A | B``...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += [m for m in _models_in(arg) if m not in found]
    return found


__all__ = ["MAX_ERRORS_SHOWN", "ScenarioError", "format_validation_errors", "one_line", "short_key", "show_value"]
