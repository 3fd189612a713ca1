"""Loss functions. Each returns `(value, dout)`: the loss as a 0-d array (kept on the device) and
its gradient with respect to the network's output.

Which output/loss pairs give `dout = out - y` (scikit-learn's note, restated): the derivative of
the loss with respect to the *pre-activation* z is `p - y` when the output activation is the
canonical link of the loss' distribution: identity with squared error (Gaussian), sigmoid with
binary cross-entropy (Bernoulli), softmax with categorical cross-entropy (multinomial). xpnet
therefore fuses those pairs: `bce_logits` and `softmax_cross_entropy` take the logits of a linear
last layer and return `(sigmoid(z) - y) / n` and `(softmax(z) - y) / n` directly, which is both
cheaper and stable (no log of a probability that rounded to 0). `output` names the activation
that turns the network's outputs into predictions for such a loss.

What kind of problem a loss is for lives on the loss, once, and everything asks it: `task`
("classification" or "regression"), `output`, `from_logits` (it takes a linear last layer's
outputs), `binary` (targets must lie in [0, 1]) and `reduction` ("mean" over the batch, or
"sum": the training loop adds batch losses up accordingly).

Sample weights: every loss takes `weights`, one non-negative number per row (None: all 1). A mean
loss then becomes the weighted mean sum_i w_i l_i / sum_i w_i (torch's weighted CrossEntropyLoss,
scikit-learn's `sample_weight`), so integer weights equal repeating rows and weights all equal to 1
give the unweighted value and gradient; a summed loss becomes sum_i w_i l_i. Row i's gradient is
scaled by w_i / sum(w) (by w_i for a sum). A batch whose weights sum to 0 has value and gradient 0.
"""

from __future__ import annotations

from ..backend import device_of, namespace_of
from ..errors import ConfigError, ShapeError
from .activations import Exp, get_activation
from .layer import Context


def _check_same_shape(name, out, y):
    if tuple(out.shape) != tuple(y.shape):
        raise ShapeError(f"{name}: outputs have shape {tuple(out.shape)} but targets have shape {tuple(y.shape)}")


