"""`xpnet predict RUN --input F`: a trained model's predictions for the rows of a file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..export.predictor import MODEL_FILE, Predictor
from ..io.npyio import atomic_write  # temp file, fsync, rename: a failed write leaves no file
from ..io.tabular import load_feature_table
from .device import cli_backend
from .rundir import check_width, csv_text, load_run, prediction_table


def cmd_predict(args) -> int:
    output = Path(args.output) if args.output else None
    if output is not None and output.suffix.lower() not in (".csv", ".npz"):
        raise ConfigError(f"--output {output}: expected a file name ending in .csv or .npz")
    model, run = load_run(args.dir, cli_backend(args))
    target = run.get("target_name")
    X, dropped = load_feature_table(args.input, drop=target, width=model.n_in)
    if dropped:  # the training file again, target included: predict from the other columns
        print(f"xpnet: {args.input}: dropped column {target!r}, the training target", file=sys.stderr)
    check_width(X, model.n_in, args.input)
    predictor = Predictor.from_run(model, run, source=Path(args.dir) / MODEL_FILE)  # what xpnet.load gives
    if predictor.task == "classification":
        values = np.asarray(predictor.predict_proba(X), dtype=np.float64)
    else:
        values = np.asarray(predictor.predict(X), dtype=np.float64).reshape(len(X), -1)
    columns, arrays = prediction_table(values, run)
    if output is not None and output.suffix.lower() == ".npz":
        atomic_write(output, lambda f: np.savez(f, **arrays), ConfigError)
    elif output is not None:
        atomic_write(output, lambda f: f.write(csv_text(columns).encode()), ConfigError)
    if args.json:  # the predictions themselves go in the JSON object when there is no --output
        result = {"rows": int(len(values)), "output": str(output) if output else None}
        if output is None:
            result["columns"] = {k: np.asarray(v).tolist() for k, v in columns.items()}
        print(json.dumps(result))
    elif output is None:
        sys.stdout.write(csv_text(columns))
    return 0
