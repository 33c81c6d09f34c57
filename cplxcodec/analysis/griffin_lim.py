r"""Fast Griffin-Lim phase retrieval with ``torch.stft`` / ``torch.istft`` (no torchaudio).

Griffin & Lim (1984), "Signal estimation from modified short-time Fourier transform", alternate
projections between the set of spectrograms with the target magnitude :math:`A` and the set of
consistent spectrograms (those that are the STFT of some signal). The *fast* variant of
Perraudin, Balazs & Søndergaard (2013), "A fast Griffin-Lim algorithm", adds momentum
:math:`\alpha`:

.. math::

    T_i = \mathrm{STFT}(\mathrm{iSTFT}(A e^{j\phi_{i-1}})),\quad
    C_i = T_i - \tfrac{\alpha}{1+\alpha} T_{i-1},\quad
    e^{j\phi_i} = C_i / |C_i|,

which is the parametrisation torchaudio uses (``momentum=0`` is the classic algorithm). The
initial phase is deterministic: zero phase (``init="zeros"``) or uniform phases from a local,
seeded generator (``init="random"``) — no global random state is touched.
"""

from __future__ import annotations

import torch

__all__ = ["griffin_lim"]


def griffin_lim(
    magnitude: torch.Tensor,
    *,
    n_fft: int,
    hop_length: int,
    n_iter: int = 100,
    momentum: float = 0.99,
    length: int | None = None,
    init: str = "zeros",
    seed: int = 0,
) -> torch.Tensor:
    """Estimate a waveform whose STFT magnitude approximates ``magnitude``.

    The STFT is Hann-windowed (periodic, ``win_length = n_fft``), ``center=True``, as in
    :func:`cplxcodec.analysis.phase_fidelity`.

    Args:
        magnitude: ``(F, N)`` or ``(B, F, N)`` non-negative real tensor, ``F = n_fft // 2 + 1``.
        n_fft, hop_length: STFT parameters the magnitudes were computed with.
        n_iter: number of iterations (fixed; no early stopping, so results are reproducible).
        momentum: fast-GLA momentum ``alpha`` in ``[0, 1)``; 0 gives classic Griffin-Lim.
        length: output length in samples (default: what iSTFT gives).
        init: ``"zeros"`` (zero phase) or ``"random"`` (seeded uniform phase).
        seed: seed of the local generator for ``init="random"``.

    Returns:
        ``(T,)`` or ``(B, T)`` waveform, dtype of ``magnitude``.
    """
    if magnitude.is_complex():
        raise ValueError("griffin_lim expects a real magnitude spectrogram, got complex")
    if magnitude.ndim not in (2, 3):
        raise ValueError(f"magnitude must be (F, N) or (B, F, N), got {tuple(magnitude.shape)}")
    if magnitude.shape[-2] != n_fft // 2 + 1:
        raise ValueError(
            f"magnitude has {magnitude.shape[-2]} bins but n_fft={n_fft} needs {n_fft // 2 + 1}"
        )
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    if n_iter < 0:
        raise ValueError(f"n_iter must be >= 0, got {n_iter}")
    mag = magnitude.to(torch.float64 if magnitude.dtype == torch.float64 else torch.float32)
    window = torch.hann_window(n_fft, periodic=True, dtype=mag.dtype, device=mag.device)
    cdtype = torch.complex128 if mag.dtype == torch.float64 else torch.complex64
    if init == "zeros":
        angles = torch.ones(mag.shape, dtype=cdtype, device=mag.device)
    elif init == "random":
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        phi = 2 * torch.pi * torch.rand(mag.shape, generator=gen, dtype=mag.dtype)
        angles = torch.polar(torch.ones_like(phi), phi).to(device=mag.device)
    else:
        raise ValueError(f"init must be 'zeros' or 'random', got {init!r}")

    if length is None:
        length = hop_length * (mag.shape[-1] - 1)
    if 1 + length // hop_length != mag.shape[-1]:
        raise ValueError(
            f"length={length} gives {1 + length // hop_length} frames at hop {hop_length}, "
            f"but the magnitude has {mag.shape[-1]}"
        )

    def _istft(spec: torch.Tensor) -> torch.Tensor:
        return torch.istft(spec, n_fft, hop_length, n_fft, window, center=True, length=length)

    def _stft(x: torch.Tensor) -> torch.Tensor:
        return torch.stft(
            x,
            n_fft,
            hop_length,
            n_fft,
            window,
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )

    previous = torch.zeros_like(angles)
    factor = momentum / (1.0 + momentum)
    for _ in range(n_iter):
        rebuilt = _stft(_istft(mag * angles))
        accelerated = rebuilt - factor * previous
        angles = accelerated / (accelerated.abs() + 1e-16)
        previous = rebuilt
    return _istft(mag * angles).to(magnitude.dtype)
