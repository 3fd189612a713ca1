"""Layers and the sequential model.

A layer is a description (sizes, options) plus two functions:
  build(n_in, ...) -> (params, buffers, n_out)        arrays created once, on the backend's device
  forward(params, buffers, x, ctx) -> (y, backprop)   backprop(dy, need_dx) -> (dx, grads)
`backprop` is a closure over exactly what the backward pass needs (thinc's pattern): nothing is
cached on the layer, so a layer object can be shared and there is no stale state or zero_grad.
Layers with running statistics (batch norm) return a third element, their new buffers.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple


from . import backend as _backend
from .errors import ConfigError, DataError, ShapeError
from .hyperparams import check_int  # a Python int even from a NumPy integer: architectures are JSON
from .init import get_initializer


class Context(NamedTuple):
    """What a forward pass needs besides its parameters."""

    xp: Any
    device: Any
    training: bool = False
    rng: Any = None  # HostRandom (or a device generator) for dropout masks


class Layer:
    """Base class. Parameter-free layers only implement forward()."""

    def build(self, n_in: int, *, rng, backend, dtype) -> tuple[dict, dict, int]:
        return {}, {}, n_in

    def forward(self, params, buffers, x, ctx):  # pragma: no cover - abstract
        raise NotImplementedError

    def config(self) -> dict:
        """JSON-serialisable constructor arguments (for checkpoints)."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


class Dense(Layer):
    """y = x @ W + b, with W of shape (n_in, n_out) as in the seeds (`syn0`)."""

    def __init__(self, n_in: int, n_out: int, *, bias: bool = True, init: str = "glorot_uniform") -> None:
        self.n_in = check_int("n_in", n_in)
        self.n_out = check_int("n_out", n_out)
        self.bias = bool(bias)
        self.init = init if isinstance(init, str) else getattr(init, "__name__", "custom")
        self._init_fn = get_initializer(init)

    def build(self, n_in, *, rng, backend, dtype):
        if n_in != self.n_in:
            raise ShapeError(f"{self!r}: expects {self.n_in} inputs but the previous layer gives {n_in}")
        params = {"W": backend.asarray(self._init_fn(rng, (self.n_in, self.n_out), self.n_in, self.n_out), dtype)}
        if self.bias:
            params["b"] = backend.asarray(get_initializer("zeros")(rng, (self.n_out,), self.n_in, self.n_out), dtype)
        return params, {}, self.n_out

    def forward(self, params, buffers, x, ctx):
        W = params["W"]  # (n_in, n_out)
        y = x @ W  # (batch, n_out)
        if self.bias:
            y = y + params["b"]

        def backprop(dy, need_dx=True):
            xp = ctx.xp
            grads = {"W": xp.matrix_transpose(x) @ dy}  # (n_in, n_out): summed over the batch
            if self.bias:
                grads["b"] = xp.sum(dy, axis=0)
            # The first layer's input gradient is never used: skip that matmul.
            dx = dy @ xp.matrix_transpose(W) if need_dx else None
            return dx, grads

        return y, backprop


