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
"""

from __future__ import annotations

import array_api_compat

from .errors import ConfigError, ShapeError


def _check_same_shape(name, out, y):
    if tuple(out.shape) != tuple(y.shape):
        raise ShapeError(f"{name}: outputs have shape {tuple(out.shape)} but targets have shape {tuple(y.shape)}")


class Loss:
    name = "loss"
    output = "identity"  # activation applied to outputs for predictions

    def __call__(self, out, y):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


class HalfSSE(Loss):
    """The seeds' loss, 0.5 * sum((out - y)**2), summed (not averaged) over the batch: its
    gradient `out - y` gives the seeds' update `W += X.T @ ((y - out) * slope)` with lr = 1."""

    name = "half_sse"

    def __call__(self, out, y):
        _check_same_shape(self.name, out, y)
        diff = out - y
        return 0.5 * _sum(diff * diff, _xp(diff)), diff


class MSE(Loss):
    """Mean squared error over every element (PyTorch's MSELoss)."""

    name = "mse"

    def __call__(self, out, y):
        _check_same_shape(self.name, out, y)
        diff = out - y
        n = _size(diff)
        return _sum(diff * diff, _xp(diff)) / n, diff * (2.0 / n)


class BCE(Loss):
    """Binary cross-entropy from probabilities, averaged over every element (BCELoss).
    Probabilities are clipped to [eps, 1 - eps] so that log never sees 0."""

    name = "bce"

    def __call__(self, out, y):
        _check_same_shape(self.name, out, y)
        xp = _xp(out)
        eps = _eps(xp, out.dtype)
        p = xp.clip(out, eps, 1 - eps)
        n = _size(out)
        value = -_sum(y * xp.log(p) + (1 - y) * xp.log(1 - p), xp) / n
        return value, (p - y) / (p * (1 - p) * n)


class BCEWithLogits(Loss):
    """Binary cross-entropy from logits (BCEWithLogitsLoss), averaged over every element.
    Stable form: max(z, 0) - z * y + log1p(exp(-|z|)). Gradient: (sigmoid(z) - y) / n."""

    name = "bce_logits"
    output = "sigmoid"

    def __call__(self, z, y):
        _check_same_shape(self.name, z, y)
        xp = _xp(z)
        n = _size(z)
        e = xp.exp(-xp.abs(z))
        value = _sum(xp.where(z > 0, z, xp.zeros_like(z)) - z * y + xp.log1p(e), xp) / n
        p = xp.where(z >= 0, 1 / (1 + e), e / (1 + e))
        return value, (p - y) / n


class SoftmaxCrossEntropy(Loss):
    """Softmax cross-entropy from logits (CrossEntropyLoss), averaged over samples.

    y: integer class labels of shape (batch,) or one-hot / probability rows of shape
    (batch, classes). Gradient: (softmax(z) - onehot(y)) / batch.
    """

    name = "softmax_cross_entropy"
    output = "softmax"

    def __call__(self, z, y):
        xp = _xp(z)
        n, k = z.shape
        if y.ndim == 1:
            if y.shape[0] != n:
                raise ShapeError(f"{self.name}: {n} rows of logits but {y.shape[0]} labels")
            y = xp.astype(xp.reshape(y, (-1, 1)) == xp.arange(k, dtype=y.dtype, device=_device(z)), z.dtype)
        else:
            _check_same_shape(self.name, z, y)
        shifted = z - xp.max(z, axis=1, keepdims=True)  # logsumexp without overflow
        e = xp.exp(shifted)
        s = xp.sum(e, axis=1, keepdims=True)
        log_p = shifted - xp.log(s)
        value = -_sum(y * log_p, xp) / n
        return value, (e / s - y) / n


def _xp(x):
    # resolved once per loss call and passed on: array_namespace costs microseconds, which the
    # small networks' steps notice
    return array_api_compat.array_namespace(x)


def _device(x):
    return array_api_compat.device(x)


def _sum(x, xp):
    return xp.sum(x, dtype=x.dtype)


def _size(x):
    n = 1
    for s in x.shape:
        n *= s
    return n


def _eps(xp, dtype):
    return float(xp.finfo(dtype).eps)


LOSSES = {
    "half_sse": HalfSSE,
    "mse": MSE,
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
