"""Training: the epoch loop around the step of step.py, and `fit`.

The loop keeps everything it needs between epochs in a `TrainerState` (epoch, step, optimizer
state, the host random generators, history, best weights, patience counter), so that a run can
be snapshotted with `Trainer.state_dict()` and resumed bit for bit. Per-step values stay on the
device: the loss, the accuracy count and the divergence flag are summed there and come to the
host as one small vector per epoch. The loop prints nothing: progress is a callback.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .. import backend as _backend
from ..checks import check_fraction, check_int, check_non_negative
from ..errors import ConfigError, DivergenceError, OutOfMemoryError
from ..nn.losses import get_loss
from ..optim import adam
from ..tree import map_arrays
from .callbacks import DivergenceEvent, History, as_callbacks
from .data import check_batch_rows, prepare_data, prepare_rows, prepare_weights, split_data, split_weights
from .metrics import batch_total, correct_count, epoch_loss, evaluate_sums, resolve_metrics
from .precision import skipped_steps
from .step import TrainStep

# what a Python caller can do about a divergence (the command line says it in its own words)
DIVERGENCE_ADVICE = "lower the learning rate, or pass check_finite=False to train on"

# the most bytes of shuffled rows gathered at once (see Trainer._run_epoch)
GATHER_BYTES = 16 * 2**20


def _row_size(a) -> int:
    size = 1
    for d in a.shape[1:]:
        size *= d
    return size


@dataclass
class TrainerState:
    """Everything the loop carries from one epoch to the next (the model's weights aside)."""

    epoch: int = 0  # epochs completed, i.e. the index of the next epoch
    step: int = 0  # optimizer steps taken
    opt_state: Any = None  # the optimizer's state: (named) tuples of device arrays and ints
    shuffle_rng: Any = None  # HostRandom for the epoch permutations
    dropout_rng: Any = None  # HostRandom handed to model.forward as `rng`
    history: History = field(default_factory=History)
    best: float | None = None  # best monitored value (val_loss, else loss)
    wait: int = 0  # epochs since `best` last improved: the patience counter
    best_params: dict | None = None  # kept only when early stopping restores them
    best_buffers: dict | None = None


class Trainer:
    """Mini-batch training of a Sequential model; see `fit` for the parameters."""

    def __init__(
        self,
        model,
        *,
        loss=None,
        optimizer=None,
        batch_size=None,
        shuffle=True,
        seed=0,
        metrics=None,
        patience=None,
        min_delta=0.0,
        restore_best=True,
        callbacks=(),
        check_finite=True,
        device_rng=False,
        grad_hooks=(),
        penalty=None,
        precision=None,
        comm=None,
        input_transform=None,
    ) -> None:
        self.model = model
        self.input_transform = input_transform  # applied to each gathered batch of X (see `fit`)
        self.precision = precision  # checked against the model when the step is built
        self.comm = comm  # xpnet.distributed: one rank of several processes training as one
        self.loss = None if loss is None else get_loss(loss)  # None: chosen from the labels in fit
        optimizer = adam(1e-3) if optimizer is None else optimizer
        if not (callable(getattr(optimizer, "init", None)) and callable(getattr(optimizer, "update", None))):
            raise ConfigError(
                f"optimizer: expected an xpnet Optimizer (a GradientTransformation: init, update), "
                f"got {type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        self.batch_size = check_int("batch_size", batch_size, 1, allow_none=True)
        self.shuffle = bool(shuffle)
        # checked here: HostRandom would see (and name) the derived stream seeds
        self.seed = check_int("seed", seed, 0, allow_none=True)
        self.metrics = metrics
        if metrics is not None:
            resolve_metrics(metrics, self.loss)  # unknown names fail here, not after loading data
        self.patience = check_int("patience", patience, 0, allow_none=True)
        self.min_delta = check_non_negative("min_delta", min_delta)
        self.restore_best = bool(restore_best)
        self.callbacks = as_callbacks(callbacks)
        self.check_finite = bool(check_finite)
        self.grad_hooks = tuple(grad_hooks or ())
        self.penalty = penalty  # a term of the objective (training/step.py), e.g. optim.batch_scaled_l2
        self.fit_data = self.fit_args = None  # set during fit, for callbacks
        self._step: TrainStep | None = None  # built in fit, kept for the next fit
        # device_rng: shuffles and dropout masks drawn on the device (no host-to-device copy per
        # step on a GPU); the host generator (default) gives the same numbers on every backend.
        self.device_rng = bool(device_rng)
        rng_cls = (lambda s: _backend.DeviceRandom(model.backend, s)) if device_rng else _backend.HostRandom
        self.state = TrainerState(
            shuffle_rng=rng_cls(_backend.stream_seed(seed, _backend.SHUFFLE)),
            dropout_rng=rng_cls(_backend.stream_seed(seed, _backend.DROPOUT)),
        )

    @property
    def history(self) -> History:
        return self.state.history

    # --- state for exact resume -----------------------------------------------------------------

    def _snapshot(self, with_opt_state: bool = True):
        st = self.state
        if self._step is None:  # no step has run: nothing can change these arrays in place
            return dict(self.model.params), dict(self.model.buffers), st.opt_state
        return self._step.snapshot(st.opt_state if with_opt_state else None)

    def state_dict(self) -> dict:
        """A snapshot of the model's weights and the loop: device arrays, unchanged by later
        training, in nested dicts and (named) tuples, everything else JSON-serialisable. Take it
        between epochs (e.g. in a callback's on_epoch_end) to resume exactly."""
        st = self.state
        params, buffers, opt_state = self._snapshot()
        return {
            "epoch": st.epoch,
            "step": st.step,
            "params": params,
            "buffers": buffers,
            "opt_state": opt_state,
            "shuffle_rng": st.shuffle_rng.get_state(),
            "dropout_rng": st.dropout_rng.get_state(),
            "history": st.history.as_dict(),
            "best": st.best,
            "wait": st.wait,
            "best_params": st.best_params,
            "best_buffers": st.best_buffers,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a `state_dict()` snapshot (arrays may be host NumPy arrays): the next `fit`
        continues with epoch `state["epoch"]`. The arrays given are not written into later."""
        b, st = self.model.backend, self.state
        to_device = b.asarray  # no copy: a step copies what it did not make before writing
        self.model.params = map_arrays(to_device, dict(state["params"]))
        self.model.buffers = map_arrays(to_device, dict(state["buffers"]))
        st.opt_state = map_arrays(to_device, state["opt_state"])
        st.epoch, st.step = int(state["epoch"]), int(state["step"])
        st.shuffle_rng.set_state(state["shuffle_rng"])
        st.dropout_rng.set_state(state["dropout_rng"])
        st.history = History.from_dict(state["history"])
        st.best, st.wait = state["best"], int(state["wait"])
        st.best_params = map_arrays(to_device, state["best_params"])
        st.best_buffers = map_arrays(to_device, state["best_buffers"])

    # --- the loop -------------------------------------------------------------------------------

    def _train_step(self) -> TrainStep:
        """The step for the model, loss and optimizer, built once and kept across fits."""
        s = self._step
        if s is None or s.model is not self.model or s.loss_fn is not self.loss or s.optimizer is not self.optimizer:
            self._step = TrainStep(
                self.model,
                self.loss,
                self.optimizer,
                grad_hooks=self.grad_hooks,
                penalty=self.penalty,
                precision=self.precision,
                comm=self.comm,
            )
        return self._step

    def fit(
        self, X, y, *, epochs=10, validation_data=None, validation_split=0.0, sample_weight=None, rows=None
    ) -> History:
        """Train until epoch index `epochs` (continuing from `state.epoch`); returns the History.
        sample_weight: one non-negative weight per row of X (see `fit`). rows: train on these
        rows of X only (distinct integer indices, e.g. all but a held-out set), without copying
        them out: each batch gathers its rows from X."""
        check_int("epochs", epochs, 1)
        check_fraction("validation_split", validation_split)
        if validation_split and validation_data is not None:
            raise ConfigError("validation_split: give either validation_split or validation_data, not both")
        model, st = self.model, self.state
        tf = self.input_transform
        X, y, self.loss = prepare_data(model, X, y, self.loss, transform=tf)
        w = None if sample_weight is None else prepare_weights(model, sample_weight, X.shape[0])
        if rows is not None:
            if validation_split:
                raise ConfigError("rows: give either rows or validation_split, not both")
            rows = prepare_rows(model, rows, X.shape[0])
        val = None
        if validation_split:
            X, y, *val = split_data(model, X, y, validation_split, self.seed)
            val[0] = self._input(val[0])
            if w is not None:
                w, w_val = split_weights(model, w, validation_split, self.seed)
                val.append(w_val)
        elif validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ConfigError("validation_data: expected a pair (X_val, y_val)")
            Xv, yv, _ = prepare_data(model, *validation_data, self.loss, name="validation_data ", transform=tf)
            val = (self._input(Xv), yv)  # held rows in memory: transformed once
        metrics = resolve_metrics(self.metrics, self.loss)
        check_batch_rows(model, X.shape[0] if rows is None else rows.shape[0], self.batch_size)
        if self.comm is not None:
            self.comm.check_batches(
                X.shape[0] if rows is None else rows.shape[0], self.batch_size, weighted=w is not None
            )
        step = self._train_step()
        if st.opt_state is None:
            st.opt_state = step.init_state()
        st.history.stopped_early = False
        # for callbacks: a training checkpoint fingerprints the data and records the run's length
        self.fit_data, self.fit_args = (X, y), {"epochs": epochs, "validation_split": validation_split}
        if self.comm is not None:  # every rank holds the same data and options, or all refuse here
            self.comm.check(self, X, y, val)
        for cb in self.callbacks:
            cb.on_train_begin(self)  # may load a checkpoint (checkpoints.py): the loop starts after it
        if self.comm is not None:  # rank 0's state (resumed or fresh) on every rank
            self.comm.share_state(self)
        # a run resumed from a checkpoint that had stopped early is over: train no further
        first = epochs if st.history.stopped_early else st.epoch
        try:  # on_train_end also after a DivergenceError or an interrupt (a progress bar closes)
            for epoch in range(first, epochs):
                for cb in self.callbacks:
                    cb.on_epoch_begin(epoch)
                logs = self._run_epoch(epoch, step, X, y, val, metrics, w, rows)
                stop = self._end_epoch(epoch, logs)
                for cb in self.callbacks:
                    stop = bool(cb.on_epoch_end(epoch, dict(logs))) or stop
                if self.comm is not None:  # a callback of one rank (rank 0's) stops them all
                    stop = self.comm.any(stop)
                if stop:
                    break
            if self.patience is not None and self.restore_best and st.best_params is not None:
                model.params, model.buffers = dict(st.best_params), dict(st.best_buffers)
        finally:
            for cb in self.callbacks:
                cb.on_train_end(self)
            self.fit_data = None  # do not keep the data alive after fit
        return st.history

    def _input(self, x):
        """Gathered rows of X as the model takes them: input_transform(x) at the model's dtype."""
        return x if self.input_transform is None else self.model.as_input(self.input_transform(x))

    def _run_epoch(self, epoch, step, X, y, val, metrics, w=None, rows=None) -> dict[str, float]:
        model, st, loss = self.model, self.state, self.loss
        b, xp, dtype = model.backend, model.backend.xp, model.dtype
        n = X.shape[0] if rows is None else rows.shape[0]
        bs = n if self.batch_size is None else min(self.batch_size, n)
        n_batches = math.ceil(n / bs)
        if self.check_finite:  # the last finite state, put back if this epoch diverges
            start = (step.snapshot(st.opt_state), st.step, st.shuffle_rng.get_state(), st.dropout_rng.get_state())
        # One host-to-device copy of the permutation per epoch; the shuffled rows are gathered a
        # chunk of whole batches at a time (at most GATHER_BYTES), so memory holds the data and a
        # chunk, not a shuffled copy of the data too, and small batches still cost one slice each.
        perm = b.asarray(st.shuffle_rng.permutation(n)) if self.shuffle else None
        if rows is not None:  # the epoch's order of the chosen rows: a permutation of them
            perm = rows if perm is None else xp.take(rows, perm, axis=0)
        row_bytes = 8 * (_row_size(X) + _row_size(y))  # 8 bytes a value: an upper bound is enough
        copies = 1 if self.input_transform is None else 4  # a transform (a standardiser) makes ~3 more
        chunk = max(1, GATHER_BYTES // (copies * row_bytes * bs)) * bs
        c_start = c_end = 0
        zero = xp.zeros((), dtype=dtype, device=b.device)
        total, correct, n_finite = zero, zero, zero
        skipped_before = skipped_steps(st.opt_state)  # a loss-scaled run's overflow count (precision.py)
        all_finite = xp.ones((), dtype=xp.bool, device=b.device)
        for i in range(n_batches):
            a, z = i * bs, min((i + 1) * bs, n)  # strict refuses slice stops past the end
            shard = None if self.comm is None else self.comm.shard(a, z)  # this rank's rows of the batch
            if shard is not None:  # a rank gathers its rows only (X may be memory-mapped); no weights here
                a, z = shard.start, shard.stop
                if perm is None:
                    xb, yb, wb = self._input(X[a:z, ...]), y[a:z, ...], None
                else:
                    xb, yb, wb = self._input(xp.take(X, perm[a:z], axis=0)), xp.take(y, perm[a:z], axis=0), None
            elif perm is None:
                xb, yb, wb = self._input(X[a:z, ...]), y[a:z, ...], None if w is None else w[a:z]
            else:
                if a >= c_end:  # the next chunk of shuffled rows
                    c_start, c_end = a, min(a + chunk, n)
                    xb = yb = wb = Xc = yc = wc = None  # the last chunk goes before the next comes
                    chunk_rows = perm[c_start:c_end]  # not `rows` (the epoch's chosen rows, used below)
                    Xc, yc = self._input(xp.take(X, chunk_rows, axis=0)), xp.take(y, chunk_rows, axis=0)
                    wc = None if w is None else xp.take(w, chunk_rows, axis=0)
                i0, i1 = a - c_start, z - c_start
                xb, yb, wb = Xc[i0:i1, ...], yc[i0:i1, ...], None if w is None else wc[i0:i1]
            try:
                value, out, st.opt_state = step(xb, yb, st.opt_state, st.dropout_rng, weights=wb, shard=shard)
            except Exception as exc:
                self._out_of_memory(exc, bs, step, start if self.check_finite else None)
                raise
            # a weighted mean counts as many rows as its weights add up to
            rows_in = xb.shape[0] if wb is None else xp.sum(wb, dtype=wb.dtype)
            total = total + batch_total(value, rows_in, loss)
            if "accuracy" in metrics:
                correct = correct + correct_count(out, yb, loss, xp=xp)
            if self.check_finite:
                # A non-finite gradient makes the updated weights non-finite; their sum is a cheap
                # test (it also trips on weights so large that the sum overflows: divergence too).
                w_sum = sum(xp.sum(p, dtype=p.dtype) for p in model.params.values())
                all_finite = all_finite & xp.isfinite(value) & xp.isfinite(w_sum)
                n_finite = n_finite + xp.astype(all_finite, dtype)  # steps before the first bad one
            st.step += 1
            for cb in self.callbacks:
                cb.on_batch_end(i, n_batches)
        w_total = zero if w is None else xp.sum(w if rows is None else xp.take(w, rows, axis=0), dtype=w.dtype)
        sums = [total, correct, n_finite, w_total]
        if val is not None and self.comm is not None:  # each rank evaluates its slice of the validation rows
            s = self.comm.shard(0, val[0].shape[0])
            local = (val[0][s.start : s.stop, ...], val[1][s.start : s.stop, ...])
            empty = local[0].shape[0] == 0
            sums += [zero, zero] if empty else list(evaluate_sums(model, *local, loss, batch_size=self.batch_size))
        elif val is not None:
            sums += list(
                evaluate_sums(
                    model, *val[:2], loss, batch_size=self.batch_size, weights=val[2] if len(val) == 3 else None
                )
            )
        host = _backend.to_numpy(xp.stack(sums))  # the epoch's one device-to-host transfer
        if self.comm is not None:  # totals over every rank's rows; steps before the first bad one on any
            host = self.comm.combine(host, min_at=(2,))
        if self.check_finite and int(host[2]) < n_batches:
            self._diverged(epoch, int(host[2]), n_batches, step, start)
        logs = {"loss": epoch_loss(float(host[0]), n if w is None else float(host[3]), loss)}
        if skipped_before is not None:
            logs["skipped_steps"] = skipped_steps(st.opt_state) - skipped_before
        if "accuracy" in metrics:
            logs["accuracy"] = float(host[1]) / n
        if val is not None:
            n_val = val[0].shape[0]
            val_weight = n_val if len(val) == 2 else float(host[6])
            logs["val_loss"] = epoch_loss(float(host[4]), val_weight, loss)
            if "accuracy" in metrics:
                logs["val_accuracy"] = float(host[5]) / n_val
        return logs

    def _put_back(self, step, start) -> None:
        """The weights, optimizer state, step count and generators of the epoch's start."""
        st = self.state
        snap, st.step, shuffle, dropout = start
        st.opt_state = step.restore(snap)
        st.shuffle_rng.set_state(shuffle)
        st.dropout_rng.set_state(dropout)

    def _out_of_memory(self, exc, bs, step, start) -> None:
        """A library's out-of-memory error as one line (OutOfMemoryError) naming the batch size and
        what was asked for, the weights of the epoch's start put back; other errors pass."""
        needed = _backend.out_of_memory(exc)
        if needed is None:
            return
        b = self.model.backend
        if start is not None:
            self._put_back(step, start)
        asked = f" (an allocation of {needed} failed)" if needed else ""
        raise OutOfMemoryError(
            f"batch_size {bs}: out of memory on {b.name} {b.device_name} in a training step{asked}; "
            f"lower the batch size (--batch-size) or the layer sizes"
        ) from None

    def _diverged(self, epoch, bad, n_batches, step, start) -> None:
        """Put back the state of the epoch's start, tell the callbacks, raise DivergenceError."""
        st = self.state
        self._put_back(step, start)
        event = DivergenceEvent(epoch=epoch, step=st.step + bad, batch=bad, n_batches=n_batches, restored_step=st.step)
        for cb in self.callbacks:
            cb.on_divergence(self, event)
        raise DivergenceError(
            # epochs and batches counted from 1 in words, as every display counts them; the
            # attributes stay indices (History.epoch's)
            f"training diverged at epoch {epoch + 1}, step {event.step} (batch {bad + 1} of {n_batches}): "
            f"the loss or a gradient is not finite; weights restored to the start of epoch {epoch + 1} "
            f"({DIVERGENCE_ADVICE})",
            epoch=epoch,
            step=event.step,
            batch=bad,
            history=st.history,
        )

    def _end_epoch(self, epoch, logs) -> bool:
        """Record the epoch; update the best value and the patience counter; True to stop."""
        st = self.state
        monitor = logs.get("val_loss", logs["loss"])
        if math.isfinite(monitor) and (st.best is None or monitor < st.best - self.min_delta):
            st.best, st.wait, st.history.best_epoch = monitor, 0, epoch
            if self.patience is not None and self.restore_best:
                st.best_params, st.best_buffers, _ = self._snapshot(with_opt_state=False)
        else:
            st.wait += 1
        st.history.append(epoch, logs)
        st.epoch = epoch + 1
        # Keras' rule: stop after `patience` epochs in a row without improvement (0 acts as 1).
        stop = self.patience is not None and st.wait > 0 and st.wait >= self.patience
        st.history.stopped_early = stop
        return stop


def fit(
    model,
    X,
    y,
    *,
    loss=None,
    optimizer=None,
    epochs=10,
    batch_size=None,
    shuffle=True,
    seed=0,
    validation_data=None,
    validation_split=0.0,
    metrics=None,
    patience=None,
    min_delta=0.0,
    restore_best=True,
    callbacks=(),
    check_finite=True,
    device_rng=False,
    grad_hooks=(),
    sample_weight=None,
    penalty=None,
    precision=None,
    comm=None,
    input_transform=None,
    rows=None,
) -> History:
    """Train `model` on (X, y) and return its History.

    X, y: arrays of the model's backend, or host data (lists, NumPy arrays), converted once.
        y: integer class labels (samples,), one-hot rows, or targets (samples, n_out).
    loss: a name or Loss; None picks softmax_cross_entropy for class labels with several outputs,
        bce_logits for 0/1 labels with one output, else mse. optimizer: None is adam(1e-3).
    batch_size: None trains on the full batch; the last batch may be smaller. shuffle: reshuffle
        every epoch from `seed`, which also seeds the validation split and dropout.
    validation_data (X_val, y_val) or validation_split (a seeded fraction held out: the same rows
        as `xpnet train --val-split` and `train_test_split` hold out for the same seed).
    metrics: names from "loss", "accuracy"; None adds accuracy for classification losses. The
        history's loss is the loss over all rows as the loss defines it (a mean, or half_sse's
        sum), whatever the batch size.
    patience: stop after this many epochs without an improvement of more than `min_delta` in
        val_loss (loss without validation); restore_best then puts the best weights back.
    callbacks: Callback objects or functions f(epoch, logs) -> True to stop.
    check_finite: raise DivergenceError at the first non-finite loss or gradient.
    device_rng: draw shuffles and dropout masks with the backend's own generator on its device
        (CuPy, torch) instead of the host; faster on a GPU, but the numbers differ per library.
    grad_hooks: functions grads -> grads run at the step's gradient seam (training/step.py).
    sample_weight: one non-negative weight per row (None: all 1). Each batch's loss becomes the
        weighted mean sum_i w_i l_i / sum_i w_i (nn/losses.py), the history's loss the weighted
        mean over all rows (accuracy stays a plain count); validation_split splits the weights
        with the rows and weights val_loss. Weighted steps take the generic path.
    penalty: a term of the objective, penalty(params, grads, batch_weight) -> (value, grads), e.g.
        optim.batch_scaled_l2(alpha) (scikit-learn's alpha); its value is part of the loss.
    precision: "mixed-bf16" or "mixed-f16" (training/precision.py): forward and backward in that
        dtype around the model's float32 weights, float16 with dynamic loss scaling (the steps
        it skipped are the history's "skipped_steps"); None: everything in the model's dtype.
    comm: an xpnet.distributed communicator: this process is one of several training the model
        as one (batch_size is the global batch); None trains in this process alone.
    input_transform: a function applied to each batch of X's rows as it is gathered (and to the
        validation rows), e.g. an nn.Standardizer: X stays as given, so a memory-mapped X is read a
        batch at a time and never copied whole. rows: train on these rows of X only (Trainer.fit).
    """
    trainer = Trainer(
        model,
        loss=loss,
        optimizer=optimizer,
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        metrics=metrics,
        patience=patience,
        min_delta=min_delta,
        restore_best=restore_best,
        callbacks=callbacks,
        check_finite=check_finite,
        device_rng=device_rng,
        grad_hooks=grad_hooks,
        penalty=penalty,
        precision=precision,
        comm=comm,
        input_transform=input_transform,
    )
    return trainer.fit(
        X,
        y,
        epochs=epochs,
        validation_data=validation_data,
        validation_split=validation_split,
        sample_weight=sample_weight,
        rows=rows,
    )
