"""scikit-learn's rules between epochs, for the stochastic solvers: when to stop (tol,
n_iter_no_change, early_stopping's validation score), how the learning rate changes
('invscaling', 'adaptive'), what is recorded (n_iter_, t_, loss_, loss_curve_, best_loss_,
validation_scores_, best_validation_score_) and what verbose prints. One callback of the Trainer
does all of it, with scikit-learn's arithmetic (sklearn/neural_network/_multilayer_perceptron.py,
_stochastic_optimizers.py), so the estimators stop where scikit-learn's would for the same losses.
"""

from __future__ import annotations

from ..training.callbacks import Callback

# scikit-learn's SGD stops adapting below this rate
MIN_ADAPTIVE_RATE = 1e-6


class LearningRate:
    """The rate the sgd solvers use now, read by the optimizer at every step (a schedule step ->
    rate): learning_rate_init, changed between epochs by 'invscaling' and 'adaptive' (see
    `SklearnEpochs`). A plain object, so that a pickled estimator keeps its current rate."""

    def __init__(self, value: float) -> None:
        self.value = float(value)

    def __call__(self, step: int) -> float:
        return self.value

    def __repr__(self) -> str:
        return f"LearningRate({self.value})"


class SklearnEpochs(Callback):
    """What scikit-learn's `_fit_stochastic` does after each epoch, on the estimator `est`.

    validation: None, or a function () -> the score (accuracy, R^2) on the held-out rows with the
    current weights; snapshot: () -> the current weights, kept when the score is the best so far.
    rate: the LearningRate the optimizer reads, or None where the schedule does not apply.
    """

    def __init__(self, est, *, n_train: int, rate: LearningRate | None, validation=None, snapshot=None) -> None:
        self.est, self.n_train, self.rate = est, n_train, rate
        self.validation, self.snapshot = validation, snapshot
        self.stopped = False

    def on_epoch_end(self, epoch: int, logs: dict) -> bool:
        est = self.est
        est.n_iter_ += 1
        est.loss_ = logs["loss"]
        est.t_ += self.n_train
        est.loss_curve_.append(est.loss_)
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}")
        self._count_no_improvement()
        if self.rate is not None and est.learning_rate == "invscaling":
            # scikit-learn's iteration_ends: the rate for the samples seen so far
            self.rate.value = float(est.learning_rate_init) / (est.t_ + 1) ** est.power_t
        if est._no_improvement_count <= est.n_iter_no_change:
            return False
        what = "Validation score" if self.validation is not None else "Training loss"
        msg = f"{what} did not improve more than tol={est.tol:f} for {est.n_iter_no_change} consecutive epochs."
        if self.rate is None or est.learning_rate != "adaptive" or self.rate.value <= MIN_ADAPTIVE_RATE:
            if est.verbose:
                small = self.rate is not None and est.learning_rate == "adaptive"
                print(msg + (" Learning rate too small. Stopping." if small else " Stopping."))
            self.stopped = True
            return True
        self.rate.value /= 5.0  # 'adaptive': a fifth of the rate, and the count starts again
        if est.verbose:
            print(msg + f" Setting learning rate to {self.rate.value:f}")
        est._no_improvement_count = 0
        return False

    def _count_no_improvement(self) -> None:
        """scikit-learn's _update_no_improvement_count: an epoch counts as no improvement when the
        loss is not below the best by more than tol (the score not above the best by tol); the
        best itself follows any improvement, however small."""
        est = self.est
        if self.validation is not None:
            score = self.validation()
            est.validation_scores_.append(score)
            if est.verbose:
                print(f"Validation score: {score:f}")
            if score < est.best_validation_score_ + est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                est._best_weights = self.snapshot()
        else:
            if est.loss_curve_[-1] > est.best_loss_ - est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if est.loss_curve_[-1] < est.best_loss_:
                est.best_loss_ = est.loss_curve_[-1]
