"""What the command line and the scikit-learn estimators share: a network, a loss and an optimizer
built from a handful of options, input standardisation, and evaluation of a trained model.

Nothing here is backprop math: it assembles the pieces of layers.py, optim.py and losses.py.
Statistics for standardisation are host-side (NumPy), like the data loading they follow.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .activations import get_activation
from .backend import get_backend, to_float, to_numpy
from .batchnorm import BatchNorm
from .dropout import Dropout
from .errors import ConfigError, DataError, XpnetError
from .layers import Context, Dense, Sequential
from .losses import get_loss
from .optim import chain, get_optimizer
from .regularization import clip_by_global_norm
from .regularization import l2 as l2_penalty

# a classifier trained from the CLI ends in a linear layer, so only the losses that take logits
CLI_CLASSIFIER_LOSSES = ("softmax_cross_entropy", "bce_logits")
REGRESSION_LOSSES = ("mse", "half_sse")
MOMENTUM_OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop")


def parse_layers(text: str) -> list[int]:
    """"64,32" -> [64, 32]; "" -> [] (no hidden layer: a linear model)."""
    sizes = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or int(part) <= 0:
            raise ConfigError(f"layers: expected comma-separated positive integers like 64,32, got {text!r}")
        sizes.append(int(part))
    return sizes


def choose_loss(task: str, n_classes: int | None, n_targets: int, loss: str | None) -> tuple[str, int]:
    """(loss name, number of outputs) for a data set; the loss is inferred when None."""
    if task == "classification":
        name = loss or "softmax_cross_entropy"
        if name == "cross_entropy":
            name = "softmax_cross_entropy"
        if name not in CLI_CLASSIFIER_LOSSES:
            raise ConfigError(f"loss: {name!r} does not fit a classification data set; expected one of: "
                              f"{', '.join(CLI_CLASSIFIER_LOSSES)}")
        if name == "bce_logits":
            if n_classes != 2:
                raise ConfigError(f"loss: bce_logits needs exactly 2 classes, the data set has {n_classes}")
            return name, 1
        return name, int(n_classes)
    name = loss or "mse"
    if name not in REGRESSION_LOSSES:
        raise ConfigError(f"loss: {name!r} does not fit a regression data set; expected one of: "
                          f"{', '.join(REGRESSION_LOSSES)}")
    return name, int(n_targets)


def _named(option: str, build, *args):
    """build(*args), with `option` put in front of a ConfigError that names only the inner
    parameter ("rate: expected ..." -> "dropout rate: expected ...")."""
    try:
        return build(*args)
    except ConfigError as exc:
        raise ConfigError(f"{option} {exc}") from None


def build_network(n_in: int, hidden: list[int], n_out: int, *, activation: str = "relu",
                  dropout: float = 0.0, batchnorm: bool = False, seed: int | None = 0,
                  backend: Any = None, dtype: str = "float32"):
    """Dense -> [BatchNorm] -> activation -> [Dropout] per hidden layer, then a linear output
    (the fused losses take logits). He initialisation for the ReLU family, Glorot otherwise."""
    init = "he_normal" if activation in ("relu", "leaky_relu") else "glorot_uniform"
    act = get_activation(activation)  # bad names and rates fail here, before weights are drawn
    drop = _named("dropout", Dropout, dropout) if dropout else None
    layers = []
    for a, b in zip([n_in, *hidden], hidden):
        layers.append(Dense(a, b, init=init))
        if batchnorm:
            layers.append(BatchNorm(b))
        layers.append(act)  # layers hold no state, so one object can sit in several places
        if drop is not None:
            layers.append(drop)
    layers.append(Dense(([n_in, *hidden])[-1], n_out, init="glorot_uniform"))
    return Sequential(layers, seed=seed, backend=backend, dtype=dtype)


def build_optimizer(name: str = "adam", *, lr: float | None = None, momentum: float | None = None,
                    l2: float = 0.0, clip_norm: float | None = None):
    """A named optimizer, after global-norm clipping and an L2 penalty on the weights (not biases):
    clipping sees the data gradient only, as torch's clip_grad_norm_ before a weight-decay step."""
    kwargs: dict[str, Any] = {}
    if lr is not None:
        kwargs["lr"] = lr
    if momentum is not None:
        if name not in MOMENTUM_OPTIMIZERS:
            raise ConfigError(f"momentum: optimizer {name!r} takes no momentum; it applies to: "
                              f"{', '.join(MOMENTUM_OPTIMIZERS)}")
        kwargs["momentum"] = momentum
    parts = []
    if clip_norm is not None:
        parts.append(clip_by_global_norm(clip_norm))
    if l2:  # the penalty checks its own rate (a negative one is refused there)
        parts.append(_named("l2", l2_penalty, l2))
    opt = get_optimizer(name, **kwargs)
    return chain(*parts, opt) if parts else opt