class Loss:
    """Base class: `loss(out, y) -> (value, dout)`, value a 0-d array of out's dtype."""

    name = "loss"
    task = "regression"  # "classification" or "regression"
    output = "identity"  # the activation that turns outputs into predictions
    from_logits = False  # takes the outputs of a linear last layer
    binary = False  # targets must lie in [0, 1]
    non_negative = False  # targets must be >= 0
    reduction = "mean"  # "mean": a batch's value is a mean over its rows; "sum": a sum

    def __call__(self, out, y, weights=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def config(self) -> dict:
        """Constructor arguments (none for xpnet's losses): what a fast step matches exactly."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def output_layer(self):
        """The activation layer of `output`."""
        return get_activation(self.output)

    def predictions(self, out):
        """The network's outputs turned into predictions: probabilities for a classifier trained
        on logits (softmax, sigmoid), the outputs themselves otherwise."""
        if self.output == "identity":
            return out
        return self.output_layer().forward({}, {}, out, Context(namespace_of(out), device_of(out)))[0]

    def __repr__(self):
        return f"{type(self).__name__}()"


class HalfSSE(Loss):
    """The seeds' loss, 0.5 * sum((out - y)**2), summed (not averaged) over the batch: its
    gradient `out - y` gives the seeds' update `W += X.T @ ((y - out) * slope)` with lr = 1."""

    name = "half_sse"
    reduction = "sum"

    def __call__(self, out, y, weights=None):
        _check_same_shape(self.name, out, y)
        xp = namespace_of(out)
        diff = out - y
        if weights is not None:
            w = _row_weights(weights, out, xp=xp)
            return 0.5 * _sum(w * (diff * diff), xp=xp), w * diff
        return 0.5 * _sum(diff * diff, xp=xp), diff


class MSE(Loss):
    """Mean squared error over every element (PyTorch's MSELoss)."""

    name = "mse"

    def __call__(self, out, y, weights=None):
        _check_same_shape(self.name, out, y)
        xp = namespace_of(out)
        diff = out - y
        if weights is not None:  # the mean over a row's outputs, then the weighted mean of the rows
            return _weighted_mean(diff * diff, 2.0 * diff, weights, xp=xp)
        n = _size(diff)
        return _sum(diff * diff, xp=xp) / n, diff * (2.0 / n)


class HalfMSE(Loss):
    """scikit-learn's squared error: half the squared error summed over a row's outputs, averaged
    over rows, 0.5 * sum((out - y)**2) / rows, whose gradient is (out - y) / rows (MLPRegressor's
    update). For one output it is scikit-learn's `loss_`; for k outputs scikit-learn reports this
    value divided by k (its gradient is this one's)."""

    name = "half_mse"

    def __call__(self, out, y, weights=None):
        _check_same_shape(self.name, out, y)
        xp = namespace_of(out)
        diff = out - y
        if weights is not None:
            return _weighted_mean(0.5 * (diff * diff), diff, weights, xp=xp, row_sum=True)
        n = float(out.shape[0])
        return 0.5 * _sum(diff * diff, xp=xp) / n, diff / n


class Poisson(Loss):
    """Half the Poisson deviance from log-means (scikit-learn's MLPRegressor(loss='poisson')):
    the outputs z of a linear last layer are log(mu); a row's loss is the sum over its outputs of
    y log(y / mu) - y + mu (y log y is 0 at y = 0, its limit), averaged over rows. Since
    d/dz (mu - y z) = mu - y, the gradient is (exp(z) - y) / rows: the canonical link again.
    Targets must be >= 0; predictions are exp(z)."""

    name = "poisson"
    output = "exp"
    from_logits = True
    non_negative = True

    def output_layer(self):
        return Exp()

    def __call__(self, z, y, weights=None):
        _check_same_shape(self.name, z, y)
        xp = namespace_of(z)
        mu = xp.exp(z)
        positive = y > 0
        y_log_y = xp.where(positive, y * xp.log(xp.where(positive, y, xp.ones_like(y))), xp.zeros_like(y))
        terms = y_log_y - y * z - y + mu
        if weights is not None:
            return _weighted_mean(terms, mu - y, weights, xp=xp, row_sum=True)
        n = float(z.shape[0])
        return _sum(terms, xp=xp) / n, (mu - y) / n


class BCE(Loss):
    """Binary cross-entropy from probabilities, averaged over every element (BCELoss).
    Probabilities are clipped to [eps, 1 - eps] so that log never sees 0."""

    name = "bce"
    task = "classification"
    binary = True

    def __call__(self, out, y, weights=None):
        _check_same_shape(self.name, out, y)
        xp = namespace_of(out)
        eps = float(xp.finfo(out.dtype).eps)
        p = xp.clip(out, eps, 1 - eps)
        if weights is not None:
            return _weighted_mean(-(y * xp.log(p) + (1 - y) * xp.log(1 - p)), (p - y) / (p * (1 - p)), weights, xp=xp)
        n = _size(out)
        value = -_sum(y * xp.log(p) + (1 - y) * xp.log(1 - p), xp=xp) / n
        return value, (p - y) / (p * (1 - p) * n)


class BCEWithLogits(Loss):
    """Binary cross-entropy from logits (BCEWithLogitsLoss), averaged over every element.
    Stable form: max(z, 0) - z * y + log1p(exp(-|z|)). Gradient: (sigmoid(z) - y) / n."""

    name = "bce_logits"
    task = "classification"
    output = "sigmoid"
    from_logits = True
    binary = True

    def __call__(self, z, y, weights=None):
        _check_same_shape(self.name, z, y)
        xp = namespace_of(z)
        n = _size(z)
        e = xp.exp(-xp.abs(z))
        terms = xp.where(z > 0, z, xp.zeros_like(z)) - z * y + xp.log1p(e)
        p = xp.where(z >= 0, 1 / (1 + e), e / (1 + e))
        if weights is not None:
            return _weighted_mean(terms, p - y, weights, xp=xp)
        return _sum(terms, xp=xp) / n, (p - y) / n


class SoftmaxCrossEntropy(Loss):
    """Softmax cross-entropy from logits (CrossEntropyLoss), averaged over samples.

    y: integer class labels of shape (batch,) or one-hot / probability rows of shape
    (batch, classes). Gradient: (softmax(z) - onehot(y)) / batch.
    """

    name = "softmax_cross_entropy"
    task = "classification"
    output = "softmax"
    from_logits = True

    def __call__(self, z, y, weights=None):
        xp = namespace_of(z)
        n, k = z.shape
        if y.ndim == 1:
            if y.shape[0] != n:
                raise ShapeError(f"{self.name}: {n} rows of logits but {y.shape[0]} labels")
            y = xp.astype(xp.reshape(y, (-1, 1)) == xp.arange(k, dtype=y.dtype, device=device_of(z)), z.dtype)
        else:
            _check_same_shape(self.name, z, y)
        shifted = z - xp.max(z, axis=1, keepdims=True)  # logsumexp without overflow
        e = xp.exp(shifted)
        s = xp.sum(e, axis=1, keepdims=True)
        log_p = shifted - xp.log(s)
        if weights is not None:  # a row's loss is its sum over classes: k times the mean over them
            return _weighted_mean(-(y * log_p), e / s - y, weights, xp=xp, row_sum=True)
        value = -_sum(y * log_p, xp=xp) / n
        return value, (e / s - y) / n


def _sum(x, *, xp):
    # in the array's own dtype: strict's 2022.12 sum of float32 would give float64
    return xp.sum(x, dtype=x.dtype)


def _row_weights(weights, out, *, xp):
    """The weights as a (rows, 1) column of out's dtype, checked against out's rows."""
    if weights.ndim != 1 or weights.shape[0] != out.shape[0]:
        raise ShapeError(f"weights: expected one weight per row ({out.shape[0]},), got shape {tuple(weights.shape)}")
    return xp.reshape(xp.astype(weights, out.dtype), (-1, 1))


def _weighted_mean(terms, grad, weights, *, xp, row_sum=False):
    """(value, dout) of the weighted mean over rows of each row's mean over its k columns (their
    sum with row_sum): sum_ij w_i terms_ij / (k sum_i w_i), whose gradient is
    grad_ij w_i / (k sum_i w_i) (`grad` is d terms / d out; k is 1 with row_sum). A total weight
    of 0 gives 0 and 0 (0 / 1 instead of 0 / 0)."""
    w = _row_weights(weights, terms, xp=xp)
    total = _sum(w, xp=xp) * (1.0 if row_sum else float(terms.shape[1]))
    total = xp.where(total > 0, total, xp.ones_like(total))
    return _sum(w * terms, xp=xp) / total, grad * (w / total)


def _size(x):
    n = 1
    for s in x.shape:
        n *= s
    return n


LOSSES = {
    "half_sse": HalfSSE,
    "mse": MSE,
    "half_mse": HalfMSE,
    "poisson": Poisson,
    "bce": BCE,
    "bce_logits": BCEWithLogits,
    "softmax_cross_entropy": SoftmaxCrossEntropy,
    "cross_entropy": SoftmaxCrossEntropy,
}


def get_loss(name: str | Loss) -> Loss:
    if isinstance(name, Loss):
        return name
    try:
        return LOSSES[name]()
    except (KeyError, TypeError):
        raise ConfigError(f"loss: unknown name {name!r}; expected one of: {', '.join(LOSSES)}") from None


# the loss a task gets when none is named
DEFAULT_LOSS = {"classification": "softmax_cross_entropy", "regression": "mse"}


def losses_for(task: str, *, from_logits: bool | None = None) -> tuple[str, ...]:
    """The canonical names of the losses for a task ("classification" or "regression"), its
    default first; only those that take logits (or do not) when from_logits is given."""
    out = []
    for name, cls in LOSSES.items():
        if cls.name == name and cls.task == task and (from_logits is None or cls.from_logits == from_logits):
            out.append(name)
    return tuple(sorted(out, key=lambda n: n != DEFAULT_LOSS[task]))
