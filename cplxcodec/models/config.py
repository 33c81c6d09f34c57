"""Configuration of the codec: one typed dataclass, validated, serialisable to plain dicts."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

__all__ = ["CodecConfig"]


@dataclass
class CodecConfig:
    """Every architectural choice of a :class:`~cplxcodec.models.ComplexCodec`.

    Frequency resolution is reduced early (strided "patch-merging" convolutions along frequency,
    ``freq_strides``), channel counts stay modest, and attention runs on the reduced grid; the
    bottleneck folds the remaining bins into channels and maps them to a ``latent_dim`` complex
    latent per STFT frame. One frame per ``hop_length`` samples, ``n_stages`` codebooks of
    ``codebook_size`` codes: bitrate = frame rate × stages × log2(codebook size).

    Attributes:
        kind: ``"complex"`` (native complex layers) or ``"real"`` (the real-valued twin: the same
            structure with real layers on (Re, Im) channel pairs and widths scaled by √2 so the
            parameter count matches).
        sample_rate, n_fft, hop_length: the STFT; ``n_fft // 2`` must be divisible by the product
            of ``freq_strides`` (the Nyquist bin is dropped on analysis and zero on synthesis).
        alpha: power-law magnitude compression exponent applied to the spectrum (phase kept).
        channels: encoder widths, one per resolution level (decoder mirrors with ``dec_channels``).
        freq_strides: frequency down-sampling factor entering each level (even numbers).
        res_blocks: residual blocks per level; ``dilations`` their time dilations (cycled).
        attn_layers: (frequency, time) axial attention pairs at the bottleneck grid, each side.
        attn_heads, attn_window: heads, and the half-width in frames of time attention (a finite
            receptive field, which keeps chunked processing seamless); 0 = unlimited.
        latent_dim: complex channels of the latent per frame.
        n_stages, codebook_size: the residual VQ; ``quantizer_dropout`` the probability that an
            example trains with a random number of stages, drawn uniformly from
            ``quantizer_dropout_stages`` (repeats weight an entry) or, when that is ``None``,
            from ``1..n_stages``.
        causal: every time operation sees only the past (streaming).
        activation: ``"modrelu"``, ``"crelu"`` or ``"cardioid"`` (real twin uses GELU).
    """

    name: str = "custom"
    kind: Literal["complex", "real"] = "complex"
    sample_rate: int = 16000
    n_fft: int = 512
    hop_length: int = 160
    alpha: float = 0.3
    channels: tuple[int, ...] = (16, 32)
    dec_channels: tuple[int, ...] | None = None
    freq_strides: tuple[int, ...] = (4, 4)
    res_blocks: int = 2
    dilations: tuple[int, ...] = (1, 3)
    attn_layers: int = 1
    attn_heads: int = 4
    attn_window: int = 32
    latent_dim: int = 32
    n_stages: int = 12
    codebook_size: int = 1024
    quantizer_dropout: float = 0.5
    quantizer_dropout_stages: tuple[int, ...] | None = None
    ema_decay: float = 0.99
    causal: bool = False
    activation: Literal["modrelu", "crelu", "cardioid"] = "crelu"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.channels = tuple(int(c) for c in self.channels)
        self.freq_strides = tuple(int(s) for s in self.freq_strides)
        self.dilations = tuple(int(d) for d in self.dilations)
        if self.dec_channels is not None:
            self.dec_channels = tuple(int(c) for c in self.dec_channels)
        if self.quantizer_dropout_stages is not None:
            self.quantizer_dropout_stages = tuple(self.quantizer_dropout_stages)
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Raise ``ValueError`` naming the first inconsistent setting."""
        if self.kind not in ("complex", "real"):
            raise ValueError(f"kind must be 'complex' or 'real', got {self.kind!r}")
        if self.sample_rate <= 0 or self.hop_length <= 0:
            raise ValueError("sample_rate and hop_length must be positive")
        if self.hop_length * 2 > self.n_fft:
            raise ValueError(
                f"hop_length ({self.hop_length}) must be at most n_fft/2 ({self.n_fft // 2}) "
                "for perfect reconstruction"
            )
        if len(self.channels) != len(self.freq_strides) or not self.channels:
            raise ValueError("channels and freq_strides need one entry per level")
        if self.dec_channels is not None and len(self.dec_channels) != len(self.channels):
            raise ValueError("dec_channels needs one entry per level")
        if any(s < 2 or s % 2 for s in self.freq_strides):
            raise ValueError(f"freq_strides must be even numbers ≥ 2, got {self.freq_strides}")
        if (self.n_fft // 2) % math.prod(self.freq_strides):
            raise ValueError(
                f"n_fft/2 = {self.n_fft // 2} bins must be divisible by prod(freq_strides) = "
                f"{math.prod(self.freq_strides)}"
            )
        if not 0 < self.alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {self.alpha}")
        for c in (*self.channels, *(self.dec_channels or ())):
            if c % self.attn_heads:
                raise ValueError(f"channel count {c} not divisible by attn_heads {self.attn_heads}")
        if self.codebook_size < 2 or self.n_stages < 1 or self.latent_dim < 1:
            raise ValueError("need codebook_size ≥ 2, n_stages ≥ 1, latent_dim ≥ 1")
        if not 0.0 <= self.quantizer_dropout <= 1.0:
            raise ValueError(f"quantizer_dropout must lie in [0, 1], got {self.quantizer_dropout}")
        if self.quantizer_dropout_stages is not None and (
            not self.quantizer_dropout_stages
            or any(
                isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= self.n_stages
                for k in self.quantizer_dropout_stages
            )
        ):
            raise ValueError(
                "quantizer_dropout_stages must be a non-empty list of stage counts in "
                f"[1, {self.n_stages}], got {list(self.quantizer_dropout_stages)}"
            )
        if self.activation not in ("modrelu", "crelu", "cardioid"):
            raise ValueError(f"unknown activation {self.activation!r}")

    # ------------------------------------------------------------------ derived values
    @property
    def decoder_channels(self) -> tuple[int, ...]:
        """Decoder widths per level (defaults to the encoder's)."""
        return self.dec_channels or self.channels

    @property
    def n_bins(self) -> int:
        """Frequency bins the network sees (Nyquist dropped)."""
        return self.n_fft // 2

    @property
    def bottleneck_bins(self) -> int:
        """Frequency bins left at the bottleneck grid."""
        return self.n_bins // math.prod(self.freq_strides)

    @property
    def frame_rate(self) -> float:
        """Latent frames per second."""
        return self.sample_rate / self.hop_length

    @property
    def bits_per_code(self) -> float:
        """log2(codebook_size)."""
        return math.log2(self.codebook_size)

    def kbps(self, n_stages: int) -> float:
        """Nominal bitrate in kbps with ``n_stages`` codebooks."""
        return self.frame_rate * n_stages * self.bits_per_code / 1000.0

    @property
    def supported_kbps(self) -> list[float]:
        """Nominal bitrates for 1..n_stages stages."""
        return [round(self.kbps(k), 3) for k in range(1, self.n_stages + 1)]

    def stages_for_kbps(self, kbps: float) -> int:
        """Number of stages whose nominal bitrate is within 3% of ``kbps`` (else ValueError)."""
        if not isinstance(kbps, (int, float)) or not math.isfinite(kbps) or kbps <= 0:
            raise ValueError(f"kbps must be a positive number, got {kbps!r}")
        k = round(kbps / self.kbps(1))
        if 1 <= k <= self.n_stages and abs(self.kbps(k) - kbps) <= 0.03 * kbps:
            return k
        raise ValueError(
            f"{kbps} kbps is not supported by model {self.name!r}; supported: "
            f"{', '.join(f'{b:g}' for b in self.supported_kbps)} kbps"
        )

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-serialisable dict."""
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CodecConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error (no silent drift)."""
        if not isinstance(d, dict):
            raise TypeError(f"a codec config must be a mapping, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown codec config keys: {sorted(unknown)}")
        return cls(**d)
