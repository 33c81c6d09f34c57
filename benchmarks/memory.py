"""Peak memory and wall time of ``cplxcodec encode`` / ``decode`` on long audio.

Writes ``--minutes`` of 16 kHz mono speech-like audio (generated piece by piece with
:func:`cplxcodec.signals.speech_like`, streamed into a FLAC or WAV file so the generator itself
stays small) to a temporary folder, then runs ``python -m cplxcodec encode`` and ``decode`` as
child processes. The peak resident set size of each child is read from ``os.wait4`` (the
kernel's ``ru_maxrss`` of exactly that process), alongside a ``/proc`` sampler that records the
RSS trace (peak and the time it happened). Target: below 1 GB for one hour of audio.

Model: ``--model`` is a registered name or a model file. A registered name without bundled
weights (``speech16k`` today) is replaced by an *untrained* model of that configuration saved to
the temporary folder: memory and speed do not depend on the weights, and the script says so.

Run: ``python benchmarks/memory.py --minutes 10`` (about 2-3x the audio duration on 2 idle cores
for ``speech16k``); the default is the full hour. Options: ``--kbps``, ``--format``,
``--chunk-seconds``, ``--threads``, ``--no-decode``, ``--keep DIR``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from cplxcodec.signals import speech_like

__all__ = ["RunStats", "main", "run_child", "write_long_audio"]

REPO = Path(__file__).resolve().parents[1]
PIECE_SECONDS = 60.0


@dataclass
class RunStats:
    """One child process: exit code, wall seconds, peak RSS in MiB (wait4) and when it peaked."""

    returncode: int
    wall_s: float
    peak_rss_mib: float
    peak_at_s: float
    stderr_tail: str


def write_long_audio(path: Path, minutes: float, sample_rate: int = 16000) -> float:
    """Stream ``minutes`` of speech-like audio into ``path``; returns the duration in seconds."""
    total = int(round(minutes * 60 * sample_rate))
    piece = int(PIECE_SECONDS * sample_rate)
    fmt = "FLAC" if path.suffix == ".flac" else "WAV"
    with sf.SoundFile(str(path), "w", sample_rate, 1, "PCM_16", format=fmt) as f:
        for i, start in enumerate(range(0, total, piece)):
            n = min(piece, total - start)
            f.write(speech_like(n / sample_rate, sample_rate, seed=1000 + i)[:n])
    return total / sample_rate


def _rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_child(args: list[str], env: dict[str, str]) -> RunStats:
    """Run ``python -m cplxcodec ARGS``; peak RSS from ``os.wait4`` and a 0.2 s /proc sampler."""
    cmd = [sys.executable, "-m", "cplxcodec", *args]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    trace: list[tuple[float, float]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            rss = _rss_mib(proc.pid)
            if rss is not None:
                trace.append((time.perf_counter() - t0, rss))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    err = proc.stderr.read() if proc.stderr else b""  # drain before waiting (no pipe deadlock)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak_at = max(trace, key=lambda p: p[1])[0] if trace else float("nan")
    return RunStats(
        returncode=proc.returncode,
        wall_s=wall,
        peak_rss_mib=usage.ru_maxrss / 1024,  # Linux reports KiB
        peak_at_s=peak_at,
        stderr_tail=err.decode(errors="replace")[-2000:],
    )


def _model_arg(model: str, folder: Path) -> tuple[str, str]:
    """A model argument for the CLI, and a note on what it is."""
    from cplxcodec.models import ModelFileError, available_models, load_model, save_model

    try:
        m = load_model(model)
        return model, f"{model} ({m.num_parameters():,} parameters)"
    except ModelFileError:
        if model not in available_models():
            raise
    m = load_model(model, pretrained=False)
    path = save_model(m, folder / f"{model}-untrained.pt")
    return str(path), f"{model} UNTRAINED ({m.num_parameters():,} parameters; no bundled weights)"


def _report(name: str, stats: RunStats, seconds: float, target_mib: float) -> None:
    verdict = "ok" if stats.peak_rss_mib < target_mib else "ABOVE TARGET"
    print(
        f"{name:7s} wall {stats.wall_s:8.1f} s  ({seconds / stats.wall_s:5.2f}x real time)  "
        f"peak RSS {stats.peak_rss_mib:7.1f} MiB at {stats.peak_at_s:6.1f} s  [{verdict}]"
    )
    if stats.returncode:
        print(f"  exit code {stats.returncode}:\n{stats.stderr_tail}")


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the benchmark, print the figures; exit code 1 if a child failed."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=60.0, help="audio length (default 60)")
    p.add_argument("--model", default="speech16k", help="model name or file")
    p.add_argument("--kbps", type=float, default=6.0)
    p.add_argument("--format", choices=["flac", "wav"], default="flac")
    p.add_argument("--chunk-seconds", type=float, default=30.0)
    p.add_argument("--threads", type=int, default=2, help="OMP/MKL threads of the children")
    p.add_argument("--target-mib", type=float, default=1000 * 1000**2 / 1024**2)
    p.add_argument("--no-decode", action="store_true")
    p.add_argument("--keep", type=Path, default=None, help="work in DIR and keep the files")
    a = p.parse_args(argv)

    env = {**os.environ, "OMP_NUM_THREADS": str(a.threads), "MKL_NUM_THREADS": str(a.threads)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory(prefix="cplx-mem-") as tmp:
        folder = a.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        src, cplx, out = folder / f"long.{a.format}", folder / "long.cplx", folder / "decoded.wav"
        t0 = time.perf_counter()
        seconds = write_long_audio(src, a.minutes)
        model_arg, note = _model_arg(a.model, folder)
        print(f"model   {note}")
        print(
            f"input   {seconds / 60:.1f} min 16 kHz mono {a.format.upper()}, "
            f"{src.stat().st_size / 2**20:.1f} MiB (written in {time.perf_counter() - t0:.1f} s); "
            f"{a.threads} thread(s), chunk {a.chunk_seconds:g} s, {a.kbps:g} kbps"
        )
        common = ["--model", model_arg, "--force", "--quiet"]
        enc = run_child(
            ["encode", str(src), str(cplx), "--kbps", str(a.kbps),
             "--chunk-seconds", str(a.chunk_seconds), *common],
            env,
        )  # fmt: skip
        _report("encode", enc, seconds, a.target_mib)
        if enc.returncode:
            return 1
        kbps = cplx.stat().st_size * 8 / seconds / 1000
        print(f"file    {cplx.stat().st_size / 2**20:.2f} MiB = {kbps:.3f} kbps")
        if not a.no_decode:
            dec = run_child(["decode", str(cplx), str(out), *common], env)
            _report("decode", dec, seconds, a.target_mib)
            if dec.returncode:
                return 1
            info = sf.info(str(out))
            print(f"decoded {info.frames / info.samplerate / 60:.2f} min at {info.samplerate} Hz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
