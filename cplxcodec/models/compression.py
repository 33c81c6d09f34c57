"""Bytes in and out of a codec: chunked encode/decode of long audio and the ``.cplx`` file.

Long input is processed in chunks of ``chunk_seconds`` with ``context`` frames on each side
(the model's receptive radius plus the STFT overlap, see :func:`context_frames`). Every layer of
the codec has a finite reach in time (convolutions and *windowed* time attention), so the codes of
a chunk's core frames are the codes a single pass over the whole file would give, up to float
rounding: chunk seams carry no extra error and memory stays bounded by the chunk size.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from cplxcodec.audio import AudioError, check_audio, resample
from cplxcodec.bitstream import (
    BitstreamError,
    CodeEntropyModel,
    CplxHeader,
    HeaderError,
    RawCodeCoder,
    chunk_bounds,
    decode_payload,
    encode_payload,
    pack,
    unpack,
)
from cplxcodec.bitstream.vbr import VariableStageCoder, parse_vbr_name
from cplxcodec.models.codec import ENCODE_BEAM
from cplxcodec.models.vbr import stage_budget

# Upper bounds of the framing a variable-allocation file adds to its codes and side information
# (whose length field and ANS state words the side information's cost already counts): the
# payload length varint beyond one byte, and per chunk its u32 length, the side stream's word
# rounding and the raw codes' padding byte. The budget is in raw code bits: entropy-coded codes
# are written only when the whole file is smaller.
_PAYLOAD_LENGTH_SLACK = 4
_CHUNK_FRAMING = 10
# Variable allocation is used only if its budget is at least this close to the nominal stage
# count: with very short files or chunks the side information and framing would eat more stages
# than the allocation wins back, and the file is written constant-rate instead.
_VBR_MIN_BUDGET_MARGIN = 0.5

__all__ = [
    "ModelMismatchError",
    "context_frames",
    "encode_long",
    "decode_long",
    "compress",
    "decompress",
    "fit_entropy_model",
]


class ModelMismatchError(BitstreamError):
    """A ``.cplx`` file was made by another model (name, checksum or codebook mismatch)."""


def context_frames(model) -> int:
    """Frames of context each side that make chunked processing equal to one pass.

    Sum of the time reach of every layer of the encoder (stem, dilated units, level transitions,
    windowed attention, projection) and, separately, of the decoder; the larger one plus the
    STFT overlap (``n_fft / hop`` frames) and a margin of 2.
    """
    cfg = model.config
    units = cfg.res_blocks * sum(
        cfg.dilations[j % len(cfg.dilations)] for j in range(cfg.res_blocks)
    )
    levels = len(cfg.channels)
    attn = cfg.attn_layers * (cfg.attn_window if cfg.attn_window > 0 else 10**6)
    enc = 1 + levels * units + (levels - 1) + attn + 1
    dec = 1 + attn + levels * units + levels
    stft = math.ceil(cfg.n_fft / cfg.hop_length)
    return max(enc, dec) + stft + 2


def _chunks(n_frames: int, core: int) -> list[tuple[int, int]]:
    return [(a, min(a + core, n_frames)) for a in range(0, n_frames, core)]


@torch.no_grad()
def encode_long(
    model,
    wav: torch.Tensor,
    n_stages: int,
    chunk_seconds: float = 30.0,
    progress: bool | None = None,
    beam: int = ENCODE_BEAM,
    refine: int = 0,
    vbr: bool = False,
    stage_budget: float | None = None,
    stoi_weight: float | None = None,
) -> torch.Tensor:
    """Mono ``(T,)`` waveform at the model rate → codes ``(K, N)``, in chunks (see module doc).

    ``beam``: residual-VQ search width; ``refine``: analysis-by-synthesis iterations (see
    :meth:`~cplxcodec.models.ComplexCodec.encode`). A refined chunk is refined with its context
    frames, which the neighbouring chunk refines again for itself, so with refinement the seams
    are not exactly those of one pass (the codes are still valid codes; only the search differs).
    ``vbr``: variable stage allocation over the whole file (:func:`~cplxcodec.models.vbr.
    allocate_file`; blocks restart at every chunk, as the payload codes them); the codes then
    have ``-1`` after each frame's last stage. Costs a full-depth search per chunk, and keeps
    every chunk's latent until its codes are searched (~0.1 GB per hour of audio).
    ``stage_budget``: the mean stages per frame the codes and their side information may spend
    (default ``n_stages``; :func:`compress` passes the requested bitrate's budget,
    :func:`~cplxcodec.models.vbr.stage_budget`).
    ``stoi_weight``: weight of refinement's intelligibility term (``None``: the default,
    :data:`~cplxcodec.models.refine.REFINE_STOI_WEIGHT`).
    """
    from cplxcodec.bitstream.vbr import VBR_BLOCK
    from cplxcodec.models.refine import check_refine, refine_codes
    from cplxcodec.models.vbr import allocate_file, allocation_beam

    check_refine(refine, stoi_weight=stoi_weight)
    cfg = model.config
    hop = cfg.hop_length
    x = wav.float().reshape(1, 1, -1)
    if x.shape[-1] < model.min_length():
        x = F.pad(x, (0, model.min_length() - x.shape[-1]))
    n_frames = x.shape[-1] // hop + 1
    core = max(1, int(chunk_seconds * cfg.frame_rate))
    ctx = context_frames(model)
    kbps = cfg.kbps(n_stages)
    show = progress is not False and refine > 0
    single = n_frames <= core + 2 * ctx
    pieces = (
        [(0, n_frames, 0, x.shape[-1])]
        if single
        else [
            (a, b, max(0, a - ctx) * hop, min(x.shape[-1], (b + ctx) * hop))
            for a, b in _chunks(n_frames, core)
        ]
    )
    counts = None
    latents: list[torch.Tensor | None] = []  # each piece's latent, kept for its codes (VBR)
    if vbr:
        errors = []
        for a, b, s0, s1 in pieces:
            latents.append(model.latent(x[..., s0:s1]))
            e = model.quantizer.stage_errors(latents[-1], allocation_beam(beam, refine))[0]
            errors.append(e[:, a - s0 // hop : b - s0 // hop])
        budget = float(n_stages if stage_budget is None else stage_budget)
        counts = torch.from_numpy(
            allocate_file(torch.cat(errors, dim=-1), budget, VBR_BLOCK, core, cfg.codebook_size)
        )

    def run(index: int, piece: torch.Tensor, f0: int) -> torch.Tensor:
        if counts is not None:
            z, latents[index] = latents[index], None  # freed as the codes are searched
            assert z is not None
            frames = z.shape[-1]
            part = counts[f0 : f0 + frames]
            if part.shape[0] < frames:  # the last piece may be padded to the minimum length
                part = F.pad(part, (0, frames - part.shape[0]), value=int(part[-1]))
            codes = model.quantizer.encode_counts(z, part[None], beam=beam)
        else:
            codes = model.encode(piece, kbps, beam=beam)
        codes = refine_codes(
            model, piece, codes, refine, beam=beam, progress=show, stoi_weight=stoi_weight
        )[0]
        if counts is not None and codes.shape[0] < cfg.n_stages:  # one depth for every chunk
            codes = F.pad(codes, (0, 0, 0, cfg.n_stages - codes.shape[0]), value=-1)
        return codes

    if single:
        return run(0, x, 0)
    out = []
    for i, (a, b, s0, s1) in enumerate(
        tqdm(pieces, desc="encode", unit="chunk", disable=progress is False or None)
    ):
        codes = run(i, x[..., s0:s1], s0 // hop)
        out.append(codes[:, a - s0 // hop : b - s0 // hop])
    return torch.cat(out, dim=-1)


@torch.no_grad()
def decode_long(
    model,
    codes: torch.Tensor,
    length: int,
    chunk_seconds: float = 30.0,
    progress: bool | None = None,
) -> torch.Tensor:
    """Codes ``(K, N)`` → mono waveform ``(length,)`` at the model rate, in chunks."""
    cfg = model.config
    hop = cfg.hop_length
    n_frames = codes.shape[-1]
    core = max(1, int(chunk_seconds * cfg.frame_rate))
    ctx = context_frames(model)
    if n_frames <= core + 2 * ctx:
        return model.decode(codes[None], length=length)[0, 0]
    out = torch.zeros(length)  # filled chunk by chunk: peak memory is one output + one chunk
    for a, b in tqdm(
        _chunks(n_frames, core), desc="decode", unit="chunk", disable=progress is False or None
    ):
        f0, f1 = max(0, a - ctx), min(n_frames, b + ctx)
        wav = model.decode(codes[None, :, f0:f1], length=(f1 - f0 - 1) * hop + 1)[0, 0]
        lo = (a - f0) * hop
        hi = (b - f0) * hop if b < n_frames else wav.shape[-1]
        piece = wav[lo:hi][: max(0, length - a * hop)]
        out[a * hop : a * hop + piece.shape[0]] = piece
    return out


def _resampled_length(n: int, sr_in: int, sr_out: int) -> int:
    """Length of :func:`cplxcodec.audio.resample` output: ``floor(n · out / in + 1/2)``."""
    return n if sr_in == sr_out else (2 * n * sr_out + sr_in) // (2 * sr_in)


def _frame_count(model, num_samples: int, sample_rate: int) -> int:
    """Code frames :func:`compress` writes for ``num_samples`` at ``sample_rate`` (per channel)."""
    cfg = model.config
    n = _resampled_length(num_samples, sample_rate, cfg.sample_rate)
    return max(n, model.min_length()) // cfg.hop_length + 1


def _as_channels(wav) -> np.ndarray:
    if isinstance(wav, torch.Tensor):
        wav = wav.detach().cpu().numpy()
    wav = np.asarray(wav)
    if wav.ndim == 1:
        wav = wav[None]
    if wav.ndim != 2:
        raise AudioError(f"audio must be (T,) or (C, T), got shape {wav.shape}")
    if not (np.issubdtype(wav.dtype, np.floating) or np.issubdtype(wav.dtype, np.integer)):
        raise AudioError(f"audio must be real-valued, got dtype {wav.dtype}")
    return wav.astype(np.float32, copy=False)


def _coder(model, name: str | None = None):
    vbr = parse_vbr_name(name) if name is not None else None
    if vbr is not None:
        return VariableStageCoder(_coder(model, vbr[0]), vbr[1])
    em = model.entropy_model
    if name is None:
        return em if em is not None else RawCodeCoder(model.codebook_size)
    if name == "none":
        return RawCodeCoder(model.codebook_size)
    if em is None or em.name != name:
        raise ModelMismatchError(
            f"file was entropy-coded with {name!r} tables, which this model does not have"
        )
    return em


def compress(
    model,
    wav,
    sample_rate: int,
    kbps: float,
    chunk_seconds: float = 30.0,
    progress: bool | None = None,
    beam: int = ENCODE_BEAM,
    refine: int = 0,
    vbr: bool = True,
    stoi_weight: float | None = None,
) -> bytes:
    """Audio ``(C, T)`` or ``(T,)`` at ``sample_rate`` → ``.cplx`` bytes (each channel coded).

    Input at another rate is resampled to the model rate (soxr); the header keeps the original
    rate and length so :func:`decompress` returns audio shaped like the input. ``beam`` is the
    residual-VQ search width (``1`` = greedy, fastest; files decode the same way for any beam);
    ``refine`` the analysis-by-synthesis iterations (``0`` = off; see
    :mod:`cplxcodec.models.refine`). Neither changes the format or the decoder. ``vbr`` (the
    default): variable stage allocation (:func:`encode_long`), stages moved from quiet frames to
    busy ones within the file's budget, ``kbps`` × duration less its framing (at least the size
    of the constant-rate file, :func:`~cplxcodec.models.vbr.stage_budget`); the file's entropy
    name gains ``-vbr4`` and its header's ``n_stages`` is the most stages any frame sends (the
    header's ``kbps`` is the requested rate). ``vbr=False`` writes constant-rate files.
    ``stoi_weight``: weight of refinement's intelligibility term (``None``: the default,
    :data:`~cplxcodec.models.refine.REFINE_STOI_WEIGHT`; only used when ``refine > 0``).
    """
    from cplxcodec.models.refine import check_refine

    check_refine(refine, stoi_weight=stoi_weight)
    x = _as_channels(wav)
    check_audio(x, "input audio", sample_rate)
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise AudioError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    cfg = model.config
    k = cfg.stages_for_kbps(kbps)
    channels, num_samples = x.shape
    if sample_rate != cfg.sample_rate:
        x = resample(x, int(sample_rate), cfg.sample_rate)
    chunk_frames = max(1, int(chunk_seconds * cfg.frame_rate))
    checksum = model.checksum()[:16]

    def header_for(n_stages: int, frame_count: int, entropy: str) -> CplxHeader:
        return CplxHeader(
            model_name=cfg.name,
            model_checksum=checksum,
            sample_rate=int(sample_rate),
            channels=channels,
            num_samples=num_samples,
            kbps=float(kbps),
            n_stages=n_stages,
            codebook_size=cfg.codebook_size,
            frame_count=frame_count,
            chunk_frames=chunk_frames,
            entropy=entropy,
        )

    budget = None
    if vbr:  # the codes may spend what the requested rate leaves after the file's framing
        frames = _frame_count(model, num_samples, int(sample_rate))
        longest = max(getattr(_coder(model), "name", "none"), "none", key=len)
        bounds = chunk_bounds(frames, chunk_frames)
        header_bytes = len(pack(header_for(cfg.n_stages, frames, f"{longest}-vbr4"), b""))
        framing = (header_bytes + _PAYLOAD_LENGTH_SLACK) / channels + len(bounds) * _CHUNK_FRAMING
        raw = RawCodeCoder(cfg.codebook_size)
        cbr_payload = channels * sum(4 + raw.payload_size(k, b - a) for a, b in bounds)
        cbr_bytes = len(pack(header_for(k, frames, "none"), bytes(cbr_payload))) / channels
        budget = stage_budget(
            float(kbps), num_samples / sample_rate, frames, framing, cfg.codebook_size, cbr_bytes
        )
        if budget < k - _VBR_MIN_BUDGET_MARGIN:
            vbr, budget = False, None
    codes = np.stack(
        [
            encode_long(
                model,
                torch.from_numpy(np.ascontiguousarray(ch)),
                k,
                chunk_seconds,
                progress,
                beam=beam,
                refine=refine,
                vbr=vbr,
                stage_budget=budget,
                stoi_weight=stoi_weight,
            ).numpy()
            for ch in x
        ]
    )
    if vbr:  # drop the stages no frame sends
        depth = max(1, int((codes != -1).sum(axis=1).max()))
        codes = codes[:, :depth]
        # every frame sends every stage (e.g. at the top rate): a constant-rate file, no side
        # information, decodes to the same codes
        vbr = bool((codes == -1).any())

    def file_with(coder) -> bytes:
        header = header_for(codes.shape[1], codes.shape[-1], getattr(coder, "name", "none"))
        return pack(header, encode_payload(coder, codes, chunk_frames))

    coder = _coder(model)
    if vbr:
        coder = VariableStageCoder(coder)
    data = file_with(coder)
    if getattr(coder, "inner", coder).name != "none":
        # Never worse than fixed-width codes: audio unlike the tables' training data (another
        # speaker, language or recording chain) can cost more bits under them than raw. Whole
        # files are compared: the coding's name is in the header ("none" is the shortest).
        raw_coder = RawCodeCoder(cfg.codebook_size)
        raw = file_with(VariableStageCoder(raw_coder) if vbr else raw_coder)
        if len(raw) < len(data):
            data = raw
    return data


def decompress(
    model, data: bytes, chunk_seconds: float = 30.0, progress: bool | None = None
) -> tuple[torch.Tensor, int]:
    """``.cplx`` bytes → ``(audio (C, T) float32, sample_rate)`` at the original rate and length."""
    header, payload = unpack(data)
    cfg = model.config
    checksum = model.checksum()[:16]
    if header.model_name != cfg.name or header.model_checksum != checksum:
        raise ModelMismatchError(
            f"file was made by model {header.model_name!r} (checksum {header.model_checksum[:12]}…), "
            f"not by the loaded model {cfg.name!r} ({checksum[:12]}…); load that model"
        )
    if header.codebook_size != cfg.codebook_size or header.n_stages > cfg.n_stages:
        raise ModelMismatchError("file's codebook size or stage count does not fit this model")
    expected = _frame_count(model, header.num_samples, header.sample_rate)
    if header.frame_count != expected:
        raise HeaderError(
            f"header is inconsistent: {header.num_samples} samples at {header.sample_rate} Hz "
            f"make {expected} code frames, the header says {header.frame_count}"
        )
    codes = decode_payload(
        _coder(model, header.entropy),
        payload,
        header.channels,
        header.n_stages,
        header.frame_count,
        header.chunk_frames,
    )
    # At least one sample, so that a 1-sample file at a higher rate (0 samples at the model
    # rate) still decodes and resamples back to its one sample.
    model_len = max(1, _resampled_length(header.num_samples, header.sample_rate, cfg.sample_rate))
    # Filled channel by channel (mono: the decoded array itself), never a second full copy.
    y = np.empty((header.channels, model_len), dtype=np.float32) if header.channels > 1 else None
    for c, ch in enumerate(codes):
        wav = decode_long(
            model,
            torch.from_numpy(np.asarray(ch, dtype=np.int64)),
            model_len,
            chunk_seconds,
            progress,
        ).numpy()
        if y is None:
            y = wav[None]
        else:
            y[c] = wav
    if header.sample_rate != cfg.sample_rate:
        y = resample(y, cfg.sample_rate, header.sample_rate)
    if y.shape[-1] < header.num_samples:
        y = np.pad(y, ((0, 0), (0, header.num_samples - y.shape[-1])))
    return torch.from_numpy(np.ascontiguousarray(y[:, : header.num_samples])), header.sample_rate


@torch.no_grad()
def fit_entropy_model(
    model,
    wavs: Iterable[np.ndarray],
    precision: int = 16,
    progress: bool | None = None,
    beam: int = ENCODE_BEAM,
) -> CodeEntropyModel:
    """Fit integer frequency tables on the codes of ``wavs`` (mono arrays at the model rate)
    with all stages, encoded with search width ``beam`` (as files will be), attach them to
    ``model`` and return them."""
    codes = [
        encode_long(
            model, torch.from_numpy(np.asarray(w, dtype=np.float32)), model.n_stages, beam=beam
        ).numpy()
        for w in tqdm(
            list(wavs), desc="codes for entropy tables", disable=progress is False or None
        )
    ]
    if not codes:
        raise ValueError("fit_entropy_model needs at least one waveform")
    model.entropy_model = CodeEntropyModel.fit(codes, model.codebook_size, precision=precision)
    return model.entropy_model
