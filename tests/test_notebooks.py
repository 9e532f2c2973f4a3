"""The notebooks in notebooks/: stored without outputs, and each runs top to bottom without errors,
writing only inside its output folder (``OUT_DIR``, a parameter) and contacting no outside host.

Execution uses nbclient + nbformat directly (Jupyter's own execution library, what nbconvert and
papermill run on): no pytest plugin and no extra notebook format. The small replicate counts are
injected the way papermill does it: a cell tagged ``injected-parameters`` right after the cell tagged
``parameters``; the same cell points ``OUT_DIR`` at the test's folder and refuses (and records) any
connection to a host other than this machine, which the last cell reports. The kernel is "python3" started from this interpreter's environment (jupyter_client
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
    "02_what_if_for_funders.ipynb": {"REPLICATES": 6, "DISCOVERY_POINTS": 40, "DISCOVERY_REPLICATES": 3,
                                     "DISCOVERY_BOOTSTRAP": 5},
    # a folder that never holds a study: the notebook must fall back to running a tiny one
    "03_sensitivity.ipynb": {"STUDY_DIR": "/nonexistent/coherence-sim/study", "BOOTSTRAP": 5},
    "04_teaching_developmental_change.ipynb": {"REPLICATES": 4},
}
CELL_TIMEOUT = 240
# What each notebook leaves in its output folder (beside its figures).
WRITES = {
    "01_four_districts.ipynb": ("tables_observed_vs_simulated.png", "decisions.csv"),
    "02_what_if_for_funders.ipynb": ("provider_types.png", "discovery/answer.txt", "discovery/box.png", "sweep-*/manifest.json"),
    "03_sensitivity.ipynb": ("discovery/answer.txt", "discovery/peeling_trajectory.png", "tiny-study-*/study.json"),
    "04_teaching_developmental_change.ipynb": ("attention.png", "story.csv"),
}

# Refuse (and record) connections to any host but this one, in the kernel.
NETWORK_GUARD = """
import socket as _socket
_OUTSIDE_HOSTS = []
_LOCAL = ("127.0.0.1", "::1", "localhost", "0.0.0.0")


def _guarded(real):
    def connect(self, address, *args):
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and host not in _LOCAL:
            _OUTSIDE_HOSTS.append(str(host))
            raise OSError(f"the notebook tried to contact {host}: only this machine is allowed")
        return real(self, address, *args)
    return connect


_socket.socket.connect = _guarded(_socket.socket.connect)
_socket.socket.connect_ex = _guarded(_socket.socket.connect_ex)
"""


def _notebooks() -> list[Path]:
    return sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def _parameters_index(nb) -> int:
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"expected exactly one cell tagged 'parameters', found {len(tagged)}"
    return tagged[0]


def _inject(nb, params: dict) -> None:
    """papermill-style: a cell after the parameters cell that overrides them (and guards the
    network); a last cell that reports any host the notebook tried to contact."""
    i = _parameters_index(nb)
    src = "\n".join(f"{k} = {v!r}" for k, v in params.items())
    src += "\nimport sys as _sys\nprint('KERNEL_PREFIX=' + _sys.prefix)\n" + NETWORK_GUARD
    cell = nbformat.v4.new_code_cell(src)
    cell.metadata["tags"] = ["injected-parameters"]
    cell.pop("id", None)
    nb.cells.insert(i + 1, cell)
    last = nbformat.v4.new_code_cell("print('OUTSIDE_HOSTS=' + repr(sorted(set(_OUTSIDE_HOSTS))))")
    last.metadata["tags"] = ["injected-report"]
    last.pop("id", None)
    nb.cells.append(last)


def _repo_files() -> str:
    """What git sees in the working tree (changed and untracked files), to check nothing was added."""
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout


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


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.name)
def test_notebook_writes_only_to_its_output_folder(path):
    """Every notebook has an ``OUT_DIR`` parameter and no temporary folders of its own (the tests
    below check what it writes where)."""
    nb = nbformat.read(path, as_version=4)
    assert "OUT_DIR =" in nb.cells[_parameters_index(nb)].source, f"{path.name}: no OUT_DIR in the parameters cell"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "tempfile" not in code and "mkdtemp" not in code, f"{path.name} writes to a temporary folder"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.name)
def test_notebook_executes_without_errors(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    out_dir = tmp_path / "out"
    _inject(nb, {**SMALL.get(path.name, {"REPLICATES": 4}), "OUT_DIR": str(out_dir)})
    before = _repo_files()
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
    # nothing leaves the machine, nothing is written outside the output folder
    assert "OUTSIDE_HOSTS=[]" in _stream_text(nb.cells[-1]), _stream_text(nb.cells[-1])
    assert _repo_files() == before, "the notebook changed or added files in the repository"
    for pattern in WRITES.get(path.name, ()):
        assert any(out_dir.glob(pattern)), f"{path.name} did not write {pattern} into its output folder"
    # the new model's concepts are shown, and old parameter names are gone
    source = "\n".join(c.source for c in nb.cells)
    for old in ("change_rate", "p_transform", "agenda_elements", "p_include_prek"):
        assert old not in source, f"{path.name} still uses {old}"
    if path.name.startswith("02_"):
        assert "90%" in text  # what-ifs are reported as differences with intervals
        assert any(c.cell_type == "markdown" and c.source.lstrip().startswith("## Provider types") for c in nb.cells)
    if path.name.startswith(("02_", "03_")):
        # scenario discovery on the sweep or study store the notebook made: its answer is shown
        assert "coverage" in text and "density" in text and "bootstrap" in text
    if path.name.startswith("03_"):
        assert "tiny study" in text  # the fallback ran (STUDY_DIR does not exist)
        assert "capacity" in text  # the answer is stated
    if path.name.startswith(("01_", "04_")):
        assert "blocked" in text and "reshaped" in text  # the owners' decisions on the team's proposals
