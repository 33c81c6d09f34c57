"""Worker for test_distributed.py: one rank of a gloo group training a ResidualVQ.

Usage: ``python _ddp_worker.py RANK WORLD_SIZE STORE_FILE OUT_FILE``. Every rank builds the same
quantizer (same seed) and k-means-initialises it on its own data under the process group. Phase
``ema``: training steps without restarts on its own slice of shared batches. Phase ``restart``:
more steps with a high dead-code threshold, so that codewords are restarted from (rank-local)
random rows. Saves the states and the rank's last batch to ``OUT_FILE``.
"""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist

from cplxcodec.quantization import ResidualVQ


def main(rank: int, world: int, store_file: str, out_file: str) -> None:
    torch.set_num_threads(1)
    store = dist.FileStore(store_file, world)
    dist.init_process_group("gloo", store=store, rank=rank, world_size=world)
    try:
        torch.manual_seed(0)
        rvq = ResidualVQ(
            dim=3, n_stages=2, codebook_size=16, decay=0.7, dropout_p=0.0, dead_code_threshold=0.0
        )
        torch.manual_seed(100 + rank)  # different initialisation data on every rank
        rvq(torch.randn(4, 3, 32, dtype=torch.complex64))
        init = {k: v.clone() for k, v in rvq.state_dict().items()}
        torch.manual_seed(1)  # shared batches, each rank quantizes its own slice
        for _ in range(3):
            batch = torch.randn(4 * world, 3, 32, dtype=torch.complex64)
            rvq(batch[rank * 4 : (rank + 1) * 4])
        ema = {k: v.clone() for k, v in rvq.state_dict().items()}
        torch.manual_seed(200 + rank)  # rank-local randomness, also for the replacement rows
        for stage in rvq.stages:
            stage.dead_code_threshold = 0.9  # forces restarts on every step
        for _ in range(2):
            last = torch.randn(4, 3, 32, dtype=torch.complex64)
            rvq(last)
        out = {"init": init, "ema": ema, "restart": rvq.state_dict(), "last_batch": last}
        torch.save(out, out_file)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4])
