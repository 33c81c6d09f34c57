"""Standalone model files (save_model / load_model), checksums and the zoo loader's errors."""

from __future__ import annotations

from types import SimpleNamespace

import _support
import pytest
import torch

import cplxcodec.models.zoo as zoo
from cplxcodec.models import (
    CodecConfig,
    ComplexCodec,
    ModelFileError,
    available_models,
    fit_entropy_model,
    get_config,
    load_model,
    model_checksum,
    pretrained_path,
    save_model,
)
from cplxcodec.signals import chirp, speech_like


def tiny_config(**overrides) -> CodecConfig:
    return _support.tiny_config(**{"name": "tiny-ser", "n_stages": 4, "codebook_size": 16, **overrides})


@pytest.fixture
def model() -> ComplexCodec:
    """A tiny model whose quantizer is k-means initialised (codebooks differ from their init)."""
    m = ComplexCodec(tiny_config())
    with torch.no_grad():
        m.train()(torch.from_numpy(speech_like(0.5)).view(1, 1, -1))
    return m.eval()


def _blob(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def test_round_trip_restores_config_weights_buffers_and_card(model, tmp_path) -> None:
    path = save_model(model, tmp_path / "sub" / "m.pt", card={"trained_on": "nothing"})
    assert path.is_file() and not path.with_suffix(".pt.tmp").exists()
    loaded = load_model(path)
    assert isinstance(loaded, ComplexCodec) and not loaded.training
    assert loaded.config == model.config
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k
    assert loaded.checksum() == model.checksum()
    assert loaded.card == {"trained_on": "nothing"}
    wav = torch.from_numpy(chirp(0.3)).view(1, 1, -1)
    kbps = model.config.kbps(4)
    assert torch.equal(model.encode(wav, kbps), loaded.encode(wav, kbps))
    # a path given as a string works too
    assert load_model(str(path)).checksum() == model.checksum()


def test_round_trip_keeps_entropy_tables(model, tmp_path) -> None:
    em = fit_entropy_model(model, [speech_like(0.5, seed=s) for s in range(2)], progress=False)
    loaded = load_model(save_model(model, tmp_path / "m.pt"))
    assert loaded.entropy_model is not None
    assert loaded.entropy_model.to_dict() == em.to_dict()
    assert loaded.checksum() == model.checksum()


def test_checksum_tracks_weights_buffers_and_entropy_tables(model) -> None:
    ref = model.checksum()
    assert ref == model_checksum(model) and len(ref) == 64
    assert ComplexCodec(tiny_config()).checksum() != ref  # other random weights
    param = next(model.decoder.parameters())
    with torch.no_grad():
        old = param.detach().clone()
        param.view(-1)[0] += 1e-6  # one entry, smallest visible change
        assert model.checksum() != ref
        param.copy_(old)
    assert model.checksum() == ref
    codebook = model.quantizer.stages[-1].embed
    old = codebook.clone()
    codebook[3, 0] += 1.0
    assert model.checksum() != ref
    codebook.copy_(old)
    assert model.checksum() == ref
    fit_entropy_model(model, [speech_like(0.5)], progress=False)
    assert model.checksum() != ref


def test_checksum_covers_the_config() -> None:
    torch.manual_seed(1)
    a = ComplexCodec(tiny_config())
    torch.manual_seed(1)
    b = ComplexCodec(tiny_config(name="renamed"))
    assert a.state_dict().keys() == b.state_dict().keys()
    assert a.checksum() != b.checksum()


def test_corrupt_or_truncated_file_is_model_file_error(model, tmp_path) -> None:
    path = save_model(model, tmp_path / "m.pt")
    data = path.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="cannot read"):
        load_model(tmp_path / "trunc.pt")
    (tmp_path / "noise.pt").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ModelFileError, match="cannot read"):
        load_model(tmp_path / "noise.pt")