class Sequential:
    """A stack of layers with its parameters on one backend.

    >>> model = Sequential([Dense(3, 4), Sigmoid(), Dense(4, 1), Sigmoid()], seed=1)
    >>> y = model.predict(X)

    The parameters live in `model.params`, a flat dict "index.name" -> array (e.g. "0.W"), which
    is what optimizers and checkpoints work on. As in PyTorch, training may update these arrays in
    place (the NumPy fast path does): copy one to keep its current value. backend: a name or Backend (default: the
    XPNET_BACKEND variable, else auto). seed: for the initial weights, drawn on the host so that
    every backend starts from the same numbers. legacy_rng: use NumPy's legacy RandomState, as the
    seeds do.
    """

    def __init__(self, layers: list[Layer], *, seed: int | None = 0, backend: Any = None,
                 dtype: str = "float32", legacy_rng: bool = False, rng: Any = None) -> None:
        if not layers:
            raise ConfigError("layers: expected at least one layer, got an empty list")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise ConfigError(f"layers[{i}]: expected an xpnet Layer, got {type(layer).__name__}")
        self.layers = list(layers)
        self.backend = _backend.get_backend(backend)
        if dtype not in ("float16", "bfloat16", "float32", "float64"):
            raise ConfigError(f"dtype: expected one of float16, bfloat16, float32, float64, got {dtype!r}")
        self.dtype_name = dtype
        self.dtype = self.backend.dtype(dtype)
        n_in = self.n_in
        if n_in is None:
            raise ConfigError("layers: the first layer with parameters must state its input size (Dense(n_in, n_out))")
        rng = rng if rng is not None else _backend.HostRandom(seed, legacy=legacy_rng)
        self.params: dict[str, Any] = {}
        self.buffers: dict[str, Any] = {}
        self._keys: list[tuple[tuple[str, str], ...]] = []
        self._bkeys: list[tuple[tuple[str, str], ...]] = []
        n = n_in
        for i, layer in enumerate(self.layers):
            p, b, n = layer.build(n, rng=rng, backend=self.backend, dtype=self.dtype)
            self.params.update({f"{i}.{k}": v for k, v in p.items()})
            self.buffers.update({f"{i}.{k}": v for k, v in b.items()})
            self._keys.append(tuple((k, f"{i}.{k}") for k in p))
            self._bkeys.append(tuple((k, f"{i}.{k}") for k in b))
        self.n_out = n

    @property
    def n_in(self) -> int | None:
        for layer in self.layers:
            if hasattr(layer, "n_in"):
                return layer.n_in
            if hasattr(layer, "n_features"):
                return layer.n_features
        return None

    # --- forward and backward ---------------------------------------------------------------

    def forward(self, x: Any, *, training: bool = False, rng: Any = None) -> tuple[Any, Callable]:
        """(y, backprop); backprop(dy) -> (dx, grads) with grads keyed like `params`.

        x must already be an array of this model's backend and dtype (see `as_input`).
        """
        ctx = Context(self.backend.xp, self.backend.device, training, rng)
        backprops = []
        params, buffers = self.params, self.buffers
        for layer, keys, bkeys in zip(self.layers, self._keys, self._bkeys):
            p = {k: params[f] for k, f in keys}
            b = {k: buffers[f] for k, f in bkeys}
            out = layer.forward(p, b, x, ctx)
            if len(out) == 3:
                x, bp, new_b = out
                if training and new_b:
                    buffers.update({f: new_b[k] for k, f in bkeys if k in new_b})
            else:
                x, bp = out
            backprops.append((bp, keys))

        def backprop(dy, need_dx=False):
            grads = {}
            last = len(backprops) - 1
            for i in range(last, -1, -1):
                bp, keys = backprops[i]
                dy, g = bp(dy, need_dx or i > 0)
                for k, f in keys:
                    grads[f] = g[k]
            return dy, grads

        return x, backprop

    def __call__(self, x: Any, *, training: bool = False) -> Any:
        return self.forward(self.as_input(x), training=training)[0]

    def predict(self, x: Any) -> Any:
        """Outputs for `x` in evaluation mode (dropout off, batch norm on running statistics)."""
        return self.forward(self.as_input(x), training=False)[0]

    # --- input checking ---------------------------------------------------------------------

    def as_input(self, x: Any, name: str = "X") -> Any:
        """`x` as a 2-D float array of this model's backend, dtype and device.

        Arrays of another library or device are refused (BackendMismatchError) rather than copied
        behind the user's back; lists and tuples are converted.
        """
        b = self.backend
        if _backend.is_array(x):
            _backend.check_on(b, x, name)
        else:
            try:
                x = b.asarray(x, self.dtype)  # at the model's dtype: no float32 detour on torch
            except Exception as exc:
                raise DataError(f"{name}: expected a numeric 2-D array, got {type(x).__name__} ({exc})") from None
        xp = b.xp
        if xp.isdtype(x.dtype, "complex floating") or not xp.isdtype(x.dtype, ("real floating", "integral", "bool")):
            raise DataError(f"{name}: expected real numbers, got dtype {x.dtype}")
        if x.ndim == 1 and x.shape[0] == self.n_in:
            x = xp.reshape(x, (1, self.n_in))
        if x.ndim != 2:
            raise ShapeError(f"{name}: expected a 2-D array (samples, features), got shape {tuple(x.shape)}")
        if x.shape[1] != self.n_in:
            raise ShapeError(f"{name}: the model expects {self.n_in} features per row, got {x.shape[1]}")
        if x.dtype != self.dtype:
            x = xp.astype(x, self.dtype)
        return x

    # --- utilities --------------------------------------------------------------------------

    def to(self, backend: Any, *, device: Any = None) -> "Sequential":
        """Move the parameters to another backend (a host round trip); returns self."""
        target = _backend.get_backend(backend, device=device)
        self.params = {k: target.asarray(_backend.to_numpy(v)) for k, v in self.params.items()}
        self.buffers = {k: target.asarray(_backend.to_numpy(v)) for k, v in self.buffers.items()}
        self.backend = target
        self.dtype = target.dtype(self.dtype_name)
        return self

    def num_params(self) -> int:
        return sum(math.prod(v.shape) for v in self.params.values())

    def architecture(self) -> list[dict]:
        """The layers as JSON-serialisable dicts (for checkpoints)."""
        return [{"type": type(layer).__name__, **layer.config()} for layer in self.layers]

    def __repr__(self):
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential([\n  {inner}\n], backend={self.backend.name!r}, dtype={self.dtype_name!r})"


def mlp(sizes: list[int], *, activation: str = "relu", output: str | None = None, bias: bool = True,
        init: str | None = None, **kwargs: Any) -> Sequential:
    """A multi-layer perceptron: Dense layers of the given sizes with `activation` between them
    and `output` (default: none, i.e. logits) after the last.

    >>> mlp([64, 64, 10], activation="relu")  # 64 inputs, one hidden layer of 64, 10 outputs
    """
    from .activations import get_activation

    if len(sizes) < 2:
        raise ConfigError(f"sizes: expected at least input and output sizes, got {sizes!r}")
    for i, s in enumerate(sizes):
        check_int(f"sizes[{i}]", s)
    if init is None:
        init = "he_normal" if activation in ("relu", "leaky_relu") else "glorot_uniform"
    layers: list[Layer] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Dense(a, b, bias=bias, init=init))
        if i < len(sizes) - 2:
            layers.append(get_activation(activation))
    if output is not None:
        layers.append(get_activation(output))
    return Sequential(layers, **kwargs)
