"""Run under `mpiexec -n 2` by tests/test_memmap.py (never collected by pytest itself).

python mpi_memmap_worker.py OUT TRAIN-ARGS...   `xpnet train TRAIN-ARGS` in this process, with the
    standardiser recording the rows it standardises, a batch at a time while training (column 0 of
    the data set holds the row index); each rank writes OUT/rank{r}.json: the rows of every call.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from xpnet.cli import main
from xpnet.cli import train as cli_train
from xpnet.nn import Standardizer

SEEN: list[list[int]] = []


class Recording(Standardizer):
    def __call__(self, X):
        SEEN.append([int(round(v)) for v in X[:, 0].tolist()])
        return super().__call__(X)


if __name__ == "__main__":
    out = Path(sys.argv[1])
    cli_train.Standardizer = Recording
    rc = main(sys.argv[2:])
    from mpi4py import MPI

    (out / f"rank{MPI.COMM_WORLD.Get_rank()}.json").write_text(json.dumps(SEEN))
    sys.exit(rc)
