"""Training checkpoints and exact resume: when the loop writes one, and how a run goes on.

`CheckpointCallback(dir, every=N)` writes DIR/checkpoint.npz every N epochs, when training ends,
and after a divergence (the `on_divergence` event: the last finite state): the model's params
and buffers, the optimizer state, epoch and step, the shuffle and dropout generators' states,
history, early-stopping state (best value, patience counter, best weights), a fingerprint of the
training data in its order, the trainer's settings, and the caller's `config` (what is needed to
rebuild the run, e.g. the CLI's options). The file's layout is xpnet/io/checkpoint_file.py; it is
replaced atomically, so a crash at any moment leaves the previous checkpoint whole. A checkpoint
is only ever taken at an epoch boundary, where the state is consistent; an interrupt mid-epoch
loses at most that epoch.

Resuming reruns the same call with `resume=True` (or `resume_training(dir, X, y)`): the state is
loaded when fit starts, every setting that changes the numbers is checked against the file, and
the run continues to the same bits as an uninterrupted one (same backend and dtype).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .. import backend as _backend
from ..checks import check_int
from ..errors import CheckpointError, ConfigError, DataError
from ..io.checkpoint_file import (
    checkpoint_path,
    data_fingerprint,
    history_record,
    optimizer_leaves,
    read_checkpoint,
    write_checkpoint,
)
from ..io.model_file import build_layers, group_tensors
from ..nn import Sequential
from ..optim import get_optimizer
from ..tree import tree_unflatten
from .callbacks import Callback, as_callbacks
from .loop import Trainer


def trainer_settings(trainer) -> dict:
    """The Trainer's arguments that change the numbers, as JSON (checked when resuming)."""
    metrics = trainer.metrics
    return {
        "loss": None if trainer.loss is None else trainer.loss.name,
        "batch_size": trainer.batch_size,
        "shuffle": trainer.shuffle,
        "seed": None if trainer.seed is None else int(trainer.seed),
        "metrics": None if metrics is None else ([metrics] if isinstance(metrics, str) else list(metrics)),
        "patience": trainer.patience,
        "min_delta": trainer.min_delta,
        "restore_best": trainer.restore_best,
        "check_finite": trainer.check_finite,
        "device_rng": trainer.device_rng,
    }


def save_checkpoint(
    directory: str | os.PathLike, trainer, *, every: int = 1, config: dict | None = None, data: str | None = None
) -> Path:
    """Write `trainer`'s state (take it at an epoch boundary) to DIR/checkpoint.npz, atomically.
    data: the training data's `data_fingerprint`, checked when resuming."""
    model = trainer.model
    if "bfloat16" in model.dtype_name:
        raise ConfigError("dtype: training checkpoints hold float16/float32/float64 models, not bfloat16")
    fit_args = trainer.fit_args or {}
    records = {
        "model": {"architecture": model.architecture(), "dtype": model.dtype_name, "backend": model.backend.name},
        "trainer": trainer_settings(trainer),
        "epochs": fit_args.get("epochs"),
        "validation_split": fit_args.get("validation_split", 0.0),
        "every": every,
        "data": data,
        "config": config if config is not None else {},
    }
    return write_checkpoint(directory, trainer.state_dict(), records)


class CheckpointCallback(Callback):
    """Save a training checkpoint to `directory` every `every` epochs, after the fit's last epoch,
    and after a divergence (the last finite state).

    resume=True loads DIR's checkpoint when fit starts (once), so the same call that was
    interrupted continues it. `config`: JSON data stored with it (e.g. how to rebuild the model
    and optimizer; `resume_training` reads config["optimizer"] = {"name": ..., **kwargs}).
    """

    def __init__(
        self, directory: str | os.PathLike, every: int = 1, *, resume: bool = False, config: dict | None = None
    ) -> None:
        every = check_int("every", every, 1)  # epochs between checkpoints
        try:
            json.dumps(config, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"config: must be JSON-serialisable with finite numbers ({exc})") from None
        self.directory, self.every, self.resume, self.config = Path(directory), every, bool(resume), config
        self.trainer = self.saved_epoch = self.data = None
        self.active = True

    def on_train_begin(self, trainer) -> None:
        rngs = (trainer.state.shuffle_rng, trainer.state.dropout_rng)
        if not all(r.can_save_state for r in rngs):
            raise ConfigError(
                f"device_rng: {trainer.model.backend.name}'s device generator cannot save its state, "
                "so a checkpoint could not resume exactly; train with device_rng=False"
            )
        self.trainer, self.saved_epoch = trainer, None
        comm = getattr(trainer, "comm", None)
        self.active = comm is None or comm.rank == 0  # distributed: rank 0 reads and writes
        if not self.active:  # the others get rank 0's resumed state when fit starts (distributed/consensus.py)
            return
        self.data = data_fingerprint(*trainer.fit_data)  # once per fit: a host copy of the data on a GPU
        if self.resume:
            self.resume = False  # a later fit with this callback goes on from the live state
            restore_checkpoint(trainer, self.directory, data=self.data)
            self.saved_epoch = trainer.state.epoch

    def _save(self) -> None:
        if not self.active:
            return
        save_checkpoint(self.directory, self.trainer, every=self.every, config=self.config, data=self.data)
        self.saved_epoch = self.trainer.state.epoch

    def on_epoch_end(self, epoch, logs):
        # Also the fit's last epoch (or the one early stopping ends), before fit puts the best
        # weights back: the file holds the loop's true state, so a longer resumed run stays exact.
        st = self.trainer.state
        last = epoch + 1 == (self.trainer.fit_args or {}).get("epochs") or st.history.stopped_early
        if (epoch + 1) % self.every == 0 or last:
            self._save()

    def on_divergence(self, trainer, event) -> None:
        # the loop has put back the start of the diverging epoch, the last finite state: save it
        # (unless the file already holds exactly that state). An interrupt mid-epoch sends no
        # event: the previous file stays, and resuming replays from it.
        if self.saved_epoch != trainer.state.epoch:
            self._save()


