"""Helpers shared by test modules (importable as ``_support``: pytest puts ``tests/`` on the path).

- :func:`tiny_config`: the small ``ComplexCodec`` configuration most model, file and CLI tests
  build (16 kHz, hop 160, 12 stages × 1024 codes, as ``speech16k`` but a network of a few
  thousand parameters), with keyword overrides.
- :func:`varint` / :func:`frame_container`: an independent writer of the ``.cplx`` framing
  (either layout) around arbitrary header and payload bytes with correct CRCs, so that tests can
  build files the library's own writer refuses to produce (lying lengths, damaged headers).
- :func:`import_benchmark`: a script of ``benchmarks/`` imported as a module (with that folder on
  ``sys.path`` while it imports, so its own ``from _segments import ...`` lines resolve).
- :func:`record_refinement_weights`: patches refinement's loss so that every instance records its
  intelligibility weight (what ``stoi_weight`` options must reach).
- :func:`one_torch_thread`: a context manager that runs its body with one intra-op torch thread
  and restores the previous count. The tests' small tensors do not gain from threads, and on a
  shared 2-core machine the OpenMP barriers of a two-thread pool make them several times (up to
  10-20x) slower; bitwise comparisons also want a fixed thread count (CPU reductions depend on it).
"""

from __future__ import annotations

import contextlib
import importlib
import struct
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import torch

from cplxcodec.models import CodecConfig

__all__ = [
    "tiny_config",
    "varint",
    "frame_container",
    "one_torch_thread",
    "import_benchmark",
    "record_refinement_weights",
]

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

_TINY = dict(
    name="tiny-test", channels=(4, 8), freq_strides=(8, 4), res_blocks=1, dilations=(1,),
    attn_layers=1, attn_heads=4, attn_window=8, latent_dim=8, n_stages=12, codebook_size=1024,
)  # fmt: skip


def tiny_config(**overrides) -> CodecConfig:
    """A tiny codec configuration (see module docstring); ``overrides`` replace fields."""
    return CodecConfig(**{**_TINY, **overrides})


def import_benchmark(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` as the module ``name`` (see module docstring)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCHMARKS))


def record_refinement_weights(monkeypatch) -> list[float]:
    """Replace :class:`cplxcodec.models.refine.RefinementLoss` (through ``monkeypatch``) by a
    subclass that appends each instance's ``stoi_weight`` to the returned list."""
    import cplxcodec.models.refine as refine_module

    weights: list[float] = []

    class Recording(refine_module.RefinementLoss):
        def __init__(self, sample_rate, stoi_weight=None):
            super().__init__(sample_rate, stoi_weight)
            weights.append(self.stoi_weight)

    monkeypatch.setattr(refine_module, "RefinementLoss", Recording)
    return weights


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """One intra-op torch thread inside the block (see module docstring), restored after it."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def varint(value: int) -> bytes:
    """Unsigned LEB128, as the version-2 container writes its lengths."""
    if value < 0:
        raise ValueError(f"varint needs a non-negative value, got {value}")
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value >> 7 else 0))
        value >>= 7
        if not value:
            return bytes(out)


def _length(value: int | bytes | None, actual: int, version: int, fmt: str) -> bytes:
    if isinstance(value, bytes):  # a raw (possibly malformed) length field
        return value
    n = actual if value is None else value
    return varint(n) if version == 2 else struct.pack(fmt, n)


def frame_container(
    header: bytes,
    payload: bytes = b"xyz",
    *,
    version: int = 2,
    header_len: int | bytes | None = None,
    payload_len: int | bytes | None = None,
) -> bytes:
    """A ``.cplx`` file around ``header`` and ``payload`` with correct CRCs.

    ``version`` picks the layout (1: JSON header, fixed-width lengths; 2: binary header, varint
    lengths). ``header_len`` / ``payload_len`` default to the true lengths; an int writes that
    (possibly lying) length in the layout's encoding, bytes are written as the length field
    verbatim (e.g. an overlong varint).
    """
    if version not in (1, 2):
        raise ValueError(f"version must be 1 or 2, got {version}")
    hl = _length(header_len, len(header), version, ">I")
    pl = _length(payload_len, len(payload), version, ">Q")
    head = b"CPLX" + bytes([version]) + hl + header
    body = pl + payload
    return head + struct.pack(">I", zlib.crc32(head)) + body + struct.pack(">I", zlib.crc32(body))
