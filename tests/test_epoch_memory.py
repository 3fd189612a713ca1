"""The loop gathers shuffled rows a chunk of whole batches at a time instead of copying the whole
data set every epoch: the batches (and so the weights) are those of one gather per epoch, for any
chunk size, with and without sample weights; training on a subset of rows gathers them from the
data instead of copying them; and fitting an estimator adds little memory on top of the caller's
data (a subprocess, as benchmarks/estimator_memory.py measures it)."""

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
        history = xpnet.fit(model, X, y, loss=loss, epochs=3, batch_size=7, seed=4, sample_weight=w)
        return loss.seen, weights(model), history.history["loss"]

    whole_seen, whole, whole_loss = run()  # 50 rows: one chunk holds the whole epoch
    monkeypatch.setattr(loop, "GATHER_BYTES", 3 * 7 * 8 * (4 + 3))  # three batches a chunk
    chunk_seen, chunked, chunk_loss = run()
    assert chunk_seen == whole_seen and sorted(sum(whole_seen[:8], [])) == list(range(50))
    assert_same_weights(chunked, whole)
    # the epoch's loss too: a weighted epoch divides by every row's weight, not the last chunk's
    assert chunk_loss == whole_loss


@pytest.mark.parametrize("shuffle", [True, False])
def test_training_on_rows_equals_training_on_their_copy(shuffle, backend):
    """Trainer.fit(rows=) trains on those rows of X without copying them: the same batches and
    weights as training on X[rows] (sample weights gathered alike)."""
    X, y = blobs(n=30)
    w = np.linspace(0.5, 2.0, 30)
    rows = np.random.default_rng(3).permutation(30)[:21]

    def run(**kw):
        model = small_model(backend)
        trainer = xpnet.Trainer(model, batch_size=4, shuffle=shuffle, seed=2, metrics=["loss"])
        hist = trainer.fit(epochs=3, **kw)
        return weights(model), hist.history["loss"]

    got, got_loss = run(X=X, y=y, sample_weight=w, rows=rows)
    want, want_loss = run(X=X[rows], y=y[rows], sample_weight=w[rows])
    assert_same_weights(got, want)
    assert got_loss == pytest.approx(want_loss, rel=1e-12)


@pytest.mark.parametrize(
    "rows, match", [([0, 0, 1], "appears twice"), ([0, 30], r"\[0, 30\)"), ([[0, 1]], "1-D"), ([], "non-empty")]
)
def test_bad_rows_refused(rows, match, numpy_backend):
    X, y = blobs(n=30)
    with pytest.raises(ValueError, match=f"rows: .*{match}"):
        xpnet.Trainer(small_model(numpy_backend)).fit(X, y, epochs=1, rows=np.asarray(rows, dtype=np.int64))


def test_estimator_fit_adds_less_than_the_data(tmp_path):
    """200000 x 64 float64 (98 MB): fitting adds less than half of it (it added about 1x with a
    shuffled copy per epoch, 6x in issue 10's report)."""
    pytest.importorskip("sklearn")
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        import estimator_memory
    finally:
        sys.path.pop(0)
    for early_stopping in (False, True):  # early_stopping copies the held-out rows only
        r = estimator_memory.measure(200_000, 64, 32, "classifier", early_stopping)
        assert r["added_mb"] < (0.7 if early_stopping else 0.5) * r["data_mb"], r
