"""The HTML report: every section present, every image a decodable embedded PNG."""

from __future__ import annotations

import base64
import sys
from html.parser import HTMLParser

import matplotlib
import numpy as np
import pytest

from cplxcodec.analysis import (
    REPORT_SECTIONS,
    EvalRecord,
    EvalResult,
    ReportExample,
    build_report,
    codebook_usage,
    phase_fidelity,
)
from cplxcodec.signals import speech_like

SR = 16000
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Page(HTMLParser):
    """Collects section ids and, per section, the images and tables inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.images: dict[str, list[dict[str, str]]] = {}
        self.tables: dict[str, list[str]] = {}
        self._current: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "section":
            self._current = a["id"]
            self.sections.append(a["id"])
        elif tag == "img" and self._current:
            self.images.setdefault(self._current, []).append(a)
        elif tag == "table" and self._current:
            self.tables.setdefault(self._current, []).append(a.get("id", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self._current = None


def _parse(path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _result() -> EvalResult:
    recs = []
    for codec, gain in (("cplxcodec", 0.3), ("opus", 0.0)):
        for item in ("a.wav", "b.wav"):
            for k in (6.0, 12.0):
                q = 2.0 + k / 6 + gain
                recs.append(EvalRecord(item, codec, k, k * 1.02, {"pesq_wb": q, "stoi": q / 5}))
    return EvalResult(recs, SR, [6.0, 12.0], {"amrwb": "no encoder"})


@pytest.fixture
def report_inputs() -> dict:
    x = speech_like(1.0, SR)
    y = x + np.random.default_rng(0).standard_normal(x.size).astype(np.float32) * 0.01
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 32, (1, 3, 300))
    codes[:, 2] = 0
    return {
        "usage": {"6 kbps": codebook_usage(codes, 32)},
        "phase": phase_fidelity(x, y, SR, griffin_lim_iters=4),
        "examples": [ReportExample("speech @ 6 kbps", x, y, SR)],
    }


def test_report_has_every_section_with_images(tmp_path, report_inputs) -> None:
    had_pyplot = "matplotlib.pyplot" in sys.modules
    # read the raw setting: matplotlib.get_backend() would itself resolve it through pyplot
    backend = dict.__getitem__(matplotlib.rcParams, "backend")
    out = build_report(_result(), out_path=tmp_path / "deep" / "r.html", **report_inputs)
    assert out.exists()
    page = _parse(out)
    assert page.sections == list(REPORT_SECTIONS)
    for section in ("rd-curves", "codebook-usage", "phase-fidelity", "spectrograms"):
        imgs = page.images.get(section, [])
        assert imgs, f"no image in section {section}"
        for img in imgs:
            assert img["id"].startswith(section) and img["alt"]
            prefix = "data:image/png;base64,"
            assert img["src"].startswith(prefix)
            png = base64.b64decode(img["src"][len(prefix):], validate=True)
            assert png.startswith(PNG_MAGIC) and len(png) > 1000
    assert len(page.images["rd-curves"]) == 2  # one per metric
    assert "metrics-table" in page.tables["metrics"]
    assert "bd-rate-table" in page.tables["summary"]
    text = out.read_text()
    assert "Collapsed stages: [2]" in text and "no encoder" in text
    # no global matplotlib side effects
    assert dict.__getitem__(matplotlib.rcParams, "backend") == backend
    if not had_pyplot:
        assert "matplotlib.pyplot" not in sys.modules


def test_report_without_inputs_keeps_sections(tmp_path) -> None:
    out = build_report(out_path=tmp_path / "empty.html")
    page = _parse(out)
    assert page.sections == list(REPORT_SECTIONS)
    assert not page.images
    assert out.read_text().count("provided") == len(REPORT_SECTIONS)


def test_report_accepts_mapping_examples_and_escapes(tmp_path) -> None:
    x = speech_like(0.5, SR)
    out = build_report(examples={"<b>x</b>": (x, x, SR)}, out_path=tmp_path / "r.html")
    text = out.read_text()
    assert "&lt;b&gt;x&lt;/b&gt;" in text and "<b>x</b>" not in text
    assert len(_parse(out).images["spectrograms"]) == 1
    with pytest.raises(TypeError, match="CodebookUsage"):
        build_report(usage=[1, 2], out_path=tmp_path / "bad.html")
