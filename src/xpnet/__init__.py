"""xpnet: neural networks with hand-written backpropagation, written once against the Python
array API standard, running on NumPy, CuPy, PyTorch tensors and array-api-strict."""

from .activations import Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh, get_activation
from .backend import Backend, HostRandom, backend_of, get_backend, list_backends, to_numpy
from .errors import (BackendError, BackendMismatchError, CheckpointError, ConfigError, DataError,
                     DivergenceError, ShapeError, XpnetError)
from .layers import Dense, Layer, Sequential, mlp
from .losses import get_loss
from .optim import apply_updates, chain, sgd
from .train import train_step

__version__ = "0.1.0"

__all__ = [
    "Backend", "BackendError", "BackendMismatchError", "CheckpointError", "ConfigError", "DataError",
    "Dense", "DivergenceError", "HostRandom", "Identity", "Layer", "LeakyReLU", "ReLU", "Sequential",
    "ShapeError", "Sigmoid", "Softmax", "Tanh", "XpnetError", "apply_updates", "backend_of", "chain",
    "get_activation", "get_backend", "get_loss", "list_backends", "mlp", "sgd", "to_numpy",
    "train_step", "__version__",
]

# issue 3: optimizers, schedules, regularisation, dropout, batch norm
from .batchnorm import BatchNorm  # noqa: E402
from .dropout import Dropout  # noqa: E402
from .optim import (Optimizer, adam, adamw, get_optimizer, rmsprop, scale_by_adam,  # noqa: E402
                    scale_by_learning_rate, scale_by_momentum, scale_by_rms)
from .regularization import add_decayed_weights, clip_by_global_norm, clip_by_value, l1, l2  # noqa: E402
from .schedules import cosine_decay, exponential_decay, step_decay, warmup  # noqa: E402

__all__ += [
    "BatchNorm", "Dropout", "adam", "adamw", "add_decayed_weights", "clip_by_global_norm", "clip_by_value",
    "cosine_decay", "exponential_decay", "get_optimizer", "l1", "l2", "rmsprop", "step_decay", "warmup",
    "Optimizer", "scale_by_adam", "scale_by_learning_rate", "scale_by_momentum", "scale_by_rms",
]

# checkpoints and data sets (host-side I/O)
from .checkpoint import load_arrays, load_model, save_arrays, save_model  # noqa: E402
from .data import Dataset, load_dataset, load_features, train_test_split  # noqa: E402
from .tree import tree_flatten, tree_unflatten  # noqa: E402

__all__ += ["Dataset", "load_arrays", "load_dataset", "load_features", "load_model", "save_arrays",
            "save_model", "train_test_split", "tree_flatten", "tree_unflatten"]
