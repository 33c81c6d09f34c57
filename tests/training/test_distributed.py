"""Training in subprocesses: 2-process DDP on CPU (gloo), and a SIGKILLed run resumed from last.

Both start fresh interpreters (seconds of start-up each on a busy 2-core machine): slow tests.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch


def _train(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "cplxcodec", "train", "fit", *args]
    return subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        **kwargs,
    )


def _ckpt(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.mark.slow
def test_ddp_two_processes_on_cpu(make_config):
    config = make_config("ddp", steps=3, every=3)
    proc = _train(
        "--config",
        str(config),
        "--trainer.devices",
        "2",
        "--trainer.strategy",
        "ddp",
        "--trainer.accelerator",
        "cpu",
    )
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    state = _ckpt(config.with_suffix("") / "ckpt" / "last.ckpt")
    assert state["global_step"] == 3
    rng = state["cplxcodec_rng"]["torch"]
    # Every rank's state is saved; seeded alike, ranks draw the same quantizer-dropout pattern
    # (which keeps the quantizer's collectives in step across ranks).
    assert len(rng) == 2 and torch.equal(rng[0], rng[1])
    # ...each saved as its own tensor, not as a view into a gathered one (torch.set_rng_state
    # crashed on such a view when rank 1 resumed).
    assert all(r.storage_offset() == 0 for r in rng)
    assert state["cplxcodec_train_info"]["world_size"] == 2
    assert all(
        torch.isfinite(v).all() for v in state["state_dict"].values() if v.is_floating_point()
    )


@pytest.mark.slow
def test_killed_run_resumes_from_last_checkpoint(make_config):
    """SIGKILL mid-run, restart with ``--ckpt_path last``: at most ``every`` steps are lost."""
    every = 2
    config = make_config("fault", steps=1000, every=every)
    ckpt_dir = config.with_suffix("") / "ckpt"
    proc = _train("--config", str(config), "--ckpt_path", "last")
    deadline = time.monotonic() + 500
    try:
        # Kill once the checkpoint after step 2*every has appeared: by then last.ckpt holds at
        # least step 2*every, whatever instant the kill lands at (the step file is written before
        # last.ckpt, so killing as soon as one step file appears may find last.ckpt a step behind).
        while not (ckpt_dir / f"step{3 * every:04d}.ckpt").exists():
            assert proc.poll() is None, proc.stdout.read()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint in time"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    saved = sorted(int(p.stem[4:]) for p in ckpt_dir.glob("step*.ckpt"))
    last = _ckpt(ckpt_dir / "last.ckpt")["global_step"]
    # last.ckpt loads (is complete) and is the newest step file or the one before it (the kill
    # may land between writing step{N}.ckpt and updating last.ckpt): at most `every` steps lost.
    assert last >= 2 * every and last in saved[-2:], (last, saved)
    assert saved[-1] - last <= every
    target = last + 2
    proc = _train(
        "--config", str(config), "--ckpt_path", "last", "--trainer.max_steps", str(target)
    )
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    resumed = _ckpt(ckpt_dir / "last.ckpt")
    assert resumed["global_step"] == target
    # The restarted run began at the checkpoint and trained exactly the steps after it.
    assert "Restoring states from the checkpoint path" in out and "last.ckpt" in out
    with open(config.with_suffix("") / "csv" / "v" / "metrics.csv", newline="") as f:
        steps = {int(r["step"]) for r in csv.DictReader(f) if r.get("train/loss")}
    assert {s for s in steps if s >= last} == set(range(last, target))


@pytest.mark.slow
def test_ddp_run_resumes_under_ddp(make_config):
    """A checkpoint written by a 2-process DDP run resumes under DDP (both ranks restore it)."""
    config = make_config("ddp_resume", steps=2, every=2)
    ddp = ("--trainer.devices", "2", "--trainer.strategy", "ddp", "--trainer.accelerator", "cpu")
    proc = _train("--config", str(config), *ddp)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    proc = _train("--config", str(config), *ddp, "--ckpt_path", "last", "--trainer.max_steps", "4")
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    assert "Restoring states from the checkpoint path" in out
    state = _ckpt(config.with_suffix("") / "ckpt" / "last.ckpt")
    assert state["global_step"] == 4
    assert all(
        torch.isfinite(v).all() for v in state["state_dict"].values() if v.is_floating_point()
    )
