"""The notebooks in notebooks/: stored without outputs, and each runs top to bottom without errors.

Execution uses nbclient + nbformat directly (Jupyter's own execution library, what nbconvert and
papermill run on): no pytest plugin and no extra notebook format. The small replicate counts are
injected the way papermill does it: a cell tagged ``injected-parameters`` right after the cell tagged
``parameters``. The kernel is "python3" started from this interpreter's environment (jupyter_client
maps the native kernel's ``python`` to ``sys.executable``), which the tests check.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
EXPECTED = (
    "01_four_districts.ipynb",
    "02_what_if_for_funders.ipynb",
    "03_sensitivity.ipynb",
    "04_teaching_developmental_change.ipynb",
)
# Small runs for the test: every notebook must still execute every cell (and draw its figures).
SMALL = {
    "01_four_districts.ipynb": {"REPLICATES": 8},
    "02_what_if_for_funders.ipynb": {"REPLICATES": 6},
    # a folder that never holds a study: the notebook must fall back to running a tiny one
    "03_sensitivity.ipynb": {"STUDY_DIR": "/nonexistent/coherence-sim/study"},
    "04_teaching_developmental_change.ipynb": {"REPLICATES": 4},
}
CELL_TIMEOUT = 240


def _notebooks() -> list[Path]:
    return sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def _parameters_index(nb) -> int:
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"expected exactly one cell tagged 'parameters', found {len(tagged)}"
    return tagged[0]


def _inject(nb, params: dict) -> None:
    """papermill-style: a cell after the parameters cell that overrides them."""
    i = _parameters_index(nb)
    src = "\n".join(f"{k} = {v!r}" for k, v in params.items())
    src += "\nimport sys as _sys\nprint('KERNEL_PREFIX=' + _sys.prefix)"
    cell = nbformat.v4.new_code_cell(src)
    cell.metadata["tags"] = ["injected-parameters"]
    cell.pop("id", None)
    nb.cells.insert(i + 1, cell)


def _stream_text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def test_the_four_notebooks_exist():
    names = [p.name for p in _notebooks()]
    for name in EXPECTED:
        assert name in names, f"notebooks/{name} is missing"


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path):
    """What git stores: no outputs, no execution counts (the working tree file, and the staged
    copy when the file is in git's index)."""
    texts = {"working tree": path.read_text(encoding="utf-8")}
    rel = path.relative_to(ROOT).as_posix()
    staged = subprocess.run(["git", "show", f":{rel}"], cwd=ROOT, capture_output=True, text=True)
    if staged.returncode == 0:
        texts["git index"] = staged.stdout
    for where, text in texts.items():
        nb = nbformat.reads(text, as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            assert cell.get("outputs") == [], f"{rel} ({where}): cell {i} has outputs; strip them"
            assert cell.get("execution_count") is None, f"{rel} ({where}): cell {i} has an execution count"
        assert "widgets" not in nb.metadata, f"{rel} ({where}): widget state is stored in the metadata"


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.name)
def test_notebook_has_a_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    cell = nb.cells[_parameters_index(nb)]
    assert cell.cell_type == "code"
    for key in SMALL.get(path.name, {}):
        assert f"{key} =" in cell.source, f"{path.name}: the parameters cell does not set {key}"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.name)
def test_notebook_executes_without_errors(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    _inject(nb, SMALL.get(path.name, {"REPLICATES": 4}))
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
        allow_errors=False,
    )
    t0 = time.perf_counter()
    client.execute()  # raises CellExecutionError naming the cell on the first error
    seconds = time.perf_counter() - t0
    print(f"{path.name}: executed in {seconds:.1f} s")

    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    # the kernel ran in this environment (the project's venv in CI), not some other Python
    injected = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert f"KERNEL_PREFIX={sys.prefix}" in _stream_text(injected)
    # every notebook makes its story visible: at least one figure
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images, f"{path.name} drew no figure"
    text = json.dumps([c.get("outputs", []) for c in nb.cells if c.cell_type == "code"])
    if path.name.startswith("02_"):
        assert "90%" in text  # what-ifs are reported as differences with intervals
        assert any(c.cell_type == "markdown" and c.source.lstrip().startswith("## Provider types") for c in nb.cells)
    if path.name.startswith("03_"):
        assert "tiny study" in text  # the fallback ran (STUDY_DIR does not exist)
        assert "capacity" in text  # the answer is stated
