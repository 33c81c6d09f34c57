"""``cplxcodec demo``: the bundled model on a bundled speech sample, end to end.

Encodes and decodes the sample at 6 and 12 kbps through real ``.cplx`` files: at constant rate,
with the default encoder (variable stage allocation, see
:mod:`cplxcodec.quantization.allocation`), and with analysis-by-synthesis code refinement on top
(``refine`` iterations; see :mod:`cplxcodec.models.refine`), and prints the actual file bitrates, objective metrics (PESQ-WB,
STOI, SI-SDR, mel distance) and encode times, writes the decoded audio and an HTML diagnostic
report (codebook usage, phase fidelity, spectrograms, and Opus /
Speex anchors when their Debian tools are installed), and says where everything is.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["run_demo"]


def run_demo(
    model: str | Path = "speech16k",
    input_path: str | Path | None = None,
    out_dir: str | Path = "demo_out",
    kbps: tuple[float, ...] = (6.0, 12.0),
    report: bool = True,
    refine: int = 40,
    vbr: bool = True,
) -> dict[tuple[float, int, bool], dict[str, float]]:
    """Run the demo; returns ``{(kbps, refine iterations, vbr): {"actual_kbps": ...,
    "encode_seconds": ..., metric: value}}`` for constant rate ``(k, 0, False)``, the default
    encoder ``(k, 0, True)`` and, when ``refine > 0``, ``(k, refine, True)``. With
    ``vbr=False`` every file is constant-rate: ``(k, 0, False)`` and ``(k, refine, False)``."""
    import time

    from cplxcodec.analysis import available_baselines, objective_metrics
    from cplxcodec.analysis.commands import run_report
    from cplxcodec.audio import load_audio, save_audio
    from cplxcodec.cli import demo_sample_path
    from cplxcodec.models import load_model

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    src = Path(input_path) if input_path is not None else demo_sample_path()
    codec = load_model(model)
    wav, sr = load_audio(src, sample_rate=codec.sample_rate, mono=True)
    seconds = wav.shape[-1] / sr
    print(
        f"model {codec.config.name!r} ({codec.num_parameters() / 1e6:.2f} M parameters), "
        f"input {src.name}: {seconds:.2f} s at {sr} Hz"
    )
    results: dict[tuple[float, int, bool], dict[str, float]] = {}
    modes = [(0, False)] + ([(0, True)] if vbr else []) + ([(refine, vbr)] if refine else [])
    for k in kbps:
        for r, v in modes:
            tag = ("_cbr" if vbr and not v else "") + (f"_refine{r}" if r else "")
            t0 = time.perf_counter()
            data = codec.compress(wav, sr, k, progress=False, refine=r, vbr=v)
            took = time.perf_counter() - t0
            cplx = out / f"{src.stem}_{k:g}kbps{tag}.cplx"
            cplx.write_bytes(data)
            dec, dsr = codec.decompress(data, progress=False)
            wav_out = out / f"{src.stem}_{k:g}kbps{tag}.wav"
            save_audio(wav_out, dec.numpy(), dsr, overwrite=True)
            m = objective_metrics(wav[0], dec.numpy()[0], sr)
            actual = len(data) * 8 / seconds / 1000
            results[(k, r, v)] = {"actual_kbps": actual, "encode_seconds": took, **m}
            how = f"refine {r}" if r else ("default" if v else "constant rate")
            print(
                f"  {k:>4g} kbps, {how:<16}: {len(data)} B = {actual:.2f} kbps, encoded in "
                f"{took:.1f} s | PESQ-WB {m['pesq_wb']:.2f}  STOI {m['stoi']:.3f}  "
                f"SI-SDR {m['si_sdr']:.1f} dB  mel {m['mel_distance']:.3f}  → {wav_out}"
            )
    if report:
        anchors = [b for b in ("opus", "speex") if b in available_baselines()]
        path = run_report(
            codec, [src], list(kbps), out / "report.html", baselines=anchors, progress=False
        )
        print(f"report: {path.resolve()}")
    print(f"outputs in {out.resolve()}")
    return results
