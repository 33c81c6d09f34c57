"""The bundled ``speech16k`` on real recorded speech: the CMU ARCTIC sample shipped in the package.

A floor under the quality measured when the model was bundled (``cplxcodec/zoo/README.md``), so a
broken export, a wrong checkpoint or a regression anywhere on the coding path (analysis,
quantizer, entropy coding, container, synthesis) shows up. The floors sit ~10 % under the
measured figures; raise them whenever a better model is bundled.
"""

from __future__ import annotations

import pytest
from _support import one_torch_thread

from cplxcodec.analysis import objective_metrics
from cplxcodec.audio import load_audio
from cplxcodec.cli import demo_sample_path
from cplxcodec.models import load_model, pretrained_path

#: kbps -> (PESQ-WB, STOI) floors, about 10 % under the figures measured at bundling time: the
#: 16-stage bundle of session 21 (step 43000 + 4 stages fitted after training), default
#: (variable-allocation) files: 2.91 / 0.920 at 6 kbps, 3.67 / 0.945 at 12. Earlier, with
#: constant-rate files of the 12-stage bundle:
#: PESQ-WB 2.77 / STOI 0.920 at 6 kbps, 3.56 / 0.948 at 12 kbps (step 43000, beam-8 code search,
#: 4.0 s sample; this one utterance moves by ±0.1 between bundles whichever way the 51-segment dev
#: benchmark goes; step 37250 had 2.67 / 0.918 and 3.52 / 0.949, step
#: 31250 2.77 / 0.918 and 3.53 / 0.945, step 25200 had 2.64 / 0.917 and 3.38 / 0.942, step 23550 2.63 / 0.910 and 3.42 / 0.941, step 21550 2.56 / 0.906 and 3.24 / 0.939, step 17700 2.61 / 0.908 and 3.27 / 0.934, step 14300 2.60 / 0.908 and
#: 3.14 / 0.935; step 12000 2.45 / 0.909 and
#: 3.10 / 0.932; step 7600 had 2.34 / 0.896 and 2.89 / 0.921 with greedy search, step 5350
#: 2.08 / 0.891 and 2.45 / 0.912, step 3100 1.62 / 0.860 and 1.64 / 0.875)
FLOORS = {6.0: (2.62, 0.83), 12.0: (3.30, 0.85)}


def _scores() -> dict[float, dict[str, float]]:
    codec = load_model("speech16k")
    wav, sr = load_audio(demo_sample_path(), sample_rate=codec.sample_rate, mono=True)
    x = wav[0]
    scores = {}
    for kbps in FLOORS:
        data = codec.compress(x, sr, kbps, progress=False)
        y, y_sr = codec.decompress(data, progress=False)
        assert y_sr == sr and y.shape == (1, x.shape[-1])
        scores[kbps] = objective_metrics(x, y.numpy()[0], sr)
    return scores


@pytest.mark.slow
@pytest.mark.skipif(pretrained_path("speech16k") is None, reason="no bundled speech16k weights")
def test_bundled_model_keeps_its_quality_on_real_speech() -> None:
    with one_torch_thread():
        scores = _scores()
    for kbps, (pesq_floor, stoi_floor) in FLOORS.items():
        m = scores[kbps]
        assert m["pesq_wb"] >= pesq_floor, f"{kbps:g} kbps: PESQ-WB {m['pesq_wb']:.3f}"
        assert m["stoi"] >= stoi_floor, f"{kbps:g} kbps: STOI {m['stoi']:.3f}"
    # More stages never make it clearly worse.
    assert scores[12.0]["stoi"] >= scores[6.0]["stoi"] - 0.01
