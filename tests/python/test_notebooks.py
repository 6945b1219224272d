"""notebooks/: each one runs top to bottom in a fresh Jupyter kernel, as a new
user would run it after the README's set-up (their cells assert what they
show: zero failed requests in the swap, answers equal to the frameworks'), and
is committed without outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
# The notebooks whose point is a picture: the hot swap over time, latency against batch size.
PLOTTING = {"1_quickstart", "3_performance"}


def test_there_are_the_three_notebooks():
    assert [n.name for n in NOTEBOOKS] == ["1_quickstart.ipynb", "2_bring_your_own_model.ipynb", "3_performance.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path):
    cells = json.loads(path.read_text())["cells"]
    for cell in cells:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, "strip the outputs before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        pytest.fail(f"{path.name} failed:\n{error}")
    images = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    if path.stem in PLOTTING:
        assert images, f"{path.name} drew no plot"
