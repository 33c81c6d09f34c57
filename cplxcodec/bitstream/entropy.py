"""Entropy coding of RVQ codes with integer frequency tables and constriction's ANS coder.

Codes of one file form an int array ``(K, N)`` (K stages, N frames) with values in ``[0, V)``.
:class:`CodeEntropyModel` holds one integer frequency table per stage (see
:mod:`cplxcodec.bitstream.tables`) or, for stages where it pays off on held-out data, ``M``
tables selected by a context bucket ``g(code of stage k-1 in the same frame)`` learned by
:func:`cplxcodec.bitstream.context.cluster_contexts`. The tables ship with the model (a few
MB at most: ``K * M * V`` integers, e.g. 16 * 16 * 2048 = 0.5 M) and are frozen after fitting.

Bit-exactness with constriction 0.5.0
-------------------------------------
constriction's Python ``Categorical`` model accepts float probabilities only, and quantises
them to its 24-bit fixed-point precision (``DefaultContiguousCategoricalEntropyModel``). We
read its source (``src/stream/model/categorical.rs``, ``fast_quantized_cdf``): with
``perfect=False`` the left cumulative of symbol ``j`` is
``floor(cumsum_{i<j}(p_i) * scale) + j`` with ``scale = (2**24 - V) / sum(p)``, i.e. each
symbol gets weight 1 plus its floored share of the remaining ``2**24 - V``. We therefore pass
``p_i = f_i * 2**(24-P) - 1`` as float64: these are integers below ``2**24`` whose running
sums are exact in IEEE-754 double (and even single) precision, ``sum(p) = 2**24 - V`` makes
``scale == 1.0`` exactly, so the cumulative becomes ``sum_{i<j} f_i * 2**(24-P)`` with no
rounding at all, on any machine. The default ``perfect=True`` must NOT be used: it runs a
greedy KL optimisation (floating ``log1p``) that moves weight between symbols, so the table
would no longer be ours. ``tests/bitstream`` checks the resulting CDF boundary by boundary
by steering the ANS decoder to chosen quantiles. All further coding is integer arithmetic
(ANS with a 64-bit state, 32-bit words, 24-bit probabilities), hence identical everywhere.

Payload format: the ANS words as big-endian uint32 (at least 2: the coder starts from the
state ``2**32`` so that the decoder can check it ends exactly there). Symbols are decoded
stage by stage, and within a conditional stage bucket by bucket (frames of bucket 0 in time
order, then bucket 1, ...); the encoder pushes the same groups in reverse order onto the ANS
stack.

Garbage input: :meth:`CodeEntropyModel.decode` either raises :class:`PayloadError` (length not
a multiple of 4, a final zero word, more codes than the bytes can hold, or a final state
other than ``2**32`` after the last code) or returns codes that are all in ``[0, V)``: every
ANS state decodes to some symbol of the model's domain. Corruption that stays in range is
caught by the container's payload CRC32, not here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any, Literal

import constriction
import numpy as np

from cplxcodec.bitstream.context import cluster_contexts
from cplxcodec.bitstream.errors import PayloadError
from cplxcodec.bitstream.stages import (
    StageTables,
    check_codes,
    check_decoded_counts,
    check_ragged,
    fit_stage,
    max_decodable_codes,
    sent_mask,
    stage_from_dict,
    stage_to_dict,
)
from cplxcodec.bitstream.tables import MAX_PRECISION

__all__ = ["CodeEntropyModel", "constriction_categorical"]

_DICT_FORMAT = "cplxcodec.CodeEntropyModel"
_DICT_VERSION = 1
# ANS words pushed before the first symbol: state 2**32, so that every symbol costs at least
# its ideal length minus 0.0057 bits (from state 0, symbol 0 would be coded for free, and a
# payload could then claim any number of codes) and so that the decoder can check it ended
# exactly where the encoder started.
_INITIAL_STATE = np.array([0, 1], dtype=np.uint32)


def constriction_categorical(table: np.ndarray, precision: int) -> Any:
    """constriction ``Categorical`` whose 24-bit CDF is exactly ``table * 2**(24 - precision)``.

    See the module docstring for why this is exact; ``table`` must be a valid frequency table.
    """
    scaled = np.asarray(table, dtype=np.int64) << (MAX_PRECISION - precision)
    weights = (scaled - 1).astype(np.float64)
    return constriction.stream.model.Categorical(weights, perfect=False)


class CodeEntropyModel:
    """Frozen per-stage (optionally context-conditioned) integer tables for RVQ codes.

    Build with :meth:`fit` or :meth:`from_dict`; code with :meth:`encode` / :meth:`decode`.
    A model fitted for K stages codes any ``n_stages <= K`` (lower bit rates use a prefix of
    the stages).
    """

    def __init__(self, codebook_size: int, precision: int, stages: list[StageTables]) -> None:
        if not stages:
            raise ValueError("a CodeEntropyModel needs at least one stage")
        if stages[0].bucket_map is not None:
            raise ValueError("stage 0 has no previous stage and cannot be conditional")
        self.codebook_size = int(codebook_size)
        self.precision = int(precision)
        self.stages = list(stages)
        self._models: dict[tuple[int, int], Any] = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    def fit(
        cls,
        codes: Iterable[np.ndarray],
        codebook_size: int,
        precision: int = 16,
        *,
        n_buckets: int = 16,
        conditional: Literal["auto"] | bool = "auto",
        holdout: float = 0.2,
        min_gain: float = 0.005,
    ) -> CodeEntropyModel:
        """Estimate tables from training codes.

        Args:
            codes: arrays ``(K_i, N_i)`` of ints in ``[0, codebook_size)``; ``K_i`` may vary
                (stage k is fitted on the arrays that have it).
            codebook_size: ``V``.
            precision: table precision ``P`` (``2**(P-1) >= V``, ``P <= 24``).
            n_buckets: ``M``, context buckets per conditional stage.
            conditional: ``"auto"`` keeps, per stage ``k >= 1``, the conditional tables only
                if they code the held-out frames at least ``min_gain`` (relative) shorter
                than the stage's single table; ``True``/``False`` force the choice.
            holdout: fraction of the frames of every array (its last frames) held out for
                that decision; final tables are then re-estimated on all frames.
            min_gain: relative saving required to keep a conditional stage.
        """
        arrays = [check_codes(c, codebook_size, name=f"codes[{i}]") for i, c in enumerate(codes)]
        if not arrays:
            raise ValueError("fit needs at least one codes array")
        if conditional not in ("auto", True, False):
            raise ValueError(f"conditional must be 'auto', True or False, got {conditional!r}")
        if conditional == "auto" and not 0.0 < holdout < 1.0:
            raise ValueError(f"holdout must be in (0, 1) for conditional='auto', got {holdout}")
        n_stages = max(a.shape[0] for a in arrays)
        stages = []
        for k in range(n_stages):
            stages.append(
                fit_stage(
                    arrays,
                    k,
                    codebook_size,
                    precision,
                    n_buckets=n_buckets,
                    conditional=conditional if k > 0 else False,
                    holdout=holdout,
                    min_gain=min_gain,
                    cluster=cluster_contexts,
                )
            )
        return cls(codebook_size, precision, stages)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable description (integers only, plus a format tag)."""
        return {
            "format": _DICT_FORMAT,
            "version": _DICT_VERSION,
            "codebook_size": self.codebook_size,
            "precision": self.precision,
            "stages": [stage_to_dict(s) for s in self.stages],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CodeEntropyModel:
        """Rebuild a model from :meth:`to_dict` output, validating every table."""
        if not isinstance(data, dict) or data.get("format") != _DICT_FORMAT:
            raise ValueError(f"not a CodeEntropyModel dict (expected format {_DICT_FORMAT!r})")
        if data.get("version") != _DICT_VERSION:
            raise ValueError(f"unsupported CodeEntropyModel dict version {data.get('version')!r}")
        size, precision = data.get("codebook_size"), data.get("precision")
        stages = data.get("stages")
        for name, value in (("codebook_size", size), ("precision", precision)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"CodeEntropyModel dict field {name!r} must be an integer")
        if not isinstance(stages, list) or not stages:
            raise ValueError("CodeEntropyModel dict field 'stages' must be a non-empty list")
        parsed = [stage_from_dict(s, size, precision, k) for k, s in enumerate(stages)]
        return cls(size, precision, parsed)

    def checksum(self) -> str:
        """Hex SHA-256 of the canonical JSON of :meth:`to_dict` (identifies the tables)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    # ------------------------------------------------------------------ properties
    @property
    def n_stages(self) -> int:
        """K, the most stages this model can code."""
        return len(self.stages)

    @property
    def name(self) -> str:
        """Entropy mode name for the container header: "conditional" or "categorical"."""
        conditional = any(s.bucket_map is not None for s in self.stages)
        return "conditional" if conditional else "categorical"

    # ------------------------------------------------------------------ coding
    def _model(self, stage: int, bucket: int) -> Any:
        key = (stage, bucket)
        if key not in self._models:
            self._models[key] = constriction_categorical(
                self.stages[stage].tables[bucket], self.precision
            )
        return self._models[key]

    def _check_stage_count(self, n_stages: int) -> None:
        if not 1 <= n_stages <= self.n_stages:
            raise ValueError(
                f"this entropy model codes 1 to {self.n_stages} stages, got {n_stages}"
            )

    def bits(self, codes: np.ndarray) -> float:
        """Ideal code length of ``codes`` ``(K, N)`` in bits, ``sum -log2 f[s] / 2**P``."""
        codes = check_codes(codes, self.codebook_size)
        self._check_stage_count(codes.shape[0])
        total = 0.0
        for k in range(codes.shape[0]):
            stage = self.stages[k]
            buckets = stage.buckets(codes[k - 1] if k else None, codes.shape[1])
            total += float(stage.lengths(self.precision)[buckets, codes[k]].sum())
        return total

    def encode(self, codes: np.ndarray) -> bytes:
        """Entropy-code ``codes`` ``(K, N)`` (ints in ``[0, V)``, ``K <= n_stages``) to bytes."""
        codes = check_codes(codes, self.codebook_size)
        self._check_stage_count(codes.shape[0])
        return self._encode(codes, None)

    def encode_ragged(self, codes: np.ndarray, counts: np.ndarray) -> bytes:
        """Entropy-code the first ``counts[n]`` stages of every frame ``n`` of ``codes``
        ``(K, N)`` (variable stage allocation; entries after a frame's count are ignored).

        Stage ``k`` codes the frames that send it, in time order, with its tables; a conditional
        stage takes its bucket from the same frame's stage ``k - 1`` (which every frame that
        sends stage ``k`` also sends).
        """
        codes, counts = self._ragged_input(codes, counts)
        return self._encode(codes, counts)

    def _ragged_input(self, codes: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        arr, counts = check_ragged(codes, counts)
        codes = check_codes(np.where(sent_mask(arr.shape[0], counts), arr, 0), self.codebook_size)
        self._check_stage_count(codes.shape[0])
        return codes, counts

    def _encode(self, codes: np.ndarray, counts: np.ndarray | None) -> bytes:
        groups = []
        for k in range(codes.shape[0]):
            stage = self.stages[k]
            frames = slice(None) if counts is None else counts > k
            cur = codes[k, frames]
            buckets = stage.buckets(codes[k - 1, frames] if k else None, cur.shape[0])
            for m in range(stage.tables.shape[0]):
                symbols = cur[buckets == m]
                if symbols.size:
                    groups.append((symbols.astype(np.int32), self._model(k, m)))
        coder = constriction.stream.stack.AnsCoder(_INITIAL_STATE)
        for symbols, model in reversed(groups):
            coder.encode_reverse(symbols, model)
        return coder.get_compressed().astype(">u4").tobytes()

    def decode(self, data: bytes, n_stages: int, n_frames: int) -> np.ndarray:
        """Decode ``(n_stages, n_frames)`` int64 codes from :meth:`encode` output.

        Raises:
            PayloadError: the bytes cannot hold that many codes, ``n_stages`` is more than
                the model has, or the bytes are malformed (see the module docstring for what
                garbage input can and cannot be detected).
            ValueError: ``n_stages``/``n_frames`` are not non-negative integers.
        """
        for name, value in (("n_stages", n_stages), ("n_frames", n_frames)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        return self._decode(data, int(n_stages), int(n_frames), None)

    def decode_ragged(self, data: bytes, n_stages: int, counts: np.ndarray) -> np.ndarray:
        """Decode :meth:`encode_ragged` output: ``(n_stages, N)`` int64 codes, ``-1`` after
        each frame's ``counts[n]`` stages (``counts`` ``(N,)`` in ``[1, n_stages]``, from the
        stream's side information). Raises like :meth:`decode`."""
        counts = check_decoded_counts(counts, n_stages)
        return self._decode(data, int(n_stages), counts.shape[0], counts)

    def _decode(
        self, data: bytes, n_stages: int, n_frames: int, counts: np.ndarray | None
    ) -> np.ndarray:
        if not 1 <= n_stages <= self.n_stages:
            raise PayloadError(
                f"the data asks for {n_stages} stages; this entropy model codes 1 to "
                f"{self.n_stages}"
            )
        if len(data) % 4:
            raise PayloadError(f"entropy payload is {len(data)} bytes, not a whole number of words")
        total = n_stages * n_frames if counts is None else int(counts.sum())
        limit = max_decodable_codes(self.stages[:n_stages], self.precision, len(data))
        if total > limit:
            raise PayloadError(
                f"an entropy payload of {len(data)} bytes cannot hold "
                f"{total} codes (the header or payload is corrupted)"
            )
        words = np.frombuffer(data, dtype=">u4").astype(np.uint32)
        out = np.full((n_stages, n_frames), -1, dtype=np.int64)
        try:
            coder = constriction.stream.stack.AnsCoder(words)
            for k in range(n_stages):
                stage = self.stages[k]
                frames = np.arange(n_frames) if counts is None else np.nonzero(counts > k)[0]
                buckets = stage.buckets(out[k - 1, frames] if k else None, frames.shape[0])
                for m in range(stage.tables.shape[0]):
                    where = frames[buckets == m]
                    if where.size:
                        out[k, where] = coder.decode(self._model(k, m), int(where.size))
            rest = coder.get_compressed()
        except (ValueError, KeyError, RuntimeError, OverflowError) as err:
            raise PayloadError(f"entropy payload is malformed: {err}") from None
        if not np.array_equal(rest, _INITIAL_STATE):
            raise PayloadError(
                "entropy payload does not end where the last code does (corrupted payload, "
                "or wrong n_stages / n_frames)"
            )
        return out
