"""The complex STFT-domain RVQ-VAE codec (the EuleroDec design).

waveform → STFT → power-law compression (phase kept) → complex encoder (strided patch-merging
along frequency, dilated residual blocks with per-frame 2×2 whitening, frequency and time axial
attention) → complex latent ``(B, D, N)`` → :class:`~cplxcodec.quantization.ResidualVQ` →
mirrored complex decoder → compressed complex spectrum → decompression → iSTFT → waveform.
Magnitude and phase stay coupled as one complex number from input to output.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cplxcodec.functional.spectral import istft, power_compress, power_decompress, stft
from cplxcodec.models.blocks import AttnBlock, ComplexOps, Ops, RealOps, ResBlock2d
from cplxcodec.models.config import CodecConfig
from cplxcodec.quantization import ResidualVQ

__all__ = ["CodecOutput", "ComplexCodec", "Encoder", "Decoder", "ENCODE_BEAM"]

#: Default beam width of the residual-VQ search when encoding (``1`` = greedy). On 26 dev
#: segments with the bundled model, 8 instead of 1 lowers the latent error by 12 % / 21 % and
#: raises PESQ-WB by 0.10 / 0.06 at 6 / 12 kbps, for 0.25 / 0.55 CPU-seconds per 10 s of audio
#: on one thread (``python benchmarks/beam_search.py``; the model card has the table).
ENCODE_BEAM = 8


@dataclass
class CodecOutput:
    """Result of :meth:`ComplexCodec.forward` (training and analysis).

    Attributes:
        wav: reconstruction ``(B, 1, T)``.
        spec: target compressed spectrum ``(B, 1, F, N)`` complex (Nyquist bin dropped).
        spec_hat: decoded compressed spectrum, same shape.
        codes: ``(B, K, N)`` int64 (``-1`` marks stages dropped by quantizer dropout).
        commit_loss: scalar commitment loss (unweighted).
        usage, perplexity: per-stage codebook usage fraction and perplexity in this batch.
        n_active: ``(B,)`` stages used per example.
    """

    wav: Tensor
    spec: Tensor
    spec_hat: Tensor
    codes: Tensor
    commit_loss: Tensor
    usage: Tensor
    perplexity: Tensor
    n_active: Tensor


def _time_pad(cfg: CodecConfig) -> int:
    return 0 if cfg.causal else 1


class Encoder(nn.Module):
    """Compressed spectrum ``(B, io, F, N)`` → latent ``(B, latent_channels, N)``."""

    def __init__(self, cfg: CodecConfig, ops: Ops, latent_channels: int) -> None:
        super().__init__()
        ch = [ops.width(c, cfg.attn_heads) for c in cfg.channels]
        pt = _time_pad(cfg)
        s0 = cfg.freq_strides[0]
        self.stem = ops.conv2d(
            ops.io_channels, ch[0], (2 * s0, 3), (s0, 1), (s0 // 2, pt), causal=cfg.causal
        )
        self.levels = nn.ModuleList()
        for i, c in enumerate(ch):
            blocks: list[nn.Module] = [
                ResBlock2d(ops, c, cfg.dilations[j % len(cfg.dilations)], cfg.causal)
                for j in range(cfg.res_blocks)
            ]
            if i + 1 < len(ch):
                s = cfg.freq_strides[i + 1]
                blocks.append(ops.norm(c, keep_gain=True))  # on the signal path: keep level
                blocks.append(
                    ops.conv2d(c, ch[i + 1], (2 * s, 3), (s, 1), (s // 2, pt), causal=cfg.causal)
                )
            self.levels.append(nn.Sequential(*blocks))
        self.attn = nn.ModuleList(
            AttnBlock(ops, ch[-1], cfg.attn_heads, axis, cfg.causal, cfg.attn_window)
            for _ in range(cfg.attn_layers)
            for axis in ("freq", "time")
        )
        self.out_norm, self.out_act = ops.norm(ch[-1], keep_gain=True), ops.act(ch[-1])
        flat = ch[-1] * cfg.bottleneck_bins
        self.proj = ops.conv1d(flat, latent_channels, 3, padding=pt, causal=cfg.causal)

    def forward(self, x: Tensor) -> Tensor:
        """Encode a compressed spectrum into a latent sequence."""
        x = self.stem(x)
        for level in self.levels:
            x = level(x)
        for block in self.attn:
            x = block(x)
        x = self.out_act(self.out_norm(x))
        b, c, f, n = x.shape
        return self.proj(x.reshape(b, c * f, n))


class Decoder(nn.Module):
    """Latent ``(B, latent_channels, N)`` → compressed spectrum ``(B, io, F, N)``."""

    def __init__(self, cfg: CodecConfig, ops: Ops, latent_channels: int) -> None:
        super().__init__()
        ch = [ops.width(c, cfg.attn_heads) for c in cfg.decoder_channels]
        pt = _time_pad(cfg)
        self.bins = cfg.bottleneck_bins
        self.proj = ops.conv1d(
            latent_channels, ch[-1] * self.bins, 3, padding=pt, causal=cfg.causal
        )
        self.attn = nn.ModuleList(
            AttnBlock(ops, ch[-1], cfg.attn_heads, axis, cfg.causal, cfg.attn_window)
            for _ in range(cfg.attn_layers)
            for axis in ("freq", "time")
        )
        self.levels = nn.ModuleList()
        for i in reversed(range(len(ch))):
            blocks: list[nn.Module] = [
                ResBlock2d(ops, ch[i], cfg.dilations[j % len(cfg.dilations)], cfg.causal)
                for j in range(cfg.res_blocks)
            ]
            s = cfg.freq_strides[i]
            out = ch[i - 1] if i > 0 else ops.io_channels
            blocks += [ops.norm(ch[i], keep_gain=True), ops.act(ch[i])]
            blocks.append(
                ops.conv_transpose2d(
                    ch[i], out, (2 * s, 3), (s, 1), (s // 2, pt), causal=cfg.causal
                )
            )
            self.levels.append(nn.Sequential(*blocks))

    def forward(self, z: Tensor) -> Tensor:
        """Decode a latent sequence into a compressed spectrum."""
        x = self.proj(z)
        b, cf, n = x.shape
        x = x.reshape(b, cf // self.bins, self.bins, n)
        for block in self.attn:
            x = block(x)
        for level in self.levels:
            x = level(x)
        return x


class ComplexCodec(nn.Module):
    """Complex-valued RVQ-VAE codec (see module docstring); ``config.kind="real"`` is its twin.

    Example::

        codec = ComplexCodec(get_config("speech16k"))
        codes = codec.encode(wav, kbps=6)          # (B, 6, N) int64
        wav_hat = codec.decode(codes, length=T)    # (B, 1, T)
    """

    def __init__(self, config: CodecConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or CodecConfig()
        if cfg.kind == "complex":
            ops: Ops = ComplexOps(cfg.activation)
            latent_channels = cfg.latent_dim
        else:
            ops = _matched_real_ops(cfg)
            latent_channels = 2 * cfg.latent_dim  # (Re, Im) halves, coded as D complex numbers
        self.encoder = Encoder(cfg, ops, latent_channels)
        self.decoder = Decoder(cfg, ops, latent_channels)
        self.quantizer = ResidualVQ(
            dim=cfg.latent_dim,
            n_stages=cfg.n_stages,
            codebook_size=cfg.codebook_size,
            decay=cfg.ema_decay,
            dropout_p=cfg.quantizer_dropout,
            dropout_stages=cfg.quantizer_dropout_stages,
        )
        self.entropy_model = None  # set by load_model / fit_entropy_model (bitstream tables)

    # ------------------------------------------------------------------ properties
    @property
    def sample_rate(self) -> int:
        """Audio sample rate the model works at."""
        return self.config.sample_rate

    @property
    def codebook_size(self) -> int:
        """Codes per RVQ stage."""
        return self.config.codebook_size

    @property
    def n_stages(self) -> int:
        """Maximum number of RVQ stages."""
        return self.config.n_stages

    @property
    def frame_rate(self) -> float:
        """Code frames per second."""
        return self.config.frame_rate

    # ------------------------------------------------------------------ signal path
    def _check_wave(self, wav: Tensor) -> None:
        if not isinstance(wav, Tensor):
            raise TypeError(f"expected a torch.Tensor waveform, got {type(wav).__name__}")
        if wav.dim() != 3 or wav.shape[1] != 1:
            raise ValueError(
                f"expected a mono waveform of shape (B, 1, T), got {tuple(wav.shape)}; "
                "code each channel separately (compress() does this for you)"
            )
        if wav.is_complex() or not wav.is_floating_point():
            raise TypeError(f"expected a real floating-point waveform, got {wav.dtype}")
        if not torch.isfinite(wav).all():
            bad = int((~torch.isfinite(wav)).sum())
            raise ValueError(f"waveform contains {bad} NaN or infinite samples")
        if wav.shape[-1] == 0:
            raise ValueError("waveform is empty (0 samples)")

    def min_length(self) -> int:
        """Shortest waveform the STFT accepts; shorter input is zero-padded by encode()."""
        return self.config.n_fft // 2 + 1

    def analysis(self, wav: Tensor) -> Tensor:
        """``(B, 1, T)`` → compressed spectrum ``(B, 1, n_fft/2, N)`` complex (Nyquist dropped)."""
        cfg = self.config
        spec = stft(wav.float(), cfg.n_fft, cfg.hop_length)[:, :, :-1]
        return power_compress(spec, cfg.alpha)

    def synthesis(self, spec_c: Tensor, length: int | None) -> Tensor:
        """Compressed spectrum → waveform ``(B, 1, T)``."""
        cfg = self.config
        spec = power_decompress(spec_c, cfg.alpha)
        spec = F.pad(spec, (0, 0, 0, 1))  # zero Nyquist bin
        return istft(spec, cfg.n_fft, cfg.hop_length, length=length)

    def _to_net(self, spec_c: Tensor) -> Tensor:
        if self.config.kind == "complex":
            return spec_c
        return torch.cat([spec_c.real, spec_c.imag], dim=1)

    def _from_net(self, x: Tensor) -> Tensor:
        if self.config.kind == "complex":
            return x
        return torch.complex(x[:, :1], x[:, 1:2])

    def _latent_to_complex(self, z: Tensor) -> Tensor:
        if self.config.kind == "complex":
            return z
        d = self.config.latent_dim
        return torch.complex(z[:, :d], z[:, d:])

    def _latent_from_complex(self, z: Tensor) -> Tensor:
        if self.config.kind == "complex":
            return z
        return torch.cat([z.real, z.imag], dim=1)

    def encode_latent(self, spec_c: Tensor) -> Tensor:
        """Compressed spectrum → complex latent ``(B, D, N)``."""
        return self._latent_to_complex(self.encoder(self._to_net(spec_c)))

    def decode_latent(self, z: Tensor) -> Tensor:
        """Complex latent ``(B, D, N)`` → compressed spectrum ``(B, 1, n_fft/2, N)``."""
        return self._from_net(self.decoder(self._latent_from_complex(z)))

    def forward(self, wav: Tensor, n_stages: int | None = None) -> CodecOutput:
        """Full pass for training/analysis (quantizer dropout active in training mode)."""
        self._check_wave(wav)
        if wav.shape[-1] < self.min_length():
            raise ValueError(
                f"waveform too short: {wav.shape[-1]} samples, need at least {self.min_length()}"
            )
        spec = self.analysis(wav)
        q = self.quantizer(self.encode_latent(spec), n_stages)
        spec_hat = self.decode_latent(q.quantized)
        out = self.synthesis(spec_hat, wav.shape[-1])
        return CodecOutput(
            wav=out,
            spec=spec,
            spec_hat=spec_hat,
            codes=q.codes,
            commit_loss=q.commit_loss,
            usage=q.usage,
            perplexity=q.perplexity,
            n_active=q.n_active,
        )

    # ------------------------------------------------------------------ codes API
    @torch.no_grad()
    def encode(
        self,
        wav: Tensor,
        kbps: float,
        beam: int = ENCODE_BEAM,
        refine: int = 0,
        *,
        vbr: bool = False,
        counts: Tensor | None = None,
        stoi_weight: float | None = None,
    ) -> Tensor:
        """Waveform ``(B, 1, T)`` at :attr:`sample_rate` → codes ``(B, K, N)`` int64.

        ``K`` is the number of stages for ``kbps`` (see ``config.supported_kbps``);
        ``N = max(T, min_length) // hop_length + 1``. Shorter input is zero-padded.
        ``beam``: prefixes kept per stage by the residual-VQ search (:data:`ENCODE_BEAM` by
        default; ``1`` is greedy, the fastest, and what training uses). Decoding is the same for
        any beam; a wider beam lowers the latent's quantization error.
        ``refine``: iterations of analysis-by-synthesis refinement of the codes
        (:func:`cplxcodec.models.refine.refine_codes`; ``0``, the default, is off). Slower (one
        decoder forward and backward pass per iteration), better codes for the same decoder.
        ``stoi_weight``: weight of refinement's intelligibility term (``None``: the default,
        :data:`cplxcodec.models.refine.REFINE_STOI_WEIGHT`; ``0`` leaves it out).
        ``vbr``: variable stage allocation (:func:`~cplxcodec.quantization.allocate_stages`):
        every block of :data:`~cplxcodec.bitstream.vbr.VBR_BLOCK` frames sends 1 to
        ``n_stages`` stages, at a mean of ``K`` less the side information's share (the error
        curves that drive it come from a search of width
        :func:`~cplxcodec.models.vbr.allocation_beam`); the codes
        are then ``(B, K', N)`` with ``-1`` (absent) after each frame's last stage.
        ``counts``: explicit per-frame stage counts ``(B, N)`` instead (implies variable
        allocation; what chunked file encoding passes).
        """
        from cplxcodec.models.refine import check_refine

        check_refine(refine, stoi_weight=stoi_weight)
        k = self.config.stages_for_kbps(kbps)
        z = self.latent(wav)
        if wav.shape[-1] < self.min_length():
            wav = F.pad(wav, (0, self.min_length() - wav.shape[-1]))
        if vbr and counts is None:
            from cplxcodec.bitstream.vbr import VBR_BLOCK
            from cplxcodec.models.vbr import allocate_file, allocation_beam

            errors = self.quantizer.stage_errors(z, allocation_beam(beam, refine))
            counts = torch.stack(
                [
                    torch.from_numpy(allocate_file(e, k, VBR_BLOCK, 0, self.codebook_size))
                    for e in errors
                ]
            )
        if counts is not None:
            codes = self.quantizer.encode_counts(z, counts, beam=beam)
        else:
            codes = self.quantizer.encode(z, k, beam=beam)
        if refine:
            from cplxcodec.models.refine import refine_codes

            codes = refine_codes(self, wav, codes, refine, beam=beam, stoi_weight=stoi_weight)
        return codes

    @torch.no_grad()
    def stage_errors(self, wav: Tensor, beam: int = ENCODE_BEAM) -> Tensor:
        """``(B, n_stages + 1, N)`` squared latent error of every frame after 0 to
        ``n_stages`` stages of one full-depth search (what variable allocation weighs)."""
        return self.quantizer.stage_errors(self.latent(wav), beam)

    @torch.no_grad()
    def latent(self, wav: Tensor) -> Tensor:
        """Waveform ``(B, 1, T)`` → the encoder's complex latent ``(B, D, N)``, unquantized
        (input shorter than :meth:`min_length` is zero-padded, as :meth:`encode` does)."""
        self._check_wave(wav)
        if wav.shape[-1] < self.min_length():
            wav = F.pad(wav, (0, self.min_length() - wav.shape[-1]))
        return self.encode_latent(self.analysis(wav))

    @torch.no_grad()
    def decode(self, codes: Tensor, length: int | None = None) -> Tensor:
        """Codes ``(B, K, N)`` (any ``K`` ≤ n_stages; ``-1`` = absent after a frame's last
        stage, as variable allocation writes) → waveform ``(B, 1, T)``.

        ``length`` defaults to ``(N - 1) · hop_length``.
        """
        if not isinstance(codes, Tensor) or codes.dim() != 3:
            raise ValueError(
                f"codes must be a (B, K, N) integer tensor, got {getattr(codes, 'shape', codes)!r}"
            )
        z = self.quantizer.decode(codes)  # checks dtype (no silent float → int cast) and range
        if length is None:
            length = (codes.shape[-1] - 1) * self.config.hop_length
        return self.synthesis(self.decode_latent(z), length)

    # ------------------------------------------------------------------ files
    def compress(self, wav, sample_rate: int, kbps: float, **kwargs) -> bytes:
        """Waveform ``(C, T)`` or ``(T,)`` at any rate → ``.cplx`` bytes (see bitstream docs)."""
        from cplxcodec.models.compression import compress

        return compress(self, wav, sample_rate, kbps, **kwargs)

    def decompress(self, data: bytes, **kwargs) -> tuple[Tensor, int]:
        """``.cplx`` bytes → ``(waveform (C, T) float32, sample_rate)``."""
        from cplxcodec.models.compression import decompress

        return decompress(self, data, **kwargs)

    def roundtrip(
        self,
        wav,
        sample_rate: int,
        kbps: float,
        beam: int = ENCODE_BEAM,
        refine: int = 0,
        vbr: bool = True,
        stoi_weight: float | None = None,
    ):
        """Compress and decompress mono ``(T,)`` audio; returns ``(decoded (T,), actual_kbps)``.
        The options are :meth:`compress`'s."""
        import numpy as np

        data = self.compress(
            wav,
            sample_rate,
            kbps,
            progress=False,
            beam=beam,
            refine=refine,
            vbr=vbr,
            stoi_weight=stoi_weight,
        )
        out, sr = self.decompress(data)
        seconds = np.asarray(wav).shape[-1] / sample_rate
        return out.numpy()[0], len(data) * 8 / seconds / 1000.0

    def checksum(self) -> str:
        """SHA-256 over config, weights and buffers, and the entropy tables (hex)."""
        from cplxcodec.models.serialization import model_checksum

        return model_checksum(self)

    def num_parameters(self) -> int:
        """Number of real parameters (a complex parameter counts twice)."""
        return sum(p.numel() * (2 if p.is_complex() else 1) for p in self.parameters())


def _real_param_count(cfg: CodecConfig, factor: float) -> int:
    ops = RealOps()
    ops.width_factor = factor
    return sum(
        p.numel()
        for m in (Encoder(cfg, ops, 2 * cfg.latent_dim), Decoder(cfg, ops, 2 * cfg.latent_dim))
        for p in m.parameters()
    )


def _matched_real_ops(cfg: CodecConfig) -> RealOps:
    """Real ops whose width factor makes the twin's parameter count match the complex model's.

    The count grows monotonically with the width factor, so a bisection over [1, 2] finds the
    factor closest to the complex model's count (complex parameters count twice).
    """
    complex_cfg = CodecConfig.from_dict({**cfg.to_dict(), "kind": "complex"})
    ops = ComplexOps(cfg.activation)
    target = sum(
        p.numel() * 2
        for m in (
            Encoder(complex_cfg, ops, cfg.latent_dim),
            Decoder(complex_cfg, ops, cfg.latent_dim),
        )
        for p in m.parameters()
    )
    lo, hi = 1.0, 2.0
    for _ in range(12):
        mid = (lo + hi) / 2
        if _real_param_count(cfg, mid) < target:
            lo = mid
        else:
            hi = mid
    best = min((lo, hi), key=lambda f: abs(_real_param_count(cfg, f) - target))
    real = RealOps()
    real.width_factor = best
    return real
