"""Evaluation segments for the quality benchmark: ~10 s utterances built from short clips.

The dev split of the speech corpus (``build_corpus.sh``) is a CSV with a ``file`` column
(relative to the CSV's folder) and a ``speaker`` column (a speaker *group*: one voice or one
game's cast), holding clips of 0.4-20 s. Coding each clip as its own file would let the
per-file container header dominate the bitrate of 1-2 s clips, and the reference figures for
classical codecs are on utterances of about 10 s, so the benchmark codes segments instead:

1. Clips keep the CSV order within their group; groups are taken in order of first appearance.
2. A clip longer than ``max_clip = 1.5 · target`` seconds is cut into ``ceil(len / target)``
   pieces of equal length.
3. Within a group, pieces are packed greedily: the next piece joins the current segment (after a
   ``gap`` of digital silence) while that brings the segment's length closer to ``target``;
   otherwise the segment is closed and a new one starts. A group's last segment shorter than
   ``target / 2`` joins the previous one when the result is at most ``max_clip`` long.
4. Segments are listed round-robin over the groups (first segment of each group, then the
   second, ...), so the first ``N`` segments of a quick run cover several voices.

Planning needs only the clip lengths (read from the file headers); audio is read when a
segment is rendered, so a run with ``limit`` reads only the clips it uses.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from cplxcodec.audio import load_audio, resample

__all__ = [
    "Clip",
    "Piece",
    "Segment",
    "build_segments",
    "plan_segments",
    "read_clip_list",
    "render_segment",
]


@dataclass(frozen=True)
class Clip:
    """One corpus clip: its file, speaker group, length in samples and sample rate."""

    path: Path
    speaker: str
    frames: int
    sample_rate: int

    @property
    def seconds(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate


@dataclass(frozen=True)
class Piece:
    """Samples ``[start, stop)`` of a clip (at the clip's own rate)."""

    clip: Clip
    start: int
    stop: int

    @property
    def seconds(self) -> float:
        """Length in seconds."""
        return (self.stop - self.start) / self.clip.sample_rate


@dataclass
class Segment:
    """A planned evaluation segment: pieces of one speaker group joined by ``gap`` seconds of
    silence. ``name`` is ``"{speaker}:{index:03d}"`` (index within the group)."""

    name: str
    speaker: str
    pieces: list[Piece] = field(default_factory=list)
    gap: float = 0.1

    @property
    def seconds(self) -> float:
        """Length in seconds, gaps included."""
        return sum(p.seconds for p in self.pieces) + self.gap * max(0, len(self.pieces) - 1)

    def describe(self) -> dict[str, object]:
        """Plain-data description (for the benchmark's JSON output)."""
        return {
            "name": self.name,
            "speaker": self.speaker,
            "seconds": round(self.seconds, 4),
            "pieces": [
                {"file": p.clip.path.name, "start": p.start, "stop": p.stop} for p in self.pieces
            ],
        }


def read_clip_list(csv_path: str | os.PathLike[str]) -> list[Clip]:
    """Read a corpus CSV (``file`` relative to the CSV's folder, ``speaker``); lengths and rates
    come from the audio file headers. Raises ``FileNotFoundError`` / ``ValueError`` naming the
    missing file, missing column or empty list."""
    path = Path(csv_path)
    if not path.is_file():
        raise FileNotFoundError(
            f"corpus CSV not found: {path} (build it with shared/data/speech/build_corpus.sh)"
        )
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"file", "speaker"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(
                f"{path}: missing column(s) {sorted(missing)}; have {reader.fieldnames}"
            )
        rows = list(reader)
    clips = []
    for i, row in enumerate(rows, start=2):
        audio = path.parent / row["file"]
        if not audio.is_file():
            raise FileNotFoundError(f"{path} line {i}: audio file not found: {audio}")
        info = sf.info(str(audio))
        if info.frames <= 0:
            raise ValueError(f"{path} line {i}: audio file is empty: {audio}")
        clips.append(Clip(audio, row["speaker"], int(info.frames), int(info.samplerate)))
    if not clips:
        raise ValueError(f"{path}: no clips listed")
    return clips


def _split_long(clip: Clip, target: float, max_clip: float) -> list[Piece]:
    if clip.seconds <= max_clip:
        return [Piece(clip, 0, clip.frames)]
    n = math.ceil(clip.seconds / target)
    edges = np.linspace(0, clip.frames, n + 1).round().astype(int)
    return [Piece(clip, int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def _pack_group(speaker: str, pieces: list[Piece], target: float, gap: float) -> list[Segment]:
    groups: list[list[Piece]] = []
    cur: list[Piece] = []
    length = 0.0
    for p in pieces:
        grown = length + (gap if cur else 0.0) + p.seconds
        if cur and abs(grown - target) > abs(length - target):
            groups.append(cur)
            cur, grown = [], p.seconds
        cur.append(p)
        length = grown
    if cur:
        groups.append(cur)
    if len(groups) >= 2:
        last = sum(p.seconds for p in groups[-1]) + gap * (len(groups[-1]) - 1)
        prev = sum(p.seconds for p in groups[-2]) + gap * (len(groups[-2]) - 1)
        if last < target / 2 and prev + gap + last <= 1.5 * target:
            groups[-2].extend(groups.pop())
    return [Segment(f"{speaker}:{i:03d}", speaker, g, gap) for i, g in enumerate(groups)]


def plan_segments(
    clips: list[Clip], target_seconds: float = 10.0, gap_seconds: float = 0.1
) -> list[Segment]:
    """Plan segments of about ``target_seconds`` from ``clips`` (see the module docstring).

    Deterministic: the result depends only on the order and lengths of ``clips``.
    """
    if target_seconds <= 0:
        raise ValueError(f"target_seconds must be positive, got {target_seconds}")
    if gap_seconds < 0:
        raise ValueError(f"gap_seconds must be non-negative, got {gap_seconds}")
    by_speaker: dict[str, list[Piece]] = {}
    for c in clips:
        by_speaker.setdefault(c.speaker, []).extend(
            _split_long(c, target_seconds, 1.5 * target_seconds)
        )
    per_group = [
        _pack_group(s, pieces, target_seconds, gap_seconds) for s, pieces in by_speaker.items()
    ]
    out: list[Segment] = []
    for rank in range(max(len(g) for g in per_group) if per_group else 0):
        out.extend(g[rank] for g in per_group if rank < len(g))
    return out


def render_segment(segment: Segment, sample_rate: int) -> np.ndarray:
    """Read and join the pieces of ``segment`` at ``sample_rate`` (clips are downmixed to mono
    and resampled with soxr when their rate differs): float32 ``(T,)``."""
    gap = np.zeros(int(round(segment.gap * sample_rate)), dtype=np.float32)
    parts: list[np.ndarray] = []
    for i, p in enumerate(segment.pieces):
        wav, _ = load_audio(p.clip.path, sample_rate=None, mono=True)
        x = wav[0, p.start : p.stop]
        if p.clip.sample_rate != sample_rate:
            x = resample(x, p.clip.sample_rate, sample_rate)
        if i:
            parts.append(gap)
        parts.append(np.asarray(x, dtype=np.float32))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def build_segments(
    csv_path: str | os.PathLike[str],
    sample_rate: int,
    *,
    target_seconds: float = 10.0,
    gap_seconds: float = 0.1,
    limit: int | None = None,
    every: int = 1,
) -> tuple[list[Segment], dict[str, np.ndarray]]:
    """Plan the segments of a corpus CSV; render the first ``limit`` (all when None), every
    ``every``-th of them (the others are never read).

    Returns:
        ``(plans, {name: float32 (T,) waveform at sample_rate})`` for the rendered segments.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be positive, got {limit}")
    if every < 1:
        raise ValueError(f"every must be positive, got {every}")
    plans = plan_segments(read_clip_list(csv_path), target_seconds, gap_seconds)
    plans = (plans[:limit] if limit is not None else plans)[::every]
    return plans, {s.name: render_segment(s, sample_rate) for s in plans}
