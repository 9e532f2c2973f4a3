"""The code snippets of docs/api.md and README.md, so that tests run exactly what the documentation shows."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "api.md"
README = ROOT / "README.md"
_BLOCK = re.compile(r"<!-- snippet: ([\w-]+) -->\s*```python\n(.*?)```", re.S)


def snippet(name: str, doc: Path = DOC) -> str:
    """The code of the block marked ``<!-- snippet: NAME -->`` in ``doc`` (default docs/api.md)."""
    found = dict(_BLOCK.findall(doc.read_text(encoding="utf-8")))
    if name not in found:
        raise KeyError(f"{doc.name} has no snippet {name!r}; it has {', '.join(found)}")
    return found[name]


def code_lines(code: str) -> list[str]:
    """The lines of user code (blank lines and comments not counted)."""
    return [l for l in code.splitlines() if l.strip() and not l.strip().startswith("#")]


def run_snippet(name: str, doc: Path = DOC, **names) -> dict:
    """Execute a snippet in a fresh namespace (with ``names`` predefined) and return the namespace."""
    ns: dict = dict(names)
    exec(compile(snippet(name, doc), f"{doc.name}:{name}", "exec"), ns)  # noqa: S102 - our own documentation
    return ns
