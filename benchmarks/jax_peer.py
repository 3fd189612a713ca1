"""JAX as a peer of xpnet on the CPU: the same ReLU MLP, softmax cross-entropy, SGD or Adam, with
`jax.jit` over the whole step (forward, gradient by `jax.grad`, update), the parameters donated
so that XLA may update them in place.

The data is put on JAX's device once, before anything is timed, and each step slices its batch
inside the compiled function (`lax.dynamic_slice`): JAX's best case, with no host-to-device copy
and no per-batch slicing dispatch in Python. Steps are dispatched asynchronously; every timed call
waits for the result (`block_until_ready`) before it returns.

Needs `jax[cpu]` (the `bench` nox session installs it; never a dependency of xpnet).
"""

from __future__ import annotations

import os

import numpy as np


def unavailable() -> str | None:
    try:
        import jax  # noqa: F401
    except ImportError as exc:
        return f"jax not importable ({exc})"
    return None


def versions() -> dict:
    import jax

    return {"jax": jax.__version__, "jax_backend": jax.default_backend(), "xla_flags": os.environ.get("XLA_FLAGS")}


def trainer(model, X: np.ndarray, y: np.ndarray, opt_name: str, lr: float, b1=0.9, b2=0.999, eps=1e-8):
    """(params(), epoch(a, b, batch)) for JAX from the xpnet model's current weights; epoch runs
    samples [a, b) of X, y (placed on the device here, once) in batches and waits for the result;
    params() returns the weights as NumPy arrays, [(W, b), ...] in xpnet's layout (W is n_in x n_out)."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    denses = [k for k in model.params if k.endswith(".W")]
    # copies: JAX may alias a NumPy array, and the donated parameters are written in place
    params = [(jnp.array(model.params[k], copy=True), jnp.array(model.params[k[:-1] + "b"], copy=True)) for k in denses]
    Xd, yd = jax.device_put(X), jax.device_put(y.astype(np.int32))

    def loss_fn(ps, xb, yb):
        h = xb
        for i, (W, b) in enumerate(ps):
            h = h @ W + b
            if i < len(ps) - 1:
                h = jax.nn.relu(h)
        logp = jax.nn.log_softmax(h, axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))

    def batch_of(a, n):  # a + n <= len(X): dynamic_slice would clamp the start, not fail
        return lax.dynamic_slice_in_dim(Xd, a, n), lax.dynamic_slice_in_dim(yd, a, n)

    if opt_name == "sgd":

        def step(ps, a, n):
            xb, yb = batch_of(a, n)
            value, g = jax.value_and_grad(loss_fn)(ps, xb, yb)
            return jax.tree.map(lambda p, gp: p - lr * gp, ps, g), value

        run = jax.jit(step, static_argnums=2, donate_argnums=0)
        state = [params]

        def one(a, n):
            state[0], _ = run(state[0], a, n)

        def current():
            return state[0]
    else:
        # xpnet's (and torch's) Adam: (mu / (1 - b1^t)) / (sqrt(nu) / sqrt(1 - b2^t) + eps)
        def step(ps, mu, nu, t, a, n):
            xb, yb = batch_of(a, n)
            value, g = jax.value_and_grad(loss_fn)(ps, xb, yb)
            mu = jax.tree.map(lambda m, gp: b1 * m + (1 - b1) * gp, mu, g)
            nu = jax.tree.map(lambda v, gp: b2 * v + (1 - b2) * (gp * gp), nu, g)
            tf = t.astype(jnp.float32)
            bc1, sqrt_bc2 = 1 - b1**tf, jnp.sqrt(1 - b2**tf)
            ps = jax.tree.map(lambda p, m, v: p - lr * ((m / bc1) / (jnp.sqrt(v) / sqrt_bc2 + eps)), ps, mu, nu)
            return ps, mu, nu, t + 1, value

        run = jax.jit(step, static_argnums=5, donate_argnums=(0, 1, 2, 3))
        zeros = jax.tree.map(jnp.zeros_like, params)
        state = [params, zeros, jax.tree.map(jnp.zeros_like, params), jnp.asarray(1, jnp.int32)]

        def one(a, n):
            ps, mu, nu, t, _ = run(*state, a, n)
            state[:] = [ps, mu, nu, t]

        def current():
            return state[0]

    def epoch(a, b, batch):
        for s in range(a, b, batch):
            one(s, min(batch, b - s))
        jax.block_until_ready(current())

    def weights():
        return [(np.asarray(W), np.asarray(bb)) for W, bb in current()]

    return weights, epoch
