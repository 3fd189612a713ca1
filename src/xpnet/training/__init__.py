"""Training: the step (step.py: forward, loss, backward, the gradient seam, the update; the one
place that chooses a fast step), the epoch loop (loop.py: Trainer, fit), its callbacks and
History, metrics, the checks on training data (data.py), and checkpoints with exact resume."""

from .callbacks import Callback, DivergenceEvent, History, LambdaCallback
from .checkpoints import CheckpointCallback, resume_training
from .loop import Trainer, TrainerState, fit
from .metrics import accuracy
from .step import StepSnapshot, TrainStep, make_train_step, train_step

__all__ = [
    "Callback",
    "CheckpointCallback",
    "DivergenceEvent",
    "History",
    "LambdaCallback",
    "StepSnapshot",
    "TrainStep",
    "Trainer",
    "TrainerState",
    "accuracy",
    "fit",
    "make_train_step",
    "resume_training",
    "train_step",
]
