"""The committed training configs (``configs/*.yaml``) parse with the training CLI, and the twin
test's configs differ from the bundled model's only where they must."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from cplxcodec.training.cli import train_main

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))


def test_there_are_configs() -> None:
    assert {p.stem for p in CONFIGS} >= {
        "speech16k",
        "speech16k-real",
        "speech16k-scratch",
        "speech16k-finetune",
    }


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_parses(path: Path, capsys) -> None:
    # --print_config validates every key and type against the CLI's signatures and exits
    # before anything is built (no data needed).
    assert train_main(["fit", "--config", str(path), "--print_config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["model"] == yaml.safe_load(path.read_text())["model"]["model"]


def _flat(d, prefix=""):
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _flat(v, f"{prefix}{k}.")
    elif isinstance(d, list):
        for i, v in enumerate(d):
            yield from _flat(v, f"{prefix}{i}.")
    else:
        yield prefix[:-1], d


@pytest.mark.parametrize(
    "other, allowed",
    [
        ("speech16k-scratch", {"name", "dirpath"}),  # output paths only
        ("speech16k-real", {"name", "dirpath", "model.model"}),  # and the arithmetic
    ],
)
def test_comparison_configs_differ_only_where_they_must(other: str, allowed: set[str]) -> None:
    by_stem = {p.stem: p for p in CONFIGS}
    base = dict(_flat(yaml.safe_load(by_stem["speech16k"].read_text())))
    cmp = dict(_flat(yaml.safe_load(by_stem[other].read_text())))
    # The bundled run weights quantizer dropout from its step 20550 on, long after the
    # comparison's steps 0-5300, which used the uniform draw: the one setting it may add.
    late = {k for k in base if k.startswith("model.model_overrides.")}
    assert {k.split(".")[2] for k in late} <= {"quantizer_dropout_stages"}
    base = {k: v for k, v in base.items() if k not in late}
    assert base.keys() == cmp.keys()
    differ = {k for k in base if base[k] != cmp[k]}
    assert differ and all(k == "model.model" or k.rsplit(".", 1)[-1] in allowed for k in differ)
    assert {k for k in differ if k == "model.model"} <= allowed


def test_finetune_config_starts_from_the_bundle_with_its_codebooks_frozen() -> None:
    """configs/speech16k-finetune.yaml builds: its overrides match the bundle's config (which
    init_from checks), the weights are the bundle's, and the quantizer is frozen."""
    from cplxcodec.models import load_model
    from cplxcodec.training import CodecModule

    by_stem = {p.stem: p for p in CONFIGS}
    section = dict(yaml.safe_load(by_stem["speech16k-finetune"].read_text())["model"])
    module = CodecModule(**section)
    bundle = load_model("speech16k").state_dict()
    mine = module.codec.state_dict()
    assert mine.keys() == bundle.keys() and all(torch.equal(mine[k], bundle[k]) for k in bundle)
    assert module.codec.quantizer.frozen and module.loss.stoi is not None
    assert not any(p.requires_grad for p in module.codec.quantizer.parameters())
