"""Training data sources: audio file lists from a folder or CSV manifest, and sampling weights.

A source is a folder (searched recursively for ``.wav``/``.flac``/``.ogg``, hidden files skipped,
sorted; the *group* of a file is its first-level sub-folder, so ``root/<speaker>/.../x.flac`` is
balanced by speaker) or a CSV manifest (a path column, ``path`` or else ``file`` unless
``path_column`` says otherwise, relative paths resolved against the CSV's folder; the group is the
``group_column`` value, or one group for all when it is ``None``). Duplicate paths (first row
kept) and missing files are dropped with a warning; nothing left is an error.

Files are drawn with ``P(i) = P(group) P(i | group)`` (:func:`sampling_probabilities`), and
validation files are taken round-robin over groups so that every group is present.
"""

from __future__ import annotations

import csv
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from cplxcodec.audio import AUDIO_EXTENSIONS, AudioError

__all__ = ["AudioEntry", "list_audio_files", "sampling_probabilities"]


@dataclass(frozen=True)
class AudioEntry:
    """One audio file of a data source and its sampling group (speaker, corpus...)."""

    path: Path
    group: str


def list_audio_files(
    source: str | Path, group_column: str | None = None, path_column: str | None = None
) -> list[AudioEntry]:
    """The files of a folder or CSV manifest (rules in the module docstring).

    Raises:
        FileNotFoundError: ``source`` does not exist.
        ValueError: no files, missing columns, or no listed file exists.
    """
    src = Path(source).expanduser()
    if src.is_dir():
        files = sorted(
            p
            for p in src.rglob("*")
            if p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith(".") and p.is_file()
        )
        if not files:
            raise ValueError(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) found under {src}")
        return [
            AudioEntry(p, p.relative_to(src).parts[0] if p.parent != src else "") for p in files
        ]
    if not src.is_file():
        raise FileNotFoundError(f"data source not found: {src} (expected a folder or a CSV file)")
    with open(src, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = list(reader.fieldnames or [])
        rows = list(reader)
    col = path_column or next((c for c in ("path", "file") if c in columns), None)
    if col is None or col not in columns:
        raise ValueError(f"{src}: no path column {path_column or 'path/file'!r}; has {columns}")
    if group_column is not None and group_column not in columns:
        raise ValueError(f"{src}: no group column {group_column!r}; has {columns}")
    entries: dict[Path, AudioEntry] = {}
    missing: list[Path] = []
    n_dup = 0
    for row in rows:
        p = Path(row[col] or "")
        p = p if p.is_absolute() else src.parent / p
        if p in entries:
            n_dup += 1
        elif not p.is_file():
            missing.append(p)
        else:
            entries[p] = AudioEntry(p, (row[group_column] or "") if group_column else "")
    if n_dup:
        warnings.warn(f"{src}: ignored {n_dup} duplicate row(s) (first kept)", stacklevel=2)
    if missing:
        warnings.warn(
            f"{src}: ignored {len(missing)} listed file(s) that do not exist, e.g. {missing[0]}",
            stacklevel=2,
        )
    if not entries:
        raise ValueError(f"{src}: the manifest lists no existing audio file ({len(rows)} rows)")
    return list(entries.values())


def sampling_probabilities(
    entries: list[AudioEntry], balance_groups: bool, lengths: np.ndarray | None = None
) -> np.ndarray:
    """Probability of drawing each file: ``P(i) = P(group) P(i | group)``.

    With ``balance_groups`` every group has ``P(group) = 1/G``, else groups weigh by their file
    count (or total length). Within a group files are uniform, or proportional to ``lengths``.
    """
    w = np.ones(len(entries)) if lengths is None else np.asarray(lengths, dtype=np.float64)
    if w.shape != (len(entries),) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError("lengths must be non-negative, one per file, and not all zero")
    if not balance_groups:
        return w / w.sum()
    groups = np.array([e.group for e in entries])
    p = np.zeros(len(entries))
    names = [g for g in np.unique(groups) if w[groups == g].sum() > 0]
    for g in names:
        m = groups == g
        p[m] = w[m] / w[m].sum() / len(names)
    return p


def _round_robin(entries: list[AudioEntry]) -> list[AudioEntry]:
    """Entries reordered as first file of each group, then second of each group, ..."""
    by_group: dict[str, list[AudioEntry]] = {}
    for e in entries:
        by_group.setdefault(e.group, []).append(e)
    lists = [by_group[g] for g in sorted(by_group)]
    return [ls[k] for k in range(max(map(len, lists))) for ls in lists if k < len(ls)]


def _lengths(entries: list[AudioEntry]) -> np.ndarray:
    """Durations in seconds from the file headers; 0 (never drawn) for unreadable files."""
    out = np.zeros(len(entries))
    for k, e in enumerate(entries):
        try:
            info = sf.info(str(e.path))
            out[k] = info.frames / info.samplerate
        except (sf.LibsndfileError, RuntimeError) as err:
            warnings.warn(f"skipping a training file: cannot read {e.path}: {err}", stacklevel=3)
    if not out.any():
        raise AudioError(f"none of the {len(entries)} training files has a readable length")
    return out
