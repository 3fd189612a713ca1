"""The command line as a new user meets it (issue 11): the data set listing, the learning-rate
schedules, what a run records and reports (learning rate, regression scores, early stopping,
epochs counted from 1), evaluation on the held-out rows, and examples that write nothing unasked."""

from __future__ import annotations

import json

from cli_helpers import run_cli
from xpnet.io import EMBEDDED_NAMES, load_dataset


def test_datasets_lists_every_embedded_set_with_shape_task_and_source():
    r = run_cli("datasets", "--json")
    assert r.returncode == 0, r.stderr
    rows = {d["name"]: d for d in json.loads(r.stdout)}
    assert list(rows) == list(EMBEDDED_NAMES)
    for name, row in rows.items():
        ds = load_dataset(name)
        assert (row["samples"], row["features"], row["task"], row["classes"]) == ds.X.shape + (ds.task, ds.n_classes)
        assert row["source"] == ds.source and row["source"]
    text = run_cli("datasets").stdout.splitlines()
    assert text[0].split() == ["name", "shape", "task", "source"]
    digits = next(line for line in text if line.startswith("digits "))
    assert "1797 x 64" in digits and "classification, 10 classes" in digits and "scikit-learn" in digits
