"""The three notebooks of ``notebooks/``: committed stripped and parametrised, and each runs top
to bottom with papermill at CI sizes (``CI_MODE=True``).

The structural checks are fast and run in the default pass. Executing a notebook starts a Jupyter
kernel and trains/evaluates tiny models (tens of seconds each on a 2-core machine), so those tests
are marked ``slow``. Each run happens in ``tmp_path`` (working directory and every output folder),
and its results are checked through the ``summary.json`` the notebook writes and through the
outputs of the executed notebook (figures, audio widgets, no errors).
"""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ["01_train_codec", "02_complex_layers", "03_diagnostics"]
KERNEL = "python3"


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def _python_source(cell_source: str) -> str:
    """Cell source with IPython magics (``%...``, ``!...``) blanked out, for ``ast.parse``."""
    return "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line for line in cell_source.splitlines()
    )


# ---------------------------------------------------------------------------- committed files
@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_is_valid_and_stripped(name):
    nb = _read(name)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{name} has no code cells"
    for i, cell in enumerate(code):
        assert cell.execution_count is None, f"{name}: code cell {i} has an execution count"
        assert cell.outputs == [], f"{name}: code cell {i} has outputs (strip them)"
        ast.parse(_python_source(cell.source), filename=f"{name}[{i}]")
    assert nb.cells[0].cell_type == "markdown", f"{name} should open with an explanation"
    assert sum(c.cell_type == "markdown" for c in nb.cells) >= 4, f"{name}: explain the steps"
    assert nb.metadata.kernelspec.name == KERNEL


@pytest.mark.parametrize("name", NAMES)
def test_parameters_cell_is_tagged_with_ci_switch(name):
    nb = _read(name)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name}: exactly one cell must carry the papermill 'parameters' tag"
    cell = tagged[0]
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert cell is first_code, f"{name}: the parameters cell must be the first code cell"
    # every statement is a plain assignment, so papermill can override any of them
    tree = ast.parse(cell.source)
    assert all(isinstance(s, ast.Assign) for s in tree.body)
    values = {
        t.id: ast.literal_eval(s.value)
        for s in tree.body
        for t in s.targets
        if isinstance(t, ast.Name)
    }
    assert values["CI_MODE"] is False, f"{name}: by default the notebook must do the real thing"


def test_papermill_sees_the_parameters():
    papermill = pytest.importorskip("papermill")
    for name in NAMES:
        params = papermill.inspect_notebook(str(NOTEBOOKS / f"{name}.ipynb"))
        assert "CI_MODE" in params, name
        assert params["CI_MODE"]["default"] == "False", name


# ---------------------------------------------------------------------------- execution
@pytest.fixture(scope="module")
def kernel_name() -> str:
    """The ``python3`` kernel; jupyter_client runs it with this interpreter (the venv's)."""
    pytest.importorskip("papermill")
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        pytest.skip(
            "no 'python3' Jupyter kernel: install ipykernel in the venv "
            "(`.venv/bin/python -m ipykernel install --sys-prefix`)"
        )
    return KERNEL


def _execute(name: str, tmp_path: Path, kernel: str, **parameters) -> nbformat.NotebookNode:
    import papermill

    out = tmp_path / f"{name}.out.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS / f"{name}.ipynb"),
        str(out),
        parameters={"CI_MODE": True, **parameters},
        kernel_name=kernel,
        cwd=str(tmp_path),
        progress_bar=False,
        execution_timeout=600,
    )
    nb = nbformat.read(out, as_version=4)
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert not errors, f"{name}: {errors[0].ename}: {errors[0].evalue}"
    return nb


def _display_types(nb: nbformat.NotebookNode) -> list[str]:
    return [
        mime
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type in ("display_data", "execute_result")
        for mime in o.get("data", {})
    ]


def _n_audio_widgets(nb: nbformat.NotebookNode) -> int:
    return sum(
        "<audio" in str(o.get("data", {}).get("text/html", ""))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )


@pytest.mark.slow
def test_01_train_codec_runs_at_ci_size(tmp_path, kernel_name):
    from cplxcodec.models import load_model

    run = tmp_path / "run"
    nb = _execute("01_train_codec", tmp_path, kernel_name, RUN_DIR=str(run))
    summary = json.loads((run / "summary.json").read_text())
    assert summary["ci_mode"] is True
    assert summary["steps"] == 4
    assert math.isfinite(summary["final_train_loss"]) and summary["final_train_loss"] > 0
    assert set(summary["val_loss"]) == {"6", "12"}
    assert set(summary["metrics"]) == {"6", "12"}
    for row in summary["metrics"].values():
        assert row["actual_kbps"] > 0
        assert {"pesq_wb", "stoi", "si_sdr", "mel_distance"} <= set(row)
    codec = load_model(summary["model_path"])
    assert codec.card["steps"] == 4
    assert codec.config.stages_for_kbps(6) == 6 and codec.config.stages_for_kbps(12) == 12
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert "image/png" in _display_types(nb)  # the loss plot
    assert _n_audio_widgets(nb) == 3  # reference, 6 and 12 kbps


@pytest.mark.slow
def test_02_complex_layers_runs_at_ci_size(tmp_path, kernel_name):
    out = tmp_path / "out"
    nb = _execute("02_complex_layers", tmp_path, kernel_name, OUT_DIR=str(out))
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["final_loss"]) == {"CAdam", "Adam"}
    assert all(math.isfinite(v) and v > 0 for v in summary["final_loss"].values())
    assert set(summary["scores"]) == {"noisy", "CAdam", "Adam"}
    assert summary["parameters"]["complex"] > 0 and summary["parameters"]["real"] > 0
    # the notebook's phase-equivariance check: CAdam follows the rotated trajectory, Adam does not
    deviation = summary["phase_equivariance_deviation"]
    assert deviation["CAdam"] < 1e-4
    assert deviation["Adam"] > 1e-3
    assert "image/png" in _display_types(nb)
    assert _n_audio_widgets(nb) == 4  # clean, noisy, two denoised


@pytest.mark.slow
def test_03_diagnostics_runs_at_ci_size(tmp_path, kernel_name):
    out = tmp_path / "out"
    nb = _execute("03_diagnostics", tmp_path, kernel_name, OUT_DIR=str(out))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["trained"] is False  # CI analyses an untrained tiny model, and says so
    assert set(summary["usage"]) == {"6 kbps", "12 kbps"}
    for u in summary["usage"].values():
        assert 0 < u["mean_usage_fraction"] <= 1
    assert len(summary["phase_error"]) == 2
    for p in summary["phase_error"].values():
        assert 0 <= p["codec"] <= 2 and 0 <= p["griffin_lim"] <= 2
    assert set(summary["metrics"]) == {"6", "12"}
    html = Path(summary["report"]).read_text(encoding="utf-8")
    for section in ("codebook-usage", "phase-fidelity", "metrics", "spectrograms"):
        assert f'id="{section}"' in html
    assert _display_types(nb).count("image/png") >= 4  # usage, 2 × phase, spectrograms
    assert _n_audio_widgets(nb) >= 3
