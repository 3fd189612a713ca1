"""xpnet: neural networks with hand-written backpropagation, written once against the Python
array API standard, running on NumPy, CuPy, PyTorch tensors and array-api-strict.

The packages, in the order data flows: cli (the command line) -> training (loop, step) ->
nn (layers, losses) and optim (gradient transformations) -> backend (array libraries); fast holds
per-library accelerators of the step, io reads and writes files, trask holds the seed programs.
"""

import sys as _sys

from . import _startup as _startup  # first: a Ctrl-C of the xpnet command during the imports below
from . import nn, optim
from .backend import Backend, HostRandom, backend_of, get_backend, list_backends, to_numpy
from .errors import (
    BackendError,
    BackendMismatchError,
    CheckpointError,
    ConfigError,
    DataError,
    DivergenceError,
    ExportError,
    ShapeError,
    XpnetError,
)
from .export import Predictor, export_onnx, load
from .io import Dataset, load_arrays, load_dataset, load_features, load_model, save_arrays, save_model, train_test_split
from .nn import (
    BatchNorm,
    Dense,
    Dropout,
    Identity,
    Layer,
    LeakyReLU,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
    get_activation,
    get_loss,
    losses,
    mlp,
)
from .optim import (
    GradientTransformation,
    Optimizer,
    adam,
    adamw,
    add_decayed_weights,
    apply_updates,
    chain,
    clip_by_global_norm,
    clip_by_value,
    cosine_decay,
    exponential_decay,
    get_optimizer,
    l1,
    l2,
    rmsprop,
    scale_by_adam,
    scale_by_learning_rate,
    scale_by_momentum,
    scale_by_rms,
    sgd,
    step_decay,
    warmup,
)
from .training import (
    Callback,
    CheckpointCallback,
    History,
    Trainer,
    TrainerState,
    TrainStep,
    accuracy,
    fit,
    make_train_step,
    resume_training,
    train_step,
)
from .tree import tree_flatten, tree_unflatten
from .version import __version__

# `import xpnet.losses` and `from xpnet.losses import MSE` keep working: the module is xpnet.nn.losses
_sys.modules[__name__ + ".losses"] = losses

__all__ = [
    # backends
    "Backend",
    "HostRandom",
    "backend_of",
    "get_backend",
    "list_backends",
    "to_numpy",
    # errors
    "BackendError",
    "BackendMismatchError",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "DivergenceError",
    "ExportError",
    "ShapeError",
    "XpnetError",
    # layers and models
    "BatchNorm",
    "Dense",
    "Dropout",
    "Identity",
    "Layer",
    "LeakyReLU",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "get_activation",
    "mlp",
    "nn",
    # losses, metrics
    "accuracy",
    "get_loss",
    "losses",
    # gradient transformations (optimizers), regularisation, schedules
    "GradientTransformation",
    "Optimizer",
    "adam",
    "adamw",
    "add_decayed_weights",
    "apply_updates",
    "chain",
    "clip_by_global_norm",
    "clip_by_value",
    "cosine_decay",
    "exponential_decay",
    "get_optimizer",
    "l1",
    "l2",
    "optim",
    "rmsprop",
    "scale_by_adam",
    "scale_by_learning_rate",
    "scale_by_momentum",
    "scale_by_rms",
    "sgd",
    "step_decay",
    "warmup",
    # training
    "Callback",
    "CheckpointCallback",
    "History",
    "TrainStep",
    "Trainer",
    "TrainerState",
    "fit",
    "make_train_step",
    "resume_training",
    "train_step",
    # a trained model in use: the predictor and ONNX export
    "Predictor",
    "export_onnx",
    "load",
    # files
    "Dataset",
    "load_arrays",
    "load_dataset",
    "load_features",
    "load_model",
    "save_arrays",
    "save_model",
    "train_test_split",
    "tree_flatten",
    "tree_unflatten",
    "__version__",
]
