"""The start of a distributed fit: every rank must hold the same data and options, and then
starts from rank 0's state (weights, batch-norm buffers, optimizer state and, when rank 0 has
resumed a checkpoint, the loop's epoch, step, random streams and history).

The checks compare, against rank 0's: the xpnet version, a sha256 of the training rows in their
order, and every setting that changes the numbers (the trainer's, the architecture, dtype,
backend, optimizer, reduction). A difference is refused on every rank together, with one line
naming the first differing rank, before any step: no rank is left waiting.
"""

from __future__ import annotations

import sys

from .. import backend as _backend
from ..io.checkpoint_file import data_fingerprint
from ..training.checkpoints import trainer_settings
from ..tree import map_arrays
from ..version import __version__


def plain(obj):
    """An optimizer's spec as plain data: nested transforms by their specs, functions by name."""
    if callable(getattr(obj, "init", None)) and hasattr(obj, "spec"):
        return plain(obj.spec)
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if callable(obj):
        return getattr(obj, "__qualname__", type(obj).__name__)
    return obj if obj is None or isinstance(obj, (bool, int, float, str)) else repr(obj)


def run_options(trainer) -> dict:
    model = trainer.model
    spec = getattr(trainer.optimizer, "spec", None)
    return {
        "trainer": trainer_settings(trainer),
        "architecture": model.architecture(),
        "dtype": model.dtype_name,
        "backend": model.backend.name,
        "optimizer": plain(spec),
        "fit": dict(trainer.fit_args or {}),
        "gradient transport": trainer.comm.gradient_transport(model.backend),
    }


def check(comm, trainer, X, y, val=None) -> None:
    comm.agree("xpnet version", f"xpnet {__version__}, Python {sys.version_info[0]}.{sys.version_info[1]}")
    comm.agree("options", run_options(trainer) | {"reduction": comm.reduction, "command": comm.command_options})
    prints = [data_fingerprint(X, y)] + ([] if val is None else [data_fingerprint(*val)])
    comm.agree("data (sha256 of the training and validation rows in their order)", prints)


def share_state(comm, trainer) -> None:
    st = trainer.state
    exact = all(r.can_save_state for r in (st.shuffle_rng, st.dropout_rng))
    payload = None
    if comm.rank == 0:
        state = trainer.state_dict()
        if not exact:  # a CuPy device generator: every rank seeds its own alike (no resume there)
            state = {k: state[k] for k in ("params", "buffers", "opt_state")}
        payload = map_arrays(_backend.to_numpy, state)
    payload = comm.bcast(payload)
    if comm.rank == 0:
        return
    if exact:
        trainer.load_state_dict(payload)
    else:  # pragma: needs a GPU
        b, model = trainer.model.backend, trainer.model
        model.params = map_arrays(b.asarray, payload["params"])
        model.buffers = map_arrays(b.asarray, payload["buffers"])
        st.opt_state = map_arrays(b.asarray, payload["opt_state"])
