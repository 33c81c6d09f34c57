"""``cplxcodec train``: LightningCLI over :class:`CodecModule` and :class:`AudioDataModule`.

Subcommands::

    cplxcodec train fit      --config configs/speech16k.yaml [--ckpt_path last] [--k v ...]
    cplxcodec train validate --config configs/speech16k.yaml --ckpt_path PATH
    cplxcodec train test     --config configs/speech16k.yaml --ckpt_path PATH --data.test SRC
    cplxcodec train export   --ckpt PATH --out model.pt [--data SRC] [--entropy-seconds 600]
    cplxcodec train extend   --model speech16k --out model.pt --data SRC [--stages 4]

``--ckpt_path last`` resumes from the newest ``last.ckpt`` of the configured ModelCheckpoint
callbacks and starts from scratch (with a warning) when there is none, so the same command
starts and resumes a run. The resolved configuration is written to the logger's folder
(``config.yaml``, overwritten on resume).

On resume the configuration wins: the model arguments come from ``--config`` and the command
line, not from the hyperparameters stored in the checkpoint (plain LightningCLI does the
opposite for an explicit checkpoint file, so a changed loss weight or learning rate would be
silently ignored). Every argument that differs from the checkpoint's is listed in a warning.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.cli import LightningCLI

from cplxcodec.audio import AudioError
from cplxcodec.training.data import AudioDataModule
from cplxcodec.training.export import export_main, extend_main
from cplxcodec.training.module import CodecModule

__all__ = ["CodecCLI", "train_main"]

_SUBCOMMANDS = ("fit", "validate", "test")


class CodecCLI(LightningCLI):
    """LightningCLI limited to fit/validate/test; the trainer defaults suit complex models."""

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        full = LightningCLI.subcommands()
        return {k: v for k, v in full.items() if k in _SUBCOMMANDS}

    def _parse_ckpt_path(self) -> None:
        """Keep the configured model arguments on resume; warn where the checkpoint's differ."""
        sub = self.config.get("subcommand")
        if not sub:
            return
        ckpt_path = self.config[sub].get("ckpt_path")
        if not ckpt_path or not Path(ckpt_path).is_file():
            return  # "last"/"best" or a missing file: the Trainer resolves it or says why
        try:
            stored = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        except Exception:  # the Trainer reports an unreadable checkpoint itself
            return
        hparams = stored.get("hyper_parameters") if isinstance(stored, dict) else None
        model = self.config[sub].get("model")
        if not isinstance(hparams, dict) or model is None:
            return
        changed = {
            k: (old, model.get(k))
            for k, old in hparams.items()
            if not k.startswith("_") and k in model and _plain(old) != _plain(model.get(k))
        }
        if changed:
            listed = "; ".join(
                f"{k}: {_plain(old)} -> {_plain(new)}" for k, (old, new) in sorted(changed.items())
            )
            warnings.warn(
                f"resuming from {ckpt_path} with model arguments that differ from the "
                f"checkpoint's (the configuration is used): {listed}",
                UserWarning,
                stacklevel=2,
            )


def train_main(argv: list[str]) -> int:
    """Run ``cplxcodec train ARGS``; returns the exit code (argument errors: 2)."""
    argv = list(argv)
    if argv and argv[0] == "export":
        return export_main(argv[1:])
    if argv and argv[0] == "extend":
        return extend_main(argv[1:])
    try:
        with warnings.catch_warnings():
            # Our checkpoints are meant to hold the state after the optimizer step.
            warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optim")
            # AudioDataModule saves and restores the stream position itself (state_dict).
            warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that")
            # `python -m cplxcodec train ...` passes its arguments on, as intended.
            warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
            _run_cli(argv)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except (ValueError, FileNotFoundError, AudioError) as err:
        print(f"cplxcodec train: error: {err}", file=sys.stderr)
        return 1
    return 0


def _plain(value: Any) -> str:
    """A canonical JSON text of a hyperparameter (Namespaces, tuples and dicts normalised)."""

    def norm(v: Any) -> Any:
        if hasattr(v, "as_dict"):
            v = v.as_dict()
        if isinstance(v, dict):
            return {str(k): norm(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [norm(x) for x in v]
        if isinstance(v, int | float) and not isinstance(v, bool):
            return float(v)
        return v

    return json.dumps(norm(value), sort_keys=True, default=str)


def _run_cli(argv: list[str]) -> None:
    CodecCLI(
        CodecModule,
        AudioDataModule,
        args=argv,
        save_config_kwargs={"overwrite": True},
        seed_everything_default=0,
        auto_configure_optimizers=False,
        trainer_defaults={"use_distributed_sampler": False, "precision": "32-true"},
        parser_kwargs={"prog": "cplxcodec train"},
    )
