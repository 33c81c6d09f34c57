"""``benchmarks/training_curves.py`` on TensorBoard logs written here (two runs, one resumed)."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def curves():
    spec = importlib.util.spec_from_file_location("bench_curves", BENCH / "training_curves.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _write(logdir: Path, cpu_per_step: float, pesq: dict[int, float], every: int = 10) -> None:
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(logdir))
    for step in range(every, max(pesq) + 1, every):
        w.add_scalar("perf/cpu_sec_per_step", cpu_per_step, step)
    for step, v in pesq.items():
        w.add_scalar("val/pesq_6kbps", v, step)
    w.close()


@pytest.fixture
def logs(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _write(a, 3.0, {100: 1.5, 200: 1.8, 300: 2.0})
    _write(b, 1.5, {100: 1.4, 200: 1.6, 300: 1.7, 400: 1.9, 500: 2.1, 600: 2.2})
    time.sleep(0.01)  # a resumed branch rewrites step 200 of run a later: that value wins
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(a))
    w.add_scalar("val/pesq_6kbps", 1.9, 200)
    w.close()
    return a, b


def test_last_write_wins_and_cpu_time_integrates(curves, logs) -> None:
    run = curves.load_run("a", logs[0])
    assert run.scalars["val/pesq_6kbps"] == pytest.approx({100: 1.5, 200: 1.9, 300: 2.0})
    assert run.cpu_seconds(100) == pytest.approx(300.0)
    assert run.cpu_seconds(305) == pytest.approx(915.0)  # past the last log: its rate goes on


def test_tables_compare_at_equal_steps_and_equal_cpu(curves, logs) -> None:
    a, b = curves.load_run("cplx", logs[0]), curves.load_run("real", logs[1])
    tags = ("val/pesq_6kbps",)
    steps = curves.equal_steps_table([a, b], tags).splitlines()
    assert steps[2:] == ["| 100 | 1.500 | 1.400 |", "| 200 | 1.900 | 1.600 |", "| 300 | 2.000 | 1.700 |"]
    # 900 CPU-s: run a (3 s/step) reached step 300, run b (1.5 s/step) step 600.
    compute = curves.equal_compute_table([a, b], tags, [0.25, 0.05]).splitlines()
    assert compute[2] == "| 0.25 | 300 | 600 | 2.000 | 2.200 |"
    assert compute[3] == "| 0.05 | – | 100 | – | 1.400 |"


def test_cli_writes_tables_and_plot(curves, logs, tmp_path, capsys) -> None:
    md, png = tmp_path / "c.md", tmp_path / "c.png"
    code = curves.main(
        [f"cplx={logs[0]}", f"real={logs[1]}", "--tags", "val/pesq_6kbps",
         "--out-md", str(md), "--plot", str(png)]
    )  # fmt: skip
    assert code == 0
    assert "Equal training CPU time" in md.read_text() and png.stat().st_size > 1000
    with pytest.raises(SystemExit):
        curves.main([f"cplx={logs[0]}", "--tags", "val/nope"])
    assert "val/nope" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        curves.main([f"cplx={tmp_path / 'missing'}"])
    assert "no TensorBoard event files" in capsys.readouterr().err
