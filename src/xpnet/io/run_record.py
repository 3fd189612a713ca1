"""The record `xpnet train` stores in a model file beside the network (cli/rundir.py's RUN_KEY
metadata), checked whole before `xpnet evaluate` or `xpnet predict` uses any of it: its schema
(every field's JSON type), then what the fields say together and with the model (a loss of the
task, one class name per output, one positive standard deviation per input)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import CheckpointError
from ..nn.losses import LOSSES
from . import schema

TASKS = ("classification", "regression")
LABEL = (str, int, float, bool)  # a class name as JSON holds it


CLI_FIELDS = ("task", "loss", "classes", "standardize")  # what evaluate and predict read


def run_schema(n_in: int, required: tuple[str, ...] = CLI_FIELDS) -> schema.Fields:
    """The schema of a run record for a model of n_in inputs; the fields in `required` must be
    there, the others are checked when present."""
    fields = {
        "task": schema.OneOf(*TASKS),
        "loss": schema.OneOf(*LOSSES),
        "classes": (schema.ListOf(LABEL, min_len=2), None),
        "standardize": schema.Fields(
            {
                "mean": schema.ListOf(schema.Number(), length=n_in),
                "std": schema.ListOf(schema.Number(above=0), length=n_in),
            }
        ),
        "target_name": (str, None),
        "feature_names": schema.ListOf(str),
        "training": dict,
        "backend": str,
        "epochs_run": schema.Number(at_least=0, integer=True),
        # the rows training held out (cli/heldout.py), of a data set of `rows` rows
        "split": (
            schema.Fields(
                {
                    "rows": schema.Number(at_least=2, integer=True),
                    "val_rows": schema.ListOf(schema.Number(at_least=0, integer=True), min_len=1),
                    "fingerprint": str,
                }
            ),
            None,
        ),
        "learning_rate": str,  # the rate or the schedule, as text
    }
    return schema.Fields(
        {k: v for k, v in fields.items() if k in required}, {k: v for k, v in fields.items() if k not in required}
    )


def check_run_record(path: Path | str, run: Any, model: Any, *, required: tuple[str, ...] = CLI_FIELDS) -> dict:
    """`run` when it is a training record that fits `model` (its n_in inputs and n_out outputs);
    otherwise a one-line CheckpointError naming `path` and the field. `required`: the fields
    that must be there (evaluate and predict read all of CLI_FIELDS; a task missing is the
    loss's, classes missing are checked by the reader)."""
    schema.check(run, run_schema(model.n_in, required), path, "run")
    split = run.get("split")
    if split and (max(split["val_rows"]) >= split["rows"] or len(set(split["val_rows"])) >= split["rows"]):
        raise CheckpointError(f"{path}: run.split.val_rows are not distinct rows of {split['rows']}, with rows left")
    loss = LOSSES[run["loss"]]
    task = run.get("task", loss.task)
    if loss.task != task:
        raise CheckpointError(f"{path}: run.loss {run['loss']!r} is a {loss.task} loss, but run.task is {task!r}")
    if "classes" not in run:
        return run
    classes = run["classes"]
    if task == "regression":
        if classes is not None:
            raise CheckpointError(f"{path}: run.classes is a list, but a regression model has no classes (null)")
        return run
    if classes is None:
        raise CheckpointError(f"{path}: run.classes is null, but a classifier names its classes")
    if len({str(c) for c in classes}) != len(classes):
        raise CheckpointError(f"{path}: run.classes names a class twice ({', '.join(map(str, classes))})")
    fits = model.n_out == len(classes) or (loss.binary and model.n_out == 1 and len(classes) == 2)
    if not fits:
        raise CheckpointError(
            f"{path}: run.classes names {len(classes)} classes, but the model has {model.n_out} outputs"
            + (" (a binary loss: 1 output for 2 classes)" if loss.binary else "")
        )
    return run