def test_modified_weights_fail_the_checksum(model, tmp_path) -> None:
    path = save_model(model, tmp_path / "m.pt")
    blob = _blob(path)
    name = next(k for k, v in blob["state_dict"].items() if v.is_floating_point())
    blob["state_dict"][name].view(-1)[0] += 0.5
    torch.save(blob, tmp_path / "tampered.pt")
    with pytest.raises(ModelFileError, match="checksum"):
        load_model(tmp_path / "tampered.pt")


def test_newer_version_asks_for_an_upgrade(model, tmp_path) -> None:
    blob = _blob(save_model(model, tmp_path / "m.pt"))
    blob["version"] = blob["version"] + 1
    torch.save(blob, tmp_path / "new.pt")
    with pytest.raises(ModelFileError, match=r"version 2.*upgrade cplxcodec"):
        load_model(tmp_path / "new.pt")


def test_other_files_are_not_model_files(tmp_path) -> None:
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(ModelFileError, match="not a cplxcodec model file"):
        load_model(tmp_path / "other.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(ModelFileError, match="not a cplxcodec model file"):
        load_model(tmp_path / "list.pt")


def test_pickled_objects_are_refused(model, tmp_path) -> None:
    """Files are read with weights_only=True: arbitrary pickled objects never load."""
    blob = _blob(save_model(model, tmp_path / "m.pt"))
    blob["card"] = {"obj": SimpleNamespace(x=1)}
    torch.save(blob, tmp_path / "pickled.pt")
    with pytest.raises(ModelFileError, match="cannot read"):
        load_model(tmp_path / "pickled.pt")


def test_invalid_config_in_file(model, tmp_path) -> None:
    blob = _blob(save_model(model, tmp_path / "m.pt"))
    blob["config"]["freq_strides"] = [3, 4]
    torch.save(blob, tmp_path / "badcfg.pt")
    with pytest.raises(ModelFileError, match="invalid config"):
        load_model(tmp_path / "badcfg.pt")


def test_architecture_comes_from_the_config_not_tensor_shapes(model, tmp_path) -> None:
    """A file whose (consistently checksummed) weights do not fit its config is refused."""
    other = ComplexCodec(tiny_config(latent_dim=12))
    blob = _blob(save_model(other, tmp_path / "m.pt"))
    blob["config"] = model.config.to_dict()
    fake = SimpleNamespace(
        config=model.config, state_dict=lambda: blob["state_dict"], entropy_model=None
    )
    blob["checksum"] = model_checksum(fake)
    torch.save(blob, tmp_path / "mismatch.pt")
    with pytest.raises(ModelFileError, match="do not match its config"):
        load_model(tmp_path / "mismatch.pt")


def test_missing_file(tmp_path) -> None:
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "absent.pt")
    with pytest.raises(ModelFileError, match="not found"):
        load_model(str(tmp_path / "dir") + "/")


def test_name_without_bundled_weights_explains_what_to_do(monkeypatch) -> None:
    monkeypatch.setattr(zoo, "pretrained_path", lambda name: None)
    with pytest.raises(ModelFileError, match="no bundled weights") as err:
        load_model("speech16k")
    assert "pretrained=False" in str(err.value)
    assert "speech16k" in str(err.value)


def test_every_name_without_weights_raises_model_file_error() -> None:
    for name in available_models():
        if pretrained_path(name) is None:
            with pytest.raises(ModelFileError, match="pretrained=False"):
                load_model(name)
    assert set(available_models(pretrained_only=True)) <= set(available_models())


def test_unknown_name_is_key_error() -> None:
    with pytest.raises(KeyError, match="nope"):
        load_model("nope")
    with pytest.raises(KeyError, match="available"):
        load_model("nope", pretrained=False)


def test_untrained_model_builds() -> None:
    m = load_model("speech16k", pretrained=False)
    assert isinstance(m, ComplexCodec) and not m.training
    assert m.config == get_config("speech16k")
    assert m.sample_rate == 16000 and m.n_stages == 12 and m.codebook_size == 1024


@pytest.mark.parametrize("name", available_models(pretrained_only=True))
def test_bundled_weights_load_and_verify(name: str) -> None:  # pragma: no cover - if bundled
    m = load_model(name)
    assert m.config.name == name
    assert m.checksum() == model_checksum(m)
