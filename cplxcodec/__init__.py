"""cplxcodec: a complex-valued spectral codec framework.

Subpackages (imported on demand, nothing runs at import time):

- :mod:`cplxcodec.functional` — stateless maths: STFT/iSTFT, power-law compression, 2×2 whitening.
- :mod:`cplxcodec.layers` — complex convolutions, whitening norms, activations, axial attention.
- :mod:`cplxcodec.optim` — Wirtinger-aware optimizers (CSGD, CAdam, CAdamW).
- :mod:`cplxcodec.quantization` — residual vector quantizer over complex latents.
- :mod:`cplxcodec.models` — the codec, its registry and the model zoo.
- :mod:`cplxcodec.losses` — GAN-free reconstruction losses.
- :mod:`cplxcodec.bitstream` — ``.cplx`` container and entropy coding.
- :mod:`cplxcodec.training` — Lightning module, data module, callbacks.
- :mod:`cplxcodec.analysis` — codebook usage, phase fidelity, metrics, BD-rate, reports.
"""

__version__ = "0.2.0"
__all__ = ["__version__"]
