"""examples/notebooks/quickstart.ipynb: committed clean, and executed end to end with nbclient on the tiny model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "notebooks" / "quickstart.ipynb"
KERNEL = "toolset-test-venv"


def parameters_cell(notebook) -> int:
    tagged = [i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, "the notebook needs exactly one cell tagged 'parameters'"
    return tagged[0]


def test_notebook_is_committed_clean():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code), "clear the outputs"
    source = notebook.cells[parameters_cell(notebook)].source
    for name in ("SFT_STEPS", "KTO_STEPS", "EVAL_CASES", "OUTPUT"):
        assert f"{name} = " in source
    install = code[0].source
    assert "pip" in install and 'find_spec("toolset") is None' in install  # only installs where toolset is missing


@pytest.fixture
def venv_kernel(tmp_path, monkeypatch) -> str:
    """A kernel spec running this interpreter (the venv with toolset), found through a private JUPYTER_PATH."""
    folder = tmp_path / "jupyter" / "kernels" / KERNEL
    folder.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "toolset test venv",
        "language": "python",
    }
    (folder / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return KERNEL


@pytest.mark.slow
@pytest.mark.llama_cpp
def test_notebook_runs_the_pipeline(tmp_path, venv_kernel, pipeline_output):
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    output = tmp_path / "quickstart"
    notebook.cells[parameters_cell(notebook)].source = "\n".join(
        ["SFT_STEPS = 2", "KTO_STEPS = 1", "EVAL_CASES = 2", f"OUTPUT = {str(output)!r}"]
    )
    client = NotebookClient(
        notebook, timeout=900, kernel_name=venv_kernel, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()

    pipeline_output(output, sft_steps=2, kto_steps=1, eval_cases=2)
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    text = "".join(out.get("text", "") for out in outputs if out.output_type == "stream")
    assert "39 conversation(s)" in text and "0 error(s)" in text  # the validation summary
    assert "sft: 2 steps" in text and "kto: 1 steps" in text
    assert "ollama create toolset-tuned" in text
    assert "base: " in text and "tuned: " in text and "overall" in text  # the accuracy table
    assert any("image/png" in out.get("data", {}) for out in outputs), "the loss curve is not displayed"
