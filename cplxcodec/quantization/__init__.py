"""cplxcodec.quantization: residual vector quantization of complex latents.

- :class:`ResidualVQ` — K-stage RVQ over ``(B, D, N)`` complex64 latents with EMA codebooks,
  k-means initialisation, dead-code restarts, quantizer dropout and a straight-through gradient.
- :class:`QuantizerOutput` — its result dataclass.
- :class:`EMACodebook` — one EMA-learned codebook (a single stage).
- :func:`kmeans`, :func:`nearest_code`, :func:`beam_search_codes` — the clustering and search
  primitives (greedy and beam-search residual coding).
"""

from cplxcodec.quantization.codebook import EMACodebook
from cplxcodec.quantization.kmeans import KMeansResult, kmeans
from cplxcodec.quantization.output import QuantizerOutput
from cplxcodec.quantization.residual_vq import ResidualVQ
from cplxcodec.quantization.search import beam_search_codes, nearest_code

__all__ = [
    "EMACodebook",
    "KMeansResult",
    "QuantizerOutput",
    "ResidualVQ",
    "beam_search_codes",
    "kmeans",
    "nearest_code",
]
