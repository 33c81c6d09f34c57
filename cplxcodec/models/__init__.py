"""The codec (encoder, decoder, STFT front/back end), its registry and the model zoo."""

from cplxcodec.models.codec import ENCODE_BEAM, CodecOutput, ComplexCodec, Decoder, Encoder
from cplxcodec.models.compression import (
    ModelMismatchError,
    compress,
    decompress,
    fit_entropy_model,
)
from cplxcodec.models.config import CodecConfig
from cplxcodec.models.registry import available_configs, get_config, register_config
from cplxcodec.models.serialization import ModelFileError, model_checksum, save_model
from cplxcodec.models.zoo import available_models, load_model, pretrained_path

__all__ = [
    "ComplexCodec",
    "ENCODE_BEAM",
    "CodecConfig",
    "CodecOutput",
    "Encoder",
    "Decoder",
    "load_model",
    "available_models",
    "pretrained_path",
    "register_config",
    "get_config",
    "available_configs",
    "save_model",
    "model_checksum",
    "ModelFileError",
    "ModelMismatchError",
    "compress",
    "decompress",
    "fit_entropy_model",
]
