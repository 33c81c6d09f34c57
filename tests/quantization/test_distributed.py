"""Under torch.distributed the EMA statistics are summed over ranks and random state comes from
rank 0, so every rank holds the same codebooks, equal to one process seeing the whole batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from cplxcodec.quantization import ResidualVQ
from cplxcodec.quantization.layout import latent_to_rows

_WORKER = Path(__file__).with_name("_ddp_worker.py")
_needs_dist = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed unavailable")


def _run_ranks(tmp_path: Path, world: int) -> list[dict]:
    repo = Path(__file__).resolve().parents[2]
    env = os.environ | {"PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1"}
    store = tmp_path / "store"
    outs = [tmp_path / f"rank{r}.pt" for r in range(world)]
    procs = [
        subprocess.Popen(
            [sys.executable, str(_WORKER), str(r), str(world), str(store), str(outs[r])],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for r in range(world)
    ]
    logs = [p.communicate(timeout=180)[0].decode() for p in procs]
    assert all(p.returncode == 0 for p in procs), logs
    return [torch.load(o) for o in outs]


@pytest.mark.slow
@_needs_dist
def test_two_ranks_stay_identical_and_match_the_global_batch(tmp_path: Path) -> None:
    world = 2
    ranks = _run_ranks(tmp_path, world)
    for phase in ("init", "ema", "restart"):
        for key, value in ranks[0][phase].items():
            assert torch.equal(value, ranks[1][phase][key]), (phase, key)
    # EMA steps on two half batches == one process on the whole batch
    reference = ResidualVQ(
        dim=3, n_stages=2, codebook_size=16, decay=0.7, dropout_p=0.0, dead_code_threshold=0.0
    )
    reference.load_state_dict(ranks[0]["init"])
    torch.manual_seed(1)
    for _ in range(3):
        reference(torch.randn(4 * world, 3, 32, dtype=torch.complex64))
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(ranks[0]["ema"][key], value, rtol=1e-5, atol=1e-5, msg=key)
    # restarted stage-1 codewords are rows of rank 0's batch, on both ranks
    embed = ranks[1]["restart"]["stages.0.embed"]

    def hits(batch: torch.Tensor) -> int:
        return int((torch.cdist(embed, latent_to_rows(batch)).min(dim=1).values < 1e-4).sum())

    assert hits(ranks[0]["last_batch"]) > 0
    assert hits(ranks[1]["last_batch"]) == 0


@_needs_dist
def test_single_rank_group_matches_no_group(tmp_path: Path) -> None:
    z = torch.randn(4, 3, 32, dtype=torch.complex64)
    torch.manual_seed(5)
    plain = ResidualVQ(dim=3, n_stages=2, codebook_size=16, decay=0.7)
    for _ in range(3):
        plain(z)
    dist.init_process_group(
        "gloo", store=dist.FileStore(str(tmp_path / "store"), 1), rank=0, world_size=1
    )
    try:
        torch.manual_seed(5)
        grouped = ResidualVQ(dim=3, n_stages=2, codebook_size=16, decay=0.7)
        for _ in range(3):
            grouped(z)
    finally:
        dist.destroy_process_group()
    for (key, a), (_, b) in zip(plain.state_dict().items(), grouped.state_dict().items()):
        assert torch.equal(a, b), key
