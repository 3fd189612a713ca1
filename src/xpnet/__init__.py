"""xpnet: neural networks with hand-written backpropagation, written once against the Python
array API standard, running on NumPy, CuPy, PyTorch tensors and array-api-strict."""

from . import optim
from .activations import Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh, get_activation
from .backend import Backend, HostRandom, backend_of, get_backend, list_backends, to_numpy
from .batchnorm import BatchNorm
from .callbacks import Callback, History
from .checkpoint import load_arrays, load_model, save_arrays, save_model
from .data import Dataset, load_dataset, load_features, train_test_split
from .dropout import Dropout
from .errors import (BackendError, BackendMismatchError, CheckpointError, ConfigError, DataError,
                     DivergenceError, ShapeError, XpnetError)
from .layers import Dense, Layer, Sequential, mlp
from .losses import get_loss
from .metrics import accuracy
from .optim import (Optimizer, adam, adamw, apply_updates, chain, get_optimizer, rmsprop, scale_by_adam,
                    scale_by_learning_rate, scale_by_momentum, scale_by_rms, sgd)
from .regularization import add_decayed_weights, clip_by_global_norm, clip_by_value, l1, l2
from .schedules import cosine_decay, exponential_decay, step_decay, warmup
from .step import make_train_step, train_step
from .train import Trainer, TrainerState, fit
from .tree import tree_flatten, tree_unflatten

__version__ = "0.1.0"

__all__ = [
    # backends
    "Backend", "HostRandom", "backend_of", "get_backend", "list_backends", "to_numpy",
    # errors
    "BackendError", "BackendMismatchError", "CheckpointError", "ConfigError", "DataError",
    "DivergenceError", "ShapeError", "XpnetError",
    # layers and models
    "BatchNorm", "Dense", "Dropout", "Identity", "Layer", "LeakyReLU", "ReLU", "Sequential", "Sigmoid",
    "Softmax", "Tanh", "get_activation", "mlp",
    # losses, metrics
    "accuracy", "get_loss",
    # optimizers, regularisation, schedules
    "Optimizer", "adam", "adamw", "add_decayed_weights", "apply_updates", "chain", "clip_by_global_norm",
    "clip_by_value", "cosine_decay", "exponential_decay", "get_optimizer", "l1", "l2", "optim", "rmsprop",
    "scale_by_adam", "scale_by_learning_rate", "scale_by_momentum", "scale_by_rms", "sgd", "step_decay",
    "warmup",
    # training
    "Callback", "History", "Trainer", "TrainerState", "fit", "make_train_step", "train_step",
    # files
    "Dataset", "load_arrays", "load_dataset", "load_features", "load_model", "save_arrays", "save_model",
    "train_test_split", "tree_flatten", "tree_unflatten",
    "__version__",
]

# training checkpoints and exact resume
from .resume import CheckpointCallback, resume_training  # noqa: E402

__all__ += ["CheckpointCallback", "resume_training"]