class Standardizer:
    """x -> (x - mean) / std with statistics of the training inputs; constant columns keep
    std 1 so that they map to 0 instead of dividing by zero."""

    def __init__(self, mean, std) -> None:
        self.mean = np.asarray(mean, dtype=np.float64)
        self.std = np.asarray(std, dtype=np.float64)

    @classmethod
    def fit(cls, X: np.ndarray) -> "Standardizer":
        std = X.std(axis=0)
        return cls(X.mean(axis=0), np.where(std > 0, std, 1.0))

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, dtype=np.float64) - self.mean) / self.std

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "Standardizer":
        return cls(d["mean"], d["std"])


def model_to_host(model: Sequential) -> dict:
    """The model as plain host data (layers, NumPy arrays, backend by name), e.g. for pickling:
    Backend objects hold modules, which do not pickle."""
    return {"layers": model.layers, "dtype": model.dtype_name, "backend": model.backend.name,
            "device": str(model.backend.device),
            "params": {k: to_numpy(v) for k, v in model.params.items()},
            "buffers": {k: to_numpy(v) for k, v in model.buffers.items()}}


def model_from_host(snap: dict) -> Sequential:
    """Rebuild a `model_to_host` snapshot with identical values, on its backend and device where
    they exist here, else that backend's default device, else NumPy."""
    try:
        backend = get_backend(snap["backend"], device=snap["device"])
    except Exception:  # e.g. a device named by str() that get_backend does not parse
        try:
            backend = get_backend(snap["backend"])
        except XpnetError:
            backend = get_backend("numpy")
    model = Sequential(snap["layers"], backend=backend, dtype=snap["dtype"])
    model.params = {k: backend.asarray(v, snap["dtype"]) for k, v in snap["params"].items()}
    model.buffers = {k: backend.asarray(v, snap["dtype"]) for k, v in snap["buffers"].items()}
    return model


def check_width(X: np.ndarray, n_in: int, source: str) -> None:
    """DataError unless the rows of X have the n_in features the model was trained on (the
    loaders already refuse non-numeric and non-finite values)."""
    if X.shape[1] != n_in:
        raise DataError(f"{source}: {X.shape[1]} feature columns but the model expects {n_in}")


def output_activation(loss_name: str):
    """The layer that turns raw outputs into predictions for this loss (softmax for softmax CE)."""
    return get_activation(get_loss(loss_name).output)


def predict_outputs(model, X, loss_name: str):
    """Predictions in the model's namespace: probabilities for classifiers, values for regressors."""
    out = model.predict(X)
    act = output_activation(loss_name)
    return act.forward({}, {}, out, Context(model.backend.xp, model.backend.device))[0]


def evaluate_model(model, X_host: np.ndarray, y_host: np.ndarray, loss_name: str, task: str) -> dict:
    """Loss (and accuracy, predicted class per row) of a model on host data, computed on the
    model's backend; the loss and the outputs are then read on the host once each."""
    b = model.backend
    X = b.asarray(X_host, model.dtype_name)
    out = model.predict(X)
    if task == "classification":
        y = b.asarray(y_host.reshape(-1, 1), model.dtype_name) if model.n_out == 1 else b.asarray(y_host)
    else:
        y = b.asarray(y_host, model.dtype_name)
    value, _ = get_loss(loss_name)(out, y)
    result = {"loss": to_float(value)}
    if task == "classification":
        out_host = to_numpy(out)
        pred = (out_host[:, 0] > 0).astype(np.int64) if model.n_out == 1 else out_host.argmax(axis=1)
        result["accuracy"] = float(np.mean(pred == y_host))
        result["predicted"] = pred
    return result
