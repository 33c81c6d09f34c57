"""Golden bitstreams: fixed codes and tables must keep producing the same bytes.

The expected SHA-256 digests live in ``data/golden.json``. If the format changes on purpose,
regenerate them with ``CPLXCODEC_REGEN_GOLDEN=1 python -m pytest tests/bitstream/test_golden.py``
and commit the new file together with a format-version decision.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from cplxcodec.bitstream import (
    CodeEntropyModel,
    CplxHeader,
    RawCodeCoder,
    encode_payload,
    pack,
    quantize_counts,
    unpack,
)

GOLDEN = Path(__file__).parent / "data" / "golden.json"
SIZE, STAGES, FRAMES, PRECISION = 32, 3, 200, 12


def golden_codes() -> np.ndarray:
    """Codes from integer formulas only (no RNG whose stream could change between versions)."""
    n = np.arange(FRAMES, dtype=np.int64)
    lcg = (n * 1103515245 + 12345) % (1 << 31)
    first = (lcg >> 16) % SIZE
    skewed = np.minimum((lcg >> 8) % 97 // 7, SIZE - 1)  # values 0..13, small ones frequent
    third = (first * 3 + skewed) % SIZE
    return np.stack([first, skewed, third])


def golden_model() -> CodeEntropyModel:
    symbols = np.arange(SIZE, dtype=np.int64)
    flat = quantize_counts(np.ones(SIZE, dtype=np.int64), PRECISION)
    decaying = quantize_counts(1000 // (symbols + 1), PRECISION)
    buckets = [quantize_counts(((symbols - 8 * m) % SIZE + 1) ** 2, PRECISION) for m in range(4)]
    stages = [
        {"bucket_map": [], "tables": [flat.tolist()]},
        {"bucket_map": [], "tables": [decaying.tolist()]},
        {"bucket_map": (symbols % 4).tolist(), "tables": [b.tolist() for b in buckets]},
    ]
    return CodeEntropyModel.from_dict(
        {"format": "cplxcodec.CodeEntropyModel", "version": 1, "codebook_size": SIZE,
         "precision": PRECISION, "stages": stages}
    )


def current_digests() -> dict[str, str]:
    codes = golden_codes()
    model = golden_model()
    entropy = model.encode(codes)
    raw = RawCodeCoder(SIZE).encode(codes)
    header = CplxHeader(
        model_name="golden", model_checksum=model.checksum()[:16], sample_rate=16000, channels=1,
        num_samples=FRAMES * 320, kbps=6.0, n_stages=STAGES, codebook_size=SIZE,
        frame_count=FRAMES, chunk_frames=64, entropy=model.name,
    )
    payload = encode_payload(model, codes[None], chunk_frames=64)
    container = pack(header, payload)
    assert unpack(container)[0] == header
    header_v1 = CplxHeader(**{**header.__dict__, "format_version": 1})
    container_v1 = pack(header_v1, payload)  # the old layout, still readable and writable
    assert unpack(container_v1) == (header_v1, payload)
    np.testing.assert_array_equal(model.decode(entropy, STAGES, FRAMES), codes)

    def sha(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    return {
        "model_checksum": model.checksum()[:16],
        "entropy_sha256": sha(entropy),
        "raw_sha256": sha(raw),
        "container_sha256": sha(container),
        "container_v1_sha256": sha(container_v1),
    }


def test_golden_bitstreams_are_unchanged() -> None:
    digests = current_digests()
    if os.environ.get("CPLXCODEC_REGEN_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps(digests, indent=2, sort_keys=True) + "\n")
    expected = json.loads(GOLDEN.read_text())
    assert digests == expected, (
        "bitstream bytes changed; if intended, regenerate with CPLXCODEC_REGEN_GOLDEN=1"
    )
