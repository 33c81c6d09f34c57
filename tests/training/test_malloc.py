"""``MallocTuning`` / ``tune_malloc``: glibc keeps freed pages for reuse; opt-out and checks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cplxcodec.training import MallocTuning
from cplxcodec.training.callbacks import tune_malloc

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")


def _in_child(code: str) -> str:
    """Run ``code`` in a fresh interpreter: the tuning is process-wide, keep it out of pytest's."""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return out.stdout.strip()


@linux
def test_tuning_applies_on_glibc_and_tensors_still_work():
    code = (
        "import torch\n"
        "from cplxcodec.training.callbacks import tune_malloc\n"
        "ok = tune_malloc()\n"
        "a = torch.ones(3 << 20); b = a * 2; del a\n"  # 12 MB: from the heap now, not an mmap
        "print(ok, float(b.sum()) == 2.0 * (3 << 20))"
    )
    assert _in_child(code) == "True True"


def test_opt_out_by_environment(monkeypatch):
    monkeypatch.setenv("CPLXCODEC_NO_MALLOC_TUNING", "1")
    assert tune_malloc() is False
    cb = MallocTuning()
    cb.setup(None, None, "fit")  # type: ignore[arg-type]
    assert cb.applied is False


@linux
def test_callback_applies_at_setup():
    code = (
        "from cplxcodec.training import MallocTuning\n"
        "cb = MallocTuning(mmap_threshold=16 << 20)\n"
        "before = cb.applied\n"
        "cb.setup(None, None, 'fit')\n"
        "print(before, cb.applied)"
    )
    assert _in_child(code) == "False True"


@pytest.mark.parametrize(
    "kwargs", [{"mmap_threshold": -1}, {"trim_threshold": 1 << 31}, {"top_pad": -5}]
)
def test_out_of_range_values_are_refused(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        MallocTuning(**kwargs)
    with pytest.raises(ValueError, match=name):
        tune_malloc(**kwargs)
