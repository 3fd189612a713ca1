"""Gradient clipping, by value and by global norm: `GradientTransformation`s for a `chain`."""

from __future__ import annotations

from ..backend import namespace_of_tree
from ..checks import check_positive
from .base import GradientTransformation, stateless


def clip_by_value(limit: float) -> GradientTransformation:
    """Each gradient element clipped to [-limit, limit] (torch.nn.utils.clip_grad_value_)."""
    limit = check_positive("limit", limit)

    def update(grads, params):
        xp = namespace_of_tree(grads)
        return {k: xp.clip(g, min=-limit, max=limit) for k, g in grads.items()}

    return stateless("clip_by_value", update, {"limit": limit})


def global_norm(arrays: dict, *, xp=None):
    """sqrt of the sum of squares of every element of every array, as a 0-d device array."""
    xp = xp if xp is not None else namespace_of_tree(arrays)
    total = None
    for g in arrays.values():
        sq = xp.sum(g * g, dtype=g.dtype)
        total = sq if total is None else total + sq
    return xp.sqrt(total)


def clip_by_global_norm(max_norm: float, eps: float = 1e-6) -> GradientTransformation:
    """All gradients scaled by min(1, max_norm / (norm + eps)), norm their joint L2 norm
    (torch.nn.utils.clip_grad_norm_, same eps). The scale stays a device scalar: converting the
    norm to a Python float would stall a GPU every step waiting for the host."""
    max_norm = check_positive("max_norm", max_norm)
    eps = check_positive("eps", eps)

    def update(grads, params):
        if not grads:
            return grads
        xp = namespace_of_tree(grads)
        norm = global_norm(grads, xp=xp)
        scale = xp.minimum(xp.ones_like(norm), max_norm / (norm + eps))
        return {k: g * scale for k, g in grads.items()}

    return stateless("clip_by_global_norm", update, {"max_norm": max_norm, "eps": eps})
