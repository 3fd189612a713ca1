"""The sequential model: a stack of layers with its parameters on one backend, and `mlp`.

The model holds two flat dicts, "index.name" -> array (e.g. "0.W", "1.running_mean"):
`params`, what optimizers train and checkpoints save, and `buffers`, the layers' state
(batch norm's running statistics). Forward is pure: `forward` and `apply` return the new
buffers instead of writing them, so computing gradients never changes the model; the training
step commits both dicts after its update.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import backend as _backend
from ..checks import check_fraction, check_int
from ..errors import ConfigError, DataError, ShapeError
from .activations import get_activation
from .batchnorm import BatchNorm
from .dense import Dense
from .dropout import Dropout
from .init import default_init
from .layer import Context, Layer
from .summary import summary_text

DTYPES = ("float16", "bfloat16", "float32", "float64")


class Sequential:
    """A stack of layers with its parameters on one backend.

    >>> model = Sequential([Dense(3, 4), Sigmoid(), Dense(4, 1), Sigmoid()], seed=1)
    >>> y = model.predict(X)

    backend: a name or Backend (default: the XPNET_BACKEND variable, else auto). seed: for the
    initial weights, drawn on the host so that every backend starts from the same numbers.
    legacy_rng: use NumPy's legacy RandomState, as Trask's seed programs do. Training replaces
    or updates the arrays of `params` and `buffers`; read them between steps.
    """

    def __init__(
        self,
        layers: list[Layer],
        *,
        seed: int | None = 0,
        backend: Any = None,
        dtype: str = "float32",
        legacy_rng: bool = False,
        rng: Any = None,
    ) -> None:
        if not layers:
            raise ConfigError("layers: expected at least one layer, got an empty list")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise ConfigError(f"layers[{i}]: expected an xpnet Layer, got {type(layer).__name__}")
        self.layers = list(layers)
        self.backend = _backend.get_backend(backend)
        if dtype not in DTYPES:
            raise ConfigError(f"dtype: expected one of {', '.join(DTYPES)}, got {dtype!r}")
        self.dtype_name = dtype
        self.dtype = self.backend.dtype(dtype)
        n_in = self.n_in
        if n_in is None:
            raise ConfigError("layers: the first layer with parameters must state its input size (Dense(n_in, n_out))")
        rng = rng if rng is not None else _backend.HostRandom(seed, legacy=legacy_rng)
        self.params: dict[str, Any] = {}
        self.buffers: dict[str, Any] = {}
        # per layer: ((name in the layer, name in the model), ...) for its params and its state
        self._keys: list[tuple[tuple[str, str], ...]] = []
        self._bkeys: list[tuple[tuple[str, str], ...]] = []
        self.widths: list[int] = []  # each layer's output width, as its build reported it (summary.py)
        n = n_in
        for i, layer in enumerate(self.layers):
            p, b, n = layer.build(n, rng=rng, backend=self.backend, dtype=self.dtype)
            self.widths.append(int(n))
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

    def apply(
        self, params: dict, buffers: dict, x: Any, *, training: bool = False, rng: Any = None, batch: Any = None
    ) -> tuple[Any, dict, Callable]:
        """(y, new_buffers, backprop) of the network with the given params and buffers; nothing
        is mutated. backprop(dy, need_dx=False) -> (dx, grads), grads keyed like `params`.
        x must already be an array of this model's backend and dtype (see `as_input`). batch: the
        global batch of distributed training (layer.Context), None in one process."""
        ctx = Context(self.backend.xp, self.backend.device, training, rng, batch)
        backprops = []
        new_buffers = dict(buffers)
        for layer, keys, bkeys in zip(self.layers, self._keys, self._bkeys, strict=True):
            p = {k: params[f] for k, f in keys}
            b = {k: buffers[f] for k, f in bkeys}
            x, new_b, bp = layer.forward(p, b, x, ctx)
            if new_b is not b:
                new_buffers.update({f: new_b[k] for k, f in bkeys})
            backprops.append((bp, keys))

        def backprop(dy, need_dx=False):
            # the whole of backpropagation: the layers' backprops in reverse (thinc's chain)
            grads = {}
            for i in range(len(backprops) - 1, -1, -1):
                bp, keys = backprops[i]
                dy, g = bp(dy, need_dx or i > 0)
                for k, f in keys:
                    grads[f] = g[k]
            return dy, grads

        return x, new_buffers, backprop

    def forward(
        self, x: Any, *, training: bool = False, rng: Any = None, batch: Any = None
    ) -> tuple[Any, dict, Callable]:
        """`apply` with the model's own params and buffers."""
        return self.apply(self.params, self.buffers, x, training=training, rng=rng, batch=batch)

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
        x = as_rows(x, self.n_in, name, xp=xp)
        if x.dtype != self.dtype:
            x = xp.astype(x, self.dtype)
        return x

    # --- utilities --------------------------------------------------------------------------

    def to(self, backend: Any, *, device: Any = None) -> Sequential:
        """Move the parameters and buffers to another backend or device (a host round trip), in
        the model's dtype, values unchanged; returns self."""
        target = _backend.get_backend(backend, device=device)
        dtype = target.dtype(self.dtype_name)  # refused here when the target lacks the dtype
        xp = self.backend.xp

        def move(v):
            if self.dtype_name == "bfloat16":  # NumPy has none; float32 holds every bfloat16 exactly
                v = xp.astype(v, xp.float32)
            return target.asarray(_backend.to_numpy(v), dtype)

        self.params = {k: move(v) for k, v in self.params.items()}
        self.buffers = {k: move(v) for k, v in self.buffers.items()}
        self.backend, self.dtype = target, dtype
        return self

    def summary(self) -> str:
        """The layers with their output shapes and parameter counts, the totals, dtype and backend
        (`print(model.summary())`; nn/summary.py has the same as JSON values)."""
        return summary_text(self)

    def architecture(self) -> list[dict]:
        """The layers as JSON-serialisable dicts (for model files)."""
        return [{"type": type(layer).__name__, **layer.config()} for layer in self.layers]

    def __repr__(self):
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential([\n  {inner}\n], backend={self.backend.name!r}, dtype={self.dtype_name!r})"


