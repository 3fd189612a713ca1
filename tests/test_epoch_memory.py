"""The loop gathers shuffled rows a chunk of whole batches at a time instead of copying the whole
data set every epoch: the batches (and so the weights) are those of one gather per epoch, for any
chunk size, with and without sample weights; and fitting an estimator adds little memory on top
of the caller's data (a subprocess, as benchmarks/estimator_memory.py measures it)."""

import sys

import numpy as np
import pytest

import xpnet
import xpnet.training.loop as loop
from train_helpers import RecordingMSE, assert_same_weights, blobs, small_model, weights


@pytest.mark.parametrize("weighted", [False, True])
def test_chunked_gather_gives_the_same_batches(weighted, backend, monkeypatch):
    X, labels = blobs(n=50)
    y = np.stack([np.arange(50.0), labels.astype(float), np.zeros(50)], axis=1)  # column 0: the row id
    w = np.linspace(0.5, 2.0, 50) if weighted else None

    def run():
        model, loss = small_model(backend), RecordingMSE()
        xpnet.fit(model, X, y, loss=loss, epochs=3, batch_size=7, seed=4, sample_weight=w)
        return loss.seen, weights(model)

    whole_seen, whole = run()  # 50 rows: one chunk holds the whole epoch
    monkeypatch.setattr(loop, "GATHER_BYTES", 3 * 7 * 8 * (4 + 3))  # three batches a chunk
    chunk_seen, chunked = run()
    assert chunk_seen == whole_seen and sorted(sum(whole_seen[:8], [])) == list(range(50))
    assert_same_weights(chunked, whole)


def test_estimator_fit_adds_less_than_the_data(tmp_path):
    """200000 x 64 float64 (98 MB): fitting adds less than half of it (it added about 1x with a
    shuffled copy per epoch, 6x in issue 10's report)."""
    pytest.importorskip("sklearn")
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        import estimator_memory
    finally:
        sys.path.pop(0)
    r = estimator_memory.measure(200_000, 64, 32, "classifier", False)
    assert r["added_mb"] < 0.5 * r["data_mb"], r
