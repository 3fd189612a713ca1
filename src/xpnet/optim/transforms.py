"""The building blocks of the named optimizers: the learning rate, momentum, RMS scaling and
Adam, each a pure `GradientTransformation` with its own state.

The conventions are PyTorch's (torch.optim.SGD, RMSprop, Adam), so the same gradients give the
same parameters as torch.optim. Each update resolves the namespace once from its gradients.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from ..backend import namespace_of_tree
from ..checks import check_fraction, check_lr, check_positive
from .base import Donated, GradientTransformation, scaled_in_place, zeros_like_tree


def _added_in_place(g, d):
    g += d
    return g


# --- moments in a dtype where eps exists ---------------------------------------------------------


def moment_dtype(xp, dtype):
    """The dtype RMSprop's and Adam's moments and denominators are kept in: float32 for
    parameters narrower than that. In float16 eps=1e-8 rounds to 0 (its smallest subnormal is
    6e-8) and g*g underflows to 0 for |g| < 2.4e-4, so sqrt(v) + eps is 0 and the first update is
    inf (the run diverged at step 0); bfloat16 keeps only 8 bits of v. float32 holds both, and the
    update is cast back to the gradient's dtype at the end. float32 and float64 stay as they are."""
    return xp.float32 if xp.finfo(dtype).bits < 32 else dtype


def _moments(params: dict) -> dict:
    xp = namespace_of_tree(params)
    return {k: xp.zeros_like(p, dtype=moment_dtype(xp, p.dtype)) for k, p in params.items()}


def _widened(xp, g, state_array):
    """g in the dtype of its moment (a no-op, not a copy, where they already agree)."""
    return g if g.dtype == state_array.dtype else xp.astype(g, state_array.dtype)


def _narrowed(xp, u, g):
    """The update u back in the gradient's dtype."""
    return u if u.dtype == g.dtype else xp.astype(u, g.dtype)


# --- the learning rate ------------------------------------------------------------------------


class ScaleByLRState(NamedTuple):
    step: int


def scale_by_learning_rate(lr: float | Callable[[int], float]) -> GradientTransformation:
    """updates = -lr * grads; lr may be a schedule step -> float (evaluated on the host)."""
    lr = check_lr(lr)

    def init(params):
        return ScaleByLRState(0)

    def update(grads, state, params=None):
        rate = float(lr(state.step)) if callable(lr) else lr
        # g * -rate is the same number as -(rate * g) (rounding is symmetric in the sign), in one
        # pass instead of two; into donated gradients (base.Donated), without a new array at all
        if type(grads) is Donated:
            updates = Donated({k: scaled_in_place(g, -rate) for k, g in grads.items()})
        else:
            updates = {k: g * -rate for k, g in grads.items()}
        return updates, ScaleByLRState(state.step + 1)

    return GradientTransformation(init, update, ("scale_by_learning_rate", {"lr": lr}))


# --- momentum (torch.optim.SGD, dampening 0) ----------------------------------------------------


class TraceState(NamedTuple):
    trace: dict


def scale_by_momentum(momentum: float = 0.9, nesterov: bool = False) -> GradientTransformation:
    """torch.optim.SGD's momentum buffer: b <- momentum * b + g (b starts at 0, so b_1 = g).
    The step direction is b, or g + momentum * b with nesterov (torch's form: the gradient at
    the look-ahead point approximated from the current one)."""
    momentum = check_fraction("momentum", momentum)

    def init(params):
        return TraceState(zeros_like_tree(params))

    def update(grads, state, params=None):
        if nesterov:
            trace = {k: momentum * state.trace[k] + g for k, g in grads.items()}
            return Donated({k: g + momentum * trace[k] for k, g in grads.items()}), TraceState(trace)
        if type(grads) is Donated:  # the new trace in the donated gradient: g + m*b is m*b + g
            trace = {k: _added_in_place(g, momentum * state.trace[k]) for k, g in grads.items()}
        else:
            trace = {k: momentum * state.trace[k] + g for k, g in grads.items()}
        return trace, TraceState(trace)  # a plain dict: the updates are the state's arrays

    return GradientTransformation(
        init, update, ("scale_by_momentum", {"momentum": momentum, "nesterov": bool(nesterov)})
    )


# --- RMSprop (torch.optim.RMSprop, centered=False) ----------------------------------------------


class ScaleByRmsState(NamedTuple):
    nu: dict


def scale_by_rms(alpha: float = 0.99, eps: float = 1e-8) -> GradientTransformation:
    """g / (sqrt(v) + eps) with v <- alpha * v + (1 - alpha) * g**2, v starting at 0.
    eps is added after the square root, as torch does (optax adds it inside)."""
    alpha = check_fraction("alpha", alpha)
    eps = check_positive("eps", eps)

    def init(params):
        return ScaleByRmsState(_moments(params))

    def update(grads, state, params=None):
        xp = namespace_of_tree(grads)
        wide = {k: _widened(xp, g, state.nu[k]) for k, g in grads.items()}  # float16: see moment_dtype
        nu = {k: alpha * state.nu[k] + (1 - alpha) * (g * g) for k, g in wide.items()}
        updates = Donated({k: _narrowed(xp, g / (xp.sqrt(nu[k]) + eps), grads[k]) for k, g in wide.items()})
        return updates, ScaleByRmsState(nu)

    return GradientTransformation(init, update, ("scale_by_rms", {"alpha": alpha, "eps": eps}))


# --- Adam (torch.optim.Adam, bias-corrected) ----------------------------------------------------


class ScaleByAdamState(NamedTuple):
    count: int
    mu: dict
    nu: dict


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> GradientTransformation:
    """m / (1 - b1**t) / (sqrt(v) / sqrt(1 - b2**t) + eps), with m and v the exponential moving
    averages of g and g**2 (both starting at 0, hence the bias corrections; t counts from 1).
    The arithmetic follows torch's order so results agree to rounding."""
    b1 = check_fraction("b1", b1)
    b2 = check_fraction("b2", b2)
    eps = check_positive("eps", eps)

    def init(params):
        return ScaleByAdamState(0, _moments(params), _moments(params))

    def update(grads, state, params=None):
        xp = namespace_of_tree(grads)
        t = state.count + 1
        wide = {k: _widened(xp, g, state.mu[k]) for k, g in grads.items()}  # float16: see moment_dtype
        mu = {k: b1 * state.mu[k] + (1 - b1) * g for k, g in wide.items()}
        nu = {k: b2 * state.nu[k] + (1 - b2) * (g * g) for k, g in wide.items()}
        # host floats: the step count is a Python int, so nothing here touches the device
        bc1 = 1 - b1**t
        sqrt_bc2 = (1 - b2**t) ** 0.5
        # fresh arrays, shared with nothing: the learning rate may scale them in place
        updates = Donated(
            {k: _narrowed(xp, (mu[k] / bc1) / (xp.sqrt(nu[k]) / sqrt_bc2 + eps), grads[k]) for k in grads}
        )
        return updates, ScaleByAdamState(t, mu, nu)

    return GradientTransformation(init, update, ("scale_by_adam", {"b1": b1, "b2": b2, "eps": eps}))
