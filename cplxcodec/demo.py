"""``cplxcodec demo``: the bundled model on a bundled speech sample, end to end.

Encodes and decodes the sample at 6 and 12 kbps through real ``.cplx`` files, prints the actual
file bitrates and objective metrics (PESQ-WB, STOI, SI-SDR, mel distance), writes the decoded
audio and an HTML diagnostic report (codebook usage, phase fidelity, spectrograms, and Opus /
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
) -> dict[float, dict[str, float]]:
    """Run the demo; returns ``{kbps: {"actual_kbps": ..., metric: value}}``."""
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
    results: dict[float, dict[str, float]] = {}
    for k in kbps:
        data = codec.compress(wav, sr, k, progress=False)
        cplx = out / f"{src.stem}_{k:g}kbps.cplx"
        cplx.write_bytes(data)
        dec, dsr = codec.decompress(data, progress=False)
        wav_out = out / f"{src.stem}_{k:g}kbps.wav"
        save_audio(wav_out, dec.numpy(), dsr, overwrite=True)
        m = objective_metrics(wav[0], dec.numpy()[0], sr)
        actual = len(data) * 8 / seconds / 1000
        results[k] = {"actual_kbps": actual, **m}
        print(
            f"  {k:>4g} kbps: file {len(data)} bytes = {actual:.2f} kbps | "
            f"PESQ-WB {m['pesq_wb']:.2f}  STOI {m['stoi']:.3f}  SI-SDR {m['si_sdr']:.1f} dB  "
            f"mel {m['mel_distance']:.3f}  → {wav_out}"
        )
    if report:
        anchors = [b for b in ("opus", "speex") if b in available_baselines()]
        path = run_report(
            codec, [src], list(kbps), out / "report.html", baselines=anchors, progress=False
        )
        print(f"report: {path.resolve()}")
    print(f"outputs in {out.resolve()}")
    return results
