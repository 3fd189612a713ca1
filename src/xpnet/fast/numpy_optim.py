"""In-place NumPy versions of the optimizers the fast step supports: sgd (constant or scheduled
rate), sgd with momentum (and nesterov), and adam, read from the transforms' declared specs and
their own state layout (xpnet/optim/transforms.py).

Each update does optim.py's arithmetic operation for operation (Python float hyperparameters
become 0-d arrays of the dtype: NEP 50 rounds them to that dtype the same way), on one block of
rows of a parameter at a time, so the results are bit-identical. `p + -(r * u)`, the generic
update, is the same number as `p - r * u`. The state the step returns has optim.py's layout
(`ScaleByLRState`, `(TraceState, ScaleByLRState)`, `(ScaleByAdamState, ScaleByLRState)`), so
checkpoints and resume read it as they read the generic one; its arrays are owned by the step
and updated in place by the next step (see numpy_step.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from ..optim import GradientTransformation
from ..optim import transforms as _optim

# every field each supported transform declares in its spec: a spec with another field (a
# hyperparameter this file does not implement) is not supported, and the generic step runs
_FIELDS = {
    "chain": {"transforms"},
    "scale_by_learning_rate": {"lr"},
    "scale_by_momentum": {"momentum", "nesterov"},
    "scale_by_adam": {"b1", "b2", "eps"},
}


class OptimizerPlan(NamedTuple):
    kind: str  # "sgd", "momentum", "nesterov" or "adam"
    lr: float | Callable  # the learning rate or the schedule step -> rate
    hyper: dict  # momentum; or b1, b2, eps
    chained: bool  # built by optim.chain: the state is a tuple, the learning rate's state last


def _transform(t: Any) -> tuple[str, dict]:
    """(name of the factory that built this transform, its hyperparameters), as the factory
    declared them in `GradientTransformation.spec`; ("", {}) for anything not supported exactly."""
    spec = t.spec if type(t) is GradientTransformation else None
    if spec is None or spec[0] not in _FIELDS or set(spec[1]) != _FIELDS[spec[0]]:
        return "", {}
    return spec


def plan(optimizer: Any) -> OptimizerPlan | None:
    """What `optim.sgd(...)` or `optim.adam(...)` built, or None for anything else."""
    name, hyper = _transform(optimizer)
    parts = [_transform(t) for t in hyper.get("transforms", ())] if name == "chain" else [(name, hyper)]
    if not parts or any(n == "" for n, _ in parts) or parts[-1][0] != "scale_by_learning_rate":
        return None
    lr = parts[-1][1].get("lr")
    if not (callable(lr) or isinstance(lr, float)):
        return None
    kinds = [n for n, _ in parts[:-1]]
    if kinds == []:
        return OptimizerPlan("sgd", lr, {}, name == "chain")
    h = parts[0][1]
    if kinds == ["scale_by_momentum"] and isinstance(h["nesterov"], bool):
        return OptimizerPlan("nesterov" if h["nesterov"] else "momentum", lr, {"momentum": h["momentum"]}, True)
    if kinds == ["scale_by_adam"]:
        return OptimizerPlan("adam", lr, {k: h[k] for k in ("b1", "b2", "eps")}, True)
    return None


def slots(p: OptimizerPlan, opt_state) -> tuple[dict, ...]:
    """The state's dicts of arrays (name -> array), in the order `update` takes them."""
    if p.kind == "sgd":
        return ()
    if p.kind == "adam":
        return opt_state[0].mu, opt_state[0].nu
    return (opt_state[0].trace,)


def lr_step(p: OptimizerPlan, opt_state) -> int:
    """The learning rate schedule's step count."""
    return opt_state[-1].step if p.chained else opt_state.step


def next_state(p: OptimizerPlan, opt_state, arrays: tuple[dict, ...]):
    """The state after one step, in optim.py's layout, holding `arrays`."""
    if p.kind == "sgd" and not p.chained:
        return _optim.ScaleByLRState(opt_state.step + 1)
    lr_state = _optim.ScaleByLRState(lr_step(p, opt_state) + 1)
    if p.kind == "sgd":
        return (lr_state,)
    if p.kind == "adam":
        return _optim.ScaleByAdamState(opt_state[0].count + 1, *arrays), lr_state
    return _optim.TraceState(arrays[0]), lr_state


