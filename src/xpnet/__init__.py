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
from .train import Trainer, TrainerState, fit, make_train_step
from .callbacks import Callback, History
from .metrics import accuracy

__version__ = "0.1.0"

__all__ = [
    "Backend", "BackendError", "BackendMismatchError", "CheckpointError", "ConfigError", "DataError",
    "Dense", "DivergenceError", "HostRandom", "Identity", "Layer", "LeakyReLU", "ReLU", "Sequential",
    "ShapeError", "Sigmoid", "Softmax", "Tanh", "XpnetError", "apply_updates", "backend_of", "chain",
    "get_activation", "get_backend", "get_loss", "list_backends", "mlp", "sgd", "to_numpy",
    "train_step", "__version__",
]
__all__ += ["Callback", "History", "Trainer", "TrainerState", "accuracy", "fit", "make_train_step"]