# --- reading --------------------------------------------------------------------------------


def _check_equal(path: Path, what: str, saved: Any, current: Any) -> None:
    if saved != current:
        raise CheckpointError(
            f"{path}: {what} differs from the run being resumed: checkpoint {saved!r}, now {current!r}"
        )


def restore_checkpoint(trainer, directory: str | os.PathLike, *, data: str | None = None) -> dict:
    """Load DIR/checkpoint.npz into `trainer` (its model, optimizer state and loop state), after
    checking that the model, dtype and trainer settings match; returns the stored config.
    data: the `data_fingerprint` of the data about to be trained on, required to be the checkpoint's."""
    path = checkpoint_path(directory)
    arrays, meta = read_checkpoint(directory)
    model, st = trainer.model, trainer.state
    try:
        _check_equal(path, "architecture", meta["model"]["architecture"], model.architecture())
        _check_equal(path, "dtype", meta["model"]["dtype"], model.dtype_name)
        saved = meta["trainer"]
        for key, now in trainer_settings(trainer).items():
            if key == "loss" and now is None:
                continue  # chosen from the labels when fit starts; checked then
            _check_equal(path, key, saved[key], now)
        if data is not None and meta["data"] != data:
            raise DataError(
                f"X, y: not the training data (rows, order and dtype) the checkpoint {path} "
                f"was taken on; resume with the same data"
            )
        b = model.backend
        has_best = bool(meta["has_best"])
        template = st.opt_state if st.opt_state is not None else trainer.optimizer.init(model.params)
        opt_leaves = optimizer_leaves(arrays)
        hist = history_record(arrays, meta)
        state = {
            "epoch": int(meta["epoch"]),
            "step": int(meta["step"]),
            "params": group_tensors(path, arrays, "params", model.params, b, "the model"),
            "buffers": group_tensors(path, arrays, "buffers", model.buffers, b, "the model"),
            "opt_state": tree_unflatten(template, opt_leaves, meta["opt_spec"]),
            "shuffle_rng": meta["shuffle_rng"],
            "dropout_rng": meta["dropout_rng"],
            "history": hist,
            "best": meta["best"],
            "wait": int(meta["wait"]),
            "best_params": group_tensors(path, arrays, "best_params", model.params, b, "the model")
            if has_best
            else None,
            "best_buffers": group_tensors(path, arrays, "best_buffers", model.buffers, b, "the model")
            if has_best
            else None,
        }
        trainer.load_state_dict(state)
    except CheckpointError as exc:
        if str(path) in str(exc):
            raise
        raise CheckpointError(f"{path}: {exc}") from None
    except DataError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:  # a crafted record
        raise CheckpointError(f"{path}: malformed training record ({type(exc).__name__}: {exc})") from None
    return meta["config"]


def resume_training(
    directory: str | os.PathLike,
    X: Any,
    y: Any,
    *,
    optimizer: Any = None,
    validation_data: Any = None,
    callbacks: Any = (),
    backend: Any = None,
    device: Any = None,
):
    """Continue the run checkpointed in `directory` on (X, y), the data it was started with, to the
    number of epochs it was started for, checkpointing on as before. The model is rebuilt from the
    file (on `backend`, default the one it was trained on); the optimizer is `optimizer`, else
    built from the stored config["optimizer"] = {"name": ..., **kwargs}. Returns the Trainer."""
    path = checkpoint_path(directory)
    _, meta = read_checkpoint(directory)
    try:
        spec, settings, config = meta["model"], dict(meta["trainer"]), meta["config"]
        epochs, split, every = meta["epochs"], meta["validation_split"], meta["every"]
        model = Sequential(
            build_layers(path, spec["architecture"]),
            seed=0,
            dtype=spec["dtype"],
            backend=_backend.get_backend(backend or spec["backend"], device=device),
        )
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: malformed training record ({type(exc).__name__}: {exc})") from None
    if optimizer is None:
        opt = config.get("optimizer") if isinstance(config, dict) else None
        if not isinstance(opt, dict) or "name" not in opt:
            raise ConfigError(
                f"optimizer: {path} records none (config['optimizer']); pass optimizer= the run's optimizer"
            )
        optimizer = get_optimizer(**opt)
    trainer = Trainer(
        model,
        optimizer=optimizer,
        callbacks=[CheckpointCallback(directory, every, resume=True, config=config), *as_callbacks(callbacks)],
        **settings,
    )
    trainer.fit(X, y, epochs=epochs, validation_data=validation_data, validation_split=split)
    return trainer
