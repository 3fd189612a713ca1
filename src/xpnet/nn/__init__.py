"""The network: the layer protocol (layer.py), layers (dense, activations, dropout, batchnorm),
the sequential model and `mlp`, losses, initialisers and input standardisation. Written once
against the array API standard: nothing here imports an array library."""

from . import losses
from .activations import ACTIVATIONS, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh, get_activation
from .batchnorm import BatchNorm
from .dense import Dense
from .dropout import Dropout
from .init import INITIALIZERS, default_init, get_initializer
from .layer import Context, Layer
from .losses import LOSSES, Loss, get_loss
from .preprocessing import Standardizer
from .sequential import Sequential, mlp

__all__ = [
    "ACTIVATIONS",
    "INITIALIZERS",
    "LOSSES",
    "BatchNorm",
    "Context",
    "Dense",
    "Dropout",
    "Identity",
    "Layer",
    "LeakyReLU",
    "Loss",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Standardizer",
    "Tanh",
    "default_init",
    "get_activation",
    "get_initializer",
    "get_loss",
    "losses",
    "mlp",
]