def make_update(p: OptimizerPlan, dtype, max_size: int):
    """(prepare(opt_state), update(w, g, state_blocks), per_step): prepare sets the constants (the
    scheduled rate, Adam's bias corrections), before the first step and, if per_step, before
    every step; update applies one step to the block `w` given its gradient `g` (used as
    scratch) and the same block of each state array. `max_size`: the largest block, for a
    scratch buffer."""

    def c(v):  # a 0-d constant of the dtype
        return np.asarray(v, dtype)

    rate, unit = c(1.0), [True]  # unit: the rate is 1, and 1 * u == u needs no pass
    kind, h = p.kind, p.hyper
    scratch: list = []  # one block for nesterov and adam, allocated on the first step, grown on demand
    mom = c(h.get("momentum", 0.0))
    b1, b2, one_b1, one_b2 = c(h.get("b1", 0.0)), c(h.get("b2", 0.0)), c(1 - h.get("b1", 0.0)), c(1 - h.get("b2", 0.0))
    eps, bc1, sqrt_bc2 = c(h.get("eps", 0.0)), c(1.0), c(1.0)
    # Adam's bias corrections round to exactly 1 in the dtype after a while (float32: 1 - 0.9**t
    # from t ~ 160, sqrt(1 - 0.999**t) from t ~ 17000): x / 1 == x for every x, so those
    # divisions are skipped then (one and two of Adam's 14 passes over the parameters)
    corr = [True, True]  # bc1 != 1, sqrt_bc2 != 1

    def tmp(g):
        """Scratch shaped like g: the first block, or a whole parameter in hooked mode."""
        if scratch[0].size < g.size:
            scratch[0] = np.empty(g.size, dtype)
        return scratch[0][: g.size].reshape(g.shape)

    def prepare(opt_state):
        if not scratch and kind in ("nesterov", "adam"):
            scratch.append(np.empty(max_size, dtype))
        r = float(p.lr(lr_step(p, opt_state))) if callable(p.lr) else p.lr
        rate[...], unit[0] = r, r == 1.0
        if kind == "adam":
            t = opt_state[0].count + 1
            # host floats, as optim.scale_by_adam computes them
            bc1[...], sqrt_bc2[...] = 1 - h["b1"] ** t, (1 - h["b2"] ** t) ** 0.5
            corr[:] = bc1 != 1, sqrt_bc2 != 1

    def apply(w, u, out):
        # generic: p + -(rate * u); `out` is scratch of u's shape (it may be u)
        if unit[0]:
            np.subtract(w, u, w)
        else:
            np.multiply(u, rate, out)
            np.subtract(w, out, w)

    def sgd(w, g, s):
        apply(w, g, g)

    # constant-rate sgd without the indirection: on the seeds' 3-4-1 network a Python call is a
    # measurable share of the step
    def sgd_unit(w, g, s):
        np.subtract(w, g, w)

    def sgd_rate(w, g, s):
        np.multiply(g, rate, g)
        np.subtract(w, g, w)

    def momentum(w, g, s):
        (b,) = s
        # generic: trace = momentum * trace + g; the step is the trace
        np.multiply(b, mom, b)
        np.add(b, g, b)
        apply(w, b, g)  # the trace must survive: scale it into g's buffer

    def nesterov(w, g, s):
        (b,) = s
        t = tmp(g)
        np.multiply(b, mom, b)
        np.add(b, g, b)
        # generic: g + momentum * trace, with the new trace
        np.multiply(b, mom, t)
        np.add(g, t, g)
        apply(w, g, g)

    def adam(w, g, s):
        mu, nu = s
        t = tmp(g)
        # generic: mu = b1 * mu + (1 - b1) * g
        np.multiply(mu, b1, mu)
        np.multiply(g, one_b1, t)
        np.add(mu, t, mu)
        # generic: nu = b2 * nu + (1 - b2) * (g * g)
        np.multiply(nu, b2, nu)
        np.multiply(g, g, t)
        np.multiply(t, one_b2, t)
        np.add(nu, t, nu)
        # generic: (mu / bc1) / (sqrt(nu) / sqrt_bc2 + eps)
        np.sqrt(nu, t)
        if corr[1]:
            np.divide(t, sqrt_bc2, t)
        np.add(t, eps, t)
        if corr[0]:
            np.divide(mu, bc1, g)
            np.divide(g, t, g)
        else:
            np.divide(mu, t, g)
        apply(w, g, g)

    per_step = callable(p.lr) or kind == "adam"
    if kind == "sgd" and not callable(p.lr):
        return prepare, (sgd_unit if p.lr == 1.0 else sgd_rate), False
    return prepare, {"sgd": sgd, "momentum": momentum, "nesterov": nesterov, "adam": adam}[kind], per_step
