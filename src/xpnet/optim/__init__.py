"""Optimizers as pure gradient transformations (optax's design): base.py (the protocol, chain),
transforms.py (learning rate, momentum, RMS, Adam), alias.py (sgd, adam, ... by name),
regularization.py (L1/L2, weight decay), clipping.py, schedules.py (learning-rate schedules)."""

from .alias import MOMENTUM_OPTIMIZERS, OPTIMIZERS, adam, adamw, get_optimizer, optimizer_from_options, rmsprop, sgd
from .base import EmptyState, GradientTransformation, Optimizer, apply_updates, chain, zeros_like_tree
from .clipping import clip_by_global_norm, clip_by_value, global_norm
from .regularization import add_decayed_weights, batch_scaled_l2, default_include, l1, l2, param_selector
from .schedules import cosine_decay, exponential_decay, step_decay, warmup
from .transforms import (
    ScaleByAdamState,
    ScaleByLRState,
    ScaleByRmsState,
    TraceState,
    scale_by_adam,
    scale_by_learning_rate,
    scale_by_momentum,
    scale_by_rms,
)

__all__ = [
    "MOMENTUM_OPTIMIZERS",
    "OPTIMIZERS",
    "EmptyState",
    "GradientTransformation",
    "Optimizer",
    "ScaleByAdamState",
    "ScaleByLRState",
    "ScaleByRmsState",
    "TraceState",
    "adam",
    "adamw",
    "add_decayed_weights",
    "apply_updates",
    "batch_scaled_l2",
    "chain",
    "clip_by_global_norm",
    "clip_by_value",
    "cosine_decay",
    "default_include",
    "exponential_decay",
    "get_optimizer",
    "global_norm",
    "l1",
    "l2",
    "optimizer_from_options",
    "param_selector",
    "rmsprop",
    "scale_by_adam",
    "scale_by_learning_rate",
    "scale_by_momentum",
    "scale_by_rms",
    "sgd",
    "step_decay",
    "warmup",
    "zeros_like_tree",
]
