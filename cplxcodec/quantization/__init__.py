"""cplxcodec.quantization: residual vector quantization of complex latents.

- :class:`ResidualVQ` — K-stage RVQ over ``(B, D, N)`` complex64 latents with EMA codebooks,
  k-means initialisation, dead-code restarts, quantizer dropout and a straight-through gradient.
- :class:`QuantizerOutput` — its result dataclass.
- :class:`EMACodebook` — one EMA-learned codebook (a single stage).
- :func:`kmeans`, :func:`nearest_code`, :func:`beam_search_codes` — the clustering and search
  primitives (greedy and beam-search residual coding).
- :func:`allocate_stages` — variable stage allocation: how many stages each block of frames
  sends for a given mean (rate-distortion optimal on the latent error).
"""

from cplxcodec.quantization.allocation import allocate_stages, block_bounds
from cplxcodec.quantization.codebook import EMACodebook
from cplxcodec.quantization.kmeans import KMeansResult, kmeans
from cplxcodec.quantization.output import QuantizerOutput
from cplxcodec.quantization.residual_vq import ABSENT, ResidualVQ, stage_counts
from cplxcodec.quantization.search import beam_search_codes, nearest_code

__all__ = [
    "ABSENT",
    "EMACodebook",
    "KMeansResult",
    "QuantizerOutput",
    "ResidualVQ",
    "allocate_stages",
    "block_bounds",
    "beam_search_codes",
    "kmeans",
    "nearest_code",
    "stage_counts",
]