def as_rows(x: Any, n_in: int, name: str, *, xp: Any) -> Any:
    """`x` as a 2-D (samples, n_in) array (one 1-D row of n_in reshaped); ShapeError otherwise."""
    if x.ndim == 1 and x.shape[0] == n_in:
        x = xp.reshape(x, (1, n_in))
    if x.ndim != 2:
        raise ShapeError(f"{name}: expected a 2-D array (samples, features), got shape {tuple(x.shape)}")
    if x.shape[1] != n_in:
        raise ShapeError(f"{name}: the model expects {n_in} features per row, got {x.shape[1]}")
    return x


def mlp(
    sizes: list[int],
    *,
    activation: str = "relu",
    output: str | None = None,
    bias: bool = True,
    init: str | None = None,
    output_init: str | None = None,
    dropout: float = 0.0,
    batchnorm: bool = False,
    **kwargs: Any,
) -> Sequential:
    """A multi-layer perceptron: Dense layers of the given sizes with `activation` between them
    and `output` (default: none, i.e. logits) after the last.

    >>> mlp([64, 64, 10], activation="relu")  # 64 inputs, one hidden layer of 64, 10 outputs

    init: the hidden layers' initialiser (default: nn.init.default_init for `activation`);
    output_init: the last layer's (default: init). dropout: the rate of a Dropout after each
    hidden activation; batchnorm: a BatchNorm between each hidden Dense and its activation.
    Other keywords (seed, backend, dtype, ...) go to Sequential.
    """
    if not isinstance(sizes, (list, tuple)) or len(sizes) < 2:
        raise ConfigError(f"sizes: expected at least input and output sizes, got {sizes!r}")
    for i, s in enumerate(sizes):
        check_int(f"sizes[{i}]", s)
    act = get_activation(activation)  # bad names and rates fail here, before weights are drawn
    rate = _option("dropout", check_fraction, "rate", dropout)
    init = init if init is not None else default_init(activation)
    output_init = output_init if output_init is not None else init
    layers: list[Layer] = []
    last = len(sizes) - 2
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(Dense(a, b, bias=bias, init=output_init if i == last else init))
        if i < last:
            if batchnorm:
                layers.append(BatchNorm(b))
            layers.append(act)  # layers hold no state, so one object can sit in several places
            if rate:
                layers.append(Dropout(rate))
    if output is not None:
        layers.append(get_activation(output))
    return Sequential(layers, **kwargs)


def _option(option: str, check, name: str, value):
    """check(name, value), its ConfigError naming `option` too ("dropout rate: expected ...")."""
    try:
        return check(name, value)
    except ConfigError as exc:
        raise ConfigError(f"{option} {exc}") from None
