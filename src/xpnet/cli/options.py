"""What `xpnet train`'s options become: hidden layer sizes, and the loss and number of outputs a
data set calls for (each loss says its task itself: nn/losses.py)."""

from __future__ import annotations

import re

from ..errors import ConfigError
from ..nn.losses import LOSSES, losses_for


def parse_layers(text: str) -> list[int]:
    """ "64,32" -> [64, 32]; "" -> [] (no hidden layer: a linear model). Sizes are ASCII digits
    (int() would also take "²" or other scripts' digits), and no size may be left out ("64,,32", ",")."""
    if not str(text).strip():
        return []
    sizes = []
    for part in str(text).split(","):
        part = part.strip()
        if not re.fullmatch(r"[0-9]+", part, re.ASCII) or int(part) <= 0:
            raise ConfigError(f"--layers: expected comma-separated positive integers like 64,32, got {text!r}")
        sizes.append(int(part))
    return sizes


def choose_loss(task: str, n_classes: int | None, n_targets: int, loss: str | None) -> tuple[str, int]:
    """(loss name, number of outputs) for a data set; the loss is inferred when None. A
    classifier trained from the command line ends in a linear layer, so it takes the losses that
    take logits."""
    offered = losses_for(task, from_logits=True) if task == "classification" else losses_for(task)
    name = loss or offered[0]  # the task's default
    cls = LOSSES.get(name)
    if cls is None or cls.name not in offered:
        raise ConfigError(f"loss: {name!r} does not fit a {task} data set; expected one of: {', '.join(offered)}")
    name = cls.name  # an alias ("cross_entropy") by its canonical name
    if task == "regression":
        return name, int(n_targets)
    if cls.binary:  # one output: the probability of the second class
        if n_classes != 2:
            raise ConfigError(f"loss: {name} needs exactly 2 classes, the data set has {n_classes}")
        return name, 1
    return name, int(n_classes)
