"""cplxcodec.analysis: codebook usage, phase fidelity, objective metrics, BD-rate, classical
baselines, the evaluation driver and the HTML report.

Heavy optional pieces (matplotlib figures, DNSMOS, the command functions) are imported only when
used; importing this package does no work.
"""

from cplxcodec.analysis.baselines import (
    BASELINES,
    AmrWbBaseline,
    Baseline,
    BaselineError,
    BaselineUnavailable,
    Codec2Baseline,
    OpusBaseline,
    SpeexBaseline,
    available_baselines,
    estimate_delay,
    get_baseline,
)
from cplxcodec.analysis.bdrate import bd_quality, bd_rate
from cplxcodec.analysis.evaluate import (
    CodecLike,
    EvalRecord,
    EvalResult,
    evaluate,
    find_audio_files,
    load_mono,
)
from cplxcodec.analysis.griffin_lim import griffin_lim
from cplxcodec.analysis.metrics import (
    estoi,
    log_spectral_distance,
    mel_distance,
    objective_metrics,
    pesq_wb,
    si_sdr,
    stoi,
)
from cplxcodec.analysis.mos import MetricUnavailable, dnsmos, dnsmos_available
from cplxcodec.analysis.phase import PhaseFidelity, PhaseScores, octave_band_edges, phase_fidelity
from cplxcodec.analysis.report import REPORT_SECTIONS, ReportExample, build_report
from cplxcodec.analysis.usage import CodebookUsage, codebook_usage

__all__ = [
    "BASELINES",
    "REPORT_SECTIONS",
    "AmrWbBaseline",
    "Baseline",
    "BaselineError",
    "BaselineUnavailable",
    "Codec2Baseline",
    "CodebookUsage",
    "CodecLike",
    "EvalRecord",
    "EvalResult",
    "MetricUnavailable",
    "OpusBaseline",
    "PhaseFidelity",
    "PhaseScores",
    "ReportExample",
    "SpeexBaseline",
    "available_baselines",
    "bd_quality",
    "bd_rate",
    "build_report",
    "codebook_usage",
    "dnsmos",
    "dnsmos_available",
    "estimate_delay",
    "estoi",
    "evaluate",
    "find_audio_files",
    "get_baseline",
    "griffin_lim",
    "load_mono",
    "log_spectral_distance",
    "mel_distance",
    "objective_metrics",
    "octave_band_edges",
    "pesq_wb",
    "phase_fidelity",
    "si_sdr",
    "stoi",
]
