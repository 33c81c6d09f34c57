"""Training: ``AudioDataModule`` (data), ``CodecModule`` (LightningModule), the ``cplxcodec train``
command (LightningCLI) and checkpoint export to standalone model files.

Importing this package does no work; Lightning is imported with it.
"""

from cplxcodec.training.callbacks import (
    MallocTuning,
    TorchThreads,
    TrainingSpeed,
    log_media,
    spectrogram_figure,
)
from cplxcodec.training.cli import CodecCLI, train_main
from cplxcodec.training.data import AudioDataModule
from cplxcodec.training.export import (
    export_checkpoint,
    export_main,
    extend_main,
    extend_model_file,
    load_checkpoint_codec,
)
from cplxcodec.training.module import (
    CodecModule,
    anneal_factor,
    build_codec_config,
    warmup_cosine,
)

__all__ = [
    "AudioDataModule",
    "CodecCLI",
    "CodecModule",
    "MallocTuning",
    "TorchThreads",
    "TrainingSpeed",
    "anneal_factor",
    "build_codec_config",
    "export_checkpoint",
    "export_main",
    "extend_main",
    "extend_model_file",
    "load_checkpoint_codec",
    "log_media",
    "spectrogram_figure",
    "train_main",
    "warmup_cosine",
]
